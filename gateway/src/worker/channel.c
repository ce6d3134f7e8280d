/* channel.c - the binary fact channel between a worker and the core: a batched
 * frame writer and a strict, bounds-checked frame reader (see channel.h and
 * docs/worker.md for the format). */
#include "worker/channel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/utf8.h"
#include "core/util.h"

#define CH_HDR 5 /* u32 length + u8 type */

/* FACT flags */
#define FF_HAS_REF 0x01
#define FF_HAS_RAW 0x02
#define FF_HAS_ID 0x04
#define FF_HAS_NAME_NORM 0x08
#define FF_HAS_RAW_HASH 0x10
#define FF_ALL_FLAGS 0x1f

const char *ch_frame_type_name(int type) {
    switch (type) {
    case CH_FACT: return "FACT";
    case CH_REJECT: return "REJECT";
    case CH_LOG: return "LOG";
    case CH_STREAM_BEGIN: return "STREAM_BEGIN";
    case CH_STREAM_END: return "STREAM_END";
    case CH_ERROR: return "ERROR";
    case CH_DONE: return "DONE";
    case CH_SEEN: return "SEEN";
    case CH_MEMO: return "MEMO";
    default: return "?";
    }
}

/* ---- output buffer ------------------------------------------------------- */

/* A growable byte buffer, or a fixed one that only counts once full. */
typedef struct obuf {
    unsigned char *p;
    size_t len, cap;
    int fixed; /* 1: never realloc; bytes past cap are counted, not written */
    int oom;   /* a realloc failed */
} obuf;

/* Plain realloc, not xrealloc: the buffer grows with what a source writes, and
 * in a worker a failure under RLIMIT_DATA is reported as the memory cap. */
static int ob_reserve(obuf *b, size_t n) {
    if (b->len + n <= b->cap) return 1;
    if (b->fixed || b->oom) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n) nc *= 2;
    unsigned char *np = realloc(b->p, nc);
    if (np == NULL) {
        b->oom = 1;
        return 0;
    }
    b->p = np;
    b->cap = nc;
    return 1;
}

