/* factcodec.c - the fields of a fact in a compact binary form (factcodec.h):
 * per set field u8 field, u8 type, then a varint length and bytes or a
 * zigzag varint. Used by the state store for the facts it keeps. */
#include "model/factcodec.h"

#include "core/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ------------------------------------------------------------- */

static int blob_reserve(fact_blob *b, size_t more) {
    if (b->cap - b->len >= more) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends v as LEB128; the caller reserved 10 bytes. */
static void put_varint(fact_blob *b, uint64_t v) {
    while (v >= 0x80) {
        b->p[b->len++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (unsigned char)v;
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

int fact_fields_encode(const fact *ft, fact_blob *b) {
    b->len = 0;
    if (blob_reserve(b, 1)) return -1;
    b->p[b->len++] = FACT_CODEC_VERSION;
    for (int f = 0; f < FF__COUNT; f++) {
        const fact_val *v = &ft->f[f];
        if (!FACT_HAS(ft, f)) continue;
        field_type t = fact_field_type((fact_field)f);
        if (t == FT_TEXT || t == FT_ENUM) {
            if (!v->s) continue; /* reads back unset, as a JSON null did */
            size_t n = strlen(v->s);
            if (blob_reserve(b, 2 + 10 + n)) return -1;
            b->p[b->len++] = (unsigned char)f;
            b->p[b->len++] = (unsigned char)t;
            put_varint(b, (uint64_t)n);
            memcpy(b->p + b->len, v->s, n);
            b->len += n;
        } else {
            if (blob_reserve(b, 2 + 10)) return -1;
            b->p[b->len++] = (unsigned char)f;
            b->p[b->len++] = (unsigned char)t;
            put_varint(b, zigzag(v->i));
        }
    }
    return 0;
}

void fact_blob_free(fact_blob *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- decoding ------------------------------------------------------------- */

/* Reads a LEB128 varint from *p (< end): 0 ok, -1 truncated or over 64 bits. */
static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*p >= end) return -1;
        unsigned char c = *(*p)++;
        if (i == 9 && c > 1) return -1; /* the 10th byte holds bit 63 only */
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int fact_fields_decode(fact *ft, const void *data, size_t n, char *err, size_t errsz) {
    const unsigned char *p = data, *end = p + n;
    if (n < 1 || !data) return gg_set_err(err, errsz, "fields: empty");
    if (*p != FACT_CODEC_VERSION) return gg_set_err(err, errsz, "fields: unknown format version %d", *p);
    p++;
    int last = -1;
    while (p < end) {
        if (end - p < 2) return gg_set_err(err, errsz, "fields: truncated at byte %zu", (size_t)(p - (const unsigned char *)data));
        int f = p[0], t = p[1];
        p += 2;
        if (f >= FF__COUNT) return gg_set_err(err, errsz, "fields: unknown field number %d", f);
        if (f <= last) return gg_set_err(err, errsz, "fields: field '%s' out of order or repeated", fact_field_name((fact_field)f));
        last = f;
        if (t != (int)fact_field_type((fact_field)f))
            return gg_set_err(err, errsz, "fields: field '%s' stored with type %d, not its own", fact_field_name((fact_field)f), t);
        char ferr[200];
        uint64_t u;
        if (get_varint(&p, end, &u) != 0)
            return gg_set_err(err, errsz, "fields: field '%s': truncated or overlong number", fact_field_name((fact_field)f));
        if (t == FT_TEXT || t == FT_ENUM) {
            if (u == 0 || u > (uint64_t)(end - p))
                return gg_set_err(err, errsz, "fields: field '%s': length %llu %s", fact_field_name((fact_field)f),
                                  (unsigned long long)u, u ? "runs past the end" : "is empty");
            size_t len = (size_t)u;
            if (memchr(p, '\0', len))
                return gg_set_err(err, errsz, "fields: field '%s': a NUL byte in the text", fact_field_name((fact_field)f));
            char small[256], *text = len < sizeof small ? small : malloc(len + 1);
            if (!text) return gg_set_err(err, errsz, "fields: out of memory");
            memcpy(text, p, len);
            text[len] = '\0';
            p += len;
            int rc = fact_set_text(ft, (fact_field)f, text, ferr, sizeof ferr);
            if (text != small) free(text);
            if (rc == 0 && !FACT_HAS(ft, f)) {
                rc = -1;
                snprintf(ferr, sizeof ferr, "field '%s': blank text", fact_field_name((fact_field)f));
            }
            if (rc != 0) return gg_set_err(err, errsz, "fields: %s", ferr);
        } else if (fact_set_int(ft, (fact_field)f, unzigzag(u), ferr, sizeof ferr) != 0) {
            return gg_set_err(err, errsz, "fields: %s", ferr);
        }
    }
    return 0;
}
