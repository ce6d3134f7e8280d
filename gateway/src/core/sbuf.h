/* sbuf.h - a small growable string buffer for texts built piece by piece
 * (alert texts, masked copies, metrics). On allocation failure `oom` is set and
 * further appends are ignored; the owner checks once at the end (sb_take):
 * texts can be big (an alert's evidence), so the caller recovers. */
#ifndef GG_SBUF_H
#define GG_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *s;          /* owned; NUL-terminated when non-NULL */
    size_t len, cap;
    int oom;
} sbuf;

/* Makes room for `extra` more bytes and the NUL after them (b->oom set when
 * it cannot): for writers that put text at b->s + b->len themselves. */
void sb_reserve(sbuf *b, size_t extra);
void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the text to the caller (malloc'd, "" when nothing was put) or NULL on
 * OOM; the buffer is spent either way. */
char *sb_take(sbuf *b);

#endif
