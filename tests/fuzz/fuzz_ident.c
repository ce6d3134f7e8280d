/* fuzz_ident.c - libFuzzer target for identity normalization (model/ident.c):
 * id numbers as sources hold them (ident_normalize, ident_mask), names
 * (name_normalize through OpenCC, name_mask) and the UTF-8 check. Any bytes
 * must normalize or be refused, never crash, overrun or leak; an id reported
 * valid must be 18 characters with a correct check character; masks never
 * hold a run of 8 digits of the input.
 * Seeds: tests/fuzz/corpus/ident/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/ident.h"

static name_normalizer *nn; /* one per process: loading OpenCC is slow */

static void no_digit_run(const char *s) {
    int run = 0;
    for (; *s; s++) {
        run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
        if (run >= 8) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)utf8_valid((const char *)data, size);

    char out[IDENT_LEN + 1];
    ident_status st = ident_normalize(s, 20241130, out);
    if (strlen(out) > IDENT_LEN) abort();
    (void)ident_status_str(st);
    (void)ident_status_code(st);
    if (st == ID_OK) {
        if (strlen(out) != IDENT_LEN || ident_check_char(out) != out[17]) abort();
        if (ident_birth_date(out) <= 0) abort();
        char sex = ident_sex(out);
        if (sex != 'M' && sex != 'F') abort();
    }
    char masked[64];
    ident_mask(s, masked, sizeof masked);
    if (strlen(masked) >= sizeof masked) abort();
    if (st == ID_OK) {
        ident_mask(out, masked, sizeof masked);
        no_digit_run(masked);
    }
    char nm[256];
    name_mask(s, nm, sizeof nm);
    if (strlen(nm) >= sizeof nm) abort();

    if (nn == NULL) {
        char err[300];
        nn = name_normalizer_new(err, sizeof err);
        if (nn == NULL) abort();
    }
    char *norm = name_normalize(nn, s);
    if (norm != NULL && !utf8_valid(norm, strlen(norm))) abort();
    free(norm);
    free(s);
    return 0;
}
