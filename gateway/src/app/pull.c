/* pull.c - the pull side of a cycle in worker processes (pull.h).
 *
 * Child side: child_pull() runs a job's planned streams (one worker of a
 * source: the streams of one or more of its fact kinds) through the
 * adapter runtime (which the parent loaded before the fork), filters payment
 * and income rows by the inherited interest set, sends only the ref hash of a
 * kept record stored unchanged (the inherited pull_known tables; the row's
 * raw hash stands for its raw values, so no raw JSON is built for it),
 * attaches each sent fact's raw values, folds the names of the facts it sends, runs
 * an incremental stream's lookups, and ends every stream with its row count,
 * watermark and counts, or with its failure.
 *
 * Parent side: on_frame() routes each decoded frame. The stream owning the
 * writer is applied directly; frames of any other worker are appended (as the
 * bytes they arrived in) to that worker's pending queue and replayed through a
 * second reader of that source when the writer is free. on_end() fails the
 * stream a dead worker left open. No global state: everything is in `run`. */
#include "app/pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "app/ingest.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "model/ident.h"

/* ---- what is stored (pull_known) --------------------------------------------- */

#define KNOWN_EMPTY 0u
#define KNOWN_GONE 1u

/* A ref hash is FNV-1a: mixed again before it picks a slot. */
static size_t known_home(const pull_known *k, uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)(h % k->cap);
}

uint64_t *pull_known_find(const pull_known *k, uint64_t ref_hash) {
    if (!k->cap || ref_hash <= KNOWN_GONE) return NULL;
    for (size_t i = known_home(k, ref_hash);; i = i + 1 == k->cap ? 0 : i + 1) {
        uint64_t *s = &k->slot[2 * i];
        if (s[0] == ref_hash) return s;
        if (s[0] == KNOWN_EMPTY) return NULL;
    }
}

typedef struct known_load {
    uint64_t *pairs;
    size_t n, cap;
    int oom;
} known_load;

static int known_add(void *ud, uint64_t ref_hash, uint64_t content_hash) {
    known_load *l = ud;
    if (ref_hash <= KNOWN_GONE) return 0; /* never stored: such a record travels as a FACT */
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4096;
        uint64_t *np = realloc(l->pairs, nc * 2 * sizeof *np);
        if (!np) {
            l->oom = 1;
            return 1;
        }
        l->pairs = np;
        l->cap = nc;
    }
    l->pairs[2 * l->n] = ref_hash;
    l->pairs[2 * l->n + 1] = content_hash;
    l->n++;
    return 0;
}

/* The zeroed slots of a table. One of many rows (a million residents: 23 MB)
 * is larger than what the TLB maps in 4 KiB pages, and every lookup lands on
 * a random slot: it asks for huge pages (a hint; free() releases either). */
static uint64_t *known_alloc(size_t cap) {
    size_t bytes = cap * 2 * sizeof(uint64_t);
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (bytes >= 2 * huge && posix_memalign(&p, huge, bytes) == 0) {
#ifdef MADV_HUGEPAGE
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* before the pages are touched */
#endif
        memset(p, 0, bytes);
        return p;
    }
    return calloc(cap, 2 * sizeof(uint64_t));
}

int pull_known_load(pull_known *k, state *st, const char *source, fact_kind kind) {
    memset(k, 0, sizeof *k);
    known_load l = {0};
    if (state_fact_hashes_each(st, source, (int)kind, known_add, &l) || l.oom) {
        if (l.oom) gg_error(source, "out of memory loading the stored %s facts' hashes", fact_kind_name(kind));
        free(l.pairs);
        return -1;
    }
    if (l.n == 0) { /* the first read of the source's kind: nothing to compare with */
        free(l.pairs);
        return 0;
    }
    k->cap = l.n + l.n * 3 / 7 + 1; /* load <= 0.7 */
    k->slot = known_alloc(k->cap);
    if (!k->slot) {
        gg_error(source, "out of memory loading the stored %s facts' hashes", fact_kind_name(kind));
        free(l.pairs);
        memset(k, 0, sizeof *k);
        return -1;
    }
    for (size_t j = 0; j < l.n; j++) {
        uint64_t h = l.pairs[2 * j];
        size_t i = known_home(k, h);
        while (k->slot[2 * i] != KNOWN_EMPTY && k->slot[2 * i] != h) i = i + 1 == k->cap ? 0 : i + 1;
        if (k->slot[2 * i] == h) {
            /* two refs, one hash (FNV-64): the core compares both (pruning
             * by ref hash already takes them for one; a third is not guarded) */
            k->slot[2 * i] = KNOWN_GONE;
            k->n--;
            continue;
        }
        k->slot[2 * i] = h;
        k->slot[2 * i + 1] = l.pairs[2 * j + 1];
        k->n++;
    }
    free(l.pairs);
    return 0;
}

void pull_known_prefetch(const pull_known *k, uint64_t ref_hash) {
    if (k->cap) __builtin_prefetch(&k->slot[2 * known_home(k, ref_hash)]);
}

void pull_known_free(pull_known *k) {
    free(k->slot);
    memset(k, 0, sizeof *k);
}

/* ---- row memos (pull.h) ------------------------------------------------------ */

/* Order-independent: the sum of the keys' hashes, and their count. */
static void strmap_digest(const strmap *m, uint64_t out[2]) {
    size_t it = 0;
    const char *key;
    int v;
    out[0] = out[1] = 0;
    if (!m) return;
    while (strmap_next(m, &it, &key, &v)) {
        out[0] += gg_hash64_update(GG_HASH64_SEED, key, strlen(key));
        out[1]++;
    }
}

