/* test_channel.c - unit tests for worker/channel.c: every fact kind and field
 * survives encode/decode unchanged (raw values, identity, folded name), the
 * writer batches its writes and its SEEN ref hashes (which keep their place
 * in the stream), every class of corrupt frame and protocol
 * violation is refused with a message, a stream cut at any byte is reported as
 * truncated, and random corruption never crashes the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/channel.h"

/* ---- helpers ------------------------------------------------------------- */

/* Bytes written through a ch_writer into a temporary file, read back. */
typedef struct sink {
    FILE *tmp;
    ch_writer *w;
} sink;

static void sink_open(sink *s) {
    s->tmp = tmpfile();
    assert_non_null(s->tmp);
    s->w = ch_writer_new(fileno(s->tmp));
    assert_non_null(s->w);
}

static unsigned char *sink_bytes(sink *s, size_t *n) {
    assert_int_equal(ch_flush(s->w), 0);
    off_t end = lseek(fileno(s->tmp), 0, SEEK_END);
    unsigned char *b = malloc((size_t)end + 1);
    assert_non_null(b);
    assert_int_equal(pread(fileno(s->tmp), b, (size_t)end, 0), end);
    *n = (size_t)end;
    return b;
}

static void sink_close(sink *s) {
    ch_writer_free(s->w);
    fclose(s->tmp);
}

static int fact_equal(const fact *a, const fact *b) {
#define SEQ(x, y) ((x) == NULL ? (y) == NULL : ((y) != NULL && strcmp((x), (y)) == 0))
    if (a->kind != b->kind || a->raw_hash != b->raw_hash || !SEQ(a->source, b->source) || !SEQ(a->ref, b->ref) ||
        !SEQ(a->raw_json, b->raw_json) || !SEQ(a->name_norm, b->name_norm) || a->id_status != b->id_status ||
        strcmp(a->id_norm, b->id_norm) != 0 || strcmp(a->id_clean, b->id_clean) != 0)
        return 0;
    for (int f = 0; f < FF__COUNT; f++) {
        if (FACT_HAS(a, f) != FACT_HAS(b, f)) return 0;
        if (fact_field_is_text((fact_field)f) ? !SEQ(a->f[f].s, b->f[f].s) : a->f[f].i != b->f[f].i) return 0;
    }
    return 1;
#undef SEQ
}

/* A fact of kind k with every allowed field set to a typical value. */
static void full_fact(fact *f, fact_kind k, int variant) {
    char err[200];
    fact_init(f, k);
    f->source = strdup("hr");
    char ref[32];
    snprintf(ref, sizeof ref, "R-%d-%d", (int)k, variant);
    f->ref = strdup(ref);
    for (int i = 0; i < FF__COUNT; i++) {
        fact_field ff = (fact_field)i;
        if (!fact_field_allowed(k, ff)) continue;
        int rc = 0;
        switch (fact_field_type(ff)) {
        case FT_TEXT:
            rc = fact_set_text(f, ff, ff == FF_REGION ? "420501" : variant ? "张三·李" : "x", err, sizeof err);
            break;
        case FT_ENUM: {
            const char *const *vals = fact_enum_values(k, ff);
            assert_non_null(vals);
            int nv = 0;
            while (vals[nv]) nv++;
            rc = fact_set_text(f, ff, vals[variant % nv], err, sizeof err);
            break;
        }
        case FT_DATE: rc = fact_set_int(f, ff, 20240229, err, sizeof err); break;
        case FT_MONTH: rc = fact_set_int(f, ff, 202412, err, sizeof err); break;
        case FT_MONEY: rc = fact_set_int(f, ff, variant ? INT64_MIN + 1 : 123456789012LL, err, sizeof err); break;
        case FT_INT: rc = fact_set_int(f, ff, variant ? -1 : 7, err, sizeof err); break;
        case FT_BOOL: rc = fact_set_int(f, ff, variant & 1, err, sizeof err); break;
        }
        if (rc) fail_msg("kind %s field %s: %s", fact_kind_name(k), fact_field_name(ff), err);
    }
    if (variant) {
        f->raw_json = strdup("{\"SFZH\":\"420501195003121233\",\"XM\":\"张三\",\"JE\":\"1,234.50\"}");
        f->id_status = ID_BAD_CHECK;
        strcpy(f->id_norm, "");
        strcpy(f->id_clean, "42050119500312123X");
        f->name_norm = strdup("张三");
        f->raw_hash = variant & 1 ? 0x8000000000000001ULL : 0x0123456789abcdefULL;
    }
    assert_int_equal(fact_check(f, err, sizeof err), 0);
}

/* A decoded fact's ENUM values point at the registry's spelling (never a copy). */
static void assert_enums_static(const fact *f) {
    for (int i = 0; i < FF__COUNT; i++) {
        if (!FACT_HAS(f, i) || fact_field_type((fact_field)i) != FT_ENUM) continue;
        const char *const *vals = fact_enum_values(f->kind, (fact_field)i);
        int found = 0;
        for (int k = 0; vals && vals[k]; k++) found |= vals[k] == f->f[i].s;
        assert_true(found);
    }
}

