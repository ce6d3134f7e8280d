/* log.h - leveled, component-tagged logging to stderr.
 *
 * Log lines never carry a raw id number or name: callers mask them first with
 * ident_mask()/name_mask() (ident.h). The level is part of the process context,
 * set once at startup by the CLI. */
#ifndef GG_LOG_H
#define GG_LOG_H

typedef enum { GG_LOG_DEBUG = 0, GG_LOG_INFO, GG_LOG_WARN, GG_LOG_ERROR } gg_log_level;

void gg_log_set_level(gg_log_level level);
int gg_log_parse_level(const char *s, gg_log_level *out); /* 0 ok, -1 unknown */
gg_log_level gg_log_get_level(void);

/* Replaces stderr by fn (NULL: back to stderr); lines arrive filtered by level
 * and masked. A worker process uses it to send its lines to the daemon. */
typedef void (*gg_log_sink)(void *ud, gg_log_level level, const char *component, const char *msg);
void gg_log_set_sink(gg_log_sink fn, void *ud);

/* component: short tag such as "source hr", "rules", "state". */
void gg_log(gg_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gg_debug(c, ...) gg_log(GG_LOG_DEBUG, c, __VA_ARGS__)
#define gg_info(c, ...) gg_log(GG_LOG_INFO, c, __VA_ARGS__)
#define gg_warn(c, ...) gg_log(GG_LOG_WARN, c, __VA_ARGS__)
#define gg_error(c, ...) gg_log(GG_LOG_ERROR, c, __VA_ARGS__)

#endif
