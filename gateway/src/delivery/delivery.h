/* delivery.h - after the rules: routing alerts to the outbox, delivering the
 * outbox to sinks (retries, dead letters), and the alert lifecycle (verdicts,
 * withdrawn, overdue). The cycle (app/cycle.c) calls these in its phases.
 *
 *   route.c      alert -> outbox rows of its rule's sinks
 *   deliver.c    due outbox rows -> adapter push, backoff, dead letters
 *   lifecycle.c  verdicts, withdrawal, overdue escalation */
#ifndef GG_DELIVERY_H
#define GG_DELIVERY_H

#include "alerts/alert.h"
#include "app/cycle.h"
#include "app/gg.h"
#include "model/factset.h"

/* Enqueues an alert for each sink its rule routes to (in the caller's
 * transaction). A sink whose adapter has no push function is skipped, and
 * logged once per cycle (cs->route_skipped). 0 ok, -1 (logged) when a row
 * could not be queued: the caller rolls the transaction back. */
int delivery_route_alert(gg_ctx *ctx, const alert *a, cycle_stats *cs);
/* What the routing will skip, as `gridgate check` reports it: a [route]
 * naming a source without a push function, and "@sources" where a source that
 * may give evidence has none. Calls warn(ud, message) for each; returns the
 * number of warnings. Needs the adapters loaded. */
int delivery_route_check(gg_ctx *ctx, void (*warn)(void *ud, const char *msg), void *ud);
/* Delivers the due outbox rows; counts go to cs. Returns the number of
 * failures (1 when the outbox cannot be read). */
int delivery_deliver_due(gg_ctx *ctx, cycle_stats *cs);
/* Applies the verdict facts in fs to their alerts, each verdict once (in the
 * caller's transaction). 0 ok, -1 (logged) when the state store failed. */
int delivery_apply_verdicts(gg_ctx *ctx, const factset *fs, cycle_stats *cs);
/* The stored alerts a match stands for: those whose subject in_scope
 * accepts (a match of the subjects the touched log names, app/cycle.c). */
typedef struct alert_scope {
    int (*in_scope)(void *ud, const char *id_no, const char *case_key, const char *subject);
    void *ud;
} alert_scope;
/* Withdraws open alerts not in al (what the rules produced this cycle) and
 * escalates overdue ones; both are routed again (in the caller's transaction).
 * scope (NULL: every alert) limits the withdrawal to the alerts it accepts.
 * 0 ok, -1 (logged) when the state store failed. */
int delivery_lifecycle_update(gg_ctx *ctx, const alert_list *al, const alert_scope *scope, cycle_stats *cs);
/* Only the overdue escalation of delivery_lifecycle_update (a cycle that did
 * not need to match). Inside the caller's transaction. */
int delivery_escalate_overdue(gg_ctx *ctx, cycle_stats *cs);

#endif
