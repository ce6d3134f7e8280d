/* marks.c - watermarks: an incremental stream's opaque position per (source,
 * stream), stored in the same transaction as the facts it read; and marks:
 * other small texts the cycle remembers per (scope, key), such as the verdict
 * last applied to an alert or how far a stream's lookups went; and the
 * stored subjects of interest (ids and case keys) that app/cycle.c keeps
 * across cycles while the small side is unchanged; and the row memo of each
 * stream (app/pull.h), one blob per stream. */
#include "store/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both are a text value under a two-part key; op names the operation in
 * messages ("watermark get", "mark set"). */

/* Logs "<op>: bind: ..." and finalizes s; returns -1. */
static int bind_failed(state *st, const char *op, sqlite3_stmt *s) {
    char what[64];
    snprintf(what, sizeof what, "%s: bind", op);
    st_db_fail(st, what);
    sqlite3_finalize(s);
    return -1;
}

/* *value: malloc'd value of the one row sql selects for (k1, k2), or NULL. */
static int text_get(state *st, const char *op, const char *sql, const char *k1, const char *k2, char **value) {
    sqlite3_stmt *s;
    *value = NULL;
    if (st_prepare(st, op, sql, &s)) return -1;
    if (st_bind_text(s, 1, k1) != SQLITE_OK || st_bind_text(s, 2, k2) != SQLITE_OK) {
        return bind_failed(st, op, s);
    }
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        int oom = 0;
        *value = st_col_dup(s, 0, &oom);
        if (oom) {
            gg_error("state", "%s: out of memory", op);
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, op);
    }
    sqlite3_finalize(s);
    return ret;
}

/* Runs the upsert sql with (k1, k2, value, now). */
static int text_set(state *st, const char *op, const char *sql, const char *k1, const char *k2, const char *value) {
    sqlite3_stmt *s;
    if (st_prepare(st, op, sql, &s)) return -1;
    if (st_bind_text(s, 1, k1) != SQLITE_OK || st_bind_text(s, 2, k2) != SQLITE_OK ||
        st_bind_text(s, 3, value) != SQLITE_OK || sqlite3_bind_int64(s, 4, gg_now_seconds()) != SQLITE_OK) {
        return bind_failed(st, op, s);
    }
    return st_step_done(st, op, s);
}

/* ---- watermarks ------------------------------------------------------------ */

int state_watermark_get(state *st, const char *source, const char *stream, char **value) {
    return text_get(st, "watermark get", "SELECT value FROM watermarks WHERE source = ?1 AND stream = ?2", source,
                    stream, value);
}

int state_watermark_set(state *st, const char *source, const char *stream, const char *value) {
    return text_set(st, "watermark set",
                    "INSERT INTO watermarks(source, stream, value, updated_at) VALUES(?1, ?2, ?3, ?4)"
                    " ON CONFLICT(source, stream) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    source, stream, value);
}

/* ---- marks ----------------------------------------------------------------- */

int state_mark_get(state *st, const char *scope, const char *key, char **value) {
    return text_get(st, "mark get", "SELECT value FROM marks WHERE scope = ?1 AND key = ?2", scope, key, value);
}

int state_mark_set(state *st, const char *scope, const char *key, const char *value) {
    return text_set(st, "mark set",
                    "INSERT INTO marks(scope, key, value, updated_at) VALUES(?1, ?2, ?3, ?4)"
                    " ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    scope, key, value);
}

/* ---- the stored subjects of interest ---------------------------------------- */

/* Inserts every key of m as (kind, key) with the prepared statement s. */
static int interest_insert(state *st, sqlite3_stmt *s, int kind, const strmap *m) {
    size_t it = 0;
    const char *key;
    int v;
    while (strmap_next(m, &it, &key, &v)) {
        sqlite3_reset(s);
        if (sqlite3_bind_int(s, 1, kind) != SQLITE_OK || st_bind_text(s, 2, key) != SQLITE_OK)
            return st_db_fail(st, "interest replace: bind");
        if (sqlite3_step(s) != SQLITE_DONE) return st_db_fail(st, "interest replace: insert");
    }
    return 0;
}

int state_interest_replace(state *st, const strmap *ids, const strmap *cases) {
    sqlite3_stmt *s;
    if (st_prepare(st, "interest replace: clear", "DELETE FROM interest", &s)) return -1;
    if (st_step_done(st, "interest replace: clear", s)) return -1;
    if (st_prepare(st, "interest replace", "INSERT INTO interest(kind, key) VALUES(?1, ?2)", &s)) return -1;
    int rc = interest_insert(st, s, 0, ids);
    if (rc == 0) rc = interest_insert(st, s, 1, cases);
    sqlite3_finalize(s);
    return rc;
}

int state_interest_load(state *st, strmap *ids, strmap *cases) {
    sqlite3_stmt *s;
    if (st_prepare(st, "interest load", "SELECT kind, key FROM interest", &s)) return -1;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        strmap *m = sqlite3_column_int(s, 0) == 1 ? cases : ids;
        if (strmap_add(m, st_col_text(s, 1)) < 0) {
            gg_error("state", "interest load: out of memory");
            ret = -1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) ret = st_db_fail(st, "interest load");
    sqlite3_finalize(s);
    return ret;
}

/* ---- row memos ------------------------------------------------------------ */

/* A part is the words in host byte order (the store is not moved between
 * machines of another order; a foreign one would only pass no row over). */
int state_row_memo_clear(state *st, const char *source, const char *stream) {
    sqlite3_stmt *s;
    if (st_prepare(st, "row memo clear", "DELETE FROM row_memo WHERE source = ?1 AND stream = ?2", &s)) return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, stream) != SQLITE_OK)
        return bind_failed(st, "row memo clear", s);
    return st_step_done(st, "row memo clear", s);
}

