/* utf8.h - strict UTF-8: decode, encode, validate and count code points. Used
 * by id and name normalization (model/ident.c) and the masker (core/mask.c). */
#ifndef GG_UTF8_H
#define GG_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..len). Strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF. Returns its byte length, or 0 when the
 * bytes are not valid UTF-8. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Encodes cp (a valid scalar value) into out (>= 4 bytes); returns its length. */
size_t utf8_encode(uint32_t cp, char *out);
/* 1 when `s` is valid UTF-8 of length `len`, else 0. */
int utf8_valid(const char *s, size_t len);
/* Number of code points in s when valid UTF-8, else its byte length. */
size_t utf8_count_chars(const char *s);

#endif