/* Decodes every frame of b; returns the count, fails on an error. */
static size_t decode_all(const unsigned char *b, size_t n, size_t chunk, fact *facts, size_t maxf, size_t *nf) {
    ch_reader *r = ch_reader_new("hr", 0);
    assert_non_null(r);
    char err[300];
    size_t frames = 0, off = 0;
    *nf = 0;
    while (off < n) {
        size_t k = n - off < chunk ? n - off : chunk;
        assert_int_equal(ch_reader_feed(r, b + off, k), 0);
        off += k;
        ch_frame fr;
        int rc;
        while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1) {
            frames++;
            if (fr.type == CH_FACT && *nf < maxf) {
                assert_enums_static(fr.fact);
                fact_own(fr.fact); /* its strings are the reader's until then */
                facts[*nf] = *fr.fact; /* move out */
                fact_init(fr.fact, FK_PERSON);
                (*nf)++;
            }
        }
        if (rc < 0) fail_msg("decode: %s", err);
    }
    assert_int_equal(ch_reader_eof(r, err, sizeof err), 0);
    assert_true(ch_reader_done(r));
    ch_reader_free(r);
    return frames;
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip_every_kind(void **state) {
    (void)state;
    sink s;
    sink_open(&s);
    fact in[2 * FK__COUNT];
    size_t nin = 0;
    for (int v = 0; v < 2; v++) {
        assert_int_equal(ch_stream_begin(s.w, (uint32_t)v, v ? "payments" : "persons"), 0);
        for (int k = 0; k < FK__COUNT; k++) {
            full_fact(&in[nin], (fact_kind)k, v);
            assert_int_equal(ch_fact(s.w, (uint32_t)v, &in[nin]), 0);
            nin++;
        }
        assert_int_equal(ch_reject(s.w, (uint32_t)v, v ? "R9" : NULL, "missing required field 'amount'",
                                   v ? "{\"JE\":\"\"}" : NULL), 0);
        ch_stream_stats sst = {.skipped = 1, .lookup_ids = 2, .lookup_rows = 3, .raw_built = 4};
        assert_int_equal(ch_stream_end_ex(s.w, (uint32_t)v, 9, v ? "2024-03-01\x1fR9" : NULL, v ? &sst : NULL, NULL), 0);
    }
    assert_int_equal(ch_log(s.w, 2, "page 3 of 7"), 0);
    assert_int_equal(ch_done(s.w), 0);
    size_t n;
    unsigned char *b = sink_bytes(&s, &n);

    for (size_t chunk = 1; chunk <= 4096; chunk *= 64) {
        fact out[2 * FK__COUNT];
        size_t nf;
        size_t frames = decode_all(b, n, chunk, out, 2 * FK__COUNT, &nf);
        assert_int_equal(frames, 2 * (FK__COUNT + 3) + 2);
        assert_int_equal(nf, nin);
        for (size_t i = 0; i < nf; i++) {
            if (!fact_equal(&in[i], &out[i])) fail_msg("fact %zu (kind %s) differs after decoding", i, fact_kind_name(in[i].kind));
            fact_clear(&out[i]);
        }
    }

    /* The other frames' contents. */
    ch_reader *r = ch_reader_new("hr", 0);
    assert_int_equal(ch_reader_feed(r, b, n), 0);
    ch_frame fr;
    char err[300];
    int seen_end = 0, seen_rej = 0, seen_log = 0;
    while (ch_reader_next(r, &fr, err, sizeof err) == 1) {
        if (fr.type == CH_STREAM_END && fr.stream == 1) {
            assert_string_equal(fr.watermark, "2024-03-01\x1fR9");
            assert_int_equal(fr.count, 9);
            assert_true(fr.has_stats);
            assert_int_equal(fr.stats.skipped, 1);
            assert_int_equal(fr.stats.lookup_rows, 3);
            assert_int_equal(fr.stats.raw_built, 4);
            seen_end++;
        }
        if (fr.type == CH_STREAM_END && fr.stream == 0) {
            assert_null(fr.watermark);
            assert_false(fr.has_stats);
        }
        if (fr.type == CH_REJECT && fr.stream == 1) {
            assert_string_equal(fr.ref, "R9");
            assert_string_equal(fr.text, "missing required field 'amount'");
            assert_string_equal(fr.raw_json, "{\"JE\":\"\"}");
            seen_rej++;
        }
        if (fr.type == CH_REJECT && fr.stream == 0) assert_null(fr.ref);
        if (fr.type == CH_LOG) {
            assert_int_equal(fr.level, 2);
            assert_string_equal(fr.text, "page 3 of 7");
            seen_log++;
        }
        if (fr.type == CH_DONE) {
            assert_int_equal(fr.count, nin);
            assert_int_equal(fr.count2, 2);
        }
    }
    assert_int_equal(seen_end + seen_rej + seen_log, 3);
    assert_int_equal(ch_reader_facts(r), nin);
    ch_reader_free(r);
    for (size_t i = 0; i < nin; i++) fact_clear(&in[i]);
    free(b);
    sink_close(&s);
}

