/* schedule.h - when each source is pulled: an interval, optional allowed
 * windows of the day, or a 5-field cron expression, in local time; capped
 * exponential backoff with full jitter for a source that keeps failing; a
 * debounce for matching after new facts.
 *
 * Configuration, in [source NAME] (config.c hands every schedule.* key to
 * schedule_conf_key):
 *   schedule.interval    = 15m           s, m, h or d (plain number: seconds)
 *   schedule.window      = 01:00-05:00, 22:00-23:30   pulls only start inside one
 *                                         (a window may cross midnight: 23:00-02:00)
 *   schedule.cron        = 0 2 * * *     minute hour day-of-month month day-of-week;
 *                                         lists, ranges, steps, jan..dec, sun..sat;
 *                                         not combined with interval or window
 *   schedule.backoff     = 30s           extra delay after a first failure (default 30s)
 *   schedule.backoff_max = 1h            cap of the extra delay (default 1h)
 *
 * Ownership: a gg_schedule belongs to its gg_source_conf and is freed with
 * schedule_free. The functions keep no state; the caller passes the random
 * seed used for jitter. */
#ifndef GG_SCHEDULE_H
#define GG_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SCHEDULE_MAX_WINDOWS 8

typedef struct gg_schedule {
    long interval;      /* seconds; 0 = the run loop's default */
    int nwindows;
    struct {
        int start, end; /* minutes since local midnight; end < start crosses midnight */
    } windows[SCHEDULE_MAX_WINDOWS];
    int has_cron;
    uint64_t cron_min;  /* bit per allowed value */
    uint32_t cron_hour, cron_dom;
    uint16_t cron_mon;  /* bits 1..12 */
    uint8_t cron_dow;   /* bits 0..6, Sunday 0 */
    int dom_any, dow_any; /* the field was '*' */
    long backoff, backoff_max; /* seconds */
} gg_schedule;

/* Parses "90", "90s", "15m", "2h", "1d" into seconds (1 s .. 366 d). 0 ok, -1 bad. */
int schedule_parse_duration(const char *s, long *secs);
/* "01:00-05:00, 22:00-02:00" into s->windows. 0 ok, -1 with err. */
int schedule_parse_windows(gg_schedule *s, const char *v, char *err, size_t errsz);
/* "0 2 * * *" into the cron fields. 0 ok, -1 with err naming the field. */
int schedule_parse_cron(gg_schedule *s, const char *v, char *err, size_t errsz);

/* One schedule.* key of a [source] section; key is the part after
 * "schedule.". Allocates *sp on first use. 0 ok, -1 with err. */
int schedule_conf_key(gg_schedule **sp, const char *key, const char *val, char *err, size_t errsz);
void schedule_free(gg_schedule *s);

/* When the source should next be pulled, computed in local time (TZ).
 *   s:         the source's schedule, or NULL (every default_interval seconds)
 *   now:       the current time
 *   last_run:  when the last pull started (0: never pulled - due now, or at
 *              the next window start / cron time)
 *   failures:  consecutive failed pulls up to now; when > 0 the next try
 *              is never sooner than the interval: now + interval + a random
 *              delay in [1, min(backoff_max, backoff * 2^(failures-1))] (full
 *              jitter), still only inside a window. For cron: now + that
 *              random delay, never later than the next cron time
 *   seed:      state of the jitter's random numbers (rand_r)
 * The result is never before now. */
time_t schedule_next(const gg_schedule *s, long default_interval, time_t now, time_t last_run, int failures,
                     unsigned *seed);
/* The backoff cap for a failure count, without jitter (for health reports). */
long schedule_backoff_cap(const gg_schedule *s, int failures);
/* Whether t is inside an allowed window (always, when there are none). */
int schedule_in_window(const gg_schedule *s, time_t t);
/* The first cron time strictly after t; (time_t)-1 when none within 5 years. */
time_t schedule_cron_next(const gg_schedule *s, time_t t);

/* Debounce for matching after new facts: new facts first arrived at first_new
 * and last at last_new (0: none pending). Matching runs once quiet seconds
 * passed with no new facts, and at the latest max_wait seconds after the
 * first. Returns when to match, or 0 when nothing is pending. */
time_t schedule_match_due(time_t first_new, time_t last_new, long quiet, long max_wait);

#endif
