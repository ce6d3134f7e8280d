/* deliver.c - delivering due outbox rows to their sinks through the sink
 * source's adapter push (with the zh-CN explanation), marking the alert
 * pushed once no delivery of it is pending; a failure is retried later with
 * exponential backoff and becomes a dead letter after max_attempts.
 *
 * The due rows are grouped by sink (in outbox order within a sink); a sink's
 * alerts go out in one push worker, or, when there are at least twice
 * push_batch of them, are split in consecutive shares among up to
 * push_workers workers (each its own connections), all side by side
 * ([gridgate] workers at once; worker_push_batches). The first share of
 * every sink starts first. A share's alerts are loaded from the state store
 * just before its worker forks (share_prepare), so the loading of the later
 * shares overlaps the pushes of the earlier ones (1M residents, 4640 rows to
 * three sinks, 2 x 2 runs: 1.73-1.90 s of loading and explaining, then
 * pushing -> 1.35-1.53 s). An alert is loaded without its evidence, with the
 * explanation the match stored with its version (state_alert_get_to_push):
 * parsing the evidence and explaining it took 0.28 ms an alert (1M: 0.57 s
 * of the core before the last worker could fork); one stored without an
 * explanation is loaded whole and explained here. Shares help a sink far
 * away.
 * Each outcome is recorded as it arrives, so a worker that dies mid-batch
 * leaves the rows it reported as they are, and the rest are failed attempts
 * like any other. */
#include "core/util.h"
#include "delivery/delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn/conn.h"
#include "core/log.h"
#include "core/strmap.h"
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

/* One sink's rows of the pass (indexes into the due list) and the items
 * handed to its workers, in the same order. */
typedef struct sink_group {
    const char *sink;
    adapter *ad;
    size_t *rows;
    push_item *items;
    size_t n, cap;
} sink_group;

struct deliver_pass;

/* One worker's share of a sink group: items [off, off + n) of group g. */
typedef struct share {
    struct deliver_pass *p;
    size_t g, off, n;
} share;

/* An outcome reported by a sink's worker, waiting to be recorded. */
typedef struct outcome {
    size_t row;
    int ok;
    char *err; /* owned; NULL when ok */
} outcome;

/* Outcomes are recorded in batches, each in one state-store transaction
 * (every delivered row is an audit row, its outbox row done and maybe its
 * alert's status: 3-4 writes): when OUTCOME_BATCH wait, when one comes and
 * the oldest has waited OUTCOME_WAIT_MS, and at the end of the pass. No transaction is held
 * while a sink works. Outcomes lost with a killed core are deliveries made
 * again next time: a sink sees the same version twice, as it may today. */
#define OUTCOME_BATCH 256
#define OUTCOME_WAIT_MS 250

typedef struct deliver_pass {
    gg_ctx *ctx;
    cycle_stats *cs;
    conn_opts bo;
    outbox_copy *rows;
    /* An alert routed to several sinks is loaded and explained once: row i
     * uses the alert and explanation of row owner[i], the first due row of
     * its alert id; alerts[j] and expl[j] are set (found[j]) for owners only,
     * by the first share that has one of its rows (loaded[j]). */
    size_t *owner;
    alert *alerts;
    char **expl;
    int *found;
    unsigned char *loaded;
    char **fail;              /* per owner row, why it could not be loaded (owned), or NULL */
    sink_group *groups;
    size_t ngroups;
    share *shares;
    size_t nshares;
    int failures;
    outcome *waiting; /* OUTCOME_BATCH slots */
    size_t nwaiting;
    struct timespec first_wait; /* when the oldest waiting outcome came */
} deliver_pass;

/* Row c was delivered: done in the outbox, and the alert pushed once nothing
 * of it is pending. */
static void row_delivered(deliver_pass *p, const outbox_copy *c, const alert *a) {
    gg_ctx *ctx = p->ctx;
    audit_push(ctx->st, c->alert_id, c->sink, c->version, "delivered");
    /* Not marked done, the row is pushed again next time (the sink sees the
     * same alert version twice): said, not fatal. */
    if (state_outbox_done(ctx->st, c->id))
        gg_error("delivery", "alert %s to %s delivered but not marked done: it will be sent again", c->alert_id,
                 c->sink);
    p->cs->delivered++;
    long pending = 0;
    if (state_outbox_pending_count(ctx->st, a->id, &pending) == 0 && pending == 0 && !strcmp(a->status, "new") &&
        state_alert_set_status(ctx->st, a->id, "pushed", NULL))
        gg_error("delivery", "alert %s: delivered but its status stays new", a->id);
}

/* Row c failed with err: an audit row when it reached a push (audited), and a
 * failed attempt retried with backoff, or a dead letter. */
static void row_failed(deliver_pass *p, const outbox_copy *c, const char *err, int audited) {
    gg_ctx *ctx = p->ctx;
    if (audited) {
        char res[300];
        snprintf(res, sizeof res, "failed: %.280s", err);
        audit_push(ctx->st, c->alert_id, c->sink, c->version, res);
    }
    long delay = conn_backoff_ms(&p->bo, c->attempts);
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
    p->cs->delivery_failed++;
    p->failures++;
}