static void test_encode_fact_fixed_buffer(void **state) {
    (void)state;
    fact f;
    full_fact(&f, FK_PAYMENT, 1);
    long need = ch_encode_fact(NULL, 0, 3, &f);
    assert_true(need > 0);
    unsigned char *b = malloc((size_t)need);
    assert_int_equal(ch_encode_fact(b, (size_t)need, 3, &f), need);
    fact g;
    fact_init(&g, FK_PERSON);
    uint32_t stream = 0;
    char err[300];
    assert_int_equal(ch_decode_fact(b, (size_t)need, "hr", &stream, &g, err, sizeof err), 0);
    assert_int_equal(stream, 3);
    assert_true(fact_equal(&f, &g));
    /* Every shorter prefix is refused, never read past. */
    for (long cut = 0; cut < need; cut++) {
        unsigned char *p = malloc((size_t)cut + 1);
        memcpy(p, b, (size_t)cut);
        assert_int_equal(ch_decode_fact(p, (size_t)cut, "hr", &stream, &g, err, sizeof err), -1);
        assert_null(g.ref);
        free(p);
    }
    fact_clear(&g);
    fact_clear(&f);
    free(b);
}

/* ---- batching ------------------------------------------------------------ */

static void test_batching(void **state) {
    (void)state;
    sink s;
    sink_open(&s);
    fact f;
    full_fact(&f, FK_PAYMENT, 0);
    assert_int_equal(ch_stream_begin(s.w, 0, "pay"), 0);
    for (int i = 0; i < 20000; i++) assert_int_equal(ch_fact(s.w, 0, &f), 0);
    uint64_t writes_before_flush = ch_writer_writes(s.w);
    assert_int_equal(ch_stream_end(s.w, 0, 20000, NULL), 0);
    assert_int_equal(ch_done(s.w), 0);
    size_t n;
    unsigned char *b = sink_bytes(&s, &n);
    /* One write per ~64 KiB, not one per fact. */
    assert_true(writes_before_flush >= 1);
    assert_true(ch_writer_writes(s.w) <= n / CH_FLUSH_AT + 2);
    assert_true((ch_writer_bytes(s.w) - n) == 0);
    fact *out = calloc(20000, sizeof *out);
    size_t nf;
    decode_all(b, n, 100000, out, 20000, &nf);
    assert_int_equal(nf, 20000);
    assert_true(fact_equal(&f, &out[19999]));
    for (size_t i = 0; i < nf; i++) fact_clear(&out[i]);
    free(out);
    free(b);
    fact_clear(&f);
    sink_close(&s);
}

/* SEEN: ref hashes batched by the writer, CH_SEEN_BATCH to a frame, sent
 * before any other frame (so inside their stream), decoded in order. */
static void test_seen_round_trip(void **state) {
    (void)state;
    sink s;
    sink_open(&s);
    const size_t N = CH_SEEN_BATCH + 10;
    assert_int_equal(ch_stream_begin(s.w, 2, "residents"), 0);
    for (size_t i = 0; i < N; i++) assert_int_equal(ch_seen(s.w, 2, 0x0123456789abcdefULL * (i + 1)), 0);
    fact f;
    full_fact(&f, FK_PERSON, 0);
    assert_int_equal(ch_fact(s.w, 2, &f), 0); /* the pending batch goes first */
    assert_int_equal(ch_seen(s.w, 2, UINT64_MAX), 0);
    assert_int_equal(ch_stream_end(s.w, 2, N + 2, NULL), 0); /* and before the end */
    assert_int_equal(ch_done(s.w), 0);
    assert_int_equal(ch_writer_seen(s.w), N + 1);
    size_t n;
    unsigned char *b = sink_bytes(&s, &n);
    ch_reader *r = ch_reader_new("hr", 0);
    assert_int_equal(ch_reader_feed(r, b, n), 0);
    ch_frame fr;
    char err[300];
    int types[16], nt = 0;
    uint64_t got = 0, bad = 0;
    while (ch_reader_next(r, &fr, err, sizeof err) == 1 && nt < 16) {
        types[nt++] = fr.type;
        if (fr.type == CH_SEEN) {
            assert_int_equal(fr.stream, 2);
            for (uint64_t k = 0; k < fr.count; k++, got++) {
                uint64_t want = got < N ? 0x0123456789abcdefULL * (got + 1) : UINT64_MAX;
                if (fr.seen[k] != want) bad++;
            }
        }
        if (fr.type == CH_FACT) assert_true(fact_equal(fr.fact, &f));
    }
    assert_int_equal(ch_reader_done(r), 1);
    assert_int_equal(got, N + 1);
    assert_int_equal(bad, 0);
    assert_int_equal(ch_reader_seen(r), N + 1);
    assert_int_equal(ch_reader_facts(r), 1); /* DONE counts facts and rejects only */
    int want[] = {CH_STREAM_BEGIN, CH_SEEN, CH_SEEN, CH_FACT, CH_SEEN, CH_STREAM_END, CH_DONE};
    assert_int_equal(nt, 7);
    for (int i = 0; i < nt; i++) assert_int_equal(types[i], want[i]);
    ch_reader_free(r);
    free(b);
    fact_clear(&f);
    sink_close(&s);
}

