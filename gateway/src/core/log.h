/* log.h - leveled, component-tagged logging to stderr or a file.
 *
 * Log lines never carry a raw id number or name: callers mask them first with
 * ident_mask()/name_mask() (core/mask.h); gg_log and gg_log_kv pass every
 * message and value through mask_text() as a safety net (id runs masked;
 * control characters escaped in text lines, JSON-escaped in JSON lines).
 * The level, format and output are process-wide, set at startup (and on
 * reload) by the CLI's main thread.
 *
 * Text (default):  2026-01-02T03:04:05Z [info] hr: message key=value
 * JSON lines:      {"ts":"2026-01-02T03:04:05Z","level":"info","component":"hr","msg":"message","key":"value"} */
#ifndef GG_LOG_H
#define GG_LOG_H

#include <stddef.h>

typedef enum { GG_LOG_DEBUG = 0, GG_LOG_INFO, GG_LOG_WARN, GG_LOG_ERROR } gg_log_level;

void gg_log_set_level(gg_log_level level);
int gg_log_parse_level(const char *s, gg_log_level *out); /* 0 ok, -1 unknown */
gg_log_level gg_log_get_level(void);
/* The command line's level (-v, -q): set, and kept over the configuration's
 * log_level (gg_log_level_pinned tells the configuration to leave it). */
void gg_log_pin_level(gg_log_level level);
int gg_log_level_pinned(void);

typedef enum { GG_LOG_TEXT = 0, GG_LOG_JSON } gg_log_format;
void gg_log_set_format(gg_log_format f);
gg_log_format gg_log_get_format(void);
int gg_log_parse_format(const char *s, gg_log_format *out); /* "text" or "json"; 0 ok, -1 unknown */
/* Writes to PATH from now on (appended; created mode 0600), or back to stderr
 * when path is NULL. 0 ok, -1 with err (the output is unchanged). */
int gg_log_set_file(const char *path, char *err, size_t errsz);
const char *gg_log_file(void); /* the file logged to, or NULL for stderr */
/* Reopens the log file by name (after logrotate renamed it). 0 ok or nothing
 * to do; -1 with err, and the old file stays in use. */
int gg_log_reopen(char *err, size_t errsz);
/* Replaces stderr by fn (NULL: back to stderr); lines arrive filtered by level
 * and masked. A worker process uses it to send its lines to the daemon. */
typedef void (*gg_log_sink)(void *ud, gg_log_level level, const char *component, const char *msg);
void gg_log_set_sink(gg_log_sink fn, void *ud);

/* component: short tag such as "source hr", "rules", "state". */
void gg_log(gg_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like gg_log with structured fields: kv is a NULL-terminated list of key,
 * value pairs (at most 16 are kept), written as JSON members or key=value. */
void gg_log_kv(gg_log_level level, const char *component, const char *const *kv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define gg_debug(c, ...) gg_log(GG_LOG_DEBUG, c, __VA_ARGS__)
#define gg_info(c, ...) gg_log(GG_LOG_INFO, c, __VA_ARGS__)
#define gg_warn(c, ...) gg_log(GG_LOG_WARN, c, __VA_ARGS__)
#define gg_error(c, ...) gg_log(GG_LOG_ERROR, c, __VA_ARGS__)

#endif