uint64_t pull_filter_digest(const pull_filter *f) {
    uint64_t parts[5];
    strmap_digest(f->ids, parts);
    strmap_digest(f->cases, parts + 2);
    parts[4] = f->reg ? (uint64_t)f->reg->all : 2;
    uint64_t h = gg_hash64_update(GG_HASH64_SEED, parts, sizeof parts);
    if (f->reg) { /* sorted, distinct: the same register hashes the same */
        h = gg_hash64_update(h, f->reg->ids.h, f->reg->ids.n * sizeof *f->reg->ids.h);
        h = gg_hash64_update(h, f->reg->pairs.h, f->reg->pairs.n * sizeof *f->reg->pairs.h);
    }
    return h ? h : 1;
}

/* One stream's row memo (pull.h), in the worker: entries of MEMO_PASS words
 * (the row hash of a row passed over) or MEMO_KEPT words (row hash, ref hash,
 * content hash of a kept row). */
enum { MEMO_PASS = 1, MEMO_KEPT = 3 };
#define MEMO_KEPT_MARK 0x6b657074ULL /* "kept": phase 1's token part instead of the filter's digest */

typedef struct memo_run {
    int on;               /* the stream keeps a memo (0 also once an allocation failed: nothing is sent) */
    int wd;               /* words an entry: MEMO_PASS or MEMO_KEPT */
    uint64_t token;
    const uint64_t *old;  /* the entries stored under token, in the order the rows came; NULL: none */
    size_t nold;          /* entries */
    size_t next;          /* the stored entry the next row is compared with */
    uint32_t *pos;        /* old's entries by row hash (open addressing; UINT32_MAX empty), built at
                             the first row out of order; NULL: not built */
    size_t pos_mask;
    int pos_failed;       /* no memory for it: rows out of order are mapped */
    unsigned char *met;   /* a bit per entry of old: met in this pull */
    size_t nmet;
    uint64_t *add;        /* entries of rows mapped in this pull not sent yet (malloc'd), nadd of them */
    size_t nadd;
    int flushed;          /* some were sent: the memo does not stand */
    long passed;          /* rows taken by their row hash (passed over, or found stored) */
} memo_run;

static size_t memo_slot(uint64_t h, size_t mask) { return (size_t)(h ^ (h >> 29)) & mask; }

/* The entries of old by row hash (the first of equal hashes). -1: no memory. */
static int memo_index(memo_run *p) {
    if (p->nold >= UINT32_MAX) return -1;
    size_t cap = 16;
    while (cap < p->nold * 2) cap <<= 1;
    p->pos = malloc(cap * sizeof *p->pos);
    if (!p->pos) return -1;
    memset(p->pos, 0xff, cap * sizeof *p->pos);
    p->pos_mask = cap - 1;
    for (size_t i = 0; i < p->nold; i++) {
        uint64_t h = p->old[i * (size_t)p->wd];
        size_t s = memo_slot(h, p->pos_mask);
        while (p->pos[s] != UINT32_MAX && p->old[p->pos[s] * (size_t)p->wd] != h) s = (s + 1) & p->pos_mask;
        if (p->pos[s] == UINT32_MAX) p->pos[s] = (uint32_t)i;
    }
    return 0;
}

/* The entry of row hash h in old, or -1: the next stored entry first (a
 * table read again comes in the same order), else the index. */
static long memo_find(memo_run *p, uint64_t h) {
    size_t wd = (size_t)p->wd;
    if (p->next < p->nold && p->old[p->next * wd] == h) return (long)p->next++;
    if (!p->pos && !p->pos_failed && memo_index(p)) {
        p->pos_failed = 1;
        gg_warn("pull", "no memory to look up rows out of their stored order; such rows are mapped");
    }
    if (!p->pos) return -1;
    for (size_t s = memo_slot(h, p->pos_mask); p->pos[s] != UINT32_MAX; s = (s + 1) & p->pos_mask)
        if (p->old[p->pos[s] * wd] == h) {
            p->next = (size_t)p->pos[s] + 1; /* the rows after it likely follow it again */
            return (long)p->pos[s];
        }
    return -1;
}

static void memo_met(memo_run *p, size_t at) {
    unsigned char bit = (unsigned char)(1u << (at & 7));
    if (!(p->met[at >> 3] & bit)) {
        p->met[at >> 3] |= bit;
        p->nmet++;
    }
    p->passed++;
}

/* Entries added in this pull go to the core in batches of this many (so
 * that neither side holds a big table's memo: 8 bytes a row of 17M at 4M
 * residents); a memo that stands is one that flushed none. */
#define MEMO_FLUSH_ENTRIES 8192

/* Sends the entries added so far. 0, or -1 when the channel failed. */
static int memo_flush(memo_run *p, ch_writer *w, uint32_t stream) {
    if (!p->nadd) return 0;
    p->flushed = 1;
    size_t n = p->nadd;
    p->nadd = 0;
    return ch_memo(w, stream, p->token, 0, p->add, n * (size_t)p->wd);
}

/* Notes the entry of a row mapped in this pull (e: wd words). A buffer that
 * cannot be had stops the noting (the core keeps what came before it: every
 * entry holds on its own). 0, or -1 when the channel failed. */
static int memo_note(memo_run *p, ch_writer *w, uint32_t stream, const uint64_t *e) {
    if (!p->on || !e[0]) return 0;
    if (!p->add && !(p->add = malloc(MEMO_FLUSH_ENTRIES * (size_t)p->wd * sizeof *p->add))) {
        gg_warn("pull", "no memory to note the rows read; the rest of them are mapped next cycle");
        p->on = 0;
        return 0;
    }
    memcpy(p->add + p->nadd * (size_t)p->wd, e, (size_t)p->wd * sizeof *e);
    if (++p->nadd == MEMO_FLUSH_ENTRIES) return memo_flush(p, w, stream);
    return 0;
}

