/* strmap.h - a small open-addressing hash map from strings to ints, also used
 * as a string set (values ignored).
 *
 * Used to index facts by normalized id number and by case key, and by the
 * matching cycle for its subjects of interest. Linear probing over a
 * power-of-two table kept at most 70% full; FNV-1a hash. No removal: maps are
 * built for one cycle and freed whole.
 *
 * Ownership: the map copies every key it stores (callers keep their strings);
 * strmap_free() frees the copies and the table. Keys handed out by
 * strmap_next() are borrowed from the map and live until strmap_free().
 *
 * Usage:
 *     strmap m;
 *     if (strmap_init(&m, 1000) != 0) ...out of memory...
 *     int idx, r = strmap_intern(&m, id18, next_index, &idx);
 *     if (r < 0) ...out of memory...;  r == 1: inserted (idx == next_index)
 *     if (strmap_get(&m, id18, &idx)) ...found...
 *     size_t it = 0; const char *k; int v;
 *     while (strmap_next(&m, &it, &k, &v)) ...every entry, in table order...
 *     strmap_free(&m);
 *
 * A zero-initialized strmap (strmap m = {0}) is a valid empty map. */
#ifndef GG_STRMAP_H
#define GG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_slot {
    char *key;     /* owned copy; NULL = empty slot */
    uint64_t hash;
    int val;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t cap;    /* power of two, or 0 before the first insert */
    size_t n;      /* entries stored */
} strmap;

/* Prepares an empty map sized for about `expected` entries (0 is fine).
 * 0 ok, -1 out of memory. */
int strmap_init(strmap *m, size_t expected);
/* Frees the keys and the table; the map is empty and reusable afterwards. */
void strmap_free(strmap *m);

/* 1 and *val (when val != NULL) set when key is present, else 0. */
int strmap_get(const strmap *m, const char *key, int *val);
/* 1 when key is present, else 0. */
int strmap_has(const strmap *m, const char *key);
/* Inserts key -> val, replacing the value of an existing key.
 * 0 ok, -1 out of memory (the map is unchanged). */
int strmap_put(strmap *m, const char *key, int val);
/* Get-or-insert: when key is absent it is inserted with val_if_new and 1 is
 * returned; when present 0 is returned. Either way *val_out (when not NULL)
 * receives the stored value. -1 out of memory. */
int strmap_intern(strmap *m, const char *key, int val_if_new, int *val_out);
/* String-set insert: 1 added, 0 already present, -1 out of memory. */
int strmap_add(strmap *m, const char *key);
/* Number of entries. */
size_t strmap_count(const strmap *m);
/* Iteration in table order (not sorted). Start with *iter = 0; returns 1 and
 * sets *key and *val (either may be NULL) for the next entry, 0 at the end. */
int strmap_next(const strmap *m, size_t *iter, const char **key, int *val);

#endif
