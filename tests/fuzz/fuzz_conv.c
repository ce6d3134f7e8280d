/* fuzz_conv.c - libFuzzer target for the value conversions of model/fact.c:
 * dates, months, yuan and integer text (conv_*), the typed setters for every
 * field type, plausibility and checked money sums. Any text must convert or
 * be refused, never hit undefined behaviour (clang's UBSan, float-cast and
 * integer overflow included); a converted value must be in range.
 * Seeds: tests/fuzz/corpus/conv/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/fact.h"
#include "model/money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int d = 0, m = 0;
    int64_t fen = 0, i64 = 0;
    if (conv_date(s, &d) == 0) {
        if (!date_is_valid(d)) abort();
        if (date_month(d) != d / 100) abort();
        (void)month_add(date_month(d), (int)(d % 97) - 48);
    }
    if (conv_month(s, &m) == 0 && (m % 100 < 1 || m % 100 > 12 || m < 101)) abort();
    if (conv_yuan_to_fen(s, &fen) == 0) {
        int64_t acc = fen;
        (void)money_add(&acc, fen);
        (void)money_sub(&acc, fen);
        (void)money_mul(fen, 12, &acc);
    }
    (void)conv_int(s, &i64);

    fact_limits lim;
    fact_limits_init(&lim, 0, 20241130);
    char err[300];
    /* every field of a payment, an asset and a death record from this text */
    static const fact_kind kinds[] = {FK_PAYMENT, FK_ASSET, FK_DEATH, FK_ASSISTANCE_MEMBER};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fact f;
        fact_init(&f, kinds[k]);
        for (int ff = 0; ff < FF__COUNT; ff++) {
            if (!fact_field_allowed(kinds[k], (fact_field)ff)) continue;
            (void)fact_set_text(&f, (fact_field)ff, s, err, sizeof err);
            (void)fact_set_int(&f, (fact_field)ff, i64, err, sizeof err);
        }
        (void)fact_plausible(&f, &lim, err, sizeof err);
        (void)fact_check(&f, err, sizeof err);
        char *j = fact_fields_json(&f);
        free(j);
        fact_clear(&f);
    }
    free(s);
    return 0;
}