/* Ends the stream's memo (MEMO frames): "stands" when this pull met exactly
 * the stored entries and added none, else the entries added not yet sent,
 * then the stored entries met (in their order). */
static int memo_send(ch_writer *w, uint32_t stream, memo_run *p) {
    if (!p->on) return 0;
    if (p->old && !p->flushed && p->nadd == 0 && p->nmet == p->nold) return ch_memo(w, stream, p->token, 1, NULL, 0);
    if (memo_flush(p, w, stream)) return -1;
    size_t wd = (size_t)p->wd;
    if (p->old && p->nmet) {
        uint64_t buf[1020]; /* a multiple of 1 and 3 words */
        size_t k = 0;
        for (size_t i = 0; i < p->nold; i++) {
            if (!(p->met[i >> 3] & (1u << (i & 7)))) continue;
            memcpy(buf + k, p->old + i * wd, wd * sizeof *buf);
            k += wd;
            if (k == sizeof buf / sizeof *buf) {
                if (ch_memo(w, stream, p->token, 0, buf, k)) return -1;
                k = 0;
            }
        }
        if (k && ch_memo(w, stream, p->token, 0, buf, k)) return -1;
    }
    return 0;
}

static void memo_free(memo_run *p) {
    free(p->met);
    free(p->pos);
    free(p->add);
    memset(p, 0, sizeof *p);
}

/* ---- child ------------------------------------------------------------------ */

typedef struct child_arg {
    pull_job *job;
    const pull_filter *flt;
} child_arg;

typedef struct child_sink {
    ch_writer *w;
    adapter *ad;
    const pull_filter *flt;
    uint32_t stream;
    fact_kind kind;           /* the stream's */
    const pull_known *known;  /* what is stored of (source, kind); NULL: nothing */
    memo_run *memo;           /* the stream's row memo */
    long skipped;
    long raw_built; /* raw JSON built (records sent, never one found unchanged) */
    int broken;   /* a channel write failed */
    /* progress of a long read (child_progress) */
    const char *source, *name; /* the source's, the stream's */
    uint64_t rows;    /* rows the adapter gave so far */
    double t0, next;  /* monotonic seconds: the stream's start, the next progress line */
} child_sink;

static double child_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts a row the adapter gave; every [gridgate] progress_interval of a long
 * read, an info line (a LOG frame, printed by the daemon as it comes) says
 * how far it is, so that a stream of millions of rows is seen to advance. The
 * clock is read every 4096 rows. */
static void child_progress(child_sink *c) {
    if (++c->rows % 4096 || c->flt->progress_s <= 0) return;
    double now = child_clock();
    if (now < c->next) return;
    c->next = now + (double)c->flt->progress_s;
    double secs = now - c->t0;
    gg_info(c->source, "stream %s: %llu rows read so far, %ld not of interest, in %.0f s (%.0f rows/s)", c->name,
            (unsigned long long)c->rows, c->skipped, secs, secs > 0 ? (double)c->rows / secs : 0.0);
    if (ch_flush(c->w)) c->broken = 1; /* seen now, not when the buffer fills */
}

static int child_fact(void *ud, const char *stream, fact *f) {
    (void)stream;
    child_sink *c = ud;
    child_progress(c);
    int sure = 1; /* the core keeps the row whatever it holds (phase 2: of interest) */
    if (c->flt->phase_stream) {
        /* The core's decision (ingest_fact) up to the name folding: rows
         * about no subject of interest, with a valid (or no) id and agreeing
         * with the register are dropped here; kept rows, invalid ids
         * (quarantined by the core) and possible conflicts cross the channel. */
        fact_normalize_id(f, c->flt->today); /* once: what the core reads too */
        ident_status ist = f->id_status;
        const char *id18 = f->id_norm;
        int keep = ist == ID_OK && strmap_has(c->flt->ids, id18);
        if (!keep && FACT_HAS(f, FF_CASE) && f->f[FF_CASE].s) keep = strmap_has(c->flt->cases, f->f[FF_CASE].s);
        sure = keep;
        /* Data quality covers every row: one whose birth date or name may
         * disagree with its id's person facts goes to the core, which decides
         * (ingest_fact). Most rows state the name as the register holds it. */
        if (!keep && ist == ID_OK && c->flt->reg) keep = ingest_register_may_conflict(c->flt->reg, id18, f);
        if (!keep && (ist == ID_OK || ist == ID_EMPTY)) {
            c->skipped++;
            uint64_t e[1] = {adapter_row_hash(c->ad)};
            if (memo_note(c->memo, c->w, c->stream, e)) { /* the same row is passed over next time */
                c->broken = 1;
                return 1;
            }
            return 0;
        }
    }
    int lookup = c->known && f->ref && f->kind == c->kind;
    int memo = c->memo->on && c->memo->wd == MEMO_KEPT && f->ref && f->kind == c->kind;
    uint64_t rh = 0;
    if (lookup || memo) rh = state_ref_hash(f->ref);
    /* the table is larger than the caches: its slot is fetched while the id
     * is read and the fact hashed */
    if (lookup) pull_known_prefetch(c->known, rh);
    /* A row's raw hash (the adapter's, asked for only now that the record
     * is kept): its raw JSON is built only when it is sent. A record without
     * one (an HTTP item, an emitted table) is hashed over its raw JSON's text. */
    if (!f->raw_hash && !f->raw_json) f->raw_hash = adapter_raw_hash(c->ad);
    if (!f->raw_hash && !f->raw_json) {
        f->raw_json = adapter_raw_json(c->ad);
        c->raw_built++;
    }
    /* The core's decision for a kept record (ingest_fact), on what it held
     * before the pull: the same content hash over the same fact, id read
     * the same day. An invalid id is quarantined every cycle, so it goes on. */
    if (!c->flt->phase_stream) fact_normalize_id(f, c->flt->today); /* phase 2 read it above */
    int may_skip = sure && (f->id_status == ID_OK || f->id_status == ID_EMPTY);
    uint64_t fh = may_skip && (lookup || memo) ? state_fact_hash(f) : 0;
    if (memo && may_skip) {
        /* stored as this content once the stream commits: the same row
         * next time is found so by its row hash (child_row_passed) */
        uint64_t e[3] = {adapter_row_hash(c->ad), rh, fh};
        if (memo_note(c->memo, c->w, c->stream, e)) {
            c->broken = 1;
            return 1;
        }
    }
    if (lookup) {
        uint64_t *slot = pull_known_find(c->known, rh);
        if (slot) {
            if (may_skip && slot[1] == fh) {
                if (ch_seen(c->w, c->stream, rh)) {
                    c->broken = 1;
                    return 1;
                }
                return 0;
            }
            /* sent: from now on the core compares this ref (it may write it) */
            slot[0] = KNOWN_GONE;
        }
    }
    /* The record is sent. Its name is folded last: a million names' cache is
     * larger than the CPU's, and its entry is fetched while the JSON is built. */
    if (FACT_HAS(f, FF_NAME)) name_normalizer_prefetch(c->flt->nn, f->f[FF_NAME].s);
    /* The raw values travel with a fact sent (evidence, quarantine). */
    if (!f->raw_json) {
        f->raw_json = adapter_raw_json(c->ad);
        c->raw_built++;
    }
    /* Folded here, on the worker's core: the core stores it as sent. */
    fact_normalize_name(f, c->flt->nn); /* the id was read above */
    if (ch_fact(c->w, c->stream, f)) {
        c->broken = 1;
        return 1;
    }
    return 0;
}

