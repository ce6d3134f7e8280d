/* deliver.c - delivering due outbox rows to their sinks through the sink
 * source's adapter push (with the zh-CN explanation), marking the alert
 * pushed once no delivery of it is pending; a failure is retried later with
 * exponential backoff and becomes a dead letter after max_attempts. */
#include "core/util.h"
#include "delivery/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn/conn.h"
#include "core/log.h"
#include "store/audit.h"
#include "worker/worker_push.h"

/* A due outbox row copied out of the state store, so that no SQLite statement
 * is open while a sink runs. */
typedef struct outbox_copy {
    long id;
    char alert_id[48], sink[64];
    int version, attempts;
} outbox_copy;

typedef struct due_list {
    outbox_copy *rows;
    size_t n, cap;
} due_list;

static int collect_due(void *ud, const outbox_row *r) {
    due_list *d = ud;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->rows = realloc(d->rows, d->cap * sizeof *d->rows);
        if (!d->rows) gg_oom();
    }
    outbox_copy *c = &d->rows[d->n++];
    c->id = r->id;
    snprintf(c->alert_id, sizeof c->alert_id, "%s", r->alert_id);
    snprintf(c->sink, sizeof c->sink, "%s", r->sink);
    c->version = r->version;
    c->attempts = r->attempts;
    return 0;
}

int delivery_deliver_due(gg_ctx *ctx, cycle_stats *cs) {
    due_list d = {0};
    if (state_outbox_due(ctx->st, collect_due, &d)) return 1;
    int failures = 0;
    conn_opts bo = {.backoff_base_ms = ctx->cfg->backoff_base_ms, .backoff_max_ms = ctx->cfg->backoff_max_ms};
    for (size_t i = 0; i < d.n; i++) {
        outbox_copy *c = &d.rows[i];
        alert a;
        memset(&a, 0, sizeof a);
        int found = state_alert_get(ctx->st, c->alert_id, &a);
        char err[1024];
        adapter *ad = gg_ctx_adapter(ctx, c->sink);
        if (found != 0) {
            snprintf(err, sizeof err, "alert %s is not in the state store", c->alert_id);
        } else if (!ad) {
            snprintf(err, sizeof err, "sink %s has no loaded adapter", c->sink);
        } else {
            char *expl = alert_explain_zh(&a, gg_ctx_label, ctx);
            /* The verdict is due verdict_deadline_days after this version of
             * the alert was made (its first version: when it was first seen);
             * the overdue escalation (lifecycle.c) comes no earlier. */
            long long since = a.updated_at > 0 ? a.updated_at : a.first_seen;
            long long due = since > 0 ? since + ctx->cfg->verdict_deadline_days * 86400LL : 0;
            int rc = worker_push(ad, config_source(ctx->cfg, c->sink), &a, expl, due, err, sizeof err);
            free(expl);
            char res[300];
            snprintf(res, sizeof res, rc == 0 ? "delivered" : "failed: %.280s", err);
            audit_push(ctx->st, c->alert_id, c->sink, c->version, res);
            if (rc == 0) {
                /* Not marked done, the row is pushed again next time (the
                 * sink sees the same alert version twice): said, not fatal. */
                if (state_outbox_done(ctx->st, c->id))
                    gg_error("delivery", "alert %s to %s delivered but not marked done: it will be sent again",
                             c->alert_id, c->sink);
                cs->delivered++;
                long pending = 0;
                if (state_outbox_pending_count(ctx->st, a.id, &pending) == 0 && pending == 0 &&
                    !strcmp(a.status, "new") && state_alert_set_status(ctx->st, a.id, "pushed", NULL))
                    gg_error("delivery", "alert %s: delivered but its status stays new", a.id);
                alert_free(&a);
                continue;
            }
        }
        if (found == 0) alert_free(&a);
        long delay = conn_backoff_ms(&bo, c->attempts);
        if (delay < ctx->cfg->backoff_base_ms / 2) delay = ctx->cfg->backoff_base_ms / 2;
        long long next = (long long)time(NULL) + (delay + 999) / 1000;
        if (state_outbox_failed(ctx->st, c->id, err, next, ctx->cfg->max_attempts))
            gg_error("delivery", "alert %s to %s: cannot record the failed attempt (retried as it was)", c->alert_id,
                     c->sink);
        if (c->attempts + 1 >= ctx->cfg->max_attempts)
            gg_error("delivery", "alert %s to %s failed %d times; kept as dead letter (gridgate outbox list --status dead): %s",
                     c->alert_id, c->sink, c->attempts + 1, err);
        else
            gg_error("delivery", "alert %s to %s failed (attempt %d of %d, retried later): %s", c->alert_id, c->sink,
                     c->attempts + 1, ctx->cfg->max_attempts, err);
        cs->delivery_failed++;
        failures++;
    }
    free(d.rows);
    return failures;
}
