/* hash.c - FNV-1a 64, and gg_hash64 over libxxhash's XXH3 (see hash.h). */
#include "core/hash.h"

#include <string.h>

#include <xxhash.h>

uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= GG_FNV_PRIME;
    }
    return h;
}

uint64_t fnv1a64_str(uint64_t h, const char *s) { return s ? fnv1a64_update(h, s, strlen(s)) : h; }

uint64_t gg_hash64_update(uint64_t h, const void *data, size_t len) {
    /* XXH3 takes the length in; the previous hash is the seed, so a sequence
     * of calls chains (XXH3 accepts NULL for zero bytes) */
    return (uint64_t)XXH3_64bits_withSeed(data, len, (XXH64_hash_t)h);
}
