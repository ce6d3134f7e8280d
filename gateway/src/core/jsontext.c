/* jsontext.c - JSON strings written, and flat JSON objects checked, exactly
 * as jansson writes them (jsontext.h). */
#include "core/jsontext.h"

#include <string.h>

#include "core/utf8.h"

int jt_sb_string(sbuf *b, const char *s) {
    size_t n = jt_string_len(s);
    if (n == 0) return -1;
    sb_reserve(b, n);
    if (b->oom) return 0;
    char *end = jt_string_put(b->s + b->len, s);
    b->len = (size_t)(end - b->s);
    b->s[b->len] = '\0';
    return 0;
}

/* ---- the canonical flat object -------------------------------------------- */

static int is_upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }
static int hex_val(char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

/* p at a '"': the end of the string (after its closing quote) when it is one
 * jt_string_put would write, else NULL. */
static const char *canonical_string(const char *p) {
    const char *run = ++p;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return utf8_valid(run, (size_t)(p - run)) ? p + 1 : NULL;
        if (c < 0x20) return NULL; /* the end of the text, or a raw control character */
        if (c != '\\') {
            p++;
            continue;
        }
        if (!utf8_valid(run, (size_t)(p - run))) return NULL;
        switch (p[1]) {
        case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't': p += 2; break;
        case 'u': {
            if (p[2] != '0' || p[3] != '0' || !is_upper_hex(p[4]) || !is_upper_hex(p[5])) return NULL;
            int v = hex_val(p[4]) * 16 + hex_val(p[5]);
            /* only what has no shorter escape: U+0000 is refused by jansson */
            if (v == 0 || v >= 0x20 || v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r') return NULL;
            p += 6;
            break;
        }
        default: return NULL; /* "\/" and other escapes jansson writes otherwise */
        }
        run = p;
    }
}

/* p at a value: its end when it is canonical, else NULL. */
static const char *canonical_value(const char *p) {
    if (*p == '"') return canonical_string(p);
    if (!strncmp(p, "null", 4)) return p + 4;
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    const char *q = p;
    if (*q == '-') q++;
    if (*q < '0' || *q > '9') return NULL;
    if (*q == '0') /* "0" alone; "-0" is written "0", "01" is not JSON */
        return q == p && (q[1] < '0' || q[1] > '9') ? q + 1 : NULL;
    const char *d = q;
    while (*q >= '0' && *q <= '9') q++;
    return q - d <= 18 ? q : NULL; /* longer may not fit jansson's integer */
}

int jt_flat_object_canonical(const char *s) {
    enum { MAX_KEYS = 64 }; /* more: left to jansson */
    const char *key[MAX_KEYS];
    size_t keylen[MAX_KEYS], nkeys = 0;
    if (!s || *s != '{') return 0;
    const char *p = s + 1;
    if (*p == '}') return p[1] == '\0';
    for (;;) {
        if (*p != '"' || nkeys == MAX_KEYS) return 0;
        const char *k = p;
        if (!(p = canonical_string(p))) return 0;
        size_t kl = (size_t)(p - k);
        for (size_t i = 0; i < nkeys; i++)
            if (keylen[i] == kl && !memcmp(key[i], k, kl)) return 0; /* jansson keeps one */
        key[nkeys] = k;
        keylen[nkeys++] = kl;
        if (*p++ != ':') return 0;
        if (!(p = canonical_value(p))) return 0;
        if (*p == '}') return p[1] == '\0';
        if (*p++ != ',') return 0;
    }
}
