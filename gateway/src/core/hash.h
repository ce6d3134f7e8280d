/* hash.h - FNV-1a, 64 bit (offset 14695981039346656037, prime 1099511628211),
 * the hash of the gateway's identifiers: alert ids and fingerprints
 * (alerts/alert.c, which must stay byte-identical across versions), ref and
 * name hashes, strmap's slots; and gg_hash64, faster, for content hashes. */
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

/* A faster 64-bit hash (libxxhash's XXH3, seeded with h), for
 * what is only ever compared with itself from the same version: the content
 * hashes of facts and the raw hash of a row (store/facts.c, model/fact.c).
 * A change of it makes the next cycle rewrite every stored fact once, so
 * alert ids and anything else kept across versions stay on FNV-1a.
 * Continues h over len bytes (start with GG_HASH64_SEED); the length is
 * mixed in, so a sequence of calls hashes the same as another only when the
 * byte strings of each call are the same. */
#define GG_HASH64_SEED 0x2f8a6c9e5d1b3704ULL
uint64_t gg_hash64_update(uint64_t h, const void *data, size_t len);

#endif
