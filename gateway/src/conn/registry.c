/* conn/registry.c - the table of connector kinds (see registry.h). Each entry
 * is defined next to its connector (conn_<name>_kind in conn/<name>.c); this
 * file only lists them and answers look-ups. A new connector is one line in
 * `kinds` below. */
#include "conn/registry.h"

#include <stdio.h>
#include <string.h>

#include "conn/conn_internal.h"

static const conn_kind *const kinds[] = {
    &conn_pg_kind,
    &conn_odbc_kind,
    &conn_http_kind,
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

size_t conn_registry_count(void) { return NKINDS; }

const conn_kind *conn_registry_at(size_t i) { return i < NKINDS ? kinds[i] : NULL; }

const conn_kind *conn_registry_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i]->prefix, name) == 0) return kinds[i];
    return NULL;
}

const conn_kind *conn_registry_for_spec(const char *spec, const char **target) {
    if (!spec) return NULL;
    const char *colon = strchr(spec, ':');
    if (!colon) return NULL;
    size_t len = (size_t)(colon - spec);
    for (size_t i = 0; i < NKINDS; i++) {
        if (strlen(kinds[i]->prefix) == len && strncmp(kinds[i]->prefix, spec, len) == 0) {
            if (target) {
                const char *t = colon + 1;
                while (*t == ' ' || *t == '\t') t++;
                *target = t;
            }
            return kinds[i];
        }
    }
    return NULL;
}

char *conn_registry_list(char *buf, size_t bufsz, const char *before, const char *after,
                         const char *sep, const char *last) {
    if (!buf || bufsz == 0) return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < NKINDS && used < bufsz; i++) {
        const char *join = i == 0 ? "" : (i + 1 == NKINDS ? last : sep);
        int n = snprintf(buf + used, bufsz - used, "%s%s%s%s", join, before, kinds[i]->prefix, after);
        if (n < 0) break;
        used += (size_t)n;
    }
    return buf;
}

const conn_kind *conn_get_kind(const conn *c) { return c->kind; }

int conn_kind_serves(const conn_kind *k, unsigned what) { return k && (k->streams & what) != 0; }
