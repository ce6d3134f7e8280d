/* metrics.h - a small metrics registry (counters, gauges, histograms with
 * fixed buckets, all with labels) rendered in the Prometheus text exposition
 * format (version 0.0.4).
 *
 * The registry is owned by the daemon (no globals) and is thread-safe: every
 * call takes the registry's mutex, so cycles (or, later, one worker per
 * source) can record while the admin endpoint renders. A family is declared by
 * its first use with its help text and type; using the same name with another
 * type or other buckets is an error (-1, logged).
 *
 * Names: pass the base name. Counters are rendered as NAME_total; histogram
 * names must end in _seconds (durations) and are rendered as NAME_bucket,
 * NAME_sum, NAME_count. Label names must match [a-zA-Z_][a-zA-Z0-9_]*; label
 * values are any UTF-8 text and are escaped (\\, \", \n) on output.
 *
 * Labels are given as a NULL-terminated array of name, value pairs:
 *     const char *lb[] = {"source", "hr", "stream", "persons", NULL};
 *     metrics_counter_add(m, "gridgate_records_pulled", "Records read", lb, 42);
 * A NULL array means no labels.
 *
 * Ownership: the registry copies every string it keeps. metrics_render()
 * returns a malloc'd text the caller frees. */
#ifndef GG_METRICS_H
#define GG_METRICS_H

#include <stddef.h>

typedef struct gg_metrics gg_metrics;

gg_metrics *metrics_new(void);
void metrics_free(gg_metrics *m);

/* Adds v (>= 0) to a counter. 0 ok, -1 on a bad name, label or type clash. */
int metrics_counter_add(gg_metrics *m, const char *name, const char *help, const char *const *labels, double v);
/* Sets a gauge. */
int metrics_gauge_set(gg_metrics *m, const char *name, const char *help, const char *const *labels, double v);
/* Drops every series of a gauge family (kept declared), so a snapshot such as
 * "alerts by status" can be rebuilt without leaving stale series behind. Call
 * between metrics_lock()/metrics_unlock() so readers never see it half done. */
int metrics_gauge_clear(gg_metrics *m, const char *name);
/* Observes v in a histogram whose upper bounds (strictly increasing, +Inf is
 * implied) are `bounds`; the bounds are fixed by the first use. */
int metrics_histogram_observe(gg_metrics *m, const char *name, const char *help, const double *bounds,
                              size_t nbounds, const char *const *labels, double v);

/* Holds the registry's (recursive) mutex over several updates. */
void metrics_lock(gg_metrics *m);
void metrics_unlock(gg_metrics *m);

/* The exposition text: for each family, in declaration order, # HELP and
 * # TYPE then its series in first-use order. malloc'd; NULL if out of memory. */
char *metrics_render(gg_metrics *m);

/* Default duration buckets (seconds): 0.005 .. 300. */
extern const double metrics_default_seconds[];
extern const size_t metrics_default_seconds_count;

#endif
