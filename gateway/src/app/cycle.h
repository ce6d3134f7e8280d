/* cycle.h - one matching cycle: pull every source (small side first, then the
 * payment/income streams filtered to subjects of interest), resolve identities,
 * run the rules, upsert alerts, enqueue and deliver them to their sinks (the
 * routing, delivery and alert lifecycle steps are in gateway/src/delivery). */
#ifndef GG_CYCLE_H
#define GG_CYCLE_H

#include "app/gg.h"

/* One stream's outcome in a cycle, for the daemon's metrics and health table.
 * Names are borrowed from the context (valid while it is open); stream is NULL
 * when the source's adapter did not load. error is "" on success. */
#define CYCLE_MAX_STREAM_STATS 64
typedef struct cycle_stream_stat {
    const char *source, *stream;
    long records, kept, rejected, invalid;
    double seconds;
    char error[200];
} cycle_stream_stat;

typedef struct cycle_stats {
    long cycle;
    long facts_kept, rows_skipped, rejected, invalid_ids;
    long streams_ok, streams_failed;
    long alerts_total, alerts_new, alerts_updated, alerts_withdrawn, alerts_overdue;
    long delivered, delivery_failed, verdicts_applied;
    int match_skipped; /* matching was asked for but not needed: no fact changed since the last match */
    double seconds;
    cycle_stream_stat streams[CYCLE_MAX_STREAM_STATS]; /* the first ones of the cycle, in pull order */
    size_t nstreams;
    /* Sinks the routing skipped this cycle (no push function), each logged
     * once per cycle (delivery/route.c). */
    char route_skipped[16][64];
    size_t nroute_skipped;
} cycle_stats;

/* What a cycle does. A zeroed struct with deliver = 1 is the full cycle:
 * every enabled source pulled, matching run, due deliveries pushed. */
typedef struct cycle_opts {
    int deliver;   /* push due outbox rows to sinks (default 1) */
    /* Sources to pull, one flag per ctx->cfg->sources index (borrowed;
     * NULL = every enabled source). A source not pulled keeps its facts: it
     * is neither pruned nor are its watermarks or marks touched. */
    const unsigned char *pull;
    /* 1: pull only; identity, rules and alerts are not run this cycle (the
     * run loop debounces matching). Deliveries still go out when deliver. */
    int no_match;
    /* 1: match even when nothing the rules read changed since the last match
     * (otherwise such a cycle skips identity and rules: see cycle.c). */
    int rematch;
} cycle_opts;

/* Returns 0 when every stream and delivery succeeded, 1 when the cycle
 * completed but some stream or delivery failed (named in the log), -1 when it
 * could not run at all. */
int cycle_run(gg_ctx *ctx, const cycle_opts *opts, cycle_stats *st);
/* Delivers due outbox rows only. Returns the number of failures. */
int cycle_deliver(gg_ctx *ctx, cycle_stats *st);

#endif
