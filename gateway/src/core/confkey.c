/* confkey.c - typed configuration keys described as data (see confkey.h):
 * matching names against keys and patterns, parsing values by type with
 * their range, applying defaults. */
#include "core/confkey.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *confkey_type_name(ck_type t) {
    switch (t) {
    case CK_STRING: return "string";
    case CK_BOOL: return "bool";
    case CK_INT: return "int";
    case CK_LONG: return "long";
    case CK_SIZE: return "size";
    case CK_LIST: return "list";
    case CK_PATH: return "path";
    case CK_SECRET: return "secret";
    case CK_ENUM: return "enum";
    case CK_DATE: return "date";
    }
    return "?";
}

int confkey_matches(const confkey *k, const char *name) {
    const char *lt = strchr(k->key, '<');
    if (!lt) return strcmp(k->key, name) == 0;
    size_t pre = (size_t)(lt - k->key);
    if (strncmp(k->key, name, pre) != 0) return 0;
    const char *gt = strchr(lt, '>');
    const char *suffix = gt ? gt + 1 : "";
    /* The variable part: one or more characters, no '.'. */
    const char *var = name + pre;
    size_t slen = strlen(suffix);
    if (!slen) return *var != '\0' && !strchr(var, '.');
    const char *dot = strchr(var, '.');
    return dot && dot > var && strcmp(dot, suffix) == 0;
}

int confkey_parse_long(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int confkey_parse_size(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || x < 0) return -1;
    long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1L << 10;
    else if (*end == 'M' || *end == 'm') mul = 1L << 20;
    else if (*end == 'G' || *end == 'g') mul = 1L << 30;
    if (mul != 1) end++;
    if (*end != '\0' || x > hi / mul || x * mul < lo) return -1;
    *out = x * mul;
    return 0;
}

int confkey_parse_bool(const char *v, int *out) {
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

char **confkey_split_list(const char *v, size_t *n) {
    char **items = NULL;
    size_t cnt = 0;
    char *copy = xstrdup(v);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*tok) continue;
        items = xrealloc(items, (cnt + 1) * sizeof *items);
        items[cnt++] = xstrdup(tok);
    }
    free(copy);
    *n = cnt;
    return items;
}

void confkey_free_list(char **items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

void confkey_range(const confkey *k, char *out, size_t outsz) {
    if (k->type == CK_INT || k->type == CK_LONG || k->type == CK_SIZE)
        snprintf(out, outsz, "%ld..%ld", k->min, k->max);
    else if (k->type == CK_ENUM && k->choices)
        snprintf(out, outsz, "%s", k->choices);
    else
        snprintf(out, outsz, "%s", "");
}

/* 1 when val is one of k->choices ("a, b, c"). */
static int confkey_choice_ok(const confkey *k, const char *val) {
    const char *c = k->choices;
    size_t n = strlen(val);
    while (c && *c) {
        while (*c == ' ' || *c == ',') c++;
        size_t len = strcspn(c, ",");
        if (len == n && n && strncmp(c, val, n) == 0) return 1;
        c += len;
    }
    return 0;
}

static int bad(const confkey *k, const char *name, const char *val, char *err, size_t errsz) {
    switch (k->type) {
    case CK_INT:
    case CK_LONG:
        snprintf(err, errsz, "key %s: bad value '%s' (an integer from %ld to %ld)", name, val, k->min, k->max);
        break;
    case CK_SIZE:
        snprintf(err, errsz, "key %s: bad value '%s' (a byte count from %ld to %ld, K/M/G allowed)", name, val,
                 k->min, k->max);
        break;
    case CK_BOOL:
        snprintf(err, errsz, "key %s: bad value '%s' (yes or no)", name, val);
        break;
    default:
        snprintf(err, errsz, "key %s: bad value '%s'", name, val);
        break;
    }
    return -1;
}

int confkey_store(const confkey *k, void *base, const char *name, const char *val, char *err, size_t errsz) {
    if (k->set) return k->set(k, base, name, val, err, errsz);
    char *at = (char *)base + k->offset;
    long l;
    switch (k->type) {
    case CK_BOOL:
        if (confkey_parse_bool(val, (int *)(void *)at)) return bad(k, name, val, err, errsz);
        return 0;
    case CK_INT:
        if (confkey_parse_long(val, k->min, k->max, &l)) return bad(k, name, val, err, errsz);
        *(int *)(void *)at = (int)l;
        return 0;
    case CK_LONG:
        if (confkey_parse_long(val, k->min, k->max, (long *)(void *)at)) return bad(k, name, val, err, errsz);
        return 0;
    case CK_SIZE:
        if (confkey_parse_size(val, k->min, k->max, (long *)(void *)at)) return bad(k, name, val, err, errsz);
        return 0;
    case CK_ENUM:
        if (!confkey_choice_ok(k, val)) {
            snprintf(err, errsz, "key %s: '%s' is not one of %s", name, val, k->choices ? k->choices : "");
            return -1;
        }
        /* fall through */
    case CK_STRING:
    case CK_PATH: {
        char *copy = xstrdup(val);
        free(*(char **)(void *)at);
        *(char **)(void *)at = copy;
        return 0;
    }
    default:
        snprintf(err, errsz, "key %s: no way to store a %s (internal error)", name, confkey_type_name(k->type));
        return -1;
    }
}

int confkey_defaults(const confkey *keys, size_t n, void *base, char *err, size_t errsz) {
    for (size_t i = 0; i < n; i++) {
        if (!keys[i].def || strchr(keys[i].key, '<')) continue;
        if (confkey_store(&keys[i], base, keys[i].key, keys[i].def, err, errsz) != 0) return -1;
    }
    return 0;
}