/* MEMO: words in frames of CH_SEEN_BATCH, after a pending SEEN batch
 * (so inside their stream), the token in each; "stands" alone; the passed
 * count in STREAM_END's stats. */
static void test_memo_round_trip(void **state) {
    (void)state;
    sink s;
    sink_open(&s);
    const size_t N = CH_SEEN_BATCH * 2 + 3;
    uint64_t *h = malloc(N * sizeof *h);
    assert_non_null(h);
    for (size_t i = 0; i < N; i++) h[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
    assert_int_equal(ch_stream_begin(s.w, 1, "pension"), 0);
    assert_int_equal(ch_seen(s.w, 1, 42), 0);
    assert_int_equal(ch_memo(s.w, 1, 0xfeedULL, 0, h, N), 0);
    assert_int_equal(ch_memo(s.w, 1, 0xfeedULL, 0, h, 0), 0); /* nothing: no frame */
    ch_stream_stats st = {.skipped = N + 5, .passed = N};
    assert_int_equal(ch_stream_end_ex(s.w, 1, N + 6, NULL, &st, NULL), 0);
    assert_int_equal(ch_stream_begin(s.w, 2, "contributions"), 0);
    assert_int_equal(ch_memo(s.w, 2, 0xbeefULL, 1, NULL, 0), 0);
    assert_int_equal(ch_stream_end(s.w, 2, 0, NULL), 0);
    assert_int_equal(ch_done(s.w), 0);
    size_t n;
    unsigned char *b = sink_bytes(&s, &n);
    ch_reader *r = ch_reader_new("hr", 0);
    assert_int_equal(ch_reader_feed(r, b, n), 0);
    ch_frame fr;
    char err[300];
    int types[16], nt = 0, stands = 0;
    uint64_t got = 0, bad = 0;
    while (ch_reader_next(r, &fr, err, sizeof err) == 1 && nt < 16) {
        types[nt++] = fr.type;
        if (fr.type == CH_MEMO && fr.stream == 1) {
            assert_int_equal(fr.token, 0xfeedULL);
            assert_false(fr.stands);
            assert_true(fr.count <= CH_SEEN_BATCH);
            for (uint64_t k = 0; k < fr.count; k++, got++)
                if (fr.seen[k] != h[got]) bad++;
        }
        if (fr.type == CH_MEMO && fr.stream == 2) {
            assert_int_equal(fr.token, 0xbeefULL);
            assert_int_equal(fr.count, 0);
            stands += fr.stands;
        }
        if (fr.type == CH_STREAM_END && fr.stream == 1) {
            assert_int_equal(fr.stats.passed, N);
            assert_int_equal(fr.stats.skipped, N + 5);
        }
    }
    assert_int_equal(ch_reader_done(r), 1);
    assert_int_equal(got, N);
    assert_int_equal(bad, 0);
    assert_int_equal(stands, 1);
    assert_int_equal(ch_reader_seen(r), 1); /* SEEN counts ref hashes only */
    int want[] = {CH_STREAM_BEGIN, CH_SEEN, CH_MEMO, CH_MEMO, CH_MEMO, CH_STREAM_END,
                  CH_STREAM_BEGIN, CH_MEMO, CH_STREAM_END, CH_DONE};
    assert_int_equal(nt, 10);
    for (int i = 0; i < nt; i++) assert_int_equal(types[i], want[i]);
    ch_reader_free(r);
    free(b);
    free(h);
    sink_close(&s);
}

static void test_writer_refuses_oversized_and_bad(void **state) {
    (void)state;
    sink s;
    sink_open(&s);
    fact f;
    full_fact(&f, FK_PERSON, 0);
    size_t big = CH_MAX_FRAME_DEFAULT + 10;
    f.raw_json = malloc(big + 1);
    memset(f.raw_json, 'a', big);
    f.raw_json[big] = '\0';
    assert_int_equal(ch_fact(s.w, 0, &f), -1);
    assert_non_null(strstr(ch_writer_error(s.w), "exceeds"));
    free(f.raw_json);
    f.raw_json = NULL;
    free(f.f[FF_NAME].s);
    f.f[FF_NAME].s = NULL; /* set, but no text */
    assert_int_equal(ch_fact(s.w, 0, &f), -1);
    assert_non_null(strstr(ch_writer_error(s.w), "cannot be encoded"));
    /* Nothing half-written: the channel is still a valid, empty stream. */
    assert_int_equal(ch_done(s.w), 0);
    size_t n;
    unsigned char *b = sink_bytes(&s, &n);
    assert_int_equal(n, 4 + 1 + 2);
    free(b);
    fact_clear(&f);
    sink_close(&s);
}

/* ---- corrupt frames ------------------------------------------------------ */

typedef struct bb {
    unsigned char b[4096];
    size_t n;
} bb;

static void bb_u8(bb *x, unsigned v) { x->b[x->n++] = (unsigned char)v; }
static void bb_var(bb *x, uint64_t v) {
    while (v >= 0x80) {
        bb_u8(x, (unsigned)(v | 0x80) & 0xff);
        v >>= 7;
    }
    bb_u8(x, (unsigned)v);
}
static void bb_str(bb *x, const char *s) {
    bb_var(x, strlen(s));
    memcpy(x->b + x->n, s, strlen(s));
    x->n += strlen(s);
}
/* Appends a frame: type + payload bytes. */
static void bb_frame(bb *x, unsigned type, const bb *payload) {
    uint32_t len = (uint32_t)(1 + payload->n);
    bb_u8(x, len & 0xff);
    bb_u8(x, (len >> 8) & 0xff);
    bb_u8(x, (len >> 16) & 0xff);
    bb_u8(x, len >> 24);
    bb_u8(x, type);
    memcpy(x->b + x->n, payload->b, payload->n);
    x->n += payload->n;
}

/* A valid payment payload up to (not including) the field list. */
static void payment_head(bb *p, unsigned nfields) {
    bb_var(p, 0);          /* stream */
    bb_u8(p, FK_PAYMENT);  /* kind */
    bb_u8(p, 0x01);        /* flags: ref */
    bb_str(p, "R1");
    bb_var(p, nfields);
}
static void f_text(bb *p, unsigned fid, const char *s) {
    bb_u8(p, fid);
    bb_u8(p, fact_field_type((fact_field)fid));
    bb_str(p, s);
}
static void f_int(bb *p, unsigned fid, int64_t v) {
    bb_u8(p, fid);
    bb_u8(p, fact_field_type((fact_field)fid));
    bb_var(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
static void payment_fields(bb *p) {
    f_text(p, FF_ID_NO, "420501195003121233");
    f_text(p, FF_PROGRAM, "dibao");
    f_int(p, FF_PERIOD, 202403);
    f_int(p, FF_AMOUNT, 50000);
}

/* Stream prefix: STREAM_BEGIN 0. */
static void begin0(bb *x) {
    bb p = {0};
    bb_var(&p, 0);
    bb_str(&p, "pay");
    bb_frame(x, CH_STREAM_BEGIN, &p);
}

/* Feeds x whole; expects the first n_ok frames to decode, then an error
 * containing `want`. */
static void expect_error(const bb *x, int n_ok, const char *want) {
    ch_reader *r = ch_reader_new("hr", 1024);
    assert_int_equal(ch_reader_feed(r, x->b, x->n), 0);
    ch_frame fr;
    char err[300] = "";
    int rc, ok = 0;
    while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1) ok++;
    if (rc == 0) rc = ch_reader_eof(r, err, sizeof err);
    if (rc != -1 || ok != n_ok || strstr(err, want) == NULL)
        fail_msg("want error '%s' after %d frames; got rc %d after %d frames: '%s'", want, n_ok, rc, ok, err);
    assert_int_equal(ch_reader_next(r, &fr, err, sizeof err), -1); /* dead stays dead */
    ch_reader_free(r);
}

static void test_corrupt_frames(void **state) {
    (void)state;
    bb x, p;
#define CASE(build, nok, want)                                                                                         \
    do {                                                                                                               \
        memset(&x, 0, sizeof x);                                                                                       \
        memset(&p, 0, sizeof p);                                                                                       \
        build;                                                                                                         \
        expect_error(&x, nok, want);                                                                                   \
    } while (0)
#define FACT_CASE(body, want) CASE((begin0(&x), body, bb_frame(&x, CH_FACT, &p)), 1, want)

    /* framing */
    CASE((bb_u8(&x, 0), bb_u8(&x, 0), bb_u8(&x, 0), bb_u8(&x, 0)), 0, "length 0");
    CASE((bb_u8(&x, 0xff), bb_u8(&x, 0xff), bb_u8(&x, 0), bb_u8(&x, 0), bb_u8(&x, 1)), 0, "exceeds the 1024 byte limit");
    CASE((bb_u8(&x, 1), bb_frame(&x, 99, &p)), 0, "truncated frame");
    CASE((bb_frame(&x, 99, &p)), 0, "unknown frame type 99");
    CASE((bb_frame(&x, 0, &p)), 0, "unknown frame type 0");
    CASE((bb_u8(&x, 3)), 0, "truncated frame at byte 0: 1 of 4 length bytes");
    /* values */
    FACT_CASE((bb_u8(&p, 0x80)), "truncated varint (stream id)");
    FACT_CASE((bb_var(&p, (uint64_t)UINT32_MAX + 1)), "stream id 4294967296 out of range");
    FACT_CASE((bb_var(&p, 0), bb_u8(&p, FK__COUNT)), "unknown fact kind");
    FACT_CASE((bb_var(&p, 0), bb_u8(&p, FK_PAYMENT), bb_u8(&p, 0x40)), "unknown flag bits");
    FACT_CASE((bb_var(&p, 0), bb_u8(&p, FK_PAYMENT), bb_u8(&p, 1), bb_var(&p, 500), bb_u8(&p, 'R')),
              "ref length 500 exceeds the 1 bytes left");
    FACT_CASE((bb_var(&p, 0), bb_u8(&p, FK_PAYMENT), bb_u8(&p, 1), bb_var(&p, 3), bb_u8(&p, 'R'), bb_u8(&p, 0),
               bb_u8(&p, '1')),
              "ref contains a NUL byte");
    FACT_CASE((payment_head(&p, 31)), "31 fields, more than");
    FACT_CASE((payment_head(&p, 1), bb_u8(&p, FF__COUNT), bb_u8(&p, 0)), "unknown field id");
    FACT_CASE((payment_head(&p, 1), bb_u8(&p, FF_AMOUNT), bb_u8(&p, FT_TEXT)), "field 'amount': type 0");
    FACT_CASE((payment_head(&p, 1), f_int(&p, FF_DEATH_DATE, 20240101)), "field 'death_date' not allowed for kind payment");
    FACT_CASE((payment_head(&p, 2), f_text(&p, FF_PROGRAM, "a"), f_text(&p, FF_PROGRAM, "b")), "field 'program' appears twice");
    FACT_CASE((payment_head(&p, 1), f_int(&p, FF_PERIOD, 202413)), "not a month");
    FACT_CASE((payment_head(&p, 1), f_int(&p, FF_PAID_ON, 20230229)), "not a date");
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "\xff\xfe")), "not valid UTF-8");
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "\xed\xa0\x80")), "not valid UTF-8"); /* surrogate */
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "\xe0\x80\xaf")), "not valid UTF-8"); /* overlong '/' */
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "\xf4\x90\x80\x80")), "not valid UTF-8"); /* > U+10FFFF */
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "ok\xe5\xbc")), "not valid UTF-8"); /* cut short */
    FACT_CASE((payment_head(&p, 1), f_text(&p, FF_PAYER, "12345678\xc0\xaf")), "not valid UTF-8"); /* after 8 ASCII */
    FACT_CASE((payment_head(&p, 2), f_text(&p, FF_ID_NO, "420501195003121233"), f_text(&p, FF_PROGRAM, "dibao")),
              "missing required field 'period'");
    FACT_CASE((payment_head(&p, 1), bb_u8(&p, FF_AMOUNT), bb_u8(&p, FT_MONEY),
               bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0xff),
               bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0xff), bb_u8(&p, 0x02)),
              "varint overflows 64 bits (amount)");
    FACT_CASE((payment_head(&p, 4), payment_fields(&p), bb_u8(&p, 0x55)), "1 trailing bytes");
    /* enum and identity parts need their flags */
    CASE((begin0(&x), bb_var(&p, 0), bb_u8(&p, FK_PERSON), bb_u8(&p, 0), bb_var(&p, 3),
          f_text(&p, FF_ID_NO, "1"), f_text(&p, FF_NAME, "a"), f_text(&p, FF_SEX, "robot"), bb_frame(&x, CH_FACT, &p)),
         1, "field 'sex': value not one of its enum values");
    {
        bb q = {0};
        bb_var(&q, 0); bb_u8(&q, FK_PAYMENT); bb_u8(&q, 0x04); bb_var(&q, 4); payment_fields(&q);
        CASE((begin0(&x), memcpy(p.b, q.b, q.n), p.n = q.n, bb_u8(&p, 200), bb_frame(&x, CH_FACT, &p)), 1,
             "unknown id status 200");
        CASE((begin0(&x), memcpy(p.b, q.b, q.n), p.n = q.n, bb_u8(&p, 0), bb_str(&p, "4205011950031212334"),
              bb_frame(&x, CH_FACT, &p)),
             1, "id_norm of 19 bytes");
    }
    /* other frame payloads */
    CASE((bb_u8(&p, 9), bb_str(&p, "x"), bb_frame(&x, CH_LOG, &p)), 0, "unknown log level 9");
    CASE((bb_u8(&p, 77), bb_var(&p, 0), bb_str(&p, "x"), bb_frame(&x, CH_ERROR, &p)), 0, "unknown error code 77");
    CASE((bb_var(&p, 0), bb_var(&p, 1), bb_u8(&p, 32), bb_frame(&x, CH_STREAM_END, &p)), 0, "unknown flag bits 0x20");
    CASE((bb_var(&p, 0), bb_var(&p, 1), bb_u8(&p, 8), bb_var(&p, 3), bb_frame(&x, CH_STREAM_END, &p)), 0,
         "raw-built or passed count without the stats");
    CASE((bb_var(&p, 0), bb_var(&p, 1), bb_u8(&p, 16), bb_var(&p, 3), bb_frame(&x, CH_STREAM_END, &p)), 0,
         "raw-built or passed count without the stats");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, 2), bb_u8(&p, 4 | 8 | 16), bb_var(&p, 9), bb_var(&p, 0), bb_var(&p, 0),
          bb_var(&p, 0), bb_var(&p, 3), bb_frame(&x, CH_STREAM_END, &p)),
         1, "more rows taken by their hash than read");
    /* the raw hash: 8 bytes, never 0 */
    {
        bb q = {0};
        bb_var(&q, 0); bb_u8(&q, FK_PAYMENT); bb_u8(&q, 0x10); bb_var(&q, 4); payment_fields(&q);
        CASE((begin0(&x), memcpy(p.b, q.b, q.n), p.n = q.n, bb_u8(&p, 1), bb_u8(&p, 2), bb_frame(&x, CH_FACT, &p)), 1,
             "truncated: raw hash missing");
        CASE((begin0(&x), memcpy(p.b, q.b, q.n), p.n = q.n, bb_var(&p, 0), bb_var(&p, 0), bb_var(&p, 0), bb_var(&p, 0),
              bb_var(&p, 0), bb_var(&p, 0), bb_var(&p, 0), bb_var(&p, 0), bb_frame(&x, CH_FACT, &p)),
             1, "raw hash 0");
    }
    CASE((bb_var(&p, 0), bb_frame(&x, CH_STREAM_BEGIN, &p)), 0, "truncated varint (stream name)");
    /* protocol */
    CASE((payment_head(&p, 4), payment_fields(&p), bb_frame(&x, CH_FACT, &p)), 0, "FACT for stream 0 outside");
    CASE((begin0(&x), bb_var(&p, 1), bb_u8(&p, 0), bb_str(&p, "r"), bb_frame(&x, CH_REJECT, &p)), 1,
         "REJECT for stream 1 outside");
    CASE((begin0(&x), begin0(&x)), 1, "STREAM_BEGIN of stream 0 while stream 0 is open");
    CASE((bb_var(&p, 4), bb_var(&p, 0), bb_u8(&p, 0), bb_frame(&x, CH_STREAM_END, &p)), 0, "STREAM_END of stream 4, which is not open");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, 0), bb_frame(&x, CH_DONE, &p)), 1, "DONE while stream 0 is open");
    CASE((bb_var(&p, 5), bb_var(&p, 0), bb_frame(&x, CH_DONE, &p)), 0, "DONE counts 5 facts");
    CASE((bb_var(&p, 0), bb_var(&p, 0), bb_frame(&x, CH_DONE, &p), bb_frame(&x, CH_DONE, &p)), 1, "DONE after DONE");
    /* SEEN: inside its stream, as many hashes as its length holds */
    CASE((bb_var(&p, 0), bb_var(&p, 1), memset(p.b + p.n, 7, 8), p.n += 8, bb_frame(&x, CH_SEEN, &p)), 0,
         "SEEN for stream 0 outside");
    CASE((begin0(&x), bb_var(&p, 3), bb_var(&p, 1), memset(p.b + p.n, 7, 8), p.n += 8, bb_frame(&x, CH_SEEN, &p)), 1,
         "SEEN for stream 3 outside");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, 3), memset(p.b + p.n, 7, 16), p.n += 16, bb_frame(&x, CH_SEEN, &p)),
         1, "3 ref hashes need 24 bytes, 16 are left");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, (uint64_t)1 << 61), bb_frame(&x, CH_SEEN, &p)), 1,
         "ref hashes need");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, 1), memset(p.b + p.n, 7, 12), p.n += 12, bb_frame(&x, CH_SEEN, &p)),
         1, "4 trailing bytes");
    CASE((begin0(&x), bb_var(&p, 0), bb_var(&p, 0), bb_frame(&x, CH_SEEN, &p)), 1, "no ref hashes");
    CASE((begin0(&x), bb_var(&p, 0), bb_frame(&x, CH_SEEN, &p)), 1, "truncated varint (ref hash count)");
    /* MEMO: inside its stream, a token, known flags, hashes or "stands" */
    CASE((bb_var(&p, 0), memset(p.b + p.n, 1, 8), p.n += 8, bb_u8(&p, 1), bb_var(&p, 0), bb_frame(&x, CH_MEMO, &p)),
         0, "MEMO for stream 0 outside");
    CASE((begin0(&x), bb_var(&p, 0), memset(p.b + p.n, 1, 5), p.n += 5, bb_frame(&x, CH_MEMO, &p)), 1,
         "1 token need 8 bytes, 5 are left");
    CASE((begin0(&x), bb_var(&p, 0), memset(p.b + p.n, 1, 8), p.n += 8, bb_u8(&p, 2), bb_var(&p, 0),
          bb_frame(&x, CH_MEMO, &p)),
         1, "unknown flag bits 0x02");
    CASE((begin0(&x), bb_var(&p, 0), memset(p.b + p.n, 1, 8), p.n += 8, bb_u8(&p, 1), bb_var(&p, 1),
          memset(p.b + p.n, 7, 8), p.n += 8, bb_frame(&x, CH_MEMO, &p)),
         1, "a standing memo with words");
    CASE((begin0(&x), bb_var(&p, 0), memset(p.b + p.n, 1, 8), p.n += 8, bb_u8(&p, 0), bb_var(&p, 0),
          bb_frame(&x, CH_MEMO, &p)),
         1, "no words");
    CASE((begin0(&x), bb_var(&p, 0), memset(p.b + p.n, 1, 8), p.n += 8, bb_u8(&p, 0), bb_var(&p, 2),
          memset(p.b + p.n, 7, 12), p.n += 12, bb_frame(&x, CH_MEMO, &p)),
         1, "2 words need 16 bytes, 12 are left");
