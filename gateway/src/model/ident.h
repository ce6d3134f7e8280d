/* ident.h - resident identity numbers (GB 11643-1999) and names.
 *
 * ident_normalize() turns an id number as a source holds it into the 18-character
 * form and validates it (docs/record-model.md "Identity"): strip spaces and hyphens,
 * full-width digits and 'Ｘ' to ASCII, 'x' to 'X', 15-digit legacy numbers to 18
 * (insert "19", compute the ISO 7064 MOD 11-2 check character); valid only with the
 * right check character, a real birth date not after `today`, and a province-level
 * region prefix. Unknown full region codes are never a reason to reject.
 *
 * name_normalize() folds a name for comparison: trim, full-width to half-width,
 * middle-dot variants to U+00B7, traditional to simplified (OpenCC t2s).
 *
 * ident_mask()/name_mask() produce the only forms allowed in logs and messages. */
#ifndef GG_IDENT_H
#define GG_IDENT_H

#include <stddef.h>

#include "core/mask.h"
#include "core/utf8.h"

#define IDENT_LEN 18

typedef enum {
    ID_OK = 0,
    ID_EMPTY,        /* absent or blank */
    ID_BAD_CHAR,     /* a character that is not a digit, X, space or hyphen */
    ID_BAD_LENGTH,   /* not 15 or 18 characters after cleanup */
    ID_BAD_REGION,   /* first two digits are not a province-level code */
    ID_BAD_DATE,     /* embedded birth date is not a calendar date */
    ID_FUTURE_DATE,  /* embedded birth date is after today */
    ID_BAD_CHECK,    /* check character does not match */
    ID_BAD_ENCODING, /* not valid UTF-8 */
} ident_status;

/* Short English reason for logs and the quarantine ("bad check character"). */
const char *ident_status_str(ident_status st);
/* Stable machine code for data-quality counts ("bad_check"). */
const char *ident_status_code(ident_status st);

/* Normalize `raw` (UTF-8, may be NULL). `today` is yyyymmdd (0 = use the clock).
 * `out` receives the cleaned 18-character form whenever the input has a usable
 * shape (also for ID_BAD_CHECK/ID_BAD_DATE/ID_BAD_REGION, so evidence can show
 * it), otherwise "". Returns ID_OK only for a valid number. */
ident_status ident_normalize(const char *raw, int today, char out[IDENT_LEN + 1]);

/* Check character for the first 17 digits (ISO 7064 MOD 11-2): '0'-'9' or 'X'. */
char ident_check_char(const char *first17);

/* For a valid normalized id: birth date as yyyymmdd, sex 'M'/'F' (odd = male). */
int ident_birth_date(const char *id18);
char ident_sex(const char *id18);

/* ident_mask() and name_mask() are core/mask.h's (included here);
 * utf8_valid() is core/utf8.h's. */

/* Name normalization (owns an OpenCC handle; one per process context). */
typedef struct name_normalizer name_normalizer;
name_normalizer *name_normalizer_new(char *err, size_t errsz);
void name_normalizer_free(name_normalizer *nn);
/* Returns a malloc'd normalized name, or NULL when `raw` is NULL/blank or not
 * valid UTF-8. */
char *name_normalize(name_normalizer *nn, const char *raw);
/* The normalizer keeps the results of recent names (a bounded cache of 2 *
 * nsets entries; a hit returns exactly what folding would). Resizes it to
 * nsets sets (rounded up to a power of two; 0: no cache), emptied, and zeroes
 * the counts; for tests. */
void name_normalizer_set_cache(name_normalizer *nn, size_t nsets);
/* Names answered from the cache and names looked up but not found there. */
/* Whether names without a character of the t2s dictionaries' keys skip
 * OpenCC (on by default when the build's set matches the files OpenCC
 * loaded; see model/ident.c): on = 0 turns it off (tests compare both ways).
 * Returns whether it is on. */
int name_normalizer_use_key_chars(name_normalizer *nn, int on);
/* Starts fetching the cache entries name_normalize(nn, raw) will read (a
 * hint: nothing else changes). Called where other work follows before the
 * name is folded, it hides the memory latency of a cache larger than the CPU's. */
void name_normalizer_prefetch(const name_normalizer *nn, const char *raw);
void name_normalizer_cache_stats(const name_normalizer *nn, unsigned long *hits, unsigned long *misses);

#endif