/* adapter_sink.row_passed: a row whose hash is in the stored memo. Passed
 * over (phase 2); or, a kept row (phase 1) whose entry's fact is stored with
 * the entry's content hash (the stored table says so: anything that changed
 * it since, the row is mapped), found stored unchanged: its SEEN goes out.
 * 1 taken, 0 mapped, -1 the channel failed. */
static int child_row_passed(void *ud, const char *stream, uint64_t row_hash) {
    (void)stream;
    child_sink *c = ud;
    memo_run *p = c->memo;
    if (!p->old) return 0;
    long at = memo_find(p, row_hash);
    if (at < 0) return 0;
    if (p->wd == MEMO_KEPT) {
        const uint64_t *e = p->old + (size_t)at * MEMO_KEPT;
        uint64_t *slot = c->known ? pull_known_find(c->known, e[1]) : NULL;
        if (!slot || slot[1] != e[2]) return 0;
        if (ch_seen(c->w, c->stream, e[1])) {
            c->broken = 1;
            return -1;
        }
    } else {
        c->skipped++;
    }
    memo_met(p, (size_t)at);
    child_progress(c); /* taken here; a row mapped instead counts in child_fact */
    return c->broken ? -1 : 1;
}

static int child_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw) {
    (void)stream;
    child_sink *c = ud;
    child_progress(c);
    if (ch_reject(c->w, c->stream, ref, reason, raw)) {
        c->broken = 1;
        return 1;
    }
    return 0;
}

/* Runs the stream's lookup for every id that became of interest after `mark`
 * (new_ids: id -> the cycle it became of interest), through the stream's sink. */
static int run_lookups(adapter *ad, size_t k, const adapter_sink *sink, const strmap *new_ids, long mark,
                       long *nids, long *nrows, char *err, size_t errsz) {
    size_t iter = 0;
    const char *id;
    int since;
    *nids = *nrows = 0;
    if (!new_ids) return 0;
    while (strmap_next(new_ids, &iter, &id, &since)) {
        if (since <= mark) continue;
        long rows = 0;
        if (adapter_lookup(ad, k, id, sink, &rows, err, errsz)) return -1;
        (*nids)++;
        *nrows += rows;
    }
    return 0;
}

typedef struct child_log_ud {
    ch_writer *w;
    const char *source;
} child_log_ud;

/* The worker's log lines travel as LOG frames; the daemon prints them. */
static void child_log(void *ud, gg_log_level level, const char *component, const char *msg) {
    child_log_ud *c = ud;
    worker_log_send(c->w, (int)level, component, msg);
}

