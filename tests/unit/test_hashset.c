/* test_hashset.c - the sorted hash set (core/hashset.c): the radix sort
 * against qsort on random, skewed and duplicate-heavy input (a digit shared
 * by every hash skips its pass), membership of every member and of
 * neighbours, the empty and one-element sets, and a borrowed view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hashset.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts a copy both ways and compares; returns the distinct count. */
static size_t check_sort(const uint64_t *in, size_t n) {
    uint64_t *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    memcpy(a, in, n * sizeof *a);
    memcpy(b, in, n * sizeof *b);
    size_t m = hashset_sort_unique(a, n);
    qsort(b, n, sizeof *b, cmp_u64);
    size_t w = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        if (b[i] != b[w - 1]) b[w++] = b[i];
    assert_int_equal(m, w);
    assert_memory_equal(a, b, m * sizeof *a);
    free(a);
    free(b);
    return m;
}

static void test_sort(void **state) {
    (void)state;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) v[i] = next_u64();
    assert_int_equal(check_sort(v, n), n);
    /* small values: the top digits are all zero (their passes skipped) */
    for (size_t i = 0; i < n; i++) v[i] = next_u64() & 0xfffff;
    check_sort(v, n);
    /* many duplicates, and a run shorter than the radix threshold */
    for (size_t i = 0; i < n; i++) v[i] = next_u64() % 37 * 0x0101010101010101ULL;
    assert_int_equal(check_sort(v, n), 37);
    check_sort(v, 100);
    check_sort(v, 1);
    check_sort(v, 0);
    free(v);
}

static void test_membership(void **state) {
    (void)state;
    size_t n = 50000;
    uint64_t *v = malloc(n * sizeof *v), *copy = malloc(n * sizeof *copy);
    assert_non_null(v);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i++) v[i] = next_u64() & ~1ULL; /* even: odd neighbours are absent */
    memcpy(copy, v, n * sizeof *v);
    hashset s;
    assert_int_equal(hashset_build(&s, v, n), 0); /* v is the set's now */
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(hashset_has(&s, copy[i]));
        assert_false(hashset_has(&s, copy[i] | 1));
        uint32_t f, t;
        hashset_bucket(&s, copy[i], &f, &t);
        assert_true(hashset_in(&s, copy[i], f, t));
        long at = hashset_find(&s, copy[i]);
        assert_true(at >= 0 && s.h[at] == copy[i]);
    }
    assert_false(hashset_has(&s, 1));
    assert_false(hashset_has(&s, UINT64_MAX));
    /* a borrowed view of the same sorted hashes finds the same */
    hashset view;
    assert_int_equal(hashset_view(&view, s.h, s.n), 0);
    for (size_t i = 0; i < n; i += 7) assert_true(hashset_has(&view, copy[i]));
    hashset_free(&view);
    hashset_free(&s);
    free(copy);
}

static void test_small(void **state) {
    (void)state;
    hashset s;
    assert_int_equal(hashset_view(&s, NULL, 0), 0);
    assert_false(hashset_has(&s, 0));
    assert_false(hashset_has(&s, 42));
    uint32_t f, t;
    hashset_bucket(&s, 42, &f, &t);
    assert_false(hashset_in(&s, 42, f, t));
    hashset_free(&s);
    uint64_t *one = malloc(2 * sizeof *one);
    assert_non_null(one);
    one[0] = one[1] = UINT64_MAX; /* a duplicate, at the top bucket */
    assert_int_equal(hashset_build(&s, one, 2), 0);
    assert_int_equal(s.n, 1);
    assert_true(hashset_has(&s, UINT64_MAX));
    assert_false(hashset_has(&s, 0));
    hashset_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