#undef CASE
#undef FACT_CASE
}

/* ---- truncation and random damage ---------------------------------------- */

static unsigned char *sample_stream(size_t *n) {
    sink s;
    sink_open(&s);
    fact f;
    full_fact(&f, FK_PAYMENT, 1);
    assert_int_equal(ch_stream_begin(s.w, 0, "pay"), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(ch_fact(s.w, 0, &f), 0);
    assert_int_equal(ch_reject(s.w, 0, "R", "bad", "{}"), 0);
    assert_int_equal(ch_stream_end(s.w, 0, 6, "w"), 0);
    assert_int_equal(ch_error(s.w, CH_ERR_FAILED, 1, 0, "x"), 0);
    assert_int_equal(ch_done(s.w), 0);
    unsigned char *b = sink_bytes(&s, n);
    fact_clear(&f);
    sink_close(&s);
    return b;
}

static void test_truncated_stream(void **state) {
    (void)state;
    size_t n;
    unsigned char *b = sample_stream(&n);
    /* Frame boundaries, found by decoding. */
    size_t bounds[32], nb = 0, off = 0;
    while (off < n) {
        uint32_t len = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
        off += 4 + len;
        bounds[nb++] = off;
    }
    assert_int_equal(off, n);
    assert_int_equal(nb, 10);
    for (size_t cut = 0; cut < n; cut++) {
        ch_reader *r = ch_reader_new("hr", 0);
        assert_int_equal(ch_reader_feed(r, b, cut), 0);
        ch_frame fr;
        char err[300];
        size_t frames = 0;
        int rc;
        while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1) frames++;
        assert_int_equal(rc, 0);
        size_t whole = 0;
        while (whole < nb && bounds[whole] <= cut) whole++;
        assert_int_equal(frames, whole);
        int at_boundary = cut == 0 || (whole > 0 && bounds[whole - 1] == cut);
        rc = ch_reader_eof(r, err, sizeof err);
        if (at_boundary) assert_int_equal(rc, 0);
        else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "truncated frame"));
        }
        assert_false(ch_reader_done(r));
        ch_reader_free(r);
    }
    free(b);
}

