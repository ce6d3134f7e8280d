/* log.c - leveled logging with ISO timestamps, as human text or JSON lines,
 * to stderr or to a file that is reopened on request (logrotate's SIGHUP). */
#include "core/log.h"
#include "core/mask.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The process-wide logging state, set at startup (and on reload) by the run
 * loop's thread only: the threshold, the output format and the output file
 * (log_fd 2 = stderr; log_path is the file to reopen, malloc'd, or NULL). */
static gg_log_level log_threshold = GG_LOG_INFO;
static gg_log_format log_fmt = GG_LOG_TEXT;
static int log_fd = 2;
static char *log_path;

/* A worker process sends its lines to the daemon instead (set in the child only). */
static gg_log_sink log_sink;
static void *log_sink_ud;

static int log_pinned; /* the threshold came from the command line */

void gg_log_set_level(gg_log_level level) { log_threshold = level; }

void gg_log_pin_level(gg_log_level level) {
    log_threshold = level;
    log_pinned = 1;
}

int gg_log_level_pinned(void) { return log_pinned; }
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

/* ---------------------------------------------------------------- output */

void gg_log_set_format(gg_log_format f) { log_fmt = f; }
gg_log_format gg_log_get_format(void) { return log_fmt; }

int gg_log_parse_format(const char *s, gg_log_format *out) {
    if (!strcmp(s, "text")) *out = GG_LOG_TEXT;
    else if (!strcmp(s, "json")) *out = GG_LOG_JSON;
    else return -1;
    return 0;
}

static int open_log_file(const char *path, char *err, size_t errsz) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) snprintf(err, errsz, "log file %s: %s", path, strerror(errno));
    return fd;
}

int gg_log_set_file(const char *path, char *err, size_t errsz) {
    if (!path) {
        if (log_fd != 2) close(log_fd);
        log_fd = 2;
        free(log_path);
        log_path = NULL;
        return 0;
    }
    int fd = open_log_file(path, err, errsz);
    if (fd < 0) return -1;
    char *dup = xstrdup(path);
    if (log_fd != 2) close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = dup;
    return 0;
}

const char *gg_log_file(void) { return log_path; }

int gg_log_reopen(char *err, size_t errsz) {
    if (!log_path) return 0;
    int fd = open_log_file(log_path, err, errsz);
    if (fd < 0) return -1; /* keep writing to the old file */
    if (log_fd != 2) close(log_fd);
    log_fd = fd;
    return 0;
}

/* Line buffer: text is cut, never overflowed; cut lines still end in \n. */
typedef struct line_buf {
    char p[8192];
    size_t n;
} line_buf;

static void lb_put(line_buf *b, const char *s, size_t len) {
    size_t room = sizeof b->p - 2 - b->n; /* keep space for "}\n" */
    if (len > room) len = room;
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void lb_str(line_buf *b, const char *s) { lb_put(b, s, strlen(s)); }

/* A JSON string literal; control characters escaped, UTF-8 passed through. */
static void lb_json(line_buf *b, const char *s) {
    lb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            e[0] = '\\';
            e[1] = (char)*p;
            lb_put(b, e, 2);
        } else if (*p == '\n') {
            lb_put(b, "\\n", 2);
        } else if (*p == '\t') {
            lb_put(b, "\\t", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            lb_put(b, e, 6);
        } else {
            lb_put(b, (const char *)p, 1);
        }
    }
    lb_put(b, "\"", 1);
}

/* One line, one write(2): with O_APPEND, lines from several processes sharing
 * the file do not interleave. kv: NULL-terminated key, value pairs, already
 * masked. */
static void log_emit(gg_log_level level, const char *ts, const char *component, const char *msg,
                     const char *const *kv) {
    static const char *tags[] = {"debug", "info", "warn", "error"};
    line_buf b;
    b.n = 0;
    if (!component) component = "gridgate";
    if (log_sink) { /* a worker: the daemon formats and writes the line */
        log_sink(log_sink_ud, level, component, msg);
        return;
    }
    if (log_fmt == GG_LOG_JSON) {
        lb_str(&b, "{\"ts\":");
        lb_json(&b, ts);
        lb_str(&b, ",\"level\":");
        lb_json(&b, tags[level]);
        lb_str(&b, ",\"component\":");
        lb_json(&b, component);
        lb_str(&b, ",\"msg\":");
        lb_json(&b, msg);
        for (const char *const *p = kv; p && p[0] && p[1]; p += 2) {
            if (!strcmp(p[0], "ts") || !strcmp(p[0], "level") || !strcmp(p[0], "component") || !strcmp(p[0], "msg"))
                continue;
            lb_put(&b, ",", 1);
            lb_json(&b, p[0]);
            lb_put(&b, ":", 1);
            lb_json(&b, p[1]);
        }
        b.p[b.n++] = '}';
    } else {
        lb_str(&b, ts);
        lb_str(&b, " [");
        lb_str(&b, tags[level]);
        lb_str(&b, "] ");
        lb_str(&b, component);
        lb_str(&b, ": ");
        lb_str(&b, msg);
        for (const char *const *p = kv; p && p[0] && p[1]; p += 2) {
            lb_put(&b, " ", 1);
            lb_str(&b, p[0]);
            lb_put(&b, "=", 1);
            lb_str(&b, p[1]);
        }
    }
    b.p[b.n++] = '\n';
    if (log_fd == 2) fflush(stderr);
    for (size_t off = 0; off < b.n;) {
        ssize_t w = write(log_fd, b.p + off, b.n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break; /* nowhere left to report it */
        off += (size_t)w;
    }
}

/* Masking flags for the current format (see gg_log). */
static int log_mask_flags(void) { return log_fmt == GG_LOG_JSON ? 0 : MASK_ESCAPE; }

/* One line: the message formatted and, with the kv values, passed through the
 * masker, then written. A safety net under the rule that callers mask personal
 * data: id runs (quoted back in a database error, say) go through the one
 * masker; in text lines control characters are escaped too (a message cannot
 * forge a line), JSON lines escape them themselves. */
static void log_v(gg_log_level level, const char *component, const char *const *kv, const char *fmt, va_list ap) {
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[2048], masked[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mask_text_buf(msg, log_mask_flags(), masked, sizeof masked);
    char vals[16][256];
    const char *fields[33];
    size_t n = 0;
    for (const char *const *p = kv; p && p[0] && p[1] && n < 16; p += 2, n++) {
        mask_text_buf(p[1], log_mask_flags(), vals[n], sizeof vals[n]);
        fields[2 * n] = p[0];
        fields[2 * n + 1] = vals[n];
    }
    fields[2 * n] = NULL;
    log_emit(level, ts, component, masked, fields);
}

void gg_log(gg_log_level level, const char *component, const char *fmt, ...) {
    if (level < log_threshold) return;
    va_list ap;
    va_start(ap, fmt);
    log_v(level, component, NULL, fmt, ap);
    va_end(ap);
}

void gg_log_kv(gg_log_level level, const char *component, const char *const *kv, const char *fmt, ...) {
    if (level < log_threshold) return;
    va_list ap;
    va_start(ap, fmt);
    log_v(level, component, kv, fmt, ap);
    va_end(ap);
}
