/* record.h - turns what a cycle returned (cycle_stats) and what the state
 * store holds into the daemon's metrics and health table. Called by
 * `gridgate run` after each cycle, on the run loop's thread. */
#ifndef GG_RECORD_H
#define GG_RECORD_H

#include <time.h>

#include "app/cycle.h"
#include "core/metrics.h"
#include "daemon/health.h"

/* Declares the sources in the health table and the static metrics (build
 * info) before the first cycle. */
void record_start(gg_metrics *m, gg_health *h, const gg_ctx *ctx);
/* Records one cycle: rc is cycle_run's return (0, 1 or -1). */
void record_cycle(gg_metrics *m, gg_health *h, gg_ctx *ctx, const cycle_stats *cs, int rc, time_t now);

#endif
