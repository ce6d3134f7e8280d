/* hash.h - FNV-1a, 64 bit (offset 14695981039346656037, prime 1099511628211),
 * the one hash of the gateway: alert ids and fingerprints (alerts/alert.c,
 * which must stay byte-identical across versions) and strmap's slots. */
#ifndef GG_HASH_H
#define GG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define GG_FNV_OFFSET 14695981039346656037ULL
#define GG_FNV_PRIME 1099511628211ULL

/* Continues the hash h over len bytes; start with GG_FNV_OFFSET. */
uint64_t fnv1a64_update(uint64_t h, const void *data, size_t len);
/* The same over a C string; NULL leaves h as it is. */
uint64_t fnv1a64_str(uint64_t h, const char *s);

#endif
