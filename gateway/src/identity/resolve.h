/* identity/resolve.h - identity resolution across departments (docs/record-model.md).
 *
 * High-confidence: every fact with a valid id belongs to that person.
 * Low-confidence: a fact without a valid id (absent or invalid) that carries a
 * normalized name and birth date links to the one person with the same name and
 * birth date (and region, when the fact states one); two or more candidates link
 * nothing. Name conflicts (2+ distinct normalized names for one id) mark the
 * person; the identity_conflict rule reports them. */
#ifndef GG_IDENTITY_H
#define GG_IDENTITY_H

#include "model/factset.h"

typedef struct identity_stats {
    size_t persons, linked_high, linked_low, ambiguous, unlinked, name_conflicts;
} identity_stats;

/* Builds fs->persons and the per-fact links. Facts must already have had
 * fact_normalize_identity(). 0 ok, -1 out of memory. */
int identity_resolve(factset *fs, identity_stats *st);
/* Index of the person with this normalized id, or -1. */
int identity_find(const factset *fs, const char *id18);

#endif