static inline void ob_put(obuf *b, const void *src, size_t n) {
    if (b->len + n <= b->cap || ob_reserve(b, n)) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void ob_u8(obuf *b, unsigned v) {
    if (b->len < b->cap || ob_reserve(b, 1)) b->p[b->len] = (unsigned char)v;
    b->len++;
}

static void ob_varint(obuf *b, uint64_t v) {
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    ob_put(b, tmp, n);
}

static void ob_zigzag(obuf *b, int64_t v) {
    ob_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void ob_str(obuf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    ob_varint(b, n);
    ob_put(b, s, n);
}

/* The FACT payload. Returns -1 when the fact cannot be encoded. */
static int encode_fact(obuf *b, uint32_t stream, const fact *f) {
    if ((unsigned)f->kind >= FK__COUNT) return -1;
    unsigned flags = 0;
    if (f->ref) flags |= FF_HAS_REF;
    if (f->raw_json) flags |= FF_HAS_RAW;
    if (f->id_status != ID_EMPTY || f->id_norm[0] || f->id_clean[0]) flags |= FF_HAS_ID;
    if (f->name_norm) flags |= FF_HAS_NAME_NORM;
    if (f->raw_hash) flags |= FF_HAS_RAW_HASH;
    unsigned nset = 0;
    for (int i = 0; i < FF__COUNT; i++) nset += FACT_HAS(f, i) ? 1 : 0;

    ob_varint(b, stream);
    ob_u8(b, (unsigned)f->kind);
    ob_u8(b, flags);
    if (flags & FF_HAS_REF) ob_str(b, f->ref);
    ob_varint(b, nset);
    for (int i = 0; i < FF__COUNT; i++) {
        const fact_val *v = &f->f[i];
        if (!FACT_HAS(f, i)) continue;
        field_type t = fact_field_type((fact_field)i);
        ob_u8(b, (unsigned)i);
        ob_u8(b, (unsigned)t);
        if (t == FT_TEXT || t == FT_ENUM) {
            if (v->s == NULL) return -1;
            ob_str(b, v->s);
        } else {
            ob_zigzag(b, v->i);
        }
    }
    if (flags & FF_HAS_ID) {
        ob_u8(b, (unsigned)f->id_status);
        ob_str(b, f->id_norm);
        ob_str(b, f->id_clean);
    }
    if (flags & FF_HAS_NAME_NORM) ob_str(b, f->name_norm);
    if (flags & FF_HAS_RAW) ob_str(b, f->raw_json);
    if (flags & FF_HAS_RAW_HASH) {
        unsigned char h8[8];
        for (int i = 0; i < 8; i++) h8[i] = (unsigned char)(f->raw_hash >> (8 * i));
        ob_put(b, h8, 8);
    }
    return 0;
}

long ch_encode_fact(unsigned char *buf, size_t cap, uint32_t stream, const fact *f) {
    obuf b = {.p = buf, .cap = cap, .fixed = 1};
    if (encode_fact(&b, stream, f) != 0) return -1;
    return (long)b.len;
}

/* ---- writer -------------------------------------------------------------- */

struct ch_writer {
    int fd;
    obuf b;
    uint64_t bytes, writes, nfacts, nrejects;
    uint64_t *seen;        /* the SEEN batch not yet framed: CH_SEEN_BATCH slots */
    size_t nseen;
    uint32_t seen_stream;  /* the stream the batch belongs to */
    uint64_t seen_total;
    char err[256];
};

ch_writer *ch_writer_new(int fd) {
    ch_writer *w = xcalloc(1, sizeof *w);
    w->fd = fd;
    w->b.cap = CH_FLUSH_AT + 4096;
    w->b.p = xmalloc(w->b.cap);
    w->seen = xmalloc(CH_SEEN_BATCH * sizeof *w->seen);
    return w;
}

void ch_writer_free(ch_writer *w) {
    if (w == NULL) return;
    free(w->b.p);
    free(w->seen);
    free(w);
}

const char *ch_writer_error(const ch_writer *w) { return w->err; }
uint64_t ch_writer_bytes(const ch_writer *w) { return w->bytes; }
uint64_t ch_writer_writes(const ch_writer *w) { return w->writes; }
uint64_t ch_writer_seen(const ch_writer *w) { return w->seen_total; }

static int seen_out(ch_writer *w);

static int werr(ch_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int werr(ch_writer *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

int ch_flush(ch_writer *w) {
    if (w->nseen && seen_out(w)) return -1;
    size_t off = 0;
    while (off < w->b.len) {
        ssize_t n = write(w->fd, w->b.p + off, w->b.len - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            /* Keep what was not written so the caller may report, not retry. */
            memmove(w->b.p, w->b.p + off, w->b.len - off);
            w->b.len -= off;
            return werr(w, "write to channel: %s", strerror(e));
        }
        off += (size_t)n;
        w->bytes += (uint64_t)n;
        w->writes++;
    }
    w->b.len = 0;
    return 0;
}

/* Frame building: begin reserves the header, end patches the length, checks
 * the limit and flushes past CH_FLUSH_AT. On any failure the frame is undone. */
static size_t frame_begin(ch_writer *w, ch_frame_type t) {
    size_t start = w->b.len;
    unsigned char hdr[CH_HDR] = {0, 0, 0, 0, (unsigned char)t};
    ob_put(&w->b, hdr, CH_HDR);
    return start;
}

static int frame_end(ch_writer *w, size_t start, const char *what) {
    if (w->b.oom) {
        w->b.oom = 0;
        w->b.len = start;
        return werr(w, "%s frame: out of memory", what);
    }
    size_t body = w->b.len - start - 4;
    if (body > CH_MAX_FRAME_DEFAULT) {
        w->b.len = start;
        return werr(w, "%s frame of %zu bytes exceeds the channel's %u byte limit", what, body,
                    CH_MAX_FRAME_DEFAULT);
    }
    unsigned char *h = w->b.p + start;
    h[0] = (unsigned char)body;
    h[1] = (unsigned char)(body >> 8);
    h[2] = (unsigned char)(body >> 16);
    h[3] = (unsigned char)(body >> 24);
    if (w->b.len >= CH_FLUSH_AT) return ch_flush(w);
    return 0;
}

int ch_stream_begin(ch_writer *w, uint32_t stream, const char *name) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_STREAM_BEGIN);
    ob_varint(&w->b, stream);
    ob_str(&w->b, name);
    return frame_end(w, s, "STREAM_BEGIN");
}

int ch_fact(ch_writer *w, uint32_t stream, const fact *f) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_FACT);
    if (encode_fact(&w->b, stream, f) != 0) {
        w->b.len = s;
        w->b.oom = 0;
        return werr(w, "FACT frame: fact of kind %d cannot be encoded (bad kind or text field without value)",
                    (int)f->kind);
    }
    if (frame_end(w, s, "FACT") != 0) return -1;
    w->nfacts++;
    return 0;
}

