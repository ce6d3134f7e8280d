/* ingest.h - the per-record entry points of a stream's pull (app/ingest.c).
 *
 * The cycle's pull consumer (app/cycle.c, pa_begin .. pa_end over
 * app/pull.h) calls ingest_stream_begin() when a stream begins, ingest_fact /
 * ingest_reject for each record a worker sent (ud = the ingest_stream),
 * ingest_seen for the kept records it found unchanged, runs
 * the stream inside one state transaction, and calls ingest_stream_end(ok)
 * after committing (ok = 1) or rolling back (ok = 0). The callbacks have
 * adapter_sink's signature, so an adapter can also feed them directly (then
 * the raw values are taken from the adapter's current row).
 *
 * Ownership: an ingest_stream borrows everything it points to; the cycle owns
 * the seen sets (one per source and kind for the whole cycle, seen_free). */
#ifndef GG_INGEST_H
#define GG_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "app/gg.h"
#include "adapter/adapter.h"
#include "core/hashset.h"
#include "core/strmap.h"
#include "model/fact.h"
#include "store/state.h"

/* The ref hashes of the facts of one (source, kind) kept in this cycle: what a
 * complete read still holds, so pruning needs no rewrite of unchanged facts;
 * and, in the order they came, the content hash each was kept with (0: not
 * known), the pairs of the (source, kind)'s hash set (state.h) until
 * seen_sort reorders h. */
typedef struct seen_set {
    uint64_t *h;
    uint64_t *ch;  /* n content hashes, or NULL once sorted (or not had: out of memory) */
    size_t n, cap;
    int sorted;
} seen_set;

/* Ascending and distinct, for state_facts_prune_unseen; the content hashes
 * are dropped. */
void seen_sort(seen_set *ss);
/* The pairs (ref hash, content hash) of ss with a known content hash, packed
 * into a malloc'd array of 2 * *n words (NULL and *n = 0 when there are none
 * or the set was sorted: then *ok = 0, as for an allocation failure). */
uint64_t *seen_pairs(const seen_set *ss, size_t *n, int *ok);
void seen_free(seen_set *ss);

struct pull_known;

typedef struct ingest_stream {
    gg_ctx *ctx;
    adapter *ad;
    const char *source;
    fact_kind kind;          /* the stream's fact kind */
    long cycle;
    int phase_stream;        /* 1 = payment/income phase: filter by interest */
    strmap *interest_ids, *interest_cases;
    seen_set *seen;          /* refs kept this cycle, for the stream's (source, kind) */
    size_t seen0;            /* its size when the stream began */
    const struct pull_known *known; /* what the worker compared with (app/pull.h): the content
                                       hash of a record it found unchanged; NULL: none */
    int fresh;               /* no fact of the stream's (source, kind) stored yet: no hash to compare */
    /* The last name check (rows of one person often come together): */
    char dq_id[IDENT_LEN + 1];
    uint64_t dq_name;
    int dq_conflict;
    long kept, skipped, rejected, invalid, unchanged;
    long by_worker;          /* of the unchanged: found so by the worker (SEEN frames) */
    int failed;              /* state write failed */
} ingest_stream;

/* The register's names as the worker sees them (phase 2's data-quality
 * pre-check in app/pull.c): sets of the hashes of every id that has a named
 * person fact, and of every (id, name as written) pair of those facts
 * (core/hashset.h). Built by
 * the core from facts_person_names before the workers fork, inherited by them
 * copy-on-write, never sent. About 20 bytes a person (20 MB at 1M). */
typedef struct ingest_register {
    hashset ids, pairs;
    state_register_map map; /* the cache ids and pairs view, when read from it */
    int all;   /* not loaded: every named row may disagree */
} ingest_register;

/* Loads it from the state store (after phase 1, so the register is
 * current); 0 or -1 (logged). ingest_register_free releases it. */
int ingest_register_load(ingest_register *r, state *st);
void ingest_register_free(ingest_register *r);
/* The same load begun on a thread of its own beside the core, which derives
 * the subjects of interest meanwhile (the other CPU is idle then; nothing
 * forks and no person is written until the end). begin (on the core's
 * thread, after phase 1's commit) maps the cache when it is current, or
 * starts the read on a reader connection (store/reader.c); when neither can
 * be had, end reads on the core. end joins the thread and gives the register
 * as ingest_register_load would (0, or -1 logged); a read that failed, or
 * persons written meanwhile, are read again on the core. cancel joins and
 * drops it. A job must be ended or cancelled before the core forks. NULL
 * from begin (out of memory): end then reads on the core. */
typedef struct ingest_register_job ingest_register_job;
ingest_register_job *ingest_register_begin(state *st);
int ingest_register_end(ingest_register_job *job, ingest_register *r, state *st);
void ingest_register_cancel(ingest_register_job *job);
/* 1 when a row of no interest with a valid id (id18) may disagree with the
 * register and must reach the core's check (ingest_fact): it states a birth
 * date other than its id's, or a name that the id's person facts do not hold
 * as written while the id has person facts. 0: it cannot disagree (a 64-bit
 * hash collision aside). */
int ingest_register_may_conflict(const ingest_register *r, const char *id18, const fact *f);

void ingest_stream_begin(ingest_stream *p, gg_ctx *ctx, adapter *ad, const char *source, fact_kind kind,
                         long cycle, int phase_stream, strmap *interest_ids, strmap *interest_cases, seen_set *seen);
/* adapter_sink callbacks: 0 to go on, nonzero stops the stream (p->failed). */
int ingest_fact(void *ud, const char *stream, fact *f);
int ingest_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw);
/* Kept records a worker found stored unchanged (app/pull.h, SEEN frames),
 * given by their ref hashes: noted seen (not pruned), counted kept and
 * unchanged, as ingest_fact does for an unchanged fact. 0, or 1 (p->failed). */
int ingest_seen(ingest_stream *p, const uint64_t *ref_hashes, size_t n);
void ingest_stream_end(ingest_stream *p, int ok);

#endif
