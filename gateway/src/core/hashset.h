/* hashset.h - a set of 64-bit hashes: a sorted array with a directory by the
 * hashes' top bits (about two hashes a bucket), so that a membership test
 * reads one bucket instead of binary-searching the array. Hashes must spread
 * their top bits evenly (XXH3, FNV-1a of varied text). Built once, read many
 * times; a worker inherits one copy-on-write. Also the radix sort it uses,
 * for callers that sort hashes themselves. */
#ifndef GG_HASHSET_H
#define GG_HASHSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct hashset {
    const uint64_t *h; /* distinct, ascending */
    size_t n;
    uint32_t *dir;     /* bucket b holds h[dir[b] .. dir[b + 1]); owned; NULL when n == 0 */
    unsigned shift;    /* bucket of x: x >> shift */
    uint64_t *owned;   /* h when the set owns it (hashset_build), else NULL */
} hashset;

/* Sorts a[0..n) ascending (LSD radix, 11 bits a pass; a scratch of n words,
 * or qsort when that cannot be had) and drops duplicates; returns the new n. */
size_t hashset_sort_unique(uint64_t *a, size_t n);

/* Makes the set of the n hashes at a, taking a over (sorted and made
 * distinct in place; freed by hashset_free, also on failure). 0, or -1 when
 * out of memory or over UINT32_MAX hashes (s is then empty). */
int hashset_build(hashset *s, uint64_t *a, size_t n);
/* The same over a[0..n) already distinct and ascending, which the set
 * borrows (it must outlive the set). 0 or -1 as above. */
int hashset_view(hashset *s, const uint64_t *a, size_t n);
void hashset_free(hashset *s);

/* Whether s holds x, in two steps so that two sets' cache misses overlap:
 * hashset_bucket() finds x's bucket [*from, *to) and prefetches it,
 * hashset_in() reads it. hashset_has() does both. */
static inline void hashset_bucket(const hashset *s, uint64_t x, uint32_t *from, uint32_t *to) {
    if (!s->n) {
        *from = *to = 0;
        return;
    }
    size_t b = (size_t)(x >> s->shift);
    *from = s->dir[b];
    *to = s->dir[b + 1];
    __builtin_prefetch(&s->h[*from]);
}

static inline int hashset_in(const hashset *s, uint64_t x, uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; i++)
        if (s->h[i] >= x) return s->h[i] == x;
    return 0;
}

/* The index of x in s->h, or -1. */
long hashset_find(const hashset *s, uint64_t x);

static inline int hashset_has(const hashset *s, uint64_t x) { return hashset_find(s, x) >= 0; }

#endif