/* Records the waiting outcomes, in one transaction when one can be begun
 * (else each write on its own, as they come). */
static void outcomes_flush(deliver_pass *p) {
    if (!p->nwaiting) return;
    int tx = state_begin(p->ctx->st) == 0;
    for (size_t k = 0; k < p->nwaiting; k++) {
        outcome *o = &p->waiting[k];
        if (o->ok) row_delivered(p, &p->rows[o->row], &p->alerts[p->owner[o->row]]);
        else row_failed(p, &p->rows[o->row], o->err, p->found[p->owner[o->row]]); /* not loaded: no push ran */
        free(o->err);
    }
    if (tx && state_commit(p->ctx->st)) {
        /* logged by the state store: these rows stay pending and are sent
         * again next time (a sink sees the same version twice) */
        (void)state_rollback(p->ctx->st);
        gg_error("delivery", "%zu delivery outcomes could not be recorded; those alerts will be sent again",
                 p->nwaiting);
    }
    p->nwaiting = 0;
}

static long ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* An item's outcome from its sink's worker (worker_push.h): waits to be
 * recorded with others (outcomes_flush). */
static void on_item(void *ud, size_t batch, size_t item, int ok, const char *err) {
    deliver_pass *p = ud;
    if (p->nwaiting == 0) clock_gettime(CLOCK_MONOTONIC, &p->first_wait);
    const share *sh = &p->shares[batch];
    p->waiting[p->nwaiting++] =
        (outcome){.row = p->groups[sh->g].rows[sh->off + item], .ok = ok,
                  .err = ok ? NULL : xstrdup(err ? err : "push failed (no message)")};
    if (p->nwaiting == OUTCOME_BATCH || ms_since(&p->first_wait) >= OUTCOME_WAIT_MS) outcomes_flush(p);
}

static sink_group *group_of(deliver_pass *p, const char *sink, adapter *ad, size_t *cap) {
    for (size_t g = 0; g < p->ngroups; g++)
        if (!strcmp(p->groups[g].sink, sink)) return &p->groups[g];
    if (p->ngroups == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        p->groups = realloc(p->groups, *cap * sizeof *p->groups);
        if (!p->groups) gg_oom();
    }
    sink_group *g = &p->groups[p->ngroups++];
    memset(g, 0, sizeof *g);
    g->sink = sink;
    g->ad = ad;
    return g;
}

/* push_batch.prepare of a share: loads and explains the alerts of its rows
 * not loaded yet (in the core, just before its worker forks) and fills its
 * items; an alert that cannot be loaded is an item that fails without a
 * push. */
static void share_prepare(void *ud) {
    share *sh = ud;
    deliver_pass *p = sh->p;
    gg_ctx *ctx = p->ctx;
    sink_group *g = &p->groups[sh->g];
    for (size_t k = sh->off; k < sh->off + sh->n; k++) {
        size_t i = g->rows[k], own = p->owner[i];
        if (!p->loaded[own]) {
            p->loaded[own] = 1;
            /* the explanation the match stored with this version; without
             * one, the whole alert, explained from its stored evidence */
            const char *aid = p->rows[own].alert_id;
            p->found[own] = state_alert_get_to_push(ctx->st, aid, &p->alerts[own], &p->expl[own]) == 0;
            if (p->found[own] && !p->expl[own]) {
                alert_free(&p->alerts[own]);
                p->found[own] = state_alert_get(ctx->st, aid, &p->alerts[own]) == 0;
                if (p->found[own]) p->expl[own] = alert_explain_zh(&p->alerts[own], gg_ctx_label, ctx);
            }
            if (!p->found[own]) {
                char err[160];
                snprintf(err, sizeof err, "alert %s is not in the state store", p->rows[own].alert_id);
                p->fail[own] = xstrdup(err);
                /* the worker names the item by the alert's id */
                snprintf(p->alerts[own].id, sizeof p->alerts[own].id, "%.*s", (int)sizeof p->alerts[own].id - 1,
                         p->rows[own].alert_id);
            }
        }
        push_item *it = &g->items[k];
        it->a = &p->alerts[own];
        if (!p->found[own]) {
            it->fail = p->fail[own];
            continue;
        }
        const alert *a = it->a;
        it->expl = p->expl[own];
        /* The verdict is due verdict_deadline_days after this version of the
         * alert was made (its first version: when it was first seen); the
         * overdue escalation (lifecycle.c) comes no earlier. */
        long long since = a->updated_at > 0 ? a->updated_at : a->first_seen;
        it->deadline = since > 0 ? since + ctx->cfg->verdict_deadline_days * 86400LL : 0;
    }
}

/* How many workers share a group of n alerts for source src: one per
 * push_batch alerts, up to push_workers; one below twice push_batch. */
static size_t shares_of(const gg_source_conf *src, size_t n) {
    size_t batch = src && src->push_batch > 0 ? (size_t)src->push_batch : 100;
    size_t most = src && src->push_workers > 0 ? (size_t)src->push_workers : 1;
    if (n < 2 * batch) return 1;
    size_t k = n / batch;
    return k < most ? k : most;
}

