/* gen_factcodec_corpus.c - writes the seed corpus of fuzz_factcodec: the
 * compact fields (model/factcodec.c) of a fact of every kind with every field
 * it allows set, made by the real encoder (multi-byte text, a long text whose
 * length takes two varint bytes, negative and int64-extreme money), the
 * version byte alone, and one blob cut inside a text value. One file per seed,
 * into the directory given.
 * Built with the fuzz targets; run: build-fuzz/gen_factcodec_corpus tests/fuzz/corpus/factcodec */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/factcodec.h"

static int set_all(fact *f, fact_kind k, int variant) {
    char err[200], note[200];
    memset(note, 'x', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    fact_init(f, k);
    for (int i = 0; i < FF__COUNT; i++) {
        fact_field ff = (fact_field)i;
        if (!fact_field_allowed(k, ff)) continue;
        int rc = 0;
        switch (fact_field_type(ff)) {
        case FT_TEXT:
            rc = fact_set_text(f, ff,
                               ff == FF_REGION ? "420501"
                               : ff == FF_ID_NO ? "42050119500312123X"
                               : variant && ff == FF_NOTE ? note
                               : "張三·𠀀",
                               err, sizeof err);
            break;
        case FT_ENUM: rc = fact_set_text(f, ff, fact_enum_values(k, ff)[variant], err, sizeof err); break;
        case FT_DATE: rc = fact_set_int(f, ff, variant ? 19000101 : 20240229, err, sizeof err); break;
        case FT_MONTH: rc = fact_set_int(f, ff, 202403, err, sizeof err); break;
        case FT_MONEY: rc = fact_set_int(f, ff, variant ? INT64_MIN : -123456, err, sizeof err); break;
        case FT_INT: rc = fact_set_int(f, ff, variant ? INT64_MAX : 3, err, sizeof err); break;
        case FT_BOOL: rc = fact_set_int(f, ff, variant, err, sizeof err); break;
        }
        if (rc) {
            fprintf(stderr, "%s.%s: %s\n", fact_kind_name(k), fact_field_name(ff), err);
            return -1;
        }
    }
    return 0;
}

static int write_seed(const char *dir, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    if (out == NULL || fwrite(p, 1, n, out) != n || fclose(out) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    fact_blob b = {0};
    fact f;
    char name[64];
    for (int k = 0; k < FK__COUNT; k++) {
        /* every kind once; verdict (a note) and payment (money) a second time
         * with the other enum values and the extremes */
        for (int variant = 0; variant < ((k == FK_VERDICT || k == FK_PAYMENT) ? 2 : 1); variant++) {
            if (set_all(&f, (fact_kind)k, variant) != 0 || fact_fields_encode(&f, &b) != 0) return 1;
            snprintf(name, sizeof name, "%s%s", fact_kind_name((fact_kind)k), variant ? "-2" : "");
            if (write_seed(argv[1], name, b.p, b.len)) return 1;
            if (k == FK_PERSON && write_seed(argv[1], "person-truncated", b.p, b.len - 3)) return 1;
            fact_clear(&f);
        }
    }
    fact_init(&f, FK_ASSET);
    if (fact_fields_encode(&f, &b) != 0 || write_seed(argv[1], "version-only", b.p, b.len)) return 1;
    fact_blob_free(&b);
    return 0;
}
