/* fact_builder.h - helpers shared by the unit tests that build factsets by
 * hand: valid id numbers with a computed check character, and facts made from
 * "field", "value" pairs. Header-only (static functions), for tests only. */
#ifndef GG_TEST_FACT_BUILDER_H
#define GG_TEST_FACT_BUILDER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/factset.h"

/* A valid 18-character id: region (6), birth yyyymmdd (8), sequence (0-999). */
static inline void fb_mkid(char out[IDENT_LEN + 1], const char *region, const char *birth, int seq) {
    snprintf(out, IDENT_LEN + 1, "%s%s%03d", region, birth, seq);
    out[17] = ident_check_char(out);
    out[18] = '\0';
}

/* Adds a fact of kind k from `source` with "field", "value" pairs up to NULL to
 * fs; the pseudo-field "ref" sets the record key (default "r%04d" from *nref).
 * Identity is normalized as of `today`. Fails the test on a bad field or value.
 * Returns the fact's index. */
static inline int fb_vaddf(factset *fs, name_normalizer *nn, int *nref, int today, fact_kind k,
                           const char *source, va_list ap) {
    fact f;
    char ref[32], err[256];
    fact_init(&f, k);
    snprintf(ref, sizeof ref, "r%04d", ++*nref);
    f.source = strdup(source);
    f.ref = strdup(ref);
    assert_non_null(f.source);
    assert_non_null(f.ref);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        if (strcmp(key, "ref") == 0) {
            free(f.ref);
            f.ref = strdup(val);
            continue;
        }
        fact_field ff;
        if (fact_field_parse(key, &ff) != 0) fail_msg("unknown field %s", key);
        if (fact_set_text(&f, ff, val, err, sizeof err) != 0) fail_msg("%s=%s: %s", key, val, err);
    }
    fact_normalize_identity(&f, nn, today);
    assert_int_equal(factset_add(fs, &f), 0);
    return (int)fs->nfacts - 1;
}

#endif