/* The worker's body (runs in the child only). */
static int child_pull(ch_writer *w, void *ud, char *err, size_t errsz) {
    child_arg *a = ud;
    pull_job *job = a->job;
    child_log_ud lu = {.w = w, .source = job->name};
    gg_log_set_sink(child_log, &lu);
    if (adapter_after_fork(job->ad, err, errsz)) return -1;
    uint64_t filter_digest = 0; /* pull_filter_digest, once a stream needs it */
    for (size_t j = 0; j < job->nstreams; j++) {
        size_t k = job->streams[j];
        const adapter_stream_info *si = adapter_stream(job->ad, k);
        /* flushed at once, so that the core knows which stream a worker
         * that dies from here on leaves unfinished */
        if (ch_stream_begin(w, (uint32_t)k, si->name) || ch_flush(w)) goto broken;
        /* The row memo (pull.h): a full read of a stream mapped in C
         * alone; the stored one counts when stored under this token. */
        memo_run pr = {0};
        if (job->memo_salt && job->memo_salt[j] && si->pure && !si->incremental) {
            pr.wd = a->flt->phase_stream ? MEMO_PASS : MEMO_KEPT;
            uint64_t parts[2] = {job->memo_salt[j], MEMO_KEPT_MARK};
            if (pr.wd == MEMO_PASS) {
                if (!filter_digest) filter_digest = pull_filter_digest(a->flt);
                parts[1] = filter_digest;
            }
            pr.token = gg_hash64_update(GG_HASH64_SEED, parts, sizeof parts);
            pr.on = 1;
            size_t nold = job->nmemo[j] / (size_t)pr.wd;
            if (nold && job->nmemo[j] % (size_t)pr.wd == 0 && job->memo_token[j] == pr.token &&
                (pr.met = calloc(nold / 8 + 1, 1)) != NULL) {
                pr.old = job->memo[j];
                pr.nold = nold;
            }
        }
        child_sink cs = {.w = w, .ad = job->ad, .flt = a->flt, .stream = (uint32_t)k, .kind = si->kind,
                         .known = job->known[si->kind].n ? &job->known[si->kind] : NULL, .memo = &pr,
                         .source = job->name, .name = si->name};
        cs.t0 = child_clock();
        cs.next = cs.t0 + (double)a->flt->progress_s;
        adapter_sink sink = {.on_fact = child_fact, .on_reject = child_reject, .ud = &cs, .borrows = 1,
                             .row_passed = pr.on ? child_row_passed : NULL};
        char e[1024] = "";
        long rows = 0, lids = 0, lrows = 0;
        char *wm_out = NULL;
        int rc = adapter_pull(job->ad, k, &sink, 0, job->wm_in[j], &rows, &wm_out, e, sizeof e);
        /* A first pull (no watermark) read every row: no lookup is owed. */
        if (rc == 0 && !cs.broken && job->lookup_mark[j] >= 0 && job->wm_in[j])
            rc = run_lookups(job->ad, k, &sink, a->flt->new_ids, job->lookup_mark[j], &lids, &lrows, e, sizeof e);
        if (!cs.broken && rc == 0 && memo_send(w, (uint32_t)k, &pr)) cs.broken = 1;
        long nmemo = pr.passed;
        memo_free(&pr);
        if (cs.broken) {
            free(wm_out);
            goto broken;
        }
        ch_stream_stats st = {.skipped = (uint64_t)cs.skipped, .lookup_ids = (uint64_t)lids,
                              .lookup_rows = (uint64_t)lrows, .raw_built = (uint64_t)cs.raw_built,
                              .passed = (uint64_t)nmemo};
        int wr = ch_stream_end_ex(w, (uint32_t)k, (uint64_t)(rows < 0 ? 0 : rows), rc ? NULL : wm_out, &st,
                                  rc ? (e[0] ? e : "the stream failed") : NULL);
        free(wm_out);
        if (wr) goto broken;
    }
    return 0;
broken:
    snprintf(err, errsz, "%s", ch_writer_error(w));
    return -1;
}

/* ---- parent ----------------------------------------------------------------- */

/* Frames of a worker waiting for the writer: memory first, then the spool. */
typedef struct pending {
    unsigned char *mem;
    size_t len, cap;
    int fd;             /* spool file (unlinked), or -1 */
    uint64_t flen;
} pending;

typedef struct job_state {
    pending pend;
    ch_reader *replay;
    int finished;
    worker_result res;
    unsigned char *ended;   /* per planned stream: end was reported */
    long cur;               /* planned index of the stream being applied, or -1 */
    int queued_fact;        /* a FACT of the stream being queued was queued */
    int lone_begin;         /* the queue holds only a STREAM_BEGIN: never the writer's
                             * (writer_next), so a stream stalled before sending
                             * anything (a query blocked at the source) keeps no
                             * other from committing */
    int queued_end;         /* the queue holds a STREAM_END */
    double first_data;      /* when the queue's first data frame came (monotonic s), or 0 */
} job_state;

typedef struct run {
    pull_job *jobs;
    size_t njobs;
    job_state *js;
    const pull_apply *ap;
    const char *spool_dir;
    long owner;             /* job holding the writer, or -1 */
    size_t mem_used, mem_bound;
    size_t rr;              /* round robin start for draining */
    int gate;               /* gated jobs: -1 waiting, 1 applied, 0 discarded */
    int gated_cancel;       /* 1 once discarded: the gated workers are killed, or never started
                             * (worker_spec.cancel), even one blocked in a query */
    int gated_hold;         /* 1 while the gated workers wait to be started (worker_spec.hold) */
    int failed;             /* the parent itself failed (spool) */
    char err[400];
} run;

static long planned_index(const pull_job *job, uint32_t stream) {
    for (size_t j = 0; j < job->nstreams; j++)
        if (job->streams[j] == stream) return (long)j;
    return -1;
}

static void pend_drop(run *R, size_t i);

/* The gated jobs are discarded: their frames dropped, their streams never
 * reported; their workers are killed, or never started (worker_spec.cancel). */
static void gate_discard(run *R) {
    R->gate = 0;
    R->gated_cancel = 1;
    for (size_t i = 0; i < R->njobs; i++)
        if (R->jobs[i].gated) {
            pend_drop(R, i);
            memset(R->js[i].ended, 1, R->jobs[i].nstreams ? R->jobs[i].nstreams : 1);
        }
}

/* While the gate waits, asks it (gate(ud, 0)) after a stream of a job not
 * gated ended or came: it may discard the gated jobs, or start them. */
