/* mask.h - the one masker for everything that leaves the process: logs
 * (core/log.c), errors, CLI listings (`quarantine list`, `adapter test`),
 * alert explanations and exports.
 *
 *   ident_mask   one id number: "4205**********123X" (first 4 and last 4 of a
 *                well-formed 18-character value); any other value all '*'
 *   name_mask    one name: first character kept, '*' for each other ("张*")
 *   mask_text    free text (a message, a reason, a record key): every run of
 *                MASK_MIN_RUN or more id characters - ASCII or full-width
 *                digits, X or x, with up to two spaces, hyphens or control
 *                characters between two of them ("420501 19500312 1233",
 *                "4205011950\n03121233"), however long the run (19
 *                digits, two ids back to back) - becomes its first 4 and last
 *                4 id characters in ASCII with '*' for the others
 *                ("4205**********123X"); with MASK_ESCAPE also newline and the
 *                other control characters but tab as \n, \r, \xNN, so text
 *                an adapter or a source supplied cannot forge a line.
 *   mask_subject an alert subject key: names of "person:~<name>|<birth>" and
 *                id runs.
 *
 * Names inside free text cannot be recognised: code that prints a name passes
 * it through name_mask() itself. */
#ifndef GG_MASK_H
#define GG_MASK_H

#include <stddef.h>

#define MASK_MIN_RUN 15
#define MASK_ESCAPE 1 /* mask_text flag: escape control characters too */

/* out >= 32 bytes for ids; "" for NULL or "". */
void ident_mask(const char *id, char *out, size_t outsz);
void name_mask(const char *name, char *out, size_t outsz);
/* Masked copy of `in`: malloc'd, NULL on OOM or for NULL in. */
char *mask_text(const char *in, int flags);
/* The same into out (cut at outsz - 1 bytes; "" for NULL in). */
void mask_text_buf(const char *in, int flags, char *out, size_t outsz);
/* The same for len bytes that may hold NULs (a Lua string: with MASK_ESCAPE
 * a NUL shows as \x00); 1 when the text was cut to fit, else 0. */
int mask_text_nbuf(const char *in, size_t len, int flags, char *out, size_t outsz);
/* Masked subject key; malloc'd, NULL on OOM or for NULL. */
char *mask_subject(const char *subject);

#endif
