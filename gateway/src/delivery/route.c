/* route.c - routing: which sinks an alert goes to (the [route] of its rule),
 * as rows of the state store's outbox. "@sources" expands to the sources its
 * evidence came from that can take a push. A sink without a push function is
 * skipped, never enqueued (it could only become a dead letter): `gridgate
 * check` warns about it (delivery_route_check) and the cycle logs it once per sink.
 * The outbox rows are delivered by deliver.c, in a later step and outside the
 * cycle's transaction. */
#include "delivery/delivery.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* Enqueues one row; an alert that cannot be queued is said and fails the
 * caller's transaction (it is produced and routed again next cycle). */
static int enqueue(gg_ctx *ctx, const alert *a, const char *sink) {
    if (state_outbox_enqueue(ctx->st, a->id, sink, a->version) == 0) return 0;
    gg_error("delivery", "alert %s: cannot queue it for sink %s", a->id, sink);
    return -1;
}

/* Logs that `sink` was skipped for rule r, once per cycle per sink. */
static void note_skip(cycle_stats *cs, rule_id r, const char *sink, int via_sources) {
    if (cs) {
        for (size_t i = 0; i < cs->nroute_skipped; i++)
            if (!strcmp(cs->route_skipped[i], sink)) return;
        if (cs->nroute_skipped < sizeof cs->route_skipped / sizeof cs->route_skipped[0])
            snprintf(cs->route_skipped[cs->nroute_skipped++], sizeof cs->route_skipped[0], "%s", sink);
    }
    if (via_sources)
        gg_warn("delivery", "route %s: @sources skips source %s: it has no push function, so alerts with evidence "
                "from it are not delivered there (logged once per cycle)", rule_name(r), sink);
    else
        gg_warn("delivery", "route %s: sink %s is skipped: its adapter has no push function, so its alerts are "
                "not delivered there (logged once per cycle)", rule_name(r), sink);
}

/* Enqueues an alert for each routed sink; "@sources" expands to the sources
 * its evidence came from (those that can take a push). */
int delivery_route_alert(gg_ctx *ctx, const alert *a, cycle_stats *cs) {
    const gg_route *r = &ctx->cfg->routes[a->rule];
    for (size_t k = 0; k < r->nsinks; k++) {
        const char *sink = r->sinks[k];
        if (strcmp(sink, "@sources")) {
            adapter *ad = gg_ctx_adapter(ctx, sink);
            /* An adapter that did not load is enqueued: it may load next time,
             * and the failed delivery says why. */
            if (ad && !adapter_can_push(ad)) {
                note_skip(cs, a->rule, sink, 0);
                continue;
            }
            if (enqueue(ctx, a, sink)) return -1;
            continue;
        }
        for (size_t e = 0; e < a->nev; e++) {
            int dup = 0;
            for (size_t p = 0; p < e; p++) dup |= !strcmp(a->ev[p].source, a->ev[e].source);
            if (dup) continue;
            adapter *ad = gg_ctx_adapter(ctx, a->ev[e].source);
            if (ad && adapter_can_push(ad)) {
                if (enqueue(ctx, a, a->ev[e].source)) return -1;
            } else if (ad) {
                note_skip(cs, a->rule, a->ev[e].source, 1);
            }
        }
    }
    return 0;
}

int delivery_route_check(gg_ctx *ctx, void (*warn)(void *ud, const char *msg), void *ud) {
    int n = 0;
    char msg[512];
    for (int r = 0; r < (int)rules_count(); r++) {
        const gg_route *rt = &ctx->cfg->routes[r];
        for (size_t k = 0; k < rt->nsinks; k++) {
            const char *sink = rt->sinks[k];
            if (strcmp(sink, "@sources")) {
                adapter *ad = gg_ctx_adapter(ctx, sink);
                if (!ad || adapter_can_push(ad)) continue;
                snprintf(msg, sizeof msg,
                         "route %s: sink %s has no push function; its alerts are not delivered there (skipped)",
                         rule_name((rule_id)r), sink);
                warn(ud, msg);
                n++;
                continue;
            }
            /* Any loaded source with a stream that is not verdicts may give
             * evidence (the rules decide which do): each one without push is
             * named. */
            for (size_t i = 0; i < ctx->cfg->nsources; i++) {
                adapter *ad = ctx->adapters ? ctx->adapters[i] : NULL;
                if (!ctx->cfg->sources[i].enabled || !ad || adapter_can_push(ad)) continue;
                int evidence = 0;
                for (size_t s = 0; s < adapter_stream_count(ad); s++)
                    evidence |= adapter_stream(ad, s)->kind != FK_VERDICT;
                if (!evidence) continue;
                snprintf(msg, sizeof msg,
                         "route %s: @sources skips source %s: it has no push function, so alerts with evidence "
                         "from it are not delivered there",
                         rule_name((rule_id)r), ctx->cfg->sources[i].name);
                warn(ud, msg);
                n++;
            }
        }
    }
    return n;
}