static void gate_ask(run *R) {
    if (R->gate != -1 || !R->ap->gate) return;
    int g = R->ap->gate(R->ap->ud, 0);
    if (g == 0) gate_discard(R);
    else if (g == 2) R->gated_hold = 0;
}

static void end_stream(run *R, size_t i, long j, const pull_stream_end *e) {
    job_state *s = &R->js[i];
    if (j < 0 || s->ended[j]) return;
    s->ended[j] = 1;
    R->ap->end(R->ap->ud, i, R->jobs[i].streams[j], e);
    /* the consumer may know already that the gated streams are void */
    if (!R->jobs[i].gated) gate_ask(R);
}

/* Applies one frame of job i (the writer is free or is i's). */
static void apply(run *R, size_t i, ch_frame *fr) {
    job_state *s = &R->js[i];
    pull_job *job = &R->jobs[i];
    switch (fr->type) {
    case CH_STREAM_BEGIN:
        s->cur = planned_index(job, fr->stream);
        R->owner = (long)i;
        if (s->cur >= 0) R->ap->begin(R->ap->ud, i, fr->stream);
        break;
    case CH_FACT:
        if (s->cur >= 0 && !s->ended[s->cur]) R->ap->fact(R->ap->ud, i, fr->stream, fr->fact);
        break;
    case CH_REJECT:
        if (s->cur >= 0 && !s->ended[s->cur])
            R->ap->reject(R->ap->ud, i, fr->stream, fr->ref, fr->text, fr->raw_json);
        break;
    case CH_SEEN:
        if (s->cur >= 0 && !s->ended[s->cur] && R->ap->seen)
            R->ap->seen(R->ap->ud, i, fr->stream, fr->seen, (size_t)fr->count);
        break;
    case CH_MEMO:
        if (s->cur >= 0 && !s->ended[s->cur] && R->ap->memo)
            R->ap->memo(R->ap->ud, i, fr->stream, fr->token, fr->stands, fr->seen, (size_t)fr->count);
        break;
    case CH_STREAM_END: {
        pull_stream_end e = {.begun = 1, .ok = !fr->failed, .error = fr->failed ? fr->text : NULL,
                             .rows = (long)fr->count, .watermark = fr->watermark,
                             .skipped = (long)fr->stats.skipped, .lookup_ids = (long)fr->stats.lookup_ids,
                             .lookup_rows = (long)fr->stats.lookup_rows, .raw_built = (long)fr->stats.raw_built,
                             .passed = (long)fr->stats.passed};
        end_stream(R, i, s->cur, &e);
        s->cur = -1;
        R->owner = -1;
        break;
    }
    default:
        break;
    }
}

/* Fails the stream a finished worker left open (it owns the writer). */
static void fail_open(run *R, size_t i) {
    job_state *s = &R->js[i];
    if (s->cur >= 0) {
        pull_stream_end e = {.begun = 1, .ok = 0, .error = s->res.message};
        end_stream(R, i, s->cur, &e);
    }
    s->cur = -1;
    if (R->owner == (long)i) R->owner = -1;
}

static int pend_add(run *R, size_t i, const unsigned char *b, size_t n) {
    pending *p = &R->js[i].pend;
    if (p->fd < 0 && R->mem_used + n <= R->mem_bound) {
        if (p->len + n > p->cap) {
            size_t nc = p->cap ? p->cap * 2 : 64 * 1024;
            while (nc < p->len + n) nc *= 2;
            /* A source's backlog, possibly large: when it cannot grow it
             * goes to the spool file instead (recovers, so not xrealloc). */
            unsigned char *g = realloc(p->mem, nc);
            if (!g) goto spool;
            p->mem = g;
            p->cap = nc;
        }
        memcpy(p->mem + p->len, b, n);
        p->len += n;
        R->mem_used += n;
        return 0;
    }
spool:
    if (p->fd < 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/.gridgate-spool-XXXXXX", R->spool_dir ? R->spool_dir : ".");
        p->fd = mkstemp(path); /* mode 0600 */
        if (p->fd < 0) {
            snprintf(R->err, sizeof R->err, "cannot create a spool file in %s: %s", R->spool_dir, strerror(errno));
            return -1;
        }
        unlink(path);
        p->flen = 0;
    }
    while (n > 0) {
        ssize_t w = write(p->fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(R->err, sizeof R->err, "cannot write the spool file: %s", strerror(errno));
            return -1;
        }
        b += w;
        n -= (size_t)w;
        p->flen += (uint64_t)w;
    }
    return 0;
}

/* Feeds bytes to job i's replay reader and applies what decodes. */
static int replay_bytes(run *R, size_t i, const unsigned char *b, size_t n) {
    job_state *s = &R->js[i];
    if (ch_reader_feed(s->replay, b, n)) {
        snprintf(R->err, sizeof R->err, "out of memory replaying a source's frames");
        return -1;
    }
    ch_frame fr;
    int r;
    char e[300];
    while ((r = ch_reader_next(s->replay, &fr, e, sizeof e)) == 1) apply(R, i, &fr);
    if (r < 0) {
        snprintf(R->err, sizeof R->err, "replaying frames: %s", e);
        return -1;
    }
    return 0;
}

