/* money.c - checked int64 fen arithmetic (see money.h). */
#include "model/money.h"

int money_add(int64_t *acc, int64_t v) {
    int64_t r;
    if (__builtin_add_overflow(*acc, v, &r)) return -1;
    *acc = r;
    return 0;
}

int money_sub(int64_t *acc, int64_t v) {
    int64_t r;
    if (__builtin_sub_overflow(*acc, v, &r)) return -1;
    *acc = r;
    return 0;
}

int money_mul(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}
