/* health.h - the daemon's health table: per source, when it last succeeded,
 * the last error and when; for the daemon, the last completed cycle. The run
 * loop updates it, the admin endpoint reads it (/healthz, /readyz), so every
 * call takes the table's mutex.
 *
 * Staleness of a source is now - its last success (or now - the daemon's start
 * when it never succeeded). A source is stale when it is more than
 * stale_after seconds late on the refresh its schedule promised: the pull due
 * after its last success (health_source_schedule's refresh_due), else its
 * last success, else the daemon's start. So an hourly source is not stale
 * between its pulls, and one that fails is stale stale_after seconds after
 * the pull it missed. The daemon is healthy when no enabled source is stale;
 * it is ready once a cycle has completed. A stale source's "stale_since" is
 * when it became stale; "backoff_seconds" and "next_pull" come from the run
 * loop's schedule.
 *
 * Ownership: the table copies the names and messages it keeps; health_json()
 * returns a new jansson reference. Error texts are stored as given: callers
 * pass messages that are already safe for logs (masked). */
#ifndef GG_HEALTH_H
#define GG_HEALTH_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

typedef struct gg_health gg_health;

/* stale_after: seconds without success before a source makes /healthz fail. */
gg_health *health_new(long stale_after, time_t started);
void health_free(gg_health *h);
/* Declares a source (in configuration order); idempotent. */
void health_source_add(gg_health *h, const char *source);
void health_source_ok(gg_health *h, const char *source, time_t at);
void health_source_error(gg_health *h, const char *source, time_t at, const char *error);
/* The run loop's schedule of a source after a pull: when it is due next, the
 * current backoff cap (0 when its last pull succeeded) and, after a success,
 * when the next successful pull is expected (refresh_due; 0 = keep the one
 * before: a failed pull does not move it). */
void health_source_schedule(gg_health *h, const char *source, time_t next, long backoff, time_t refresh_due);
/* A cycle is under way since `since`, pulling `sources` sources: /healthz
 * shows it running (since when, for how long); since = 0: none is (the run
 * loop says so once the cycle is recorded, whatever it returned). */
void health_cycle_running(gg_health *h, time_t since, long sources);
/* A cycle ended: its number, end time, duration, and the outbox backlog;
 * none is running any more (in the same step, so that /healthz never shows
 * a moment with neither the running cycle nor its result). */
void health_cycle_done(gg_health *h, long cycle, time_t at, double seconds, long outbox_pending, long outbox_dead);

/* Fills *body with the JSON document /healthz serves; returns 1 when healthy,
 * 0 when not (some source stale). */
int health_json(gg_health *h, time_t now, json_t **body);
/* 1 once a cycle completed. */
int health_ready(gg_health *h);

#endif
