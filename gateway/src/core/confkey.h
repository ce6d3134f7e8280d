/* confkey.h - one configuration key described as data: its section, name,
 * type, default, range, where its value is stored and its help text.
 *
 * The configuration map of app/config.c is an array of these, and each rule's
 * descriptor (rules/rules.h) lists its own [rule NAME] keys the same way, so
 * the loader, `gridgate check`, the unknown-key error and `gridgate config
 * keys` all read one description (as Fluent Bit's config maps and Redis's
 * createIntConfig do). Defaults live only here: confkey_defaults() applies them.
 *
 * Storage by type, at `offset` in the struct passed as `base`:
 *   CK_BOOL, CK_INT -> int;  CK_LONG, CK_SIZE -> long;  CK_STRING, CK_PATH,
 *   CK_ENUM -> char * (owned, freed by the owner's free function);
 *   CK_DATE -> int yyyymmdd.  CK_LIST, CK_SECRET and keys with a name pattern
 * ("standard.<prefix>") store through their `set` function instead. */
#ifndef GG_CONFKEY_H
#define GG_CONFKEY_H

#include <stddef.h>

typedef enum {
    CK_STRING, CK_BOOL, CK_INT, CK_LONG, CK_SIZE, CK_LIST, CK_PATH, CK_SECRET, CK_ENUM, CK_DATE
} ck_type;

typedef struct confkey confkey;
/* Stores val for key `name` (the full key as written) into base; 0 ok, -1
 * with err set (the caller adds file:line). */
typedef int (*confkey_set_fn)(const confkey *k, void *base, const char *name, const char *val, char *err,
                              size_t errsz);

struct confkey {
    const char *section; /* "gridgate", "source", "rule", "route", "delivery", "admin" */
    const char *key;     /* exact name, or a pattern: "conn.<c>", "standard.<prefix>" */
    ck_type type;
    const char *def;     /* default as written in the file; NULL = unset */
    long min, max;       /* range for CK_INT/CK_LONG/CK_SIZE (inclusive) */
    size_t offset;       /* where the value lives in `base` (unless set) */
    confkey_set_fn set;  /* custom store, or NULL */
    const char *choices; /* CK_ENUM: "debug, info, warn, error" */
    const char *help;    /* one line, English */
};

const char *confkey_type_name(ck_type t); /* "int", "list", ... */
/* 1 when `name` is this key: equal, or matching its pattern ("standard.<prefix>"
 * matches "standard.4205"; the part in <> is one or more characters). */
int confkey_matches(const confkey *k, const char *name);
/* Parses and stores val per k's type and range. Errors: "key NAME: bad value
 * 'VAL' (an integer from MIN to MAX)" and the like. 0 ok, -1 err set. */
int confkey_store(const confkey *k, void *base, const char *name, const char *val, char *err, size_t errsz);
/* Stores every default of keys[0..n) into base (keys without a pattern). 0 ok. */
int confkey_defaults(const confkey *keys, size_t n, void *base, char *err, size_t errsz);
/* Range text for listings: "0..120", "1..65536", "" when none. out >= 64. */
void confkey_range(const confkey *k, char *out, size_t outsz);

/* Value parsers shared with custom setters; 0 ok, -1 bad. */
int confkey_parse_long(const char *v, long lo, long hi, long *out);
int confkey_parse_size(const char *v, long lo, long hi, long *out); /* "16M" */
int confkey_parse_bool(const char *v, int *out); /* yes/no, true/false, on/off, 1/0 */
/* "a, b ,c" -> malloc'd array of trimmed strings (empty items dropped); NULL
 * with *n = 0 for an empty list. Out of memory: core/util.h's policy. */
char **confkey_split_list(const char *v, size_t *n);
void confkey_free_list(char **items, size_t n);

#endif
