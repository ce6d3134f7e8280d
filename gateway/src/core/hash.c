/* hash.c - FNV-1a 64 (see hash.h). */
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
