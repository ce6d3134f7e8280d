/* utf8.c - strict UTF-8 decoding, encoding, validation and counting (see
 * utf8.h). */
#include "core/utf8.h"

#include <string.h>

/* Decodes one code point from s[0..len). Strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF. Returns its byte length, or 0 when the
 * bytes are not valid UTF-8. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    if (len == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

/* Encodes cp (a valid scalar value) into out (>= 4 bytes); returns its length. */
size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_valid(const char *s, size_t len) {
    if (s == NULL) return len == 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) { /* ASCII: eight bytes at a time while they all are */
            p++;
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & 0x8080808080808080ULL) break;
                p += 8;
            }
            continue;
        }
        size_t left = (size_t)(end - p);
        /* Two and three bytes (Chinese text) checked inline; the rules are
         * utf8_decode's: E0 needs A0.. after it (no overlong form), ED at
         * most 9F (no surrogate). */
        if (c >= 0xC2 && c <= 0xDF) {
            if (left < 2 || (p[1] & 0xC0) != 0x80) return 0;
            p += 2;
            continue;
        }
        if (c >= 0xE0 && c <= 0xEF) {
            if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (c == 0xE0 && p[1] < 0xA0) ||
                (c == 0xED && p[1] >= 0xA0))
                return 0;
            p += 3;
            continue;
        }
        uint32_t cp;
        size_t n = utf8_decode(p, left, &cp);
        if (n == 0) return 0;
        p += n;
    }
    return 1;
}

/* Number of code points in s when valid UTF-8, else its byte length. */
size_t utf8_count_chars(const char *s) {
    size_t len = strlen(s), count = 0, i = 0;
    const unsigned char *p = (const unsigned char *)s;
    if (!utf8_valid(s, len)) return len;
    while (i < len) {
        uint32_t cp;
        i += utf8_decode(p + i, len - i, &cp);
        count++;
    }
    return count;
}
