/* test_schedule.c - per-source schedules in local time (TZ=Asia/Shanghai):
 * durations, windows (also across midnight), cron (lists, ranges, steps,
 * names, day-of-month/day-of-week), backoff with full jitter, the matching
 * debounce, and the [source] schedule.* keys through the real config loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/config.h"
#include "daemon/schedule.h"

/* Local time (Asia/Shanghai) to time_t. */
static time_t at(int y, int mo, int d, int h, int mi) {
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_isdst = -1};
    return mktime(&tm);
}

static int setup(void **state) {
    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    return 0;
}

static void test_durations(void **state) {
    (void)state;
    long v;
    assert_int_equal(schedule_parse_duration("15m", &v), 0);
    assert_int_equal(v, 900);
    assert_int_equal(schedule_parse_duration("90", &v), 0);
    assert_int_equal(v, 90);
    assert_int_equal(schedule_parse_duration("2h", &v), 0);
    assert_int_equal(v, 7200);
    assert_int_equal(schedule_parse_duration("1d", &v), 0);
    assert_int_equal(v, 86400);
    assert_int_equal(schedule_parse_duration("0s", &v), -1);
    assert_int_equal(schedule_parse_duration("-5m", &v), -1);
    assert_int_equal(schedule_parse_duration("5w", &v), -1);
    assert_int_equal(schedule_parse_duration("m", &v), -1);
    assert_int_equal(schedule_parse_duration("400d", &v), -1);
}

static void test_interval_and_windows(void **state) {
    (void)state;
    gg_schedule s;
    memset(&s, 0, sizeof s);
    char err[200];
    unsigned seed = 1;
    s.interval = 900;
    /* never pulled: due now; then every interval */
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 1, 10, 0), 0, 0, &seed), at(2026, 3, 1, 10, 0));
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 1, 10, 1), at(2026, 3, 1, 10, 0), 0, &seed),
                     at(2026, 3, 1, 10, 15));
    /* no schedule: the default interval */
    assert_int_equal(schedule_next(NULL, 300, at(2026, 3, 1, 10, 1), at(2026, 3, 1, 10, 0), 0, &seed),
                     at(2026, 3, 1, 10, 5));
    /* a late loop never schedules in the past */
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 1, 11, 0), at(2026, 3, 1, 10, 0), 0, &seed),
                     at(2026, 3, 1, 11, 0));

    assert_int_equal(schedule_parse_windows(&s, "01:00-05:00", err, sizeof err), 0);
    /* 10:00 is outside: the next start is 01:00 tomorrow (local) */
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 1, 10, 0), 0, 0, &seed), at(2026, 3, 2, 1, 0));
    /* inside: every 15 minutes, until the window closes */
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 2, 1, 20), at(2026, 3, 2, 1, 15), 0, &seed),
                     at(2026, 3, 2, 1, 30));
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 2, 4, 50), at(2026, 3, 2, 4, 50), 0, &seed),
                     at(2026, 3, 3, 1, 0));
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 2, 5, 0)), 0);
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 2, 4, 59)), 1);

    /* several windows, one crossing midnight */
    assert_int_equal(schedule_parse_windows(&s, "23:00-02:00, 12:00-12:30", err, sizeof err), 0);
    assert_int_equal(s.nwindows, 2);
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 2, 23, 30)), 1);
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 3, 1, 59)), 1);
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 3, 2, 0)), 0);
    assert_int_equal(schedule_in_window(&s, at(2026, 3, 3, 12, 10)), 1);
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 3, 2, 5), at(2026, 3, 3, 1, 50), 0, &seed),
                     at(2026, 3, 3, 12, 0));
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 3, 12, 40), at(2026, 3, 3, 12, 25), 0, &seed),
                     at(2026, 3, 3, 23, 0));
    /* month end */
    assert_int_equal(schedule_next(&s, 300, at(2026, 2, 28, 13, 0), at(2026, 2, 28, 12, 20), 0, &seed),
                     at(2026, 2, 28, 23, 0));

    assert_int_equal(schedule_parse_windows(&s, "1:00-5", err, sizeof err), -1);
    assert_non_null(strstr(err, "1:00-5"));
    assert_int_equal(schedule_parse_windows(&s, "25:00-26:00", err, sizeof err), -1);
    assert_int_equal(schedule_parse_windows(&s, "03:00-03:00", err, sizeof err), -1);
    assert_int_equal(schedule_parse_windows(&s, "01:00-02:00,", err, sizeof err), -1);
}

