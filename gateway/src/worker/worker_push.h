/* worker_push.h - pushing alerts through sinks' adapters in sandboxed worker
 * processes (worker/push.c): one worker per sink and delivery pass, which
 * pushes that sink's alerts one after the other over the connections it opens
 * once. */
#ifndef GG_WORKER_PUSH_H
#define GG_WORKER_PUSH_H

#include <stddef.h>

#include "adapter/adapter.h"

/* One alert to push: prepared in the core before the fork and inherited by
 * the worker (nothing is owned here). */
typedef struct push_item {
    const alert *a;
    const char *expl;   /* its zh-CN explanation */
    long long deadline; /* alert.deadline as epoch seconds, 0 = none (see adapter_push_due) */
    const char *fail;   /* or NULL; set: not pushed, reported failed with this message (an alert
                           the core could not load; a.id is still its id) */
} push_item;

/* One batch of a sink: its adapter, its source (limits, files; may be NULL)
 * and its items in the order they are pushed. prepare (or NULL) fills the
 * items in the core just before the batch's worker forks, while the batches
 * started before it push (worker_spec.prepare): the items' a, expl, deadline
 * and fail may be left to it, their number not. */
typedef struct push_batch {
    adapter *ad;
    const gg_source_conf *src;
    const push_item *items;
    size_t n;
    void (*prepare)(void *ud);
    void *prepare_ud;
} push_batch;

/* The outcome of item `item` of batch `batch`: ok 1 (pushed) or 0 with err
 * (the adapter's message "source x: push of alert A failed: ...", or how the
 * worker ended: "source x: deadline of N s exceeded, killed"). Called exactly
 * once per item, in item order within a batch, as soon as it is known (while
 * other batches' workers may still run). */
typedef void (*push_outcome_fn)(void *ud, size_t batch, size_t item, int ok, const char *err);

/* Pushes every batch in its own worker (at most max_parallel at once, 0 = all)
 * and reports every item through on_item. Limits of a worker: the Lua deadline
 * of the source for each push (lua_rt's watchdog, per call), and a wall clock
 * of PUSH_START_MS + n x (deadline_ms + slowest connection timeout), capped at
 * PUSH_BATCH_CAP_MS (at least one item's limit): a hung sink costs at most that
 * much, and the items it did not reach are failed attempts. 0 when the workers
 * ran (whatever their items' fate), -1 with err when the parent itself failed
 * (every item not yet reported was reported failed with that error first). */
#define PUSH_START_MS 5000L
#define PUSH_BATCH_CAP_MS (600L * 1000L)
int worker_push_batches(const push_batch *b, size_t nb, size_t max_parallel, push_outcome_fn on_item, void *ud,
                        char *err, size_t errsz);

/* One sink's batch (worker_push_batches of one). */
int worker_push_batch(adapter *ad, const gg_source_conf *src, const push_item *items, size_t n,
                      push_outcome_fn on_item, void *ud, char *err, size_t errsz);

/* The file a connection spec reads ("odbc:...Database=/x.db" -> "/x.db"):
 * 0 with out filled, -1 when it names none. */
int worker_conn_file(const char *spec, char *out, size_t outsz);

#endif
