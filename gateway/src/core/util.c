/* util.c - allocation that aborts on out-of-memory, the error formatter and
 * small string helpers (see util.h for the policy). */
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

_Noreturn void gg_oom_at(const char *file, int line, size_t n) {
    /* fprintf may itself need memory; the message is short and stderr is
     * unbuffered, so it usually gets out. */
    fprintf(stderr, "gridgate: out of memory at %s:%d (%zu bytes)\n", file, line, n);
    abort();
}

void *gg_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) gg_oom_at(file, line, n);
    return p;
}

void *gg_xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) gg_oom_at(file, line, n * size);
    return p;
}

void *gg_xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) gg_oom_at(file, line, n);
    return q;
}

char *gg_xstrdup_at(const char *s, const char *file, int line) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) gg_oom_at(file, line, n);
    memcpy(d, s, n);
    return d;
}

int gg_set_err(char *err, size_t errsz, const char *fmt, ...) {
    if (!err || errsz == 0) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

int gg_strcmp0(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : ""); }

int gg_strcaseeq(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

long long gg_now_seconds(void) { return (long long)time(NULL); }

long long gg_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