/* Replays job i's pending frames (the writer is free). */
static int replay(run *R, size_t i) {
    job_state *s = &R->js[i];
    pending *p = &s->pend;
    /* A fresh reader per replay: a queue always starts at a STREAM_BEGIN, and
     * the end of a stream replayed open arrives live, past this reader. */
    ch_reader_free(s->replay);
    s->replay = ch_reader_new(R->jobs[i].name, 0);
    int rc = replay_bytes(R, i, p->mem, p->len);
    R->mem_used -= p->len;
    p->len = 0;
    if (p->fd >= 0) {
        if (rc == 0 && lseek(p->fd, 0, SEEK_SET) != 0) rc = -1;
        unsigned char buf[64 * 1024];
        while (rc == 0) {
            ssize_t n = read(p->fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                snprintf(R->err, sizeof R->err, "cannot read the spool file: %s", strerror(errno));
                rc = -1;
            }
            if (n <= 0) break;
            rc = replay_bytes(R, i, buf, (size_t)n);
        }
        close(p->fd);
        p->fd = -1;
        p->flen = 0;
    }
    return rc;
}

static int pend_empty(const job_state *s) { return s->pend.len == 0 && s->pend.fd < 0; }

static void pend_drop(run *R, size_t i) {
    pending *p = &R->js[i].pend;
    R->mem_used -= p->len;
    p->len = 0;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->flen = 0;
}

static void gate_check(run *R);

/* The bytes job i has queued. */
static uint64_t pend_bytes(const job_state *s) { return (uint64_t)s->pend.len + s->pend.flen; }

static double mono_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether job i may take the writer (its gate open, something queued, not
 * a lone STREAM_BEGIN of a live worker). */
static int writer_candidate(const run *R, size_t i) {
    const job_state *s = &R->js[i];
    if (R->jobs[i].gated && R->gate != 1) return 0;
    return !pend_empty(s) && (!s->lone_begin || s->finished);
}

/* Which queue takes the free writer (pull.h): one whose stream has ended (or
 * whose worker has), in round-robin order; else the biggest dense one (at
 * least PULL_WRITER_BACKLOG bytes, come at PULL_WRITER_DENSE bytes a second,
 * or the consumer's dense_rate, or more since its first data frame: its
 * facts keep the writer busy); else
 * a sparse one only when no other worker may still want the writer (it
 * would hold it mostly idle); else none yet (-1). */
static long writer_next(const run *R) {
    long dense = -1, sparse = -1;
    uint64_t dense_n = 0;
    double now = 0, dense_rate = R->ap->dense_rate > 0 ? R->ap->dense_rate : PULL_WRITER_DENSE;
    for (size_t k = 0; k < R->njobs; k++) {
        size_t i = (R->rr + k) % R->njobs;
        const job_state *s = &R->js[i];
        if (!writer_candidate(R, i)) continue;
        if (s->finished || s->queued_end) return (long)i;
        uint64_t n = pend_bytes(s);
        if (now == 0) now = mono_now();
        double secs = s->first_data > 0 ? now - s->first_data : 0;
        if (n >= PULL_WRITER_BACKLOG && (secs <= 0 || (double)n / secs >= dense_rate)) {
            if (n > dense_n) dense = (long)i, dense_n = n;
        } else if (sparse < 0 && s->first_data > 0) {
            sparse = (long)i;
        }
    }
    if (dense >= 0 || sparse < 0) return dense;
    /* a sparse stream waits while another worker runs or waits: one that is
     * not finished, or has frames queued, and can take the writer now or
     * after its gate */
    for (size_t j = 0; j < R->njobs; j++) {
        if ((long)j == sparse || (R->jobs[j].gated && R->gate == 0)) continue;
        if (!R->js[j].finished || !pend_empty(&R->js[j])) return -1;
    }
    return sparse;
}

/* While the writer is free, replays the pending frames of the workers whose
 * turn it is (writer_next). */
static void drain(run *R) {
    while (R->owner < 0 && !R->failed) {
        long next = writer_next(R);
        if (next < 0) {
            gate_check(R);
            return;
        }
        size_t i = (size_t)next;
        R->rr = i + 1;
        R->js[i].lone_begin = 0;
        R->js[i].queued_end = 0;
        R->js[i].first_data = 0;
        if (replay(R, i)) {
            R->failed = 1;
            return;
        }
        if (R->js[i].finished && R->owner == (long)i) fail_open(R, i);
    }
}

/* The gate (pull_apply.gate): decided once every stream of the jobs not
 * gated has ended, their workers finished and the writer is free. A finished
 * worker's streams that never ended (it died before them) end here as not
 * pulled, as at the end of the run. */
static void gate_check(run *R) {
    if (R->gate != -1 || R->owner >= 0 || R->failed) return;
    for (size_t i = 0; i < R->njobs; i++) {
        job_state *s = &R->js[i];
        if (R->jobs[i].gated) continue;
        if (!s->finished || !pend_empty(s) || s->cur >= 0) return;
    }
    for (size_t i = 0; i < R->njobs; i++) {
        if (R->jobs[i].gated) continue;
        for (size_t j = 0; j < R->jobs[i].nstreams; j++) {
            char msg[600];
            snprintf(msg, sizeof msg, "not pulled: %s", R->js[i].res.message);
            pull_stream_end e = {.begun = 0, .ok = 0, .error = msg};
            end_stream(R, i, (long)j, &e);
        }
    }
    if (R->gate != -1) return; /* discarded meanwhile */
    if (!R->ap->gate || R->ap->gate(R->ap->ud, 1)) R->gate = 1, R->gated_hold = 0;
    else gate_discard(R);
    drain(R); /* the gated frames, when applied */
}

/* A queued stream's end came: the consumer hears of it, and the gate, while
 * it waits, is asked again (the stream may have been the last it waited for). */
static void queued_end(run *R, size_t i, const ch_frame *fr) {
    if (!R->ap->arrived || planned_index(&R->jobs[i], fr->stream) < 0) return;
    R->ap->arrived(R->ap->ud, i, fr->stream, !fr->failed && !R->js[i].queued_fact);
    if (R->gated_hold) gate_ask(R);
}

