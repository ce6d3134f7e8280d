/* schedule.c - per-source schedules: intervals, windows, cron, backoff and
 * the matching debounce (schedule.h). All calendar arithmetic goes through
 * localtime_r/mktime, so daylight saving and TZ are the C library's. */
#include "daemon/schedule.h"

#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int schedule_parse_duration(const char *s, long *secs) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v <= 0) return -1;
    long mul = 1;
    if (*end == 's') mul = 1, end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    else if (*end == 'd') mul = 86400, end++;
    if (*end != '\0' || v > 366L * 86400 / mul) return -1;
    *secs = v * mul;
    return 0;
}

/* "HH:MM" at *p (advanced); minutes since midnight or -1. */
static int parse_hhmm(const char **p) {
    const char *s = *p;
    if (!isdigit((unsigned char)s[0])) return -1;
    int h = 0, n = 0;
    while (isdigit((unsigned char)*s) && n < 2) h = h * 10 + (*s++ - '0'), n++;
    if (*s++ != ':' || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return -1;
    int m = (s[0] - '0') * 10 + (s[1] - '0');
    s += 2;
    if (h > 24 || m > 59 || (h == 24 && m != 0)) return -1;
    *p = s;
    return h * 60 + m;
}

int schedule_parse_windows(gg_schedule *s, const char *v, char *err, size_t errsz) {
    s->nwindows = 0;
    for (const char *p = v;;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *item = p;
        int a = parse_hhmm(&p);
        while (*p == ' ') p++;
        int dash = *p == '-';
        if (dash) p++;
        while (*p == ' ') p++;
        int b = a >= 0 && dash ? parse_hhmm(&p) : -1;
        while (*p == ' ' || *p == '\t') p++;
        if (a < 0 || b < 0 || (*p && *p != ',')) {
            snprintf(err, errsz, "window '%.*s' is not HH:MM-HH:MM", (int)strcspn(item, ","), item);
            return -1;
        }
        if (a == b) {
            snprintf(err, errsz, "window '%.*s' is empty", (int)strcspn(item, ","), item);
            return -1;
        }
        if (s->nwindows == SCHEDULE_MAX_WINDOWS) {
            snprintf(err, errsz, "at most %d windows", SCHEDULE_MAX_WINDOWS);
            return -1;
        }
        s->windows[s->nwindows].start = a % 1440;
        s->windows[s->nwindows].end = b % 1440;
        s->nwindows++;
        if (!*p) return 0;
        p++;
    }
}

/* ------------------------------------------------------------------ cron */

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const DAYS[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* A number or (when names) a three-letter name at *p. -1 when neither. */
static int cron_value(const char **p, const char *const *names, int nnames, int name_base) {
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        int v = 0;
        while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
        *p = s;
        return v;
    }
    for (int i = 0; names && i < nnames; i++)
        if (!strncasecmp(s, names[i], 3) && !isalpha((unsigned char)s[3])) {
            *p = s + 3;
            return i + name_base;
        }
    return -1;
}

/* One field: comma-separated items, each '*', N, N-M, with optional /STEP. */
static int cron_field(const char *f, int lo, int hi, const char *const *names, int nnames, int name_base,
                      uint64_t *bits, int *any) {
    *bits = 0;
    *any = !strcmp(f, "*");
    for (const char *p = f;;) {
        int a, b, step = 1;
        if (*p == '*') {
            a = lo, b = hi;
            p++;
        } else {
            a = cron_value(&p, names, nnames, name_base);
            if (a < 0) return -1;
            b = a;
            if (*p == '-') {
                p++;
                b = cron_value(&p, names, nnames, name_base);
                if (b < 0) return -1;
            }
        }
        if (*p == '/') {
            p++;
            const char *q = p;
            step = cron_value(&p, NULL, 0, 0);
            if (step <= 0 || p == q) return -1;
            if (a == b && f[0] != '*') b = hi; /* "5/15" = from 5 every 15 */
        }
        if (a < lo || b > hi || a > b) return -1;
        for (int v = a; v <= b; v += step) *bits |= 1ULL << v;
        if (!*p) return 0;
        if (*p++ != ',') return -1;
    }
}

int schedule_parse_cron(gg_schedule *s, const char *v, char *err, size_t errsz) {
    static const char *const fname[] = {"minute", "hour", "day of month", "month", "day of week"};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *fields[6], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 5) {
            n++;
            break;
        }
        fields[n++] = t;
    }
    if (n != 5) {
        snprintf(err, errsz, "cron '%s' needs 5 fields (minute hour day-of-month month day-of-week)", v);
        return -1;
    }
    uint64_t b[5];
    int any[5];
    static const int lo[] = {0, 0, 1, 1, 0}, hi[] = {59, 23, 31, 12, 7};
    for (int i = 0; i < 5; i++) {
        const char *const *names = i == 3 ? MONTHS : i == 4 ? DAYS : NULL;
        if (cron_field(fields[i], lo[i], hi[i], names, i == 3 ? 12 : 7, i == 3 ? 1 : 0, &b[i], &any[i])) {
            snprintf(err, errsz, "cron '%s': bad %s field '%s'", v, fname[i], fields[i]);
            return -1;
        }
    }
    if (b[4] & (1ULL << 7)) b[4] = (b[4] | 1) & 0x7f; /* 7 is Sunday too */
    s->has_cron = 1;
    s->cron_min = b[0];
    s->cron_hour = (uint32_t)b[1];
    s->cron_dom = (uint32_t)b[2];
    s->cron_mon = (uint16_t)b[3];
    s->cron_dow = (uint8_t)b[4];
    s->dom_any = any[2];
    s->dow_any = any[4];
    return 0;
}

