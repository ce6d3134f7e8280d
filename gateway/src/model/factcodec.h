/* factcodec.h - a fact's fields in a compact binary form, for the state
 * store (store/facts.c keeps them in a BLOB column instead of JSON).
 *
 * The form: one version byte (FACT_CODEC_VERSION), then for each set field in
 * increasing field order: u8 field number, u8 field type (field_type), and
 * the value: TEXT/ENUM as a varint byte length and the UTF-8 bytes (no NUL);
 * DATE/MONTH/MONEY/INT/BOOL as a zigzag varint (LEB128, at most 10 bytes).
 * A set text field without a string is left out (it reads back unset, as the
 * JSON form did).
 *
 * The decoder is strict, since the store file may be damaged: every length is
 * checked against what is left, a varint longer than 10 bytes or over 64 bits,
 * an unknown version, field or type, a field out of order or repeated, a
 * field the kind does not allow, a value its type refuses (fact_set_text /
 * fact_set_int) and trailing bytes are all refused. */
#ifndef GG_FACTCODEC_H
#define GG_FACTCODEC_H

#include <stddef.h>

#include "model/fact.h"

#define FACT_CODEC_VERSION 1

/* A growable byte buffer; reused between encodes. Zero-initialize it. */
typedef struct fact_blob {
    unsigned char *p; /* owned */
    size_t len, cap;
} fact_blob;

/* Encodes ft's set fields into b (b->len is reset first). 0 ok, -1 out of memory. */
int fact_fields_encode(const fact *ft, fact_blob *b);
/* Frees the buffer and leaves it empty (reusable). */
void fact_blob_free(fact_blob *b);
/* Sets the fields of ft (initialized to its kind, fields unset) from data[0..n).
 * 0 ok; -1 with the reason in err (never quoting a value), ft's fields then
 * partly set (the caller clears it). */
int fact_fields_decode(fact *ft, const void *data, size_t n, char *err, size_t errsz);

#endif
