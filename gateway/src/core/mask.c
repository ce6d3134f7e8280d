/* mask.c - the one masker: every text that leaves the process (logs, errors,
 * CLI listings, `adapter test`, alert explanations and exports) shows id
 * numbers and names only in these forms (see mask.h). */
#include "core/mask.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sbuf.h"
#include "core/utf8.h"

#define IDENT_LEN 18

/* ---- single values -------------------------------------------------------- */

/* Writes `count` '*' into out (truncated to outsz - 1) and terminates it. */
static void fill_stars(char *out, size_t outsz, size_t count) {
    if (outsz == 0) return;
    if (count > outsz - 1) count = outsz - 1;
    memset(out, '*', count);
    out[count] = '\0';
}

void ident_mask(const char *id, char *out, size_t outsz) {
    if (out == NULL || outsz == 0) return;
    if (id == NULL) {
        out[0] = '\0';
        return;
    }
    size_t len = strlen(id);
    int shaped = (len == IDENT_LEN);
    for (size_t i = 0; shaped && i < len; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || c == 'X' || c == 'x')) shaped = 0;
    }
    if (!shaped || outsz < IDENT_LEN + 1) { /* never show part of an odd value */
        fill_stars(out, outsz, utf8_count_chars(id));
        return;
    }
    memcpy(out, id, 4);
    memset(out + 4, '*', IDENT_LEN - 8);
    memcpy(out + IDENT_LEN - 4, id + IDENT_LEN - 4, 4);
    out[IDENT_LEN] = '\0';
}

void name_mask(const char *name, char *out, size_t outsz) {
    if (out == NULL || outsz == 0) return;
    if (name == NULL) {
        out[0] = '\0';
        return;
    }
    size_t len = strlen(name);
    if (!utf8_valid(name, len)) {
        fill_stars(out, outsz, len);
        return;
    }
    size_t chars = utf8_count_chars(name);
    if (chars <= 1) {
        fill_stars(out, outsz, chars);
        return;
    }
    uint32_t cp;
    size_t first = utf8_decode((const unsigned char *)name, len, &cp);
    if (first + 1 > outsz - 1) { /* the first character does not fit: stars only */
        fill_stars(out, outsz, chars);
        return;
    }
    memcpy(out, name, first);
    size_t stars = chars - 1;
    if (stars > outsz - 1 - first) stars = outsz - 1 - first;
    memset(out + first, '*', stars);
    out[first + stars] = '\0';
}

/* ---- free text ------------------------------------------------------------ */

/* Where masked text goes: a growable buffer, or a fixed one (cut when full). */
typedef struct mask_out {
    sbuf *b;
    char *buf;
    size_t cap, len;
    int cut;          /* fixed buffer: something did not fit */
} mask_out;

static void out_putn(mask_out *o, const char *s, size_t n) {
    if (o->b) {
        sb_putn(o->b, s, n);
        return;
    }
    if (o->cap == 0) return;
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        o->cut = 1;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Length of an id character at s[0..n) (ASCII digit or X/x: 1, full-width
 * digit or X/x: 3), 0 when s does not start with one. Its ASCII form goes to
 * *c ('0'-'9' or 'X'). */
static size_t id_char_at(const unsigned char *s, size_t n, char *c) {
    if (n >= 1 && s[0] >= '0' && s[0] <= '9') {
        *c = (char)s[0];
        return 1;
    }
    if (n >= 1 && (s[0] == 'X' || s[0] == 'x')) {
        *c = 'X';
        return 1;
    }
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) { /* ０-９ */
        *c = (char)('0' + (s[2] - 0x90));
        return 3;
    }
    if (n >= 3 && ((s[0] == 0xEF && s[1] == 0xBC && s[2] == 0xB8) ||  /* Ｘ */
                   (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0x98))) { /* ｘ */
        *c = 'X';
        return 3;
    }
    return 0;
}

/* Separators an id may carry inside it: space or hyphen, ASCII or full-width
 * (U+3000, U+FF0D), and control characters (an id split over two forged
 * lines is one id); 0 when s does not start with one. */
