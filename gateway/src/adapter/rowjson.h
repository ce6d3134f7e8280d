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

#endif
