/* rowjson.c - a row's raw values as compact JSON text (rowjson.h).
 *
 * The evidence kept with every fact is its row as a JSON object. Building a
 * jansson object per row (a hashtable, a json_string per column) and dumping
 * it was most of a worker's time after reading the rows, so a row is written
 * here in two passes over its columns: measure, then write into one buffer.
 * The text is exactly jansson's (2.x json_dumps with JSON_COMPACT, without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH): '"' and '\\' and the control
 * characters below U+0020 are escaped, \b \f \n \r \t by name and the others
 * as \u00XX with upper-case hex digits; everything else (DEL, '/', non-ASCII)
 * is copied as is. A row jansson would not write as given (a repeated column
 * name, a name or value that is not valid UTF-8) goes through jansson itself,
 * so the rare cases keep its exact behaviour too. */
#include "adapter/rowjson.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/utf8.h"

/* Extra bytes each byte takes once escaped (0: copied as is). */
static unsigned char esc_extra(unsigned char c) {
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') return 1;
    return c < 0x20 ? 5 : 0;
}

/* Length of s as a JSON string (quotes included); 0 when s is not valid UTF-8. */
static size_t str_len(const char *s) {
    size_t n = strlen(s);
    if (!utf8_valid(s, n)) return 0;
    size_t out = n + 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\') out += esc_extra(*p);
    return out;
}

static char *str_put(char *o, const char *s) {
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

/* The same object built and dumped by jansson: the rows the direct writer
 * leaves to it. */
static char *row_json_jansson(int ncols, const char *const *names, const char *const *vals) {
    json_t *o = json_object();
    if (!o) return NULL;
    for (int i = 0; i < ncols; i++) {
        const char *v = vals[i];
        json_object_set_new(o, names[i], v ? json_string(v) : json_null());
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

char *row_json_dumps(int ncols, const char *const *names, const char *const *vals) {
    size_t total = 2; /* {} */
    for (int i = 0; i < ncols; i++) {
        size_t kn = names[i] ? str_len(names[i]) : 0;
        size_t vn = vals[i] ? str_len(vals[i]) : 4; /* null */
        if (kn == 0 || vn == 0) return row_json_jansson(ncols, names, vals);
        for (int j = 0; j < i; j++)
            if (strcmp(names[j], names[i]) == 0) return row_json_jansson(ncols, names, vals);
        total += kn + 1 + vn + (i > 0);
    }
    char *out = malloc(total + 1), *o = out;
    if (!out) return NULL;
    *o++ = '{';
    for (int i = 0; i < ncols; i++) {
        if (i > 0) *o++ = ',';
        o = str_put(o, names[i]);
        *o++ = ':';
        if (vals[i]) {
            o = str_put(o, vals[i]);
        } else {
            memcpy(o, "null", 4);
            o += 4;
        }
    }
    *o++ = '}';
    *o = '\0';
    return out;
}
