/* mask.c - masking for every text about an alert meant for people or other
 * systems: ids only through ident_mask(), names only through name_mask(), and
 * as a last guard any run of 15 or more id characters (digits, X, full-width
 * digits, with inner spaces or hyphens) replaced by its ident_mask() form. */
#include "alerts/alert_internal.h"

#include <stdlib.h>
#include <string.h>

#include "model/ident.h"

/* ------------------------------------------------------------------------ */
/* Masking helpers                                                           */

/* Length of an id character at s (ASCII digit or X/x: 1, full-width digit or
 * X/x: 3), 0 when s does not start with one. *is_digit tells digits from X. */
static size_t id_char_at(const unsigned char *s, int *is_digit) {
    if (s[0] >= '0' && s[0] <= '9') {
        *is_digit = 1;
        return 1;
    }
    if (s[0] == 'X' || s[0] == 'x') {
        *is_digit = 0;
        return 1;
    }
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) { /* ０-９ */
        *is_digit = 1;
        return 3;
    }
    if ((s[0] == 0xEF && s[1] == 0xBC && s[2] == 0xB8) ||   /* Ｘ */
        (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0x98)) {  /* ｘ */
        *is_digit = 0;
        return 3;
    }
    return 0;
}

/* Copies `in` to a new string with every run of 15+ id characters (starting
 * with a digit, spaces/hyphens allowed inside) replaced by ident_mask() of its
 * cleaned form. Returns malloc'd text or NULL on OOM. */
char *mask_id_runs(const char *in) {
    if (!in) return NULL;
    sbuf b = {0};
    const unsigned char *s = (const unsigned char *)in;
    size_t n = strlen(in), i = 0;
    while (i < n) {
        int dig = 0;
        size_t cl = id_char_at(s + i, &dig);
        if (cl == 0 || !dig) {
            /* copy this byte (UTF-8 continuation bytes are never id chars) */
            sb_putn(&b, (const char *)s + i, cl ? cl : 1);
            i += cl ? cl : 1;
            continue;
        }
        char clean[64];
        size_t nclean = 0, j = i, end = i;
        while (j < n) {
            size_t l = id_char_at(s + j, &dig);
            if (l) {
                if (nclean < sizeof clean - 1) {
                    char c;
                    if (l == 1) c = (char)(s[j] == 'x' ? 'X' : s[j]);
                    else c = dig ? (char)('0' + (s[j + 2] - 0x90)) : 'X';
                    clean[nclean] = c;
                }
                nclean++;
                j += l;
                end = j;
            } else if (s[j] == ' ' || s[j] == '-') {
                j++;
            } else {
                break;
            }
        }
        if (nclean >= 15) {
            char masked[64];
            clean[nclean < sizeof clean ? nclean : sizeof clean - 1] = '\0';
            ident_mask(clean, masked, sizeof masked);
            sb_puts(&b, masked);
        } else {
            sb_putn(&b, (const char *)s + i, end - i);
        }
        i = end;
    }
    return sb_take(&b);
}

/* Masked id into out (>= 32): ident_mask, "" for NULL/empty. */
void mask_id(const char *id, char *out, size_t outsz) {
    if (!id || !*id) {
        out[0] = '\0';
        return;
    }
    ident_mask(id, out, outsz);
}

void mask_name(const char *name, char *out, size_t outsz) {
    if (!name || !*name) {
        out[0] = '\0';
        return;
    }
    name_mask(name, out, outsz);
}

/* Masks a subject key: ids and the name part of "person:~<name>|<birth>". */
char *mask_subject(const char *subject) {
    if (!subject) return NULL;
    sbuf b = {0};
    const char *p = subject;
    const char *tilde;
    while ((tilde = strstr(p, "person:~")) != NULL) {
        tilde += strlen("person:~");
        sb_putn(&b, p, (size_t)(tilde - p));
        const char *bar = strchr(tilde, '|');
        size_t nlen = bar ? (size_t)(bar - tilde) : strlen(tilde);
        char name[256], masked[512];
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, tilde, nlen);
        name[nlen] = '\0';
        mask_name(name, masked, sizeof masked);
        sb_puts(&b, masked);
        p = bar ? bar : tilde + strlen(tilde);
    }
    sb_puts(&b, p);
    char *half = sb_take(&b);
    if (!half) return NULL;
    char *out = mask_id_runs(half);
    free(half);
    return out;
}