static int cron_day_ok(const gg_schedule *s, const struct tm *tm) {
    int dom = (s->cron_dom >> tm->tm_mday) & 1, dow = (s->cron_dow >> tm->tm_wday) & 1;
    if (s->dom_any && s->dow_any) return 1;
    if (s->dom_any) return dow;
    if (s->dow_any) return dom;
    return dom || dow; /* both restricted: either matches (as Vixie cron) */
}

time_t schedule_cron_next(const gg_schedule *s, time_t t) {
    struct tm tm;
    time_t c = t - t % 60 + 60; /* the next whole minute (UTC offsets are whole minutes here) */
    localtime_r(&c, &tm);
    tm.tm_sec = 0;
    for (int guard = 0; guard < 100000; guard++) {
        tm.tm_isdst = -1;
        c = mktime(&tm);
        localtime_r(&c, &tm);
        if (tm.tm_year > 1900 + 5000) break;
        if (!((s->cron_mon >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0;
        } else if (!cron_day_ok(s, &tm)) {
            tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0;
        } else if (!((s->cron_hour >> tm.tm_hour) & 1)) {
            tm.tm_hour++, tm.tm_min = 0;
        } else if (!((s->cron_min >> tm.tm_min) & 1)) {
            tm.tm_min++;
        } else {
            if (c > t && c - t <= 5L * 366 * 86400) return c;
            if (c > t) break;
            tm.tm_min++;
        }
    }
    return (time_t)-1;
}

/* ------------------------------------------------------------ windows */

static int tod_in(int tod, int a, int b) { return a < b ? tod >= a && tod < b : tod >= a || tod < b; }

int schedule_in_window(const gg_schedule *s, time_t t) {
    if (!s || s->nwindows == 0) return 1;
    struct tm tm;
    localtime_r(&t, &tm);
    int tod = tm.tm_hour * 60 + tm.tm_min;
    for (int i = 0; i < s->nwindows; i++)
        if (tod_in(tod, s->windows[i].start, s->windows[i].end)) return 1;
    return 0;
}

/* t itself when inside a window, else the earliest window start after t. */
static time_t fit_window(const gg_schedule *s, time_t t) {
    if (schedule_in_window(s, t)) return t;
    time_t best = (time_t)-1;
    struct tm base;
    localtime_r(&t, &base);
    for (int i = 0; i < s->nwindows; i++) {
        for (int d = 0; d < 3; d++) {
            struct tm tm = base;
            tm.tm_mday += d;
            tm.tm_hour = s->windows[i].start / 60;
            tm.tm_min = s->windows[i].start % 60;
            tm.tm_sec = 0;
            tm.tm_isdst = -1;
            time_t c = mktime(&tm);
            if (c > t) {
                if (best == (time_t)-1 || c < best) best = c;
                break;
            }
        }
    }
    return best == (time_t)-1 ? t : best;
}

/* --------------------------------------------------------------- next */

long schedule_backoff_cap(const gg_schedule *s, int failures) {
    long base = s && s->backoff > 0 ? s->backoff : 30, cap = s && s->backoff_max > 0 ? s->backoff_max : 3600;
    if (failures <= 0) return 0;
    long d = base;
    for (int i = 1; i < failures && d < cap; i++) d *= 2;
    return d < cap ? d : cap;
}

time_t schedule_next(const gg_schedule *s, long default_interval, time_t now, time_t last_run, int failures,
                     unsigned *seed) {
    time_t next;
    if (failures > 0) {
        long cap = schedule_backoff_cap(s, failures);
        long delay = 1 + (long)((unsigned long)rand_r(seed) % (unsigned long)cap); /* full jitter, >= 1 s */
        if (s && s->has_cron) {
            time_t c = schedule_cron_next(s, now);
            next = now + delay;
            if (c != (time_t)-1 && c < next) next = c;
            return next;
        }
        /* a failing source is never pulled more often than its interval */
        next = now + (s && s->interval > 0 ? s->interval : default_interval) + delay;
        return s ? fit_window(s, next) : next;
    }
    if (s && s->has_cron) {
        time_t c = schedule_cron_next(s, last_run > now ? last_run : (last_run ? last_run : now));
        if (last_run && c != (time_t)-1 && c < now) c = now; /* a missed cron time runs once, now */
        return c == (time_t)-1 ? now + 86400 : c;
    }
    long iv = s && s->interval > 0 ? s->interval : default_interval;
    next = last_run ? last_run + iv : now;
    if (next < now) next = now;
    return s ? fit_window(s, next) : next;
}

time_t schedule_match_due(time_t first_new, time_t last_new, long quiet, long max_wait) {
    if (!first_new && !last_new) return 0;
    time_t a = last_new + quiet, b = first_new + max_wait;
    return a < b ? a : b;
}

/* ------------------------------------------------------------- config */

int schedule_conf_key(gg_schedule **sp, const char *key, const char *val, char *err, size_t errsz) {
    if (!*sp) *sp = xcalloc(1, sizeof **sp);
    gg_schedule *s = *sp;
    int is_cron = !strcmp(key, "cron"), is_iw = !strcmp(key, "interval") || !strcmp(key, "window");
    if ((is_cron && (s->interval || s->nwindows)) || (is_iw && s->has_cron)) {
        snprintf(err, errsz, "schedule.cron cannot be combined with schedule.interval or schedule.window");
        return -1;
    }
    if (!strcmp(key, "interval") || !strcmp(key, "backoff") || !strcmp(key, "backoff_max")) {
        long v;
        if (schedule_parse_duration(val, &v)) {
            snprintf(err, errsz, "key schedule.%s: '%s' is not a duration (e.g. 90s, 15m, 2h, 1d)", key, val);
            return -1;
        }
        if (!strcmp(key, "interval")) s->interval = v;
        else if (!strcmp(key, "backoff")) s->backoff = v;
        else s->backoff_max = v;
        return 0;
    }
    char e[200];
    if (!strcmp(key, "window")) {
        if (schedule_parse_windows(s, val, e, sizeof e)) {
            snprintf(err, errsz, "key schedule.window: %s", e);
            return -1;
        }
        return 0;
    }
    if (is_cron) {
        char v[256];
        size_t n = strlen(val);
        if (n >= 2 && val[0] == '"' && val[n - 1] == '"') snprintf(v, sizeof v, "%.*s", (int)(n - 2), val + 1);
        else snprintf(v, sizeof v, "%s", val);
        if (schedule_parse_cron(s, v, e, sizeof e)) {
            snprintf(err, errsz, "key schedule.cron: %s", e);
            return -1;
        }
        return 0;
    }
    snprintf(err, errsz, "unknown key 'schedule.%s' (interval, window, cron, backoff, backoff_max)", key);
    return -1;
}

void schedule_free(gg_schedule *s) { free(s); }