static int on_frame(void *ud, size_t i, ch_frame *fr) {
    run *R = ud;
    job_state *s = &R->js[i];
    switch (fr->type) {
    case CH_LOG:
        worker_log_print(R->jobs[i].name, fr->level, fr->text);
        return 0;
    case CH_ERROR:
    case CH_DONE:
        return 0;
    default:
        break;
    }
    if (R->failed) return 1;
    if (R->jobs[i].gated && R->gate == 0) return 1; /* discarded: the worker is stopped */
    if (R->owner == (long)i) {
        apply(R, i, fr);
    } else {
        /* Queued, also a STREAM_BEGIN that finds the writer free: the
         * stream takes the writer when its turn comes (writer_next). */
        int was_empty = pend_empty(s);
        if (pend_add(R, i, fr->bytes, fr->nbytes)) {
            R->failed = 1;
            return 1;
        }
        s->lone_begin = was_empty && fr->type == CH_STREAM_BEGIN;
        if (fr->type == CH_STREAM_BEGIN) s->queued_fact = 0;
        else if (fr->type == CH_FACT) s->queued_fact = 1;
        if (fr->type == CH_STREAM_END) s->queued_end = 1;
        else if (fr->type != CH_STREAM_BEGIN && s->first_data == 0) s->first_data = mono_now();
        if (fr->type == CH_STREAM_END && !R->jobs[i].gated) queued_end(R, i, fr);
    }
    drain(R);
    return 0;
}

static void on_end(void *ud, size_t i, const worker_result *res) {
    run *R = ud;
    job_state *s = &R->js[i];
    s->res = *res;
    s->finished = 1;
    if (R->jobs[i].gated && R->gate == 0) return; /* discarded: stopped by the core, or ended unheard */
    if (res->status != WORKER_OK) gg_error(R->jobs[i].name, "%s", res->message);
    if (R->owner == (long)i) fail_open(R, i);
    drain(R);
}

/* worker_spec.prepare of a job: pull_apply.prepare. */
typedef struct job_prep {
    const pull_apply *ap;
    size_t job;
} job_prep;

static void job_prepare(void *ud) {
    const job_prep *p = ud;
    p->ap->prepare(p->ap->ud, p->job);
}

int pull_run(pull_job *jobs, size_t njobs, const pull_filter *flt, size_t max_parallel, const char *spool_dir,
             size_t mem_bound, const pull_apply *ap, char *err, size_t errsz) {
    if (njobs == 0) return 0;
    run R = {.jobs = jobs, .njobs = njobs, .ap = ap, .spool_dir = spool_dir, .owner = -1, .gate = -1,
             .mem_bound = mem_bound ? mem_bound : PULL_MEM_BOUND};
    R.js = xcalloc(njobs, sizeof *R.js);
    worker_spec *specs = xcalloc(njobs, sizeof *specs);
    child_arg *args = xcalloc(njobs, sizeof *args);
    job_prep *preps = xcalloc(njobs, sizeof *preps);
    worker_result *res = xcalloc(njobs, sizeof *res);
    int rc = -1;
    for (size_t i = 0; i < njobs; i++) {
        R.js[i].pend.fd = -1;
        R.js[i].cur = -1;
        R.js[i].ended = xcalloc(jobs[i].nstreams ? jobs[i].nstreams : 1, 1);
        args[i] = (child_arg){.job = &jobs[i], .flt = jobs[i].flt ? jobs[i].flt : flt};
        specs[i] = (worker_spec){.name = jobs[i].name, .fn = child_pull, .ud = &args[i],
                                 .read_paths = jobs[i].read_paths, .lim = &jobs[i].lim,
                                 .cancel = jobs[i].gated ? &R.gated_cancel : NULL,
                                 .hold = jobs[i].gated ? &R.gated_hold : NULL,
                                 .prepare = ap->prepare ? job_prepare : NULL, .prepare_ud = &preps[i]};
        preps[i] = (job_prep){.ap = ap, .job = i};
    }
    /* The gated workers start when the gate says so (2), at once if it does
     * before any stream has ended. */
    int any_gated = 0;
    for (size_t i = 0; i < njobs; i++) any_gated |= jobs[i].gated;
    if (any_gated && ap->gate) {
        int g = ap->gate(ap->ud, 0);
        if (g == 0) gate_discard(&R);
        else R.gated_hold = g != 2;
    }
    if (worker_run_all_ex(specs, njobs, NULL, max_parallel, on_frame, on_end, &R, res, err, errsz)) goto out;
    drain(&R); /* and the gate, when every worker is done */
    if (R.failed) gg_error("cycle", "pulling: %s", R.err);
    /* Every planned stream gets its end: those never begun failed with their
     * worker (or were lost with the spool). */
    for (size_t i = 0; i < njobs; i++) {
        job_state *s = &R.js[i];
        if (s->cur >= 0) fail_open(&R, i);
        for (size_t j = 0; j < jobs[i].nstreams; j++) {
            char msg[600];
            snprintf(msg, sizeof msg, "not pulled: %s", R.failed ? R.err : res[i].message);
            pull_stream_end e = {.begun = 0, .ok = 0, .error = msg};
            end_stream(&R, i, (long)j, &e);
        }
    }
    rc = 0;
out:
    if (R.js) {
        for (size_t i = 0; i < njobs; i++) {
            free(R.js[i].pend.mem);
            if (R.js[i].pend.fd >= 0) close(R.js[i].pend.fd);
            ch_reader_free(R.js[i].replay);
            free(R.js[i].ended);
        }
    }
    free(R.js);
    free(specs);
    free(args);
    free(preps);
    free(res);
    return rc;
}