int ch_reject(ch_writer *w, uint32_t stream, const char *ref, const char *reason, const char *raw_json) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_REJECT);
    ob_varint(&w->b, stream);
    ob_u8(&w->b, (ref ? FF_HAS_REF : 0) | (raw_json ? FF_HAS_RAW : 0));
    if (ref) ob_str(&w->b, ref);
    ob_str(&w->b, reason);
    if (raw_json) ob_str(&w->b, raw_json);
    if (frame_end(w, s, "REJECT") != 0) return -1;
    w->nrejects++;
    return 0;
}

int ch_log(ch_writer *w, int level, const char *msg) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_LOG);
    ob_u8(&w->b, (unsigned)level);
    ob_str(&w->b, msg);
    return frame_end(w, s, "LOG");
}

int ch_stream_end(ch_writer *w, uint32_t stream, uint64_t nrows, const char *watermark) {
    return ch_stream_end_ex(w, stream, nrows, watermark, NULL, NULL);
}

int ch_stream_end_ex(ch_writer *w, uint32_t stream, uint64_t nrows, const char *watermark, const ch_stream_stats *st,
                     const char *failure) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_STREAM_END);
    ob_varint(&w->b, stream);
    ob_varint(&w->b, nrows);
    ob_u8(&w->b, (watermark ? 1u : 0u) | (failure ? 2u : 0u) | (st ? 4u | 8u | 16u : 0u));
    if (watermark) ob_str(&w->b, watermark);
    if (failure) ob_str(&w->b, failure);
    if (st) {
        ob_varint(&w->b, st->skipped);
        ob_varint(&w->b, st->lookup_ids);
        ob_varint(&w->b, st->lookup_rows);
        ob_varint(&w->b, st->raw_built);
        ob_varint(&w->b, st->passed);
    }
    return frame_end(w, s, "STREAM_END");
}

int ch_error(ch_writer *w, ch_err_code code, int has_stream, uint32_t stream, const char *msg) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_ERROR);
    ob_u8(&w->b, (unsigned)code);
    ob_varint(&w->b, has_stream ? (uint64_t)stream + 1 : 0);
    ob_str(&w->b, msg);
    return frame_end(w, s, "ERROR");
}

int ch_done(ch_writer *w) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    size_t s = frame_begin(w, CH_DONE);
    ob_varint(&w->b, w->nfacts);
    ob_varint(&w->b, w->nrejects);
    return frame_end(w, s, "DONE");
}

/* Frames the SEEN batch: v stream, v count, count x u64 (little endian). The
 * batch is emptied first, so the flush frame_end may do does not recurse. */
static int seen_out(ch_writer *w) {
    size_t n = w->nseen;
    w->nseen = 0;
    size_t s = frame_begin(w, CH_SEEN);
    ob_varint(&w->b, w->seen_stream);
    ob_varint(&w->b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char le[8];
        uint64_t v = w->seen[i];
        for (int k = 0; k < 8; k++) le[k] = (unsigned char)(v >> (8 * k));
        ob_put(&w->b, le, 8);
    }
    return frame_end(w, s, "SEEN");
}

static void ob_u64le(obuf *b, uint64_t v) {
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(v >> (8 * k));
    ob_put(b, le, 8);
}

/* MEMO: v stream, u64 token (little endian), u8 flags (1: stands),
 * v count, count x u64. */
int ch_memo(ch_writer *w, uint32_t stream, uint64_t token, int stands, const uint64_t *h, size_t n) {
    if (w->nseen && seen_out(w)) return -1; /* the batch goes first: it stays in its stream */
    if (stands) n = 0;
    size_t at = 0;
    do {
        size_t k = n - at < CH_SEEN_BATCH ? n - at : CH_SEEN_BATCH;
        if (!stands && k == 0) break;
        size_t s = frame_begin(w, CH_MEMO);
        ob_varint(&w->b, stream);
        ob_u64le(&w->b, token);
        ob_u8(&w->b, stands ? 1u : 0u);
        ob_varint(&w->b, k);
        for (size_t i = 0; i < k; i++) ob_u64le(&w->b, h[at + i]);
        if (frame_end(w, s, "MEMO")) return -1;
        at += k;
    } while (at < n);
    return 0;
}

int ch_seen(ch_writer *w, uint32_t stream, uint64_t ref_hash) {
    if (w->nseen && (w->seen_stream != stream || w->nseen == CH_SEEN_BATCH) && seen_out(w)) return -1;
    w->seen_stream = stream;
    w->seen[w->nseen++] = ref_hash;
    w->seen_total++;
    return 0;
}

/* ---- reader -------------------------------------------------------------- */