static void test_cron(void **state) {
    (void)state;
    gg_schedule s;
    memset(&s, 0, sizeof s);
    char err[200];
    unsigned seed = 1;
    assert_int_equal(schedule_parse_cron(&s, "0 2 * * *", err, sizeof err), 0);
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 1, 10, 0)), at(2026, 3, 2, 2, 0));
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 2, 1, 59)), at(2026, 3, 2, 2, 0));
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 2, 2, 0)), at(2026, 3, 3, 2, 0));
    /* local time, not UTC: 02:00 Shanghai is 18:00 UTC the day before */
    time_t t = schedule_cron_next(&s, at(2026, 3, 1, 10, 0));
    struct tm u;
    gmtime_r(&t, &u);
    assert_int_equal(u.tm_hour, 18);
    /* the daemon's first run waits for the cron time; after a run, the next one */
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 1, 10, 0), 0, 0, &seed), at(2026, 3, 2, 2, 0));
    assert_int_equal(schedule_next(&s, 300, at(2026, 3, 2, 2, 3), at(2026, 3, 2, 2, 0), 0, &seed),
                     at(2026, 3, 3, 2, 0));

    /* steps, ranges, lists */
    assert_int_equal(schedule_parse_cron(&s, "*/15 9-17 * * mon-fri", err, sizeof err), 0);
    /* 2026-03-07 is a Saturday: the next is Monday 09:00 */
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 6, 17, 50)), at(2026, 3, 9, 9, 0));
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 9, 9, 0)), at(2026, 3, 9, 9, 15));
    assert_int_equal(schedule_parse_cron(&s, "5,35 1-3/2 * * *", err, sizeof err), 0);
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 1, 1, 35)), at(2026, 3, 1, 3, 5));
    /* day of month and month names; Feb 29 only in leap years */
    assert_int_equal(schedule_parse_cron(&s, "30 4 29 feb *", err, sizeof err), 0);
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 1, 0, 0)), at(2028, 2, 29, 4, 30));
    /* both day fields restricted: either matches; 7 is Sunday */
    assert_int_equal(schedule_parse_cron(&s, "0 0 1 * 7", err, sizeof err), 0);
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 2, 0, 0)), at(2026, 3, 8, 0, 0)); /* Sunday */
    assert_int_equal(schedule_cron_next(&s, at(2026, 3, 29, 0, 0)), at(2026, 4, 1, 0, 0)); /* the 1st */

    assert_int_equal(schedule_parse_cron(&s, "0 2 * *", err, sizeof err), -1);
    assert_non_null(strstr(err, "5 fields"));
    assert_int_equal(schedule_parse_cron(&s, "60 2 * * *", err, sizeof err), -1);
    assert_non_null(strstr(err, "minute"));
    assert_int_equal(schedule_parse_cron(&s, "0 2 * foo *", err, sizeof err), -1);
    assert_non_null(strstr(err, "month"));
    assert_int_equal(schedule_parse_cron(&s, "0 */0 * * *", err, sizeof err), -1);
    assert_int_equal(schedule_parse_cron(&s, "0 5-2 * * *", err, sizeof err), -1);
    assert_int_equal(schedule_parse_cron(&s, "0 2 * * * *", err, sizeof err), -1);
}

static void test_backoff(void **state) {
    (void)state;
    gg_schedule s;
    memset(&s, 0, sizeof s);
    s.interval = 900;
    s.backoff = 10;
    s.backoff_max = 300;
    assert_int_equal(schedule_backoff_cap(&s, 1), 10);
    assert_int_equal(schedule_backoff_cap(&s, 2), 20);
    assert_int_equal(schedule_backoff_cap(&s, 5), 160);
    assert_int_equal(schedule_backoff_cap(&s, 6), 300);
    assert_int_equal(schedule_backoff_cap(&s, 60), 300);
    assert_int_equal(schedule_backoff_cap(NULL, 1), 30);
    assert_int_equal(schedule_backoff_cap(NULL, 99), 3600);
    /* full jitter on top of the interval: every extra delay in [1, cap],
     * spread over the range; never sooner than the interval */
    unsigned seed = 42;
    time_t now = at(2026, 3, 1, 10, 0);
    long lo = 1L << 30, hi = 0;
    for (int i = 0; i < 2000; i++) {
        long d = (long)(schedule_next(&s, 300, now, now - 60, 8, &seed) - now) - 900;
        assert_true(d >= 1 && d <= 300);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
    }
    assert_true(lo < 30 && hi > 270);
    /* retries stay inside the windows */
    char err[100];
    assert_int_equal(schedule_parse_windows(&s, "01:00-05:00", err, sizeof err), 0);
    for (int i = 0; i < 200; i++) {
        time_t n = schedule_next(&s, 300, at(2026, 3, 2, 4, 58), at(2026, 3, 2, 4, 50), 6, &seed);
        assert_true(schedule_in_window(&s, n));
        assert_true(n >= at(2026, 3, 2, 4, 58));
    }
    /* cron: a retry never comes later than the next cron time */
    memset(&s, 0, sizeof s);
    s.backoff_max = 86400;
    s.backoff = 86400;
    assert_int_equal(schedule_parse_cron(&s, "0 * * * *", err, sizeof err), 0);
    for (int i = 0; i < 50; i++)
        assert_true(schedule_next(&s, 300, at(2026, 3, 2, 4, 10), 0, 3, &seed) <= at(2026, 3, 2, 5, 0));
}

