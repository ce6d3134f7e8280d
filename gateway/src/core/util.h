/* util.h - the gateway's one allocation policy and one error convention.
 *
 * Out of memory. gridgate is a daemon whose allocations are small (names,
 * keys, one record, one alert): when one of those fails the process cannot
 * do anything useful, and half-handled failures are where bugs hide. So, as
 * Redis's zmalloc does, small allocations go through xmalloc/xcalloc/
 * xrealloc/xstrdup, which never return NULL: on failure they print
 * "gridgate: out of memory at file:line (N bytes)" to stderr and abort().
 * Plain malloc with a -1 return stays only where a caller genuinely recovers:
 * big buffers whose size a source or an adapter decides (pages, HTTP bodies,
 * JSON trees, per-row arenas charged to an adapter's memory cap), where the
 * failure ends that source's pull with a message and the others go on.
 *
 * Errors. A function that can fail returns 0 on success and -1 on failure and,
 * when the caller passes a buffer (char *err, size_t errsz), fills it with
 * "what: why" (e.g. "open state store /x.db: unable to open database file"),
 * with no raw id number or name in it (see core/mask.h). gg_set_err() formats
 * such a message and returns -1 so `return gg_set_err(err, errsz, ...)` reads
 * as one step; err may be NULL or errsz 0 (nothing is written). */
#ifndef GG_UTIL_H
#define GG_UTIL_H

#include <stddef.h>

#define xmalloc(n) gg_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, size) gg_xcalloc_at((n), (size), __FILE__, __LINE__)
#define xrealloc(p, n) gg_xrealloc_at((p), (n), __FILE__, __LINE__)
/* strdup that never fails; NULL stays NULL. */
#define xstrdup(s) gg_xstrdup_at((s), __FILE__, __LINE__)
/* For code that allocated by other means (a library call returned NULL for
 * want of memory): the same message and abort. */
#define gg_oom() gg_oom_at(__FILE__, __LINE__, 0)

void *gg_xmalloc_at(size_t n, const char *file, int line);
void *gg_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *gg_xrealloc_at(void *p, size_t n, const char *file, int line);
char *gg_xstrdup_at(const char *s, const char *file, int line);
_Noreturn void gg_oom_at(const char *file, int line, size_t n);

/* Formats the message into err (when err and errsz); returns -1. */
int gg_set_err(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* strcmp with NULL taken as "". */
int gg_strcmp0(const char *a, const char *b);
/* ASCII case-insensitive equality; NULL equals nothing. */
int gg_strcaseeq(const char *a, const char *b);
/* The wall clock in whole seconds since the epoch. */
long long gg_now_seconds(void);
/* A monotonic clock in milliseconds (for durations, never for dates). */
long long gg_mono_ms(void);

#endif
