/* record.c - cycle results into metrics and health (record.h).
 *
 * Metric names (all prefixed gridgate_):
 *   records_pulled_total{source,stream}        rows read (kept, skipped or rejected)
 *   records_kept_total{source,stream}          facts stored for matching
 *   records_rejected_total{source,stream}      rows the adapter rejected
 *   records_quarantined_total{source,stream}   rejects plus invalid id numbers
 *   stream_failures_total{source,stream}       pulls that failed (stream="" : adapter not loaded)
 *   pull_duration_seconds{source,stream}       histogram of pull times
 *   cycles_total{result}                       ok, partial (some stream or delivery failed), failed
 *   cycle_duration_seconds                     histogram
 *   last_cycle, last_cycle_timestamp_seconds   gauges
 *   alerts{rule,status}                        alerts in the state store, by status
 *   alert_changes_total{change}                new, updated, withdrawn, overdue, verdict
 *   deliveries_total{result}                   delivered, failed (this process)
 *   outbox{sink,status}                        outbox rows by sink and status (pending, done, dead)
 *   outbox_retrying{sink}                      pending rows that failed at least once
 *   state_store_bytes                          the SQLite file plus its WAL
 *   source_last_success_timestamp_seconds{source}
 *   build_info{version}                        1 */
#include "daemon/record.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"
#include "store/audit.h"

void record_start(gg_metrics *m, gg_health *h, const gg_ctx *ctx) {
    const char *lb[] = {"version", GG_VERSION, NULL};
    metrics_gauge_set(m, "gridgate_build_info", "The gridgate version running (always 1).", lb, 1);
    for (size_t i = 0; i < ctx->cfg->nsources; i++)
        if (ctx->cfg->sources[i].enabled) health_source_add(h, ctx->cfg->sources[i].name);
}

typedef struct count {
    char a[64], b[64];
    long n;
} count;

typedef struct counts {
    count c[256];
    size_t n;
} counts;

static void counts_add(counts *cs, const char *a, const char *b, long n) {
    for (size_t i = 0; i < cs->n; i++)
        if (!strcmp(cs->c[i].a, a) && !strcmp(cs->c[i].b, b)) {
            cs->c[i].n += n;
            return;
        }
    if (cs->n == sizeof cs->c / sizeof cs->c[0]) return;
    count *c = &cs->c[cs->n++];
    snprintf(c->a, sizeof c->a, "%s", a);
    snprintf(c->b, sizeof c->b, "%s", b);
    c->n = n;
}

static int count_alert(void *ud, const char *rule, const char *status, long n) {
    counts_add(ud, rule ? rule : "", status ? status : "", n);
    return 0;
}

typedef struct outbox_counts {
    counts by_status, retrying;
    long pending, dead;
} outbox_counts;