int delivery_deliver_due(gg_ctx *ctx, cycle_stats *cs) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    due_list d = {0};
    if (state_outbox_due(ctx->st, collect_due, &d)) return 1;
    deliver_pass p = {.ctx = ctx, .cs = cs, .rows = d.rows};
    p.bo = (conn_opts){.backoff_base_ms = ctx->cfg->backoff_base_ms, .backoff_max_ms = ctx->cfg->backoff_max_ms};
    p.alerts = xcalloc(d.n ? d.n : 1, sizeof *p.alerts);
    p.expl = xcalloc(d.n ? d.n : 1, sizeof *p.expl);
    p.owner = xcalloc(d.n ? d.n : 1, sizeof *p.owner);
    p.found = xcalloc(d.n ? d.n : 1, sizeof *p.found);
    p.loaded = xcalloc(d.n ? d.n : 1, sizeof *p.loaded);
    p.fail = xcalloc(d.n ? d.n : 1, sizeof *p.fail);
    strmap first = {0}; /* alert id -> its first due row */
    size_t gcap = 0;
    /* Group the rows by sink; the items are filled by their share's prepare
     * (the workers inherit them). Rows that cannot reach a push fail at once. */
    for (size_t i = 0; i < d.n; i++) {
        outbox_copy *c = &d.rows[i];
        char err[1024];
        int o;
        if (strmap_intern(&first, c->alert_id, (int)i, &o) < 0) gg_oom();
        p.owner[i] = (size_t)o;
        adapter *ad = gg_ctx_adapter(ctx, c->sink);
        if (!ad) {
            snprintf(err, sizeof err, "sink %s has no loaded adapter", c->sink);
            row_failed(&p, c, err, 0);
            continue;
        }
        sink_group *g = group_of(&p, c->sink, ad, &gcap);
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 64;
            g->rows = realloc(g->rows, g->cap * sizeof *g->rows);
            g->items = realloc(g->items, g->cap * sizeof *g->items);
            if (!g->rows || !g->items) gg_oom();
        }
        g->rows[g->n] = i;
        g->items[g->n] = (push_item){0};
        g->n++;
    }
    if (p.ngroups) {
        /* the shares, the first of every group first */
        size_t *k = xcalloc(p.ngroups, sizeof *k), most = 0, total = 0;
        for (size_t g = 0; g < p.ngroups; g++) {
            k[g] = shares_of(config_source(ctx->cfg, p.groups[g].sink), p.groups[g].n);
            if (k[g] > most) most = k[g];
            total += k[g];
        }
        p.shares = xcalloc(total, sizeof *p.shares);
        push_batch *b = xcalloc(total, sizeof *b);
        for (size_t j = 0; j < most; j++)
            for (size_t g = 0; g < p.ngroups; g++) {
                if (j >= k[g]) continue;
                const sink_group *sg = &p.groups[g];
                size_t lo = sg->n * j / k[g], hi = sg->n * (j + 1) / k[g];
                share *sh = &p.shares[p.nshares];
                *sh = (share){.p = &p, .g = g, .off = lo, .n = hi - lo};
                b[p.nshares++] = (push_batch){.ad = sg->ad, .src = config_source(ctx->cfg, sg->sink),
                                              .items = sg->items + lo, .n = hi - lo, .prepare = share_prepare,
                                              .prepare_ud = sh};
            }
        free(k);
        size_t maxp = ctx->cfg->workers > 0 ? (size_t)ctx->cfg->workers : 4;
        char err[400];
        /* On its own failure the loop has reported every item left as failed. */
        p.waiting = xcalloc(OUTCOME_BATCH, sizeof *p.waiting);
        long prep_ms = ms_since(&t0);
        if (worker_push_batches(b, p.nshares, maxp, on_item, &p, err, sizeof err))
            gg_error("delivery", "%s", err);
        long push_ms = ms_since(&t0) - prep_ms;
        outcomes_flush(&p);
        gg_debug("delivery", "%zu due rows to %zu sinks in %zu workers: grouped in %ld ms, loaded, explained and "
                 "pushed (outcomes recorded as they came) in %ld ms, the last outcomes in %ld ms", d.n, p.ngroups,
                 p.nshares, prep_ms, push_ms, ms_since(&t0) - prep_ms - push_ms);
        free(p.waiting);
        free(b);
    }
    for (size_t g = 0; g < p.ngroups; g++) {
        free(p.groups[g].rows);
        free(p.groups[g].items);
    }
    free(p.groups);
    for (size_t i = 0; i < d.n; i++) {
        if (p.found[i]) {
            alert_free(&p.alerts[i]);
            free(p.expl[i]);
        }
        free(p.fail[i]);
    }
    strmap_free(&first);
    free(p.shares);
    free(p.alerts);
    free(p.expl);
    free(p.owner);
    free(p.found);
    free(p.loaded);
    free(p.fail);
    free(d.rows);
    return p.failures;
}
