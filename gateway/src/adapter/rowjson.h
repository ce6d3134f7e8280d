/* rowjson.h - a row's raw values as the compact JSON object kept as evidence
 * ({"column":"value",...,"other":null}), written directly rather than through
 * a jansson object per row; byte for byte what jansson writes for the same
 * object (see rowjson.c). */
#ifndef GG_ROWJSON_H
#define GG_ROWJSON_H

/* The JSON text of the object {names[i]: vals[i]} (NULL value: null), keys in
 * column order, as json_dumps(obj, JSON_COMPACT) of the object built with
 * json_object_set_new(obj, names[i], vals[i] ? json_string(vals[i]) :
 * json_null()) writes it: a repeated column keeps its first place and its
 * last value, a column whose name or value is not valid UTF-8 is left out.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *row_json_dumps(int ncols, const char *const *names, const char *const *vals);

/* A result's column names checked and written once ("name": for each), for
 * its rows: row_json_dumps_keys(k, vals) is row_json_dumps(ncols, names,
 * vals) for the names k was made of, which must outlive k. NULL when the
 * names are such that each row goes through jansson anyway (a repeated
 * name, one not valid UTF-8) or out of memory: then call row_json_dumps. */
typedef struct row_json_keys row_json_keys;
row_json_keys *row_json_keys_new(int ncols, const char *const *names);
void row_json_keys_free(row_json_keys *k);
char *row_json_dumps_keys(const row_json_keys *k, const char *const *vals);

#endif
