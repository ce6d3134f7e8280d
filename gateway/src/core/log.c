/* log.c - leveled logging to stderr with ISO timestamps. */
#include "core/log.h"
#include "core/mask.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The one piece of process-wide logging state: the threshold, set at startup. */
static gg_log_level log_threshold = GG_LOG_INFO;

void gg_log_set_level(gg_log_level level) { log_threshold = level; }
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
    /* A safety net under the rule that callers mask personal data: id runs
     * (quoted back in a database error, say) and control characters (a
     * message cannot forge a line) go through the one masker. */
    char masked[2048];
    mask_text_buf(msg, MASK_ESCAPE, masked, sizeof masked);
    fprintf(stderr, "%s [%s] %s: %s\n", ts, tags[level], component ? component : "gridgate", masked);
}
