/* route.c - routing: which sinks an alert goes to (the [route] of its rule),
 * as rows of the state store's outbox. "@sources" expands to the sources its
 * evidence came from that can take a push. The outbox rows are delivered by
 * deliver.c, in a later step and outside the cycle's transaction. */
#include "delivery/delivery.h"

#include <string.h>

#include "core/log.h"

/* Enqueues one row; an alert that cannot be queued is said and fails the
 * caller's transaction (it is produced and routed again next cycle). */
static int enqueue(gg_ctx *ctx, const alert *a, const char *sink) {
    if (state_outbox_enqueue(ctx->st, a->id, sink, a->version) == 0) return 0;
    gg_error("delivery", "alert %s: cannot queue it for sink %s", a->id, sink);
    return -1;
}

/* Enqueues an alert for each routed sink; "@sources" expands to the sources
 * its evidence came from (those that can take a push). */
int delivery_route_alert(gg_ctx *ctx, const alert *a) {
    const gg_route *r = &ctx->cfg->routes[a->rule];
    for (size_t k = 0; k < r->nsinks; k++) {
        const char *sink = r->sinks[k];
        if (strcmp(sink, "@sources")) {
            if (enqueue(ctx, a, sink)) return -1;
            continue;
        }
        for (size_t e = 0; e < a->nev; e++) {
            int dup = 0;
            for (size_t p = 0; p < e; p++) dup |= !strcmp(a->ev[p].source, a->ev[e].source);
            adapter *ad = gg_ctx_adapter(ctx, a->ev[e].source);
            if (!dup && ad && adapter_can_push(ad) && enqueue(ctx, a, a->ev[e].source)) return -1;
        }
    }
    return 0;
}
