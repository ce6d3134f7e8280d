/* rowjson.c - a row's raw values as compact JSON text (rowjson.h).
 *
 * The evidence kept with every fact is its row as a JSON object. Building a
 * jansson object per row (a hashtable, a json_string per column) and dumping
 * it was most of a worker's time after reading the rows, so a row is written
 * here in two passes over its columns: measure, then write into one buffer.
 * The column names are checked and written as keys once per result
 * (row_json_keys, which the pull keeps for its rows); row_json_dumps makes
 * them for the one row it is given. The text is exactly jansson's (2.x
 * json_dumps with JSON_COMPACT, without JSON_ENSURE_ASCII or
 * JSON_ESCAPE_SLASH; the strings by core/jsontext.h). A row jansson would not
 * write as given (a repeated column name, a name or value that is not valid
 * UTF-8) goes through jansson itself, so the rare cases keep its exact
 * behaviour too. */
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

/* ---- a result's keys written once ------------------------------------------- */

struct row_json_keys {
    int ncols;
    const char *const *names; /* the result's (borrowed) */
    size_t *len;              /* per column: its key's bytes ("name":) */
    char **key;               /* per column: into text */
    char *text;               /* owned: the keys, one after another */
};

row_json_keys *row_json_keys_new(int ncols, const char *const *names) {
    if (ncols <= 0 || !names) return NULL;
    size_t total = 0;
    for (int i = 0; i < ncols; i++) {
        size_t kn = names[i] ? jt_string_len(names[i]) : 0;
        if (kn == 0) return NULL; /* jansson's way for every row, as row_json_dumps would */
        for (int j = 0; j < i; j++)
            if (strcmp(names[j], names[i]) == 0) return NULL;
        total += kn + 1;
    }
    row_json_keys *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->ncols = ncols;
    k->names = names;
    k->len = malloc((size_t)ncols * sizeof *k->len);
    k->key = malloc((size_t)ncols * sizeof *k->key);
    k->text = malloc(total);
    if (!k->len || !k->key || !k->text) {
        row_json_keys_free(k);
        return NULL;
    }
    char *o = k->text;
    for (int i = 0; i < ncols; i++) {
        k->key[i] = o;
        o = jt_string_put(o, names[i]);
        *o++ = ':';
        k->len[i] = (size_t)(o - k->key[i]);
    }
    return k;
}

void row_json_keys_free(row_json_keys *k) {
    if (!k) return;
    free(k->len);
    free(k->key);
    free(k->text);
    free(k);
}

char *row_json_dumps_keys(const row_json_keys *k, const char *const *vals) {
    size_t total = 2; /* {} */
    for (int i = 0; i < k->ncols; i++) {
        size_t vn = vals[i] ? jt_string_len(vals[i]) : 4; /* null */
        if (vn == 0) return row_json_jansson(k->ncols, k->names, vals);
        total += k->len[i] + vn + (i > 0);
    }
    char *out = malloc(total + 1), *o = out;
    if (!out) return NULL;
    *o++ = '{';
    for (int i = 0; i < k->ncols; i++) {
        if (i > 0) *o++ = ',';
        memcpy(o, k->key[i], k->len[i]);
        o += k->len[i];
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

/* ---- one row -------------------------------------------------------------- */

char *row_json_dumps(int ncols, const char *const *names, const char *const *vals) {
    /* the keys written for this row alone; none for a repeated or invalid
     * name (jansson's way), for no column ({}) or out of memory */
    row_json_keys *k = row_json_keys_new(ncols, names);
    if (!k) return row_json_jansson(ncols, names, vals);
    char *out = row_json_dumps_keys(k, vals);
    row_json_keys_free(k);
    return out;
}
