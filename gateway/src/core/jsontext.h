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

#include "core/sbuf.h"

/* Length of s as a JSON string, quotes included; 0 when s is not valid UTF-8
 * (jansson's json_string() refuses it). */
size_t jt_string_len(const char *s);

/* Writes s as a JSON string at o (room for jt_string_len(s) bytes: the
 * caller measured it) and returns the end. '"', '\\' and the control
 * characters below U+0020 are escaped (\b \f \n \r \t by name, the others as
 * \u00XX with upper-case hex digits); everything else is copied as is. */
char *jt_string_put(char *o, const char *s);

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
