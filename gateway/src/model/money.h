/* money.h - checked arithmetic on money (int64 fen) and the plausibility limits
 * a record's amount must meet before anything sums it.
 *
 * Every sum of amounts goes through money_add(): a sum that would overflow
 * int64 is refused (-1) and the accumulator left as it was, instead of
 * wrapping silently (undefined behaviour in C, and an alert with a nonsense
 * total). Amounts reach the sums only after fact_plausible() (model/fact.h)
 * refused negative ones and those over the monthly ceiling, so an overflow
 * here means a bug or a hostile record slipped through: callers report it
 * with the record named and skip it. */
#ifndef GG_MONEY_H
#define GG_MONEY_H

#include <stdint.h>

/* Default ceiling of one monthly amount: 1,000,000 yuan in fen. */
#define MONEY_DEFAULT_MAX_AMOUNT INT64_C(100000000)

/* *acc += v. 0 ok; -1 on overflow (*acc unchanged). */
int money_add(int64_t *acc, int64_t v);
/* *out = a * b (e.g. a monthly amount times a number of months). 0 ok; -1 on
 * overflow (*out unchanged). */
int money_mul(int64_t a, int64_t b, int64_t *out);
/* *acc -= v. 0 ok; -1 on overflow (*acc unchanged). */
int money_sub(int64_t *acc, int64_t v);

#endif
