/* hashset.c - sorted hash arrays with a directory by the top bits (hashset.h). */
#include "core/hashset.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES 6 /* 6 x 11 >= 64 */

/* LSD radix sort of a[0..n) with the scratch tmp[0..n); a pass whose digit
 * is the same for every hash is skipped. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n) {
    static const unsigned passes = RADIX_PASSES;
    size_t *count = calloc((size_t)passes * RADIX_SIZE, sizeof *count);
    if (!count) {
        qsort(a, n, sizeof *a, cmp_u64);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (unsigned p = 0; p < passes; p++) count[p * RADIX_SIZE + ((a[i] >> (p * RADIX_BITS)) & (RADIX_SIZE - 1))]++;
    uint64_t *src = a, *dst = tmp;
    for (unsigned p = 0; p < passes; p++) {
        size_t *c = count + (size_t)p * RADIX_SIZE;
        unsigned shift = p * RADIX_BITS;
        if (c[(src[0] >> shift) & (RADIX_SIZE - 1)] == n) continue; /* one digit: nothing moves */
        size_t sum = 0;
        for (unsigned d = 0; d < RADIX_SIZE; d++) {
            size_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++) dst[c[(src[i] >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    free(count);
}

size_t hashset_sort_unique(uint64_t *a, size_t n) {
    if (n < 2) return n;
    size_t asc = 1;
    while (asc < n && a[asc - 1] < a[asc]) asc++;
    if (asc == n) return n; /* sorted and distinct already (a set read back) */
    uint64_t *tmp = n >= 4096 ? malloc(n * sizeof *tmp) : NULL;
    if (tmp) {
        radix_sort(a, tmp, n);
        free(tmp);
    } else {
        qsort(a, n, sizeof *a, cmp_u64);
    }
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i] != a[w - 1]) a[w++] = a[i];
    return w;
}

int hashset_view(hashset *s, const uint64_t *a, size_t n) {
    memset(s, 0, sizeof *s);
    if (n == 0) return 0;
    if (n > UINT32_MAX) return -1;
    unsigned bits = 1;
    while (bits < 31 && ((size_t)2 << bits) <= n) bits++; /* n / 2 buckets or so */
    size_t nb = (size_t)1 << bits;
    s->dir = malloc((nb + 1) * sizeof *s->dir);
    if (!s->dir) return -1;
    s->h = a;
    s->n = n;
    s->shift = 64 - bits;
    size_t i = 0;
    for (size_t b = 0; b < nb; b++) {
        s->dir[b] = (uint32_t)i;
        while (i < n && (a[i] >> s->shift) == b) i++;
    }
    s->dir[nb] = (uint32_t)n;
    return 0;
}

int hashset_build(hashset *s, uint64_t *a, size_t n) {
    n = hashset_sort_unique(a, n);
    if (hashset_view(s, a, n)) {
        free(a);
        memset(s, 0, sizeof *s);
        return -1;
    }
    s->owned = a;
    if (!n) free(a), s->owned = NULL;
    return 0;
}

long hashset_find(const hashset *s, uint64_t x) {
    if (!s->n) return -1;
    size_t b = (size_t)(x >> s->shift);
    for (uint32_t i = s->dir[b], e = s->dir[b + 1]; i < e; i++) {
        if (s->h[i] == x) return (long)i;
        if (s->h[i] > x) return -1;
    }
    return -1;
}

void hashset_free(hashset *s) {
    free(s->owned);
    free(s->dir);
    memset(s, 0, sizeof *s);
}
