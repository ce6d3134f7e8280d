/* authoring.h - tools for data officers who write adapters:
 *   gridgate adapter new NAME --kind pg|odbc|http [--dir DIR]
 *       writes DIR/NAME.lua (a commented skeleton) and prints a config stanza;
 *   gridgate adapter test FILE --source NAME [--limit N]
 *       runs FILE against the live source configured as [source NAME], touches
 *       no state, prints the facts (ids masked), every rejected record with the
 *       reason, and warnings (unknown fields, unit suspicions). */
#ifndef GG_AUTHORING_H
#define GG_AUTHORING_H

#include <stddef.h>

#include "model/fact.h"

/* argv[0] is "adapter". Returns the process exit code. */
int authoring_main(const char *config_path, int argc, char **argv);

/* Plausibility bounds for one month's payment/income amount, in fen: below
 * the first or above the second, `adapter test` suspects a unit mistake. */
#define AUTHORING_AMOUNT_MIN_FEN 100
#define AUTHORING_AMOUNT_MAX_FEN 10000000

/* Called once per warning with a message that never holds a raw id or name. */
typedef void (*authoring_warn_fn)(void *ud, const char *msg);

/* The warnings `adapter test` gives for one fact that the adapter produced:
 * an invalid id number (with ident_status_str's reason), a payment/income
 * amount outside the bounds above (unit suspicion), a date or period after
 * `today` (yyyymmdd; `to` is exempt, an end date may be planned), and a
 * birth_date that disagrees with the one the id embeds. Fills the fact's
 * identity (fact_normalize_identity without a name normalizer) first.
 * Returns the number of warnings given. */
int authoring_fact_warnings(fact *f, int today, authoring_warn_fn fn, void *ud);

/* Formats one field of a fact for the `adapter test` table into out: id_no
 * masked with ident_mask (its normalized 18-character form when the fact's
 * identity was filled and is valid, else as the source held it), name with
 * name_mask, dates YYYY-MM-DD, months
 * YYYY-MM, money as yuan with two decimals, bools true/false; "" when unset. */
void authoring_format_field(const fact *f, fact_field ff, char *out, size_t outsz);

/* Display width of UTF-8 text in a terminal (CJK characters count 2). */
size_t authoring_display_width(const char *s);

#endif
