/* fuzz_factcodec.c - libFuzzer target for the strict decoder of a fact's
 * compact fields (model/factcodec.c), the form the state store keeps: arbitrary
 * bytes are decoded as the fields of every fact kind. A refusal must come with
 * a message; whatever is accepted must hold only fields the kind allows, with
 * a string for each text field, and must re-encode to bytes that decode to an
 * equal fact, those bytes being canonical (encoding the second decode gives
 * them again). Nothing may crash, leak or read out of bounds (ASan+UBSan).
 * Seeds: tests/fuzz/corpus/factcodec/, written by the encoder
 * (tests/fuzz/gen_factcodec_corpus.c), one of them truncated.
 * Build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DGG_FUZZ=ON
 * Run:   build-fuzz/fuzz_factcodec -max_total_time=60 tests/fuzz/corpus/factcodec */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/fact.h"
#include "model/factcodec.h"

/* 1 when a and b have the same fields set to the same values. */
static int fields_equal(const fact *a, const fact *b) {
    if (a->set != b->set) return 0;
    for (int i = 0; i < FF__COUNT; i++) {
        if (!FACT_HAS(a, i)) continue;
        const fact_val *x = &a->f[i], *y = &b->f[i];
        if (!fact_field_is_text((fact_field)i)) {
            if (x->i != y->i) return 0;
        } else if ((x->s || y->s) && (!x->s || !y->s || strcmp(x->s, y->s) != 0)) {
            return 0;
        }
    }
    return 1;
}

/* What an accepted fact may hold: allowed fields only, text fields with a
 * non-empty string. */
static void check_shape(const fact *f) {
    for (int i = 0; i < FF__COUNT; i++) {
        if (!FACT_HAS(f, i)) {
            if (f->f[i].i) abort(); /* an unset field is all zero */
            continue;
        }
        if (!fact_field_allowed(f->kind, (fact_field)i)) abort();
        field_type t = fact_field_type((fact_field)i);
        if ((t == FT_TEXT || t == FT_ENUM) && (f->f[i].s == NULL || f->f[i].s[0] == '\0')) abort();
    }
    if (f->set >> FF__COUNT) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fact_blob b1 = {0}, b2 = {0};
    char err[256];
    for (int k = 0; k < FK__COUNT; k++) {
        fact f, g;
        fact_init(&f, (fact_kind)k);
        err[0] = '\0';
        if (fact_fields_decode(&f, data, size, err, sizeof err) != 0) {
            if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL) abort();
            fact_clear(&f);
            continue;
        }
        check_shape(&f);
        if (fact_fields_encode(&f, &b1) != 0) abort(); /* out of memory: not in a fuzz run */
        fact_init(&g, (fact_kind)k);
        if (fact_fields_decode(&g, b1.p, b1.len, err, sizeof err) != 0) abort(); /* its own encoding refused */
        if (!fields_equal(&f, &g)) abort();                                       /* round trip changed it */
        if (fact_fields_encode(&g, &b2) != 0) abort();
        if (b2.len != b1.len || memcmp(b1.p, b2.p, b1.len) != 0) abort();        /* not canonical */
        fact_clear(&g);
        fact_clear(&f);
    }
    fact_blob_free(&b1);
    fact_blob_free(&b2);
    return 0;
}