static int count_outbox(void *ud, const outbox_row *r, const char *status) {
    outbox_counts *oc = ud;
    counts_add(&oc->by_status, r->sink, status ? status : "", 1);
    if (status && !strcmp(status, "pending")) {
        oc->pending++;
        if (r->attempts > 0) counts_add(&oc->retrying, r->sink, "", 1);
    }
    if (status && !strcmp(status, "dead")) oc->dead++;
    return 0;
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

void record_cycle(gg_metrics *m, gg_health *h, gg_ctx *ctx, const cycle_stats *cs, int rc, time_t now) {
    /* Per stream; a source is healthy in this cycle when all its streams were. */
    for (size_t i = 0; i < cs->nstreams; i++) {
        const cycle_stream_stat *s = &cs->streams[i];
        const char *lb[] = {"source", s->source, "stream", s->stream ? s->stream : "", NULL};
        /* the audit log: one row per stream pulled, with the adapter's version */
        char hash[32] = "";
        for (size_t k = 0; k < ctx->cfg->nsources; k++)
            if (!strcmp(ctx->cfg->sources[k].name, s->source) && ctx->adapter_hashes[k])
                snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)ctx->adapter_hashes[k]);
        if (ctx->st) audit_pull(ctx->st, s->source, s->stream, s->records, hash[0] ? hash : NULL, s->error[0] ? "failed" : "ok");
        if (s->error[0]) {
            metrics_counter_add(m, "gridgate_stream_failures", "Stream pulls that failed.", lb, 1);
            if (!s->stream) continue;
        }
        metrics_counter_add(m, "gridgate_records_pulled", "Records read from the source stream.", lb, (double)s->records);
        metrics_counter_add(m, "gridgate_records_kept", "Records kept as facts for matching.", lb, (double)s->kept);
        metrics_counter_add(m, "gridgate_records_rejected", "Records the adapter rejected.", lb, (double)s->rejected);
        metrics_counter_add(m, "gridgate_records_quarantined", "Records quarantined (rejects and invalid id numbers).",
                            lb, (double)(s->rejected + s->invalid));
        metrics_histogram_observe(m, "gridgate_pull_duration_seconds", "Time to pull one stream.",
                                  metrics_default_seconds, metrics_default_seconds_count, lb, s->seconds);
    }
    if (rc >= 0) {
        for (size_t i = 0; i < ctx->cfg->nsources; i++) {
            const gg_source_conf *src = &ctx->cfg->sources[i];
            if (!src->enabled) continue;
            int failed = 0, seen = 0;
            const cycle_stream_stat *first = NULL;
            for (size_t k = 0; k < cs->nstreams; k++)
                if (!strcmp(cs->streams[k].source, src->name)) {
                    seen++;
                    if (cs->streams[k].error[0]) {
                        if (!failed++) first = &cs->streams[k];
                    }
                }
            if (failed) {
                /* one failure per cycle, however many of its streams failed */
                char msg[400];
                if (first->stream)
                    snprintf(msg, sizeof msg, "%d of %d streams failed; stream %s: %s", failed, seen, first->stream,
                             first->error);
                else
                    snprintf(msg, sizeof msg, "%s", first->error);
                health_source_error(h, src->name, now, msg);
            }
            if (seen && !failed) {
                health_source_ok(h, src->name, now);
                const char *lb[] = {"source", src->name, NULL};
                metrics_gauge_set(m, "gridgate_source_last_success_timestamp_seconds",
                                  "When every stream of the source was last pulled successfully (unix time).", lb,
                                  (double)now);
            }
        }
    }

    const char *res[] = {"result", rc < 0 ? "failed" : rc ? "partial" : "ok", NULL};
    metrics_counter_add(m, "gridgate_cycles", "Matching cycles run, by result.", res, 1);
    if (rc < 0) return;
    metrics_histogram_observe(m, "gridgate_cycle_duration_seconds", "Time of one whole cycle.",
                              metrics_default_seconds, metrics_default_seconds_count, NULL, cs->seconds);
    metrics_gauge_set(m, "gridgate_last_cycle", "Number of the last completed cycle.", NULL, (double)cs->cycle);
    metrics_gauge_set(m, "gridgate_last_cycle_timestamp_seconds", "When the last cycle completed (unix time).", NULL,
                      (double)now);
    static const struct { const char *change; size_t off; } changes[] = {
        {"new", offsetof(cycle_stats, alerts_new)},
        {"updated", offsetof(cycle_stats, alerts_updated)},
        {"withdrawn", offsetof(cycle_stats, alerts_withdrawn)},
        {"overdue", offsetof(cycle_stats, alerts_overdue)},
        {"verdict", offsetof(cycle_stats, verdicts_applied)},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const char *lb[] = {"change", changes[i].change, NULL};
        long v = *(const long *)((const char *)cs + changes[i].off);
        metrics_counter_add(m, "gridgate_alert_changes", "Alert lifecycle changes made by cycles.", lb, (double)v);
    }
    const char *ok[] = {"result", "delivered", NULL}, *bad[] = {"result", "failed", NULL};
    metrics_counter_add(m, "gridgate_deliveries", "Deliveries to sinks attempted by cycles.", ok, (double)cs->delivered);
    metrics_counter_add(m, "gridgate_deliveries", "Deliveries to sinks attempted by cycles.", bad,
                        (double)cs->delivery_failed);

    /* Snapshots from the state store. */
    counts *al = xcalloc(1, sizeof *al);
    outbox_counts *oc = xcalloc(1, sizeof *oc);
    int al_ok = state_alert_counts_each(ctx->st, count_alert, al) == 0;
    int oc_ok = state_outbox_each(ctx->st, NULL, count_outbox, oc) == 0;
    metrics_lock(m);
    if (al_ok) {
        metrics_gauge_set(m, "gridgate_alerts", "Alerts in the state store, by rule and status.", NULL, 0);
        metrics_gauge_clear(m, "gridgate_alerts");
        for (size_t i = 0; i < al->n; i++) {
            const char *lb[] = {"rule", al->c[i].a, "status", al->c[i].b, NULL};
            metrics_gauge_set(m, "gridgate_alerts", "Alerts in the state store, by rule and status.", lb,
                              (double)al->c[i].n);
        }
    }
    if (oc_ok) {
        metrics_gauge_set(m, "gridgate_outbox", "Outbox rows by sink and status (pending, done, dead).", NULL, 0);
        metrics_gauge_clear(m, "gridgate_outbox");
        metrics_gauge_set(m, "gridgate_outbox_retrying", "Pending deliveries that failed at least once.", NULL, 0);
        metrics_gauge_clear(m, "gridgate_outbox_retrying");
        for (size_t i = 0; i < oc->by_status.n; i++) {
            const char *lb[] = {"sink", oc->by_status.c[i].a, "status", oc->by_status.c[i].b, NULL};
            metrics_gauge_set(m, "gridgate_outbox", "Outbox rows by sink and status (pending, done, dead).", lb,
                              (double)oc->by_status.c[i].n);
        }
        for (size_t i = 0; i < oc->retrying.n; i++) {
            const char *lb[] = {"sink", oc->retrying.c[i].a, NULL};
            metrics_gauge_set(m, "gridgate_outbox_retrying", "Pending deliveries that failed at least once.", lb,
                              (double)oc->retrying.c[i].n);
        }
    }
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", ctx->cfg->state_path);
    metrics_gauge_set(m, "gridgate_state_store_bytes", "Size of the state store (SQLite file and WAL).", NULL,
                      (double)(file_size(ctx->cfg->state_path) + file_size(wal)));
    metrics_unlock(m);
    health_cycle_done(h, cs->cycle, now, cs->seconds, oc_ok ? oc->pending : -1, oc_ok ? oc->dead : -1);
    free(al);
    free(oc);
}