struct ch_reader {
    char *source;
    size_t max_frame;
    unsigned char *buf;
    size_t start, len, cap; /* unread bytes are buf[start .. len) */
    uint64_t offset;        /* stream offset of buf[start] */
    char *scratch;          /* NUL-terminated copies of a frame's strings */
    size_t scratch_cap;
    fact fact;
    long open;              /* open stream or -1 */
    int done, dead;
    uint64_t nfacts, nrejects, nseen;
};

ch_reader *ch_reader_new(const char *source, size_t max_frame) {
    ch_reader *r = xcalloc(1, sizeof *r);
    r->source = xstrdup(source ? source : "");
    r->max_frame = max_frame ? max_frame : CH_MAX_FRAME_DEFAULT;
    r->open = -1;
    fact_init(&r->fact, FK_PERSON);
    return r;
}

void ch_reader_free(ch_reader *r) {
    if (r == NULL) return;
    fact_clear(&r->fact);
    free(r->source);
    free(r->buf);
    free(r->scratch);
    free(r);
}

int ch_reader_feed(ch_reader *r, const void *data, size_t n) {
    if (n == 0) return 0;
    if (r->start > 0 && (r->start == r->len || r->start >= r->cap / 2)) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->len + n > r->cap) {
        size_t nc = r->cap ? r->cap : 64 * 1024;
        while (nc < r->len + n) nc *= 2;
        /* Sized by the worker's frames: a failure ends that source only. */
        unsigned char *nb = realloc(r->buf, nc);
        if (nb == NULL) return -1;
        r->buf = nb;
        r->cap = nc;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

int ch_reader_done(const ch_reader *r) { return r->done; }
long ch_reader_open_stream(const ch_reader *r) { return r->open; }
uint64_t ch_reader_facts(const ch_reader *r) { return r->nfacts; }
uint64_t ch_reader_rejects(const ch_reader *r) { return r->nrejects; }
uint64_t ch_reader_seen(const ch_reader *r) { return r->nseen; }

/* A decoding cursor over one payload; errors name the frame and the byte. */
typedef struct cur {
    const unsigned char *p;
    size_t n, pos;
    char *err;
    size_t errsz;
    const char *frame; /* "FACT" */
    char *scratch;     /* where strings are copied, NUL-terminated */
    size_t sused;
    int borrow;        /* the fact decoder leaves its strings in scratch (a reader's,
                          valid until its next frame) instead of a malloc each */
} cur;

static int cerr(cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cerr(cur *c, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errsz) snprintf(c->err, c->errsz, "%s frame, payload byte %zu: %s", c->frame, c->pos, msg);
    return -1;
}

static int get_u8(cur *c, unsigned *v, const char *what) {
    if (c->pos >= c->n) return cerr(c, "truncated: %s missing", what);
    *v = c->p[c->pos++];
    return 0;
}

static inline int get_varint(cur *c, uint64_t *v, const char *what) {
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (c->pos >= c->n) return cerr(c, "truncated varint (%s)", what);
        unsigned b = c->p[c->pos++];
        if (i == 9 && b > 1) return cerr(c, "varint overflows 64 bits (%s)", what);
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return cerr(c, "varint longer than 10 bytes (%s)", what);
}

/* count u64 (little endian) into the reader's scratch (malloc'd, so aligned;
 * room: the payload); *out points at them. */
static int get_u64s(cur *c, uint64_t count, const uint64_t **out, const char *what) {
    if (count > (c->n - c->pos) / 8)
        return cerr(c, "%llu %s need %llu bytes, %zu are left", (unsigned long long)count, what,
                    (unsigned long long)count * 8, c->n - c->pos);
    uint64_t *dst = (uint64_t *)(void *)c->scratch;
    for (uint64_t k = 0; k < count; k++, c->pos += 8) {
        uint64_t x = 0;
        for (int b = 7; b >= 0; b--) x = (x << 8) | c->p[c->pos + (size_t)b];
        dst[k] = x;
    }
    *out = dst;
    return 0;
}

static int get_u32(cur *c, uint32_t *v, const char *what) {
    uint64_t x = 0;
    if (get_varint(c, &x, what)) return -1;
    if (x > UINT32_MAX) return cerr(c, "%s %llu out of range", what, (unsigned long long)x);
    *v = (uint32_t)x;
    return 0;
}

/* A length-prefixed string as a span of the payload (no copy): for the fact
 * decoder, which copies each value once into its own allocation. */
static int get_span(cur *c, const char **out, size_t *outlen, const char *what) {
    uint64_t len = 0;
    if (get_varint(c, &len, what)) return -1;
    if (len > c->n - c->pos)
        return cerr(c, "%s length %llu exceeds the %zu bytes left", what, (unsigned long long)len, c->n - c->pos);
    const unsigned char *s = c->p + c->pos;
    if (memchr(s, 0, (size_t)len)) return cerr(c, "%s contains a NUL byte", what);
    c->pos += (size_t)len;
    *out = (const char *)s;
    *outlen = (size_t)len;
    return 0;
}

/* A NUL-terminated copy of the span s (of the payload) in the scratch area:
 * a span's length prefix takes at least a byte, so the copies of a payload's
 * strings fit in its length. */
static char *scratch_copy(cur *c, const char *s, size_t len) {
    char *dst = c->scratch + c->sused;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->sused += len + 1;
    return dst;
}

/* A length-prefixed string: bounds-checked, no NUL inside. *out points at a
 * NUL-terminated copy in the scratch area (room: payload length + 8 NULs). */
static int get_str(cur *c, const char **out, size_t *outlen, const char *what) {
    const char *s;
    size_t len;
    if (get_span(c, &s, &len, what)) return -1;
    *out = scratch_copy(c, s, len);
    if (outlen) *outlen = len;
    return 0;
}

/* A field of a frame: its size is the source's (up to max_frame), so a failure
 * ends that source's stream with a message instead of the daemon (not xmalloc). */
static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int decode_fact(cur *c, const char *source, uint32_t *stream, fact *f) {
    unsigned kind = 0, flags = 0;
    uint64_t nset = 0;
    const char *s;
    size_t sl;
    if (get_u32(c, stream, "stream id") || get_u8(c, &kind, "kind")) return -1;
    if (kind >= FK__COUNT) return cerr(c, "unknown fact kind %u", kind);
    fact_clear(f); /* frees and zeroes, keeping the old kind */
    f->kind = (fact_kind)kind;
    if (get_u8(c, &flags, "flags")) return -1;
    if (flags & ~FF_ALL_FLAGS) return cerr(c, "unknown flag bits 0x%02x", flags & ~FF_ALL_FLAGS);
    if (source && c->borrow) {
        f->source = (char *)source; /* the reader's, which outlives its frames */
        f->borrowed |= FACT_SOURCE_BORROWED;
    } else if (source) {
        f->source = xstrdup(source);
    }
    if (flags & FF_HAS_REF) {
        if (get_span(c, &s, &sl, "ref")) return -1;
        if (c->borrow) {
            f->ref = scratch_copy(c, s, sl);
            f->borrowed |= FACT_REF_BORROWED;
        } else if ((f->ref = dup_n(s, sl)) == NULL) {
            return cerr(c, "out of memory");
        }
    }
    if (get_varint(c, &nset, "field count")) return -1;
    if (nset > FF__COUNT) return cerr(c, "%llu fields, more than the %d there are", (unsigned long long)nset, FF__COUNT);
    for (uint64_t k = 0; k < nset; k++) {
        unsigned fid = 0, type = 0;
        if (get_u8(c, &fid, "field id") || get_u8(c, &type, "field type")) return -1;
        if (fid >= FF__COUNT) return cerr(c, "unknown field id %u", fid);
        const char *fname = fact_field_name((fact_field)fid);
        field_type ft = fact_field_type((fact_field)fid);
        if (type != (unsigned)ft) return cerr(c, "field '%s': type %u, the registry says %u", fname, type, (unsigned)ft);
        if (!fact_field_allowed(f->kind, (fact_field)fid))
            return cerr(c, "field '%s' not allowed for kind %s", fname, fact_kind_name(f->kind));
        if (FACT_HAS(f, fid)) return cerr(c, "field '%s' appears twice", fname);
        if (ft == FT_TEXT || ft == FT_ENUM) {
            if (get_span(c, &s, &sl, fname)) return -1;
            if (!utf8_valid(s, sl)) return cerr(c, "field '%s': not valid UTF-8", fname);
            if (ft == FT_ENUM) {
                const char *const *vals = fact_enum_values(f->kind, (fact_field)fid);
                const char *match = NULL;
                for (int i = 0; vals && vals[i] && !match; i++)
                    if (strlen(vals[i]) == sl && memcmp(vals[i], s, sl) == 0) match = vals[i];
                if (!match) return cerr(c, "field '%s': value not one of its enum values", fname);
                f->f[fid].s = (char *)match; /* the registry's spelling, never freed (model/fact.h) */
            } else if (c->borrow) {
                f->f[fid].s = scratch_copy(c, s, sl);
                f->borrowed |= 1u << fid;
            } else if ((f->f[fid].s = dup_n(s, sl)) == NULL) {
                return cerr(c, "out of memory");
            }
            FACT_MARK(f, fid);
        } else {
            uint64_t z = 0;
            if (get_varint(c, &z, fname)) return -1;
            int64_t v = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
            char ferr[160];
            if (fact_set_int(f, (fact_field)fid, v, ferr, sizeof ferr)) return cerr(c, "%s", ferr);
        }
    }
    if (flags & FF_HAS_ID) {
        unsigned st = 0;
        if (get_u8(c, &st, "id status")) return -1;
        if (st > ID_BAD_ENCODING) return cerr(c, "unknown id status %u", st);
        f->id_status = (ident_status)st;
        if (get_span(c, &s, &sl, "id_norm")) return -1;
        if (sl > IDENT_LEN) return cerr(c, "id_norm of %zu bytes, more than %d", sl, IDENT_LEN);
        memcpy(f->id_norm, s, sl);
        f->id_norm[sl] = '\0';
        if (get_span(c, &s, &sl, "id_clean")) return -1;
        if (sl > IDENT_LEN) return cerr(c, "id_clean of %zu bytes, more than %d", sl, IDENT_LEN);
        memcpy(f->id_clean, s, sl);
        f->id_clean[sl] = '\0';
    }
    if (flags & FF_HAS_NAME_NORM) {
        if (get_span(c, &s, &sl, "name_norm")) return -1;
        if (!utf8_valid(s, sl)) return cerr(c, "name_norm: not valid UTF-8");
        const char *name = FACT_HAS(f, FF_NAME) ? f->f[FF_NAME].s : NULL;
        if (c->borrow && name && strlen(name) == sl && memcmp(name, s, sl) == 0) {
            f->name_norm = (char *)name; /* most folded names are the name itself */
        } else if (c->borrow) {
            f->name_norm = scratch_copy(c, s, sl);
            f->more_borrowed |= FACT_NAME_NORM_BORROWED;
        } else {
            if ((f->name_norm = dup_n(s, sl)) == NULL) return cerr(c, "out of memory");
            fact_share_name_norm(f); /* most folded names are the name itself */
        }
    }
    if (flags & FF_HAS_RAW) {
        if (get_span(c, &s, &sl, "raw_json")) return -1;
        if (c->borrow) {
            f->raw_json = scratch_copy(c, s, sl);
            f->more_borrowed |= FACT_RAW_BORROWED;
        } else if ((f->raw_json = dup_n(s, sl)) == NULL) {
            return cerr(c, "out of memory");
        }
    }
    if (flags & FF_HAS_RAW_HASH) {
        if (c->n - c->pos < 8) return cerr(c, "truncated: raw hash missing");
        uint64_t h = 0;
        for (int i = 0; i < 8; i++) h |= (uint64_t)c->p[c->pos + (size_t)i] << (8 * i);
        c->pos += 8;
        if (h == 0) return cerr(c, "raw hash 0 (flagged as present)");
        f->raw_hash = h;
    }
    char ferr[160];
    if (fact_check(f, ferr, sizeof ferr)) return cerr(c, "%s", ferr);
    return 0;
}

/* Room for a frame's strings (a source decides how long): -1 recovers. */
static int ensure_scratch(char **scratch, size_t *cap, size_t n) {
    if (n + 8 <= *cap) return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < n + 8) nc *= 2;
    char *ns = realloc(*scratch, nc);
    if (ns == NULL) return -1;
    *scratch = ns;
    *cap = nc;
    return 0;
}