static void test_random_damage_never_crashes(void **state) {
    (void)state;
    size_t n;
    unsigned char *b = sample_stream(&n);
    unsigned char *d = malloc(n);
    unsigned seed = 12345;
    int errors = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(d, b, n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            d[pos] = (unsigned char)(seed >> 16);
        }
        ch_reader *r = ch_reader_new("hr", 1 << 16);
        assert_int_equal(ch_reader_feed(r, d, n), 0);
        ch_frame fr;
        char err[300];
        int rc;
        while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1) {}
        if (rc == 0) rc = ch_reader_eof(r, err, sizeof err);
        if (rc < 0) {
            errors++;
            assert_true(err[0] != '\0');
        }
        ch_reader_free(r);
    }
    assert_true(errors > 1000); /* most damage is caught; none crashes */
    free(d);
    free(b);
}

/* The fuzz seeds (tests/fuzz/corpus/channel, made by the encoder) are valid
 * streams: they decode whole, so the corpus follows the format. */
static void test_fuzz_seeds_decode(void **state) {
    (void)state;
    const char *root = getenv("GG_SOURCE_DIR");
    if (root == NULL) skip();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/channel", root);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int seeds = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "seed-", 5) != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        unsigned char buf[8192];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        size_t nf;
        fact facts[FK__COUNT];
        decode_all(buf, n, n, facts, FK__COUNT, &nf);
        assert_true(nf >= 1);
        for (size_t i = 0; i < nf; i++) fact_clear(&facts[i]);
        seeds++;
    }
    closedir(d);
    assert_int_equal(seeds, FK__COUNT + 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_encode_fact_fixed_buffer),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_seen_round_trip),
        cmocka_unit_test(test_memo_round_trip),
        cmocka_unit_test(test_writer_refuses_oversized_and_bad),
        cmocka_unit_test(test_corrupt_frames),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_random_damage_never_crashes),
        cmocka_unit_test(test_fuzz_seeds_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
