/* lifecycle.c - what happens to stored alerts besides the rules producing
 * them: verdicts from the departments confirm or dismiss them (once per
 * verdict), an open alert the rules no longer produce is withdrawn, and a
 * pushed alert without a verdict past the deadline becomes overdue. Withdrawn
 * and overdue alerts are routed again so the departments see the change. (An
 * alert whose evidence changes is reopened by the state store's upsert.) */
#include "delivery/delivery.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/strmap.h"

/* Verdicts close the loop: a verdict fact sets its alert confirmed/dismissed
 * once. The applied verdict is remembered (as a mark of the source) so
 * that an alert reopened by new evidence is not closed again by an old one. */
int delivery_apply_verdicts(gg_ctx *ctx, const factset *fs, cycle_stats *cs) {
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (f->kind != FK_VERDICT || !f->f[FF_ALERT].s || !f->f[FF_VERDICT].s) continue;
        char key[128], sig[512];
        snprintf(key, sizeof key, "verdict:%s", f->f[FF_ALERT].s);
        snprintf(sig, sizeof sig, "%s|%s|%s", f->ref, f->f[FF_VERDICT].s, f->f[FF_AT].s ? f->f[FF_AT].s : "");
        char *prev = NULL;
        if (state_mark_get(ctx->st, f->source, key, &prev)) return -1;
        int same = prev && !strcmp(prev, sig);
        free(prev);
        if (same) continue;
        alert a;
        memset(&a, 0, sizeof a);
        int found = state_alert_get(ctx->st, f->f[FF_ALERT].s, &a);
        if (found == 0) {
            char note[400];
            snprintf(note, sizeof note, "%s%s%s", f->f[FF_BY].s ? f->f[FF_BY].s : "",
                     f->f[FF_NOTE].s ? ": " : "", f->f[FF_NOTE].s ? f->f[FF_NOTE].s : "");
            if (state_alert_set_status(ctx->st, a.id, f->f[FF_VERDICT].s, note) != 0) {
                alert_free(&a);
                return -1;
            }
            cs->verdicts_applied++;
            gg_info("verdicts", "alert %s %s (source %s, record %s)", a.id, f->f[FF_VERDICT].s, f->source, f->ref);
            alert_free(&a);
        } else if (found == 1) {
            gg_warn("verdicts", "source %s, record %s: verdict for unknown alert %s ignored", f->source, f->ref,
                    f->f[FF_ALERT].s);
        } else {
            return -1; /* the state store failed (logged) */
        }
        if (state_mark_set(ctx->st, f->source, key, sig)) return -1;
    }
    return 0;
}

/* Lifecycle after the rules ran: an open alert the rules no longer produce is
 * withdrawn, and a pushed alert without a verdict past the deadline becomes
 * overdue; both are delivered again so the departments see the change. */
typedef struct withdraw_ctx {
    gg_ctx *ctx;
    cycle_stats *cs;
    strmap produced;
    const alert_scope *scope; /* NULL: every open alert */
    int failed;        /* a state store call failed (logged): roll back */
} withdraw_ctx;

/* Routes the stored alert `id` again; -1 when it cannot be read or queued. */
static int reroute_by_id(gg_ctx *ctx, const char *id, cycle_stats *cs) {
    alert a;
    memset(&a, 0, sizeof a);
    int found = state_alert_get(ctx->st, id, &a);
    if (found == 1) return 0; /* listed a moment ago in this transaction: cannot happen */
    if (found != 0) return -1;
    int rc = delivery_route_alert(ctx, &a, cs);
    alert_free(&a);
    return rc;
}

static int withdraw_if_gone(void *ud, const char *id) {
    withdraw_ctx *wc = ud;
    if (strmap_has(&wc->produced, id)) return 0;
    int version = 0;
    if (state_alert_withdraw(wc->ctx->st, id, &version) || reroute_by_id(wc->ctx, id, wc->cs)) {
        wc->failed = 1;
        return 1;
    }
    gg_info("alerts", "alert %s withdrawn: its evidence is gone (version %d)", id, version);
    wc->cs->alerts_withdrawn++;
    return 0;
}