int ch_decode_fact(const unsigned char *p, size_t n, const char *source, uint32_t *stream, fact *f, char *err,
                   size_t errsz) {
    char *scratch = NULL;
    size_t cap = 0;
    if (ensure_scratch(&scratch, &cap, n)) {
        snprintf(err, errsz, "FACT frame: out of memory");
        return -1;
    }
    cur c = {.p = p, .n = n, .err = err, .errsz = errsz, .frame = "FACT", .scratch = scratch};
    int rc = decode_fact(&c, source, stream, f);
    if (rc == 0 && c.pos != n) rc = cerr(&c, "%zu trailing bytes", n - c.pos);
    if (rc) fact_clear(f);
    free(scratch);
    return rc;
}

static int rdead(ch_reader *r, char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rdead(ch_reader *r, char *err, size_t errsz, const char *fmt, ...) {
    r->dead = 1;
    if (fmt && err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ch_reader_next(ch_reader *r, ch_frame *out, char *err, size_t errsz) {
    if (r->dead) {
        if (err && errsz) snprintf(err, errsz, "channel already failed");
        return -1;
    }
    size_t avail = r->len - r->start;
    if (avail < 4) return 0;
    const unsigned char *h = r->buf + r->start;
    uint32_t flen = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    uint64_t at = r->offset;
    if (flen == 0) return rdead(r, err, errsz, "frame at byte %llu: length 0 (no type byte)", (unsigned long long)at);
    if (flen > r->max_frame)
        return rdead(r, err, errsz, "frame at byte %llu: length %u exceeds the %zu byte limit", (unsigned long long)at,
                     flen, r->max_frame);
    if (avail - 4 < flen) return 0;
    unsigned type = h[4];
    const unsigned char *p = h + CH_HDR;
    size_t n = flen - 1;
    if (type < CH_FACT || type > CH_MEMO)
        return rdead(r, err, errsz, "frame at byte %llu: unknown frame type %u", (unsigned long long)at, type);
    if (r->done)
        return rdead(r, err, errsz, "frame at byte %llu: %s after DONE", (unsigned long long)at,
                     ch_frame_type_name((int)type));
    fact_clear(&r->fact); /* it may point into the scratch area, about to be reused */
    if (ensure_scratch(&r->scratch, &r->scratch_cap, n)) return rdead(r, err, errsz, "out of memory");

    char cmsg[256] = "";
    cur c = {.p = p, .n = n, .err = cmsg, .errsz = sizeof cmsg, .frame = ch_frame_type_name((int)type),
             .scratch = r->scratch, .borrow = 1};
    memset(out, 0, sizeof *out);
    out->type = (ch_frame_type)type;
    int rc = 0;
    unsigned u = 0;
    uint64_t v = 0;
    switch (type) {
    case CH_FACT:
        rc = decode_fact(&c, r->source, &out->stream, &r->fact);
        if (rc) fact_clear(&r->fact);
        out->fact = &r->fact;
        break;
    case CH_REJECT:
        rc = get_u32(&c, &out->stream, "stream id") || get_u8(&c, &u, "flags");
        if (!rc && (u & ~(unsigned)(FF_HAS_REF | FF_HAS_RAW))) rc = cerr(&c, "unknown flag bits 0x%02x", u);
        if (!rc && (u & FF_HAS_REF)) rc = get_str(&c, &out->ref, NULL, "ref");
        if (!rc) rc = get_str(&c, &out->text, NULL, "reason");
        if (!rc && (u & FF_HAS_RAW)) rc = get_str(&c, &out->raw_json, NULL, "raw_json");
        break;
    case CH_LOG:
        rc = get_u8(&c, &u, "level");
        if (!rc && u > 3) rc = cerr(&c, "unknown log level %u", u);
        out->level = (int)u;
        if (!rc) rc = get_str(&c, &out->text, NULL, "message");
        break;
    case CH_STREAM_BEGIN:
        rc = get_u32(&c, &out->stream, "stream id") || get_str(&c, &out->text, NULL, "stream name");
        break;
    case CH_STREAM_END:
        rc = get_u32(&c, &out->stream, "stream id") || get_varint(&c, &out->count, "row count") ||
             get_u8(&c, &u, "flags");
        if (!rc && u > 31) rc = cerr(&c, "unknown flag bits 0x%02x", u);
        if (!rc && (u & 24) && !(u & 4)) rc = cerr(&c, "raw-built or passed count without the stats");
        if (!rc && (u & 1)) rc = get_str(&c, &out->watermark, NULL, "watermark");
        if (!rc && (u & 2)) {
            out->failed = 1;
            rc = get_str(&c, &out->text, NULL, "failure");
        }
        if (!rc && (u & 4)) {
            out->has_stats = 1;
            rc = get_varint(&c, &out->stats.skipped, "skipped count") ||
                 get_varint(&c, &out->stats.lookup_ids, "lookup id count") ||
                 get_varint(&c, &out->stats.lookup_rows, "lookup row count");
        }
        if (!rc && (u & 8)) rc = get_varint(&c, &out->stats.raw_built, "raw-built count");
        if (!rc && (u & 16)) rc = get_varint(&c, &out->stats.passed, "passed count");
        if (!rc && out->stats.passed > out->count) rc = cerr(&c, "more rows taken by their hash than read");
        break;
    case CH_ERROR:
        rc = get_u8(&c, &u, "code");
        if (!rc && (u < CH_ERR_FAILED || u > CH_ERR_SYSCALL)) rc = cerr(&c, "unknown error code %u", u);
        out->level = (int)u;
        if (!rc) rc = get_varint(&c, &v, "stream id");
        if (!rc && v > (uint64_t)UINT32_MAX + 1) rc = cerr(&c, "stream id %llu out of range", (unsigned long long)v);
        if (!rc && v) {
            out->has_stream = 1;
            out->stream = (uint32_t)(v - 1);
        }
        if (!rc) rc = get_str(&c, &out->text, NULL, "message");
        break;
    case CH_DONE:
        rc = get_varint(&c, &out->count, "fact count") || get_varint(&c, &out->count2, "reject count");
        break;
    case CH_SEEN:
        rc = get_u32(&c, &out->stream, "stream id") || get_varint(&c, &out->count, "ref hash count");
        if (!rc && out->count == 0) rc = cerr(&c, "no ref hashes");
        if (!rc) rc = get_u64s(&c, out->count, &out->seen, "ref hashes");
        break;
    case CH_MEMO: {
        const uint64_t *tok = NULL;
        rc = get_u32(&c, &out->stream, "stream id") || get_u64s(&c, 1, &tok, "token") ||
             get_u8(&c, &u, "flags") || get_varint(&c, &out->count, "word count");
        if (!rc) out->token = tok[0];
        if (!rc && u > 1) rc = cerr(&c, "unknown flag bits 0x%02x", u);
        out->stands = !rc && u == 1;
        if (!rc && out->stands && out->count) rc = cerr(&c, "a standing memo with words");
        if (!rc && !out->stands && out->count == 0) rc = cerr(&c, "no words");
        if (!rc) rc = get_u64s(&c, out->count, &out->seen, "words");
        break;
    }
    }
    if (!rc && c.pos != n) rc = cerr(&c, "%zu trailing bytes", n - c.pos);
    if (rc) return rdead(r, err, errsz, "frame at byte %llu: %s", (unsigned long long)at, cmsg);

    /* The protocol: facts and rejects inside their stream, streams not nested. */
    switch (type) {
    case CH_FACT:
    case CH_REJECT:
    case CH_SEEN:
    case CH_MEMO:
        if (r->open != (long)out->stream) {
            if (type == CH_FACT) fact_clear(&r->fact);
            return rdead(r, err, errsz, "frame at byte %llu: %s for stream %u outside its STREAM_BEGIN/END",
                         (unsigned long long)at, ch_frame_type_name((int)type), out->stream);
        }
        if (type == CH_FACT) r->nfacts++;
        else if (type == CH_REJECT) r->nrejects++;
        else if (type == CH_SEEN) r->nseen += out->count;
        break;
    case CH_STREAM_BEGIN:
        if (r->open >= 0)
            return rdead(r, err, errsz, "frame at byte %llu: STREAM_BEGIN of stream %u while stream %ld is open",
                         (unsigned long long)at, out->stream, r->open);
        r->open = (long)out->stream;
        break;
    case CH_STREAM_END:
        if (r->open != (long)out->stream)
            return rdead(r, err, errsz, "frame at byte %llu: STREAM_END of stream %u, which is not open",
                         (unsigned long long)at, out->stream);
        r->open = -1;
        break;
    case CH_DONE:
        if (r->open >= 0)
            return rdead(r, err, errsz, "frame at byte %llu: DONE while stream %ld is open", (unsigned long long)at,
                         r->open);
        if (out->count != r->nfacts || out->count2 != r->nrejects)
            return rdead(r, err, errsz,
                         "frame at byte %llu: DONE counts %llu facts and %llu rejects, %llu and %llu were received",
                         (unsigned long long)at, (unsigned long long)out->count, (unsigned long long)out->count2,
                         (unsigned long long)r->nfacts, (unsigned long long)r->nrejects);
        r->done = 1;
        break;
    }
    out->bytes = h;
    out->nbytes = 4 + (size_t)flen;
    r->start += 4 + (size_t)flen;
    r->offset += 4 + (uint64_t)flen;
    return 1;
}

int ch_reader_eof(ch_reader *r, char *err, size_t errsz) {
    size_t avail = r->len - r->start;
    if (avail == 0) return 0;
    if (avail < 4)
        return rdead(r, err, errsz, "truncated frame at byte %llu: %zu of 4 length bytes",
                     (unsigned long long)r->offset, avail);
    const unsigned char *h = r->buf + r->start;
    uint32_t flen = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return rdead(r, err, errsz, "truncated frame at byte %llu: %zu of %llu bytes", (unsigned long long)r->offset,
                 avail, (unsigned long long)flen + 4);
}