int state_row_memo_append(state *st, const char *source, const char *stream, long part, uint64_t token,
                          const uint64_t *h, size_t n) {
    sqlite3_stmt *s;
    if (n == 0) return 0;
    if (st_prepare(st, "row memo append",
                   "INSERT OR REPLACE INTO row_memo(source, stream, part, token, words) VALUES(?1, ?2, ?3, ?4, ?5)", &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, stream) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, part) != SQLITE_OK || sqlite3_bind_int64(s, 4, (sqlite3_int64)token) != SQLITE_OK ||
        sqlite3_bind_blob64(s, 5, h, (sqlite3_uint64)n * sizeof *h, SQLITE_STATIC) != SQLITE_OK)
        return bind_failed(st, "row memo append", s);
    return st_step_done(st, "row memo append", s);
}

int state_row_memo_load(state *st, const char *source, const char *stream, uint64_t *token, uint64_t **h, size_t *n) {
    sqlite3_stmt *s;
    *token = 0;
    *h = NULL;
    *n = 0;
    if (st_prepare(st, "row memo load",
                   "SELECT token, words, (SELECT sum(length(words)) FROM row_memo WHERE source = ?1 AND stream = ?2)"
                   " FROM row_memo WHERE source = ?1 AND stream = ?2 ORDER BY part",
                   &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, stream) != SQLITE_OK)
        return bind_failed(st, "row memo load", s);
    uint64_t *a = NULL, tok = 0;
    size_t have = 0, total = 0;
    int rc, ok = 1, ret = 0, said = 0;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(s, 1);
        size_t bytes = (size_t)sqlite3_column_bytes(s, 1);
        if (!a) {
            tok = (uint64_t)sqlite3_column_int64(s, 0);
            total = (size_t)sqlite3_column_int64(s, 2);
            if (total == 0 || total % sizeof *a || !(a = malloc(total))) {
                if (total && total % sizeof *a == 0) {
                    gg_warn("state", "source %s, stream %s: no memory for the row memo (%zu bytes); every row is mapped",
                            source, stream, total);
                    said = 1;
                }
                ok = 0;
                break;
            }
        }
        ok = blob && bytes % sizeof *a == 0 && (uint64_t)sqlite3_column_int64(s, 0) == tok &&
             have + bytes / sizeof *a <= total / sizeof *a;
        if (ok) {
            memcpy(a + have, blob, bytes);
            have += bytes / sizeof *a;
        }
    }
    if (ok && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = st_db_fail(st, "row memo load");
    if (ret == 0 && (!ok || have != total / sizeof(uint64_t))) {
        if ((a || total) && !said)
            gg_warn("state", "source %s, stream %s: the stored row memo is not well formed; every row is mapped this "
                    "cycle", source, stream);
        ok = 0;
    }
    sqlite3_finalize(s);
    if (ret || !ok || !a) {
        free(a);
        return ret;
    }
    *token = tok;
    *h = a;
    *n = have;
    return 0;
}