static size_t id_sep_at(const unsigned char *s, size_t n) {
    if (n >= 1 && (s[0] == ' ' || s[0] == '-' || s[0] < 0x20 || s[0] == 0x7f)) return 1;
    if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8D) return 3;
    return 0;
}

/* Escapes a control character (newline, ESC...) as \n, \r or \xNN. */
static void put_escaped(mask_out *o, unsigned char c) {
    char e[8];
    if (c == '\n') snprintf(e, sizeof e, "\\n");
    else if (c == '\r') snprintf(e, sizeof e, "\\r");
    else snprintf(e, sizeof e, "\\x%02x", c);
    out_putn(o, e, strlen(e));
}

/* Copies s[0..n) escaping control characters when flags say so. */
static void put_text(mask_out *o, const unsigned char *s, size_t n, int flags) {
    size_t from = 0;
    for (size_t i = 0; i < n && (flags & MASK_ESCAPE); i++)
        if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
            out_putn(o, (const char *)s + from, i - from);
            put_escaped(o, s[i]);
            from = i + 1;
        }
    out_putn(o, (const char *)s + from, n - from);
}

static void mask_into(mask_out *o, const char *in, size_t n, int flags) {
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        char c;
        size_t cl = id_char_at(s + i, n - i, &c);
        if (cl == 0 || c == 'X') { /* a run starts with a digit */
            size_t l = cl ? cl : 1;
            put_text(o, s + i, l, flags);
            i += l;
            continue;
        }
        /* The run: id characters with at most two separators between two of
         * them; first four and last four characters kept in ASCII form. */
        char head[4], tail[4];
        size_t nid = 0, j = i, end = i;
        while (j < n) {
            size_t l = id_char_at(s + j, n - j, &c);
            if (l) {
                if (nid < 4) head[nid] = c;
                tail[nid % 4] = c;
                nid++;
                j += l;
                end = j;
                continue;
            }
            size_t k = j, nsep = 0, sl;
            while (nsep < 2 && (sl = id_sep_at(s + k, n - k)) != 0) k += sl, nsep++;
            if (nsep == 0 || id_char_at(s + k, n - k, &c) == 0) break;
            j = k;
        }
        if (nid >= MASK_MIN_RUN) {
            out_putn(o, head, 4);
            for (size_t k = 8; k < nid; k++) out_putn(o, "*", 1);
            for (size_t k = 0; k < 4; k++) out_putn(o, &tail[(nid + k) % 4], 1);
        } else {
            put_text(o, s + i, end - i, flags);
        }
        i = end;
    }
}

char *mask_text(const char *in, int flags) {
    if (!in) return NULL;
    sbuf b = {0};
    mask_out o = {.b = &b};
    mask_into(&o, in, strlen(in), flags);
    return sb_take(&b);
}

void mask_text_buf(const char *in, int flags, char *out, size_t outsz) {
    mask_text_nbuf(in, in ? strlen(in) : 0, flags, out, outsz);
}

int mask_text_nbuf(const char *in, size_t len, int flags, char *out, size_t outsz) {
    if (!out || outsz == 0) return len > 0;
    out[0] = '\0';
    if (!in) return 0;
    mask_out o = {.buf = out, .cap = outsz};
    mask_into(&o, in, len, flags);
    return o.cut;
}

/* Masks a subject key: ids and the name part of "person:~<name>|<birth>". */
char *mask_subject(const char *subject) {
    if (!subject) return NULL;
    sbuf b = {0};
    const char *p = subject;
    const char *tilde;
    while ((tilde = strstr(p, "person:~")) != NULL) {
        tilde += strlen("person:~");
        sb_putn(&b, p, (size_t)(tilde - p));
        const char *bar = strchr(tilde, '|');
        size_t nlen = bar ? (size_t)(bar - tilde) : strlen(tilde);
        char name[256], masked[512];
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, tilde, nlen);
        name[nlen] = '\0';
        name_mask(name, masked, sizeof masked);
        sb_puts(&b, masked);
        p = bar ? bar : tilde + strlen(tilde);
    }
    sb_puts(&b, p);
    char *half = sb_take(&b);
    if (!half) return NULL;
    char *out = mask_text(half, 0);
    free(half);
    return out;
}
