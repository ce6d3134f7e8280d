/* strmap.c - open-addressing string -> int hash map (see strmap.h). */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"

/* FNV-1a, 64 bit. Never returns 0 so a stored hash is always nonzero. */
static uint64_t strmap_hash(const char *s) {
    uint64_t h = fnv1a64_str(GG_FNV_OFFSET, s);
    /* Final mix so the low bits used for the slot index depend on every byte. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

/* Smallest power of two with `expected` entries at most 70% full (min 16). */
static size_t strmap_cap_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2 + 1) {
        if (cap > SIZE_MAX / 4) break;
        cap <<= 1;
    }
    return cap;
}

int strmap_init(strmap *m, size_t expected) {
    m->n = 0;
    m->cap = strmap_cap_for(expected);
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        gg_error("strmap", "out of memory allocating a table of %zu slots", m->cap);
        m->cap = 0;
        return -1;
    }
    return 0;
}

void strmap_free(strmap *m) {
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

/* Slot holding key, or the empty slot where it would go. cap must be > 0. */
static size_t strmap_find_slot(const strmap *m, const char *key, uint64_t h) {
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        const strmap_slot *s = &m->slots[i];
        if (!s->key) return i;
        if (s->hash == h && strcmp(s->key, key) == 0) return i;
        i = (i + 1) & mask;
    }
}

/* Doubles the table (or creates it). 0 ok, -1 out of memory (map unchanged). */
static int strmap_grow(strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) {
        gg_error("strmap", "out of memory growing a table to %zu slots", ncap);
        return -1;
    }
    size_t mask = ncap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        strmap_slot *s = &m->slots[i];
        if (!s->key) continue;
        size_t j = (size_t)s->hash & mask;
        while (ns[j].key) j = (j + 1) & mask;
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int strmap_get(const strmap *m, const char *key, int *val) {
    if (!m->cap || !key) return 0;
    size_t i = strmap_find_slot(m, key, strmap_hash(key));
    if (!m->slots[i].key) return 0;
    if (val) *val = m->slots[i].val;
    return 1;
}

int strmap_has(const strmap *m, const char *key) { return strmap_get(m, key, NULL); }

/* Shared insert: `replace` decides whether an existing value is overwritten.
 * Returns 1 inserted, 0 existed, -1 out of memory. */
static int strmap_insert(strmap *m, const char *key, int val, int replace, int *val_out) {
    if (!key) return -1;
    uint64_t h = strmap_hash(key);
    if (m->cap) {
        strmap_slot *s = &m->slots[strmap_find_slot(m, key, h)];
        if (s->key) { /* existing key: never grows, so borrowed keys stay put */
            if (replace) s->val = val;
            if (val_out) *val_out = s->val;
            return 0;
        }
    }
    if ((m->n + 1) * 10 > m->cap * 7 && strmap_grow(m) != 0) return -1;
    strmap_slot *s = &m->slots[strmap_find_slot(m, key, h)];
    char *copy = strdup(key);
    if (!copy) {
        gg_error("strmap", "out of memory copying a key");
        return -1;
    }
    s->key = copy;
    s->hash = h;
    s->val = val;
    m->n++;
    if (val_out) *val_out = val;
    return 1;
}

int strmap_put(strmap *m, const char *key, int val) {
    return strmap_insert(m, key, val, 1, NULL) < 0 ? -1 : 0;
}

int strmap_intern(strmap *m, const char *key, int val_if_new, int *val_out) {
    return strmap_insert(m, key, val_if_new, 0, val_out);
}

int strmap_add(strmap *m, const char *key) { return strmap_insert(m, key, 0, 0, NULL); }

size_t strmap_count(const strmap *m) { return m->n; }

int strmap_next(const strmap *m, size_t *iter, const char **key, int *val) {
    while (*iter < m->cap) {
        const strmap_slot *s = &m->slots[(*iter)++];
        if (!s->key) continue;
        if (key) *key = s->key;
        if (val) *val = s->val;
        return 1;
    }
    return 0;
}
