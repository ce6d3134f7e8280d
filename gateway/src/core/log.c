/* log.c - leveled logging to stderr with ISO timestamps. */
#include "core/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The one piece of process-wide logging state: the threshold, set at startup. */
static gg_log_level log_threshold = GG_LOG_INFO;

/* A worker process sends its lines to the daemon instead (set in the child only). */
static gg_log_sink log_sink;
static void *log_sink_ud;

void gg_log_set_level(gg_log_level level) { log_threshold = level; }
void gg_log_set_sink(gg_log_sink fn, void *ud) {
    log_sink = fn;
    log_sink_ud = ud;
}
gg_log_level gg_log_get_level(void) { return log_threshold; }

int gg_log_parse_level(const char *s, gg_log_level *out) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (gg_log_level)i;
            return 0;
        }
    return -1;
}

/* A safety net under the rule that callers mask personal data: any run of 15
 * to 18 id characters (digits, with a trailing X) that reaches a log line, for
 * example quoted back in a database's error message, keeps only its first 4
 * and last 4 characters. */
static void mask_id_runs(char *msg) {
    for (char *p = msg; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        char *q = p;
        while (isdigit((unsigned char)*q)) q++;
        if (*q == 'X' || *q == 'x') q++;
        size_t n = (size_t)(q - p);
        if (n >= 15 && n <= 18)
            for (size_t i = 4; i + 4 < n; i++) p[i] = '*';
        p = q;
    }
}

void gg_log(gg_log_level level, const char *component, const char *fmt, ...) {
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if (level < log_threshold) return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mask_id_runs(msg);
    if (log_sink) {
        log_sink(log_sink_ud, level, component ? component : "gridgate", msg);
        return;
    }
    fprintf(stderr, "%s [%s] %s: %s\n", ts, tags[level], component ? component : "gridgate", msg);
}
