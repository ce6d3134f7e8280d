/* hash.c - FNV-1a 64 and gg_hash64 (see hash.h). */
#include "core/hash.h"

#include <string.h>

uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= GG_FNV_PRIME;
    }
    return h;
}

uint64_t fnv1a64_str(uint64_t h, const char *s) { return s ? fnv1a64_update(h, s, strlen(s)) : h; }

#define H64_M 0xc6a4a7935bd1e995ULL
#define H64_R 47

/* The bytes read as little endian (one load where the gateway runs). */
static inline uint64_t load64(const unsigned char *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t gg_hash64_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    h ^= (uint64_t)len * H64_M;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t k = load64(p);
        k *= H64_M;
        k ^= k >> H64_R;
        k *= H64_M;
        h ^= k;
        h *= H64_M;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++) t |= (uint64_t)p[i] << (8 * i);
    h ^= t;
    h *= H64_M;
    h ^= h >> H64_R;
    h *= H64_M;
    h ^= h >> H64_R;
    return h;
}