static void test_debounce(void **state) {
    (void)state;
    assert_int_equal(schedule_match_due(0, 0, 30, 300), 0);
    assert_int_equal(schedule_match_due(1000, 1000, 30, 300), 1030);
    assert_int_equal(schedule_match_due(1000, 1020, 30, 300), 1050);
    assert_int_equal(schedule_match_due(1000, 1290, 30, 300), 1300); /* max_wait caps it */
}

/* The schedule.* keys through the configuration loader, errors with file:line. */
static void test_config_keys(void **state) {
    (void)state;
    char dir[] = "/tmp/gg-sched-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], ad[256], err[1024];
    snprintf(path, sizeof path, "%s/g.ini", dir);
    snprintf(ad, sizeof ad, "%s/a.lua", dir);
    FILE *f = fopen(ad, "w");
    fputs("return {}\n", f);
    fclose(f);
    f = fopen(path, "w");
    fputs("[gridgate]\nstate = s.db\nlog_format = json\nshutdown_timeout = 5\n"
          "[source hr]\nadapter = a.lua\nschedule.interval = 15m\nschedule.window = 01:00-05:00, 23:00-00:30\nencoding = GBK\n"
          "[source civil]\nadapter = a.lua\nschedule.cron = \"0 2 * * *\"\nschedule.backoff_max = 2h\n",
          f);
    fclose(f);
    gg_config *c = config_load(path, err, sizeof err);
    if (!c) fail_msg("%s", err);
    assert_string_equal(c->log_format, "json");
    assert_int_equal(c->shutdown_timeout, 5);
    const gg_source_conf *hr = config_source(c, "hr"), *civil = config_source(c, "civil");
    assert_non_null(hr->schedule);
    assert_int_equal(hr->schedule->interval, 900);
    assert_int_equal(hr->schedule->nwindows, 2);
    assert_int_equal(hr->schedule->windows[1].end, 30);
    assert_true(civil->schedule->has_cron);
    assert_int_equal(civil->schedule->backoff_max, 7200);
    config_free(c);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"[source hr]\nadapter = a.lua\nschedule.interval = 15x\n", "g.ini:3: key schedule.interval"},
        {"[source hr]\nadapter = a.lua\nschedule.window = 1-5\n", "g.ini:3: key schedule.window"},
        {"[source hr]\nadapter = a.lua\n\nschedule.cron = 0 2 * *\n", "g.ini:4: key schedule.cron"},
        {"[source hr]\nadapter = a.lua\nschedule.interval = 1h\nschedule.cron = 0 2 * * *\n",
         "g.ini:4: schedule.cron cannot be combined"},
        {"[source hr]\nadapter = a.lua\nschedule.every = 1h\n", "g.ini:3: unknown key 'schedule.every'"},
        {"[gridgate]\nlog_format = xml\n", "g.ini:2: key log_format"},
        {"[gridgate]\nshutdown_timeout = 0\n", "g.ini:2: key shutdown_timeout"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen(path, "w");
        fputs(bad[i].text, f);
        fclose(f);
        c = config_load(path, err, sizeof err);
        assert_null(c);
        if (!strstr(err, bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].want);
    }
    unlink(path);
    unlink(ad);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),   cmocka_unit_test(test_interval_and_windows),
        cmocka_unit_test(test_cron),        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_debounce),    cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