/* withdraw_if_gone for the open alerts of the scope alone. */
static int withdraw_in_scope(void *ud, const char *id, const char *rule, const char *id_no, const char *case_key,
                             const char *subject, const char *status) {
    withdraw_ctx *wc = ud;
    (void)rule;
    if (strcmp(status, "new") && strcmp(status, "pushed") && strcmp(status, "overdue")) return 0;
    if (!wc->scope->in_scope(wc->scope->ud, id_no, case_key, subject)) return 0;
    return withdraw_if_gone(ud, id);
}

static int escalate_overdue(void *ud, const char *id) {
    withdraw_ctx *wc = ud;
    gg_warn("alerts", "alert %s overdue: no verdict within %ld days; delivered again as overdue", id,
            wc->ctx->cfg->verdict_deadline_days);
    wc->cs->alerts_overdue++;
    if (reroute_by_id(wc->ctx, id, wc->cs)) {
        wc->failed = 1;
        return 1;
    }
    return 0;
}

/* An alert resting on a record rejected this cycle whose last good version
 * was kept (cycle.c, on_reject) stays as it was; the log says so per alert. */
typedef struct last_good_ctx {
    const alert_list *al;
} last_good_ctx;

static int note_last_good(void *ud, const quarantine_row *r) {
    last_good_ctx *lg = ud;
    for (size_t i = 0; i < lg->al->n; i++) {
        const alert *a = &lg->al->items[i];
        for (size_t e = 0; e < a->nev; e++) {
            if (strcmp(a->ev[e].source, r->source) || !a->ev[e].ref || strcmp(a->ev[e].ref, r->ref)) continue;
            gg_warn("alerts", "alert %s: its evidence record %s of source %s was rejected this cycle (%s); the last "
                    "good version is kept and the alert stands", a->id, r->ref, r->source, r->reason);
            break;
        }
    }
    return 0;
}

/* Withdraws the open alerts the rules no longer produce (al) and escalates
 * the pushed ones past the verdict deadline, rerouting both. Inside the
 * caller's transaction. */
int delivery_lifecycle_update(gg_ctx *ctx, const alert_list *al, const alert_scope *scope, cycle_stats *cs) {
    last_good_ctx lg = {.al = al};
    /* Only log lines depend on it: a failed read is said and the step goes on. */
    if (state_quarantine_last_good_each(ctx->st, cs->cycle, note_last_good, &lg))
        gg_warn("alerts", "cannot list the records whose last good version was kept this cycle");
    withdraw_ctx wc = {.ctx = ctx, .cs = cs, .scope = scope};
    int lifecycle_ok = strmap_init(&wc.produced, al->n) == 0;
    for (size_t i = 0; lifecycle_ok && i < al->n; i++)
        if (strmap_add(&wc.produced, al->items[i].id) < 0) lifecycle_ok = 0;
    /* Without the set of produced alerts (out of memory) every open alert
     * would look gone: the lifecycle step is skipped this cycle instead. */
    if (!lifecycle_ok) gg_error("alerts", "lifecycle skipped this cycle: out of memory");
    if (lifecycle_ok && (scope ? state_alerts_subjects_each(ctx->st, withdraw_in_scope, &wc)
                               : state_alerts_open_each(ctx->st, withdraw_if_gone, &wc)))
        wc.failed = 1;
    long long deadline = (long long)time(NULL) - ctx->cfg->verdict_deadline_days * 86400LL;
    if (lifecycle_ok && !wc.failed && (state_alerts_overdue(ctx->st, deadline, escalate_overdue, &wc) || wc.failed))
        wc.failed = 1;
    strmap_free(&wc.produced);
    return wc.failed ? -1 : 0;
}

/* The time-driven half of the lifecycle alone, for a cycle whose matching was
 * not needed (nothing the rules read changed): pushed alerts past the verdict
 * deadline are escalated. Inside the caller's transaction. */
int delivery_escalate_overdue(gg_ctx *ctx, cycle_stats *cs) {
    withdraw_ctx wc = {.ctx = ctx, .cs = cs};
    long long deadline = (long long)time(NULL) - ctx->cfg->verdict_deadline_days * 86400LL;
    if (state_alerts_overdue(ctx->st, deadline, escalate_overdue, &wc) || wc.failed) return -1;
    return 0;
}
