/* conn/registry.h - the table of connector kinds: what each "<prefix>:" of a
 * connection spec means.
 *
 * Every place that used to compare spec prefixes ("pg:", "odbc:", "http:")
 * asks this table instead: conn.c to pick the ops, config.c to validate specs
 * and attach passwords, authoring.c for `adapter new`, the adapter runtime for
 * which stream kinds a connection serves and which placeholder style its SQL
 * uses.
 *
 * Adding a connector: write conn/<name>.c defining its conn_ops and a
 * `const conn_kind conn_<name>_kind`, declare it in conn_internal.h and add
 * one line to the table in registry.c. Nothing else parses prefixes.
 *
 * The table is constant (no mutable state); the returned pointers live for the
 * whole process and are never freed. */
#ifndef GG_CONN_REGISTRY_H
#define GG_CONN_REGISTRY_H

#include <stddef.h>

#include "conn/conn.h"

struct conn_ops;

/* Stream kinds a connector serves (a bit set). */
#define CONN_SERVES_SQL 1u  /* sql = [[...]] streams, conn:query / conn:exec */
#define CONN_SERVES_HTTP 2u /* get = "/path" streams, conn:get / conn:post */

/* SQL placeholder styles. */
typedef enum { CONN_PARAMS_NONE = 0, CONN_PARAMS_DOLLAR, CONN_PARAMS_QMARK } conn_param_style;

typedef struct conn_kind {
    const char *prefix;            /* "pg": specs start with "pg:" */
    conn_type type;                /* the value conn_get_type() answers */
    const struct conn_ops *ops;    /* internal to conn/ */
    int takes_password;            /* conn.<c>.password_file/_env apply */
    int takes_token;               /* conn.<c>.token_file/_env apply */
    unsigned streams;              /* CONN_SERVES_* bits */
    conn_param_style params;       /* $1.. or ? */
    /* Returns spec with the password added in the form the driver reads
     * (malloc'd; NULL on out of memory). NULL when !takes_password. */
    char *(*with_password)(const char *spec, const char *password);
    const char *skeleton;          /* `adapter new --kind <prefix>`: the Lua file; @NAME@ replaced */
    const char *stanza;            /* ... and the [source] stanza; @NAME@ @UNAME@ @PATH@ replaced */
    const char *help;              /* one line: "pg:<libpq conninfo>" and what it is */
} conn_kind;

/* Number of kinds and the i-th (0-based; NULL past the end), in table order. */
size_t conn_registry_count(void);
const conn_kind *conn_registry_at(size_t i);

/* The kind named `name` (the prefix without ':'), NULL when unknown. */
const conn_kind *conn_registry_find(const char *name);

/* The kind of a spec "<prefix>:<target>", NULL when the prefix is unknown. When
 * target is non-NULL it receives the text after the ':' (leading blanks skipped). */
const conn_kind *conn_registry_for_spec(const char *spec, const char **target);

/* Writes the prefixes as a list, each wrapped in before/after, joined with sep
 * and the last one with last: ("\"", ":\"", ", ", " or ") gives
 * "\"pg:\", \"odbc:\" or \"http:\"". Truncates to bufsz. Returns buf. */
char *conn_registry_list(char *buf, size_t bufsz, const char *before, const char *after,
                         const char *sep, const char *last);

/* The kind of an open connection (never NULL). */
const conn_kind *conn_get_kind(const conn *c);

/* 1 when the kind serves streams of `what` (CONN_SERVES_SQL / CONN_SERVES_HTTP). */
int conn_kind_serves(const conn_kind *k, unsigned what);

#endif
