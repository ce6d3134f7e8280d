/* ingest.h - the per-record entry points of a stream's pull (app/ingest.c).
 *
 * The pull loop calls ingest_stream_begin() before a stream, hands
 * ingest_fact/ingest_reject to the adapter as its sink (ud = the
 * ingest_stream), runs the stream inside one state transaction, and calls
 * ingest_stream_end(ok) after committing (ok = 1) or rolling back (ok = 0).
 * Records may come from the adapter directly or from a worker process; the
 * callbacks are the same.
 *
 * Ownership: an ingest_stream borrows everything it points to; the cycle owns
 * the seen sets (one per source and kind for the whole cycle, seen_free). */
#ifndef GG_INGEST_H
#define GG_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "app/gg.h"
#include "adapter/adapter.h"
#include "core/strmap.h"
#include "model/fact.h"

/* The ref hashes of the facts of one (source, kind) kept in this cycle: what a
 * complete read still holds, so pruning needs no rewrite of unchanged facts. */
typedef struct seen_set {
    uint64_t *h;
    size_t n, cap;
} seen_set;

void seen_sort(seen_set *ss); /* ascending, for state_facts_prune_unseen */
void seen_free(seen_set *ss);

typedef struct ingest_stream {
    gg_ctx *ctx;
    adapter *ad;
    const char *source;
    long cycle;
    int phase_stream;        /* 1 = payment/income phase: filter by interest */
    strmap *interest_ids, *interest_cases;
    seen_set *seen;          /* refs kept this cycle, for the stream's (source, kind) */
    size_t seen0;            /* its size when the stream began */
    int fresh;               /* no fact of the stream's (source, kind) stored yet: no hash to compare */
    /* The last name check (rows of one person often come together): */
    char dq_id[IDENT_LEN + 1];
    uint64_t dq_name;
    int dq_conflict;
    long kept, skipped, rejected, invalid, unchanged;
    int failed;              /* state write failed */
} ingest_stream;

void ingest_stream_begin(ingest_stream *p, gg_ctx *ctx, adapter *ad, const char *source, fact_kind kind,
                         long cycle, int phase_stream, strmap *interest_ids, strmap *interest_cases, seen_set *seen);
/* adapter_sink callbacks: 0 to go on, nonzero stops the stream (p->failed). */
int ingest_fact(void *ud, const char *stream, fact *f);
int ingest_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw);
void ingest_stream_end(ingest_stream *p, int ok);

#endif
