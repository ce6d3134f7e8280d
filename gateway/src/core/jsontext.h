/* jsontext.h - JSON text written and checked directly, byte for byte as
 * jansson 2.x writes it with json_dumps(..., JSON_COMPACT) (no
 * JSON_ENSURE_ASCII, no JSON_ESCAPE_SLASH). The evidence of every fact and
 * alert is JSON text; building a jansson value per record only to dump it, or
 * parsing stored text only to dump it again, was most of the cost of writing
 * a row's raw values (adapter/rowjson.c) and an alert's evidence
 * (store/alerts.c). Whatever these functions do not take (text that is not
 * valid UTF-8, a shape jansson would write differently) goes through jansson
 * itself at the caller, so its exact behaviour is kept. */
#ifndef GG_JSONTEXT_H
#define GG_JSONTEXT_H

#include <stddef.h>
#include <string.h>

#include "core/sbuf.h"
#include "core/utf8.h"

/* Extra bytes a byte takes once escaped (0: copied as is). */
static inline unsigned char jt_esc_extra(unsigned char c) {
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') return 1;
    return c < 0x20 ? 5 : 0;
}

/* Length of s as a JSON string, quotes included; 0 when s is not valid UTF-8
 * (jansson's json_string() refuses it). Inline, as jt_string_put: a worker
 * writes two strings per column of every row it reads. */
static inline size_t jt_string_len(const char *s) {
    size_t n = strlen(s);
    if (!utf8_valid(s, n)) return 0;
    size_t out = n + 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\') out += jt_esc_extra(*p);
    return out;
}

/* Writes s as a JSON string at o (room for jt_string_len(s) bytes: the
 * caller measured it) and returns the end. '"', '\\' and the control
 * characters below U+0020 are escaped (\b \f \n \r \t by name, the others as
 * \u00XX with upper-case hex digits); everything else is copied as is. */
static inline char *jt_string_put(char *o, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (c == 0) break;
        run = p + 1;
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

/* Appends s as a JSON string to b; -1 (nothing appended) when s is not valid
 * UTF-8. An allocation failure is b's (sbuf.h: sb_take reports it). */
int jt_sb_string(sbuf *b, const char *s);

/* 1 when `s` is a JSON object that jansson would parse and dump again as
 * exactly these bytes: no whitespace, distinct keys, values that are
 * strings, integers of at most 18 digits (no leading zero, no "-0"), true,
 * false or null, and every string in the escaping jt_string_put writes. Such
 * text can be embedded as is in a document jansson would write. 0 for
 * anything else (not JSON, or JSON of another shape: nested values, reals,
 * other escapes), which the caller hands to jansson. */
int jt_flat_object_canonical(const char *s);

#endif
