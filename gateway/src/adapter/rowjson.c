/* rowjson.c - a row's raw values as compact JSON text (rowjson.h).
 *
 * The evidence kept with every fact is its row as a JSON object. Building a
 * jansson object per row (a hashtable, a json_string per column) and dumping
 * it was most of a worker's time after reading the rows, so a row is written
 * here in two passes over its columns: measure, then write into one buffer.
 * The text is exactly jansson's (2.x json_dumps with JSON_COMPACT, without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH; the strings by core/jsontext.h).
 * A row jansson would not write as given (a repeated column
 * name, a name or value that is not valid UTF-8) goes through jansson itself,
 * so the rare cases keep its exact behaviour too. */
#include "adapter/rowjson.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jsontext.h"

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
        size_t kn = names[i] ? jt_string_len(names[i]) : 0;
        size_t vn = vals[i] ? jt_string_len(vals[i]) : 4; /* null */
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
        o = jt_string_put(o, names[i]);
        *o++ = ':';
        if (vals[i]) {
            o = jt_string_put(o, vals[i]);
        } else {
            memcpy(o, "null", 4);
            o += 4;
        }
    }
    *o++ = '}';
    *o = '\0';
    return out;
}
