/* marks.c - watermarks: an incremental stream's opaque position per (source,
 * stream), stored in the same transaction as the facts it read; and marks:
 * other small texts the cycle remembers per (scope, key), such as the verdict
 * last applied to an alert or how far a stream's lookups went. */
#include "store/state_internal.h"

/* ---- watermarks ------------------------------------------------------------ */

int state_watermark_get(state *st, const char *source, const char *stream, char **value) {
    sqlite3_stmt *s;
    *value = NULL;
    if (st_prepare(st, "watermark get",
                "SELECT value FROM watermarks WHERE source = ?1 AND stream = ?2", &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, stream) != SQLITE_OK) {
        st_db_fail(st, "watermark get: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        int oom = 0;
        *value = st_col_dup(s, 0, &oom);
        if (oom) {
            gg_error("state", "watermark get: out of memory");
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "watermark get");
    }
    sqlite3_finalize(s);
    return ret;
}

int state_watermark_set(state *st, const char *source, const char *stream, const char *value) {
    sqlite3_stmt *s;
    if (st_prepare(st, "watermark set",
                "INSERT INTO watermarks(source, stream, value, updated_at) VALUES(?1, ?2, ?3, ?4)"
                " ON CONFLICT(source, stream) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, stream) != SQLITE_OK ||
        st_bind_text(s, 3, value) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, gg_now_seconds()) != SQLITE_OK) {
        st_db_fail(st, "watermark set: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return st_step_done(st, "watermark set", s);
}

/* ---- marks ----------------------------------------------------------------- */

int state_mark_get(state *st, const char *scope, const char *key, char **value) {
    sqlite3_stmt *s;
    *value = NULL;
    if (st_prepare(st, "mark get", "SELECT value FROM marks WHERE scope = ?1 AND key = ?2", &s)) return -1;
    if (st_bind_text(s, 1, scope) != SQLITE_OK || st_bind_text(s, 2, key) != SQLITE_OK) {
        st_db_fail(st, "mark get: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        int oom = 0;
        *value = st_col_dup(s, 0, &oom);
        if (oom) {
            gg_error("state", "mark get: out of memory");
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "mark get");
    }
    sqlite3_finalize(s);
    return ret;
}

int state_mark_set(state *st, const char *scope, const char *key, const char *value) {
    sqlite3_stmt *s;
    if (st_prepare(st, "mark set",
                "INSERT INTO marks(scope, key, value, updated_at) VALUES(?1, ?2, ?3, ?4)"
                " ON CONFLICT(scope, key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                &s))
        return -1;
    if (st_bind_text(s, 1, scope) != SQLITE_OK || st_bind_text(s, 2, key) != SQLITE_OK ||
        st_bind_text(s, 3, value) != SQLITE_OK || sqlite3_bind_int64(s, 4, gg_now_seconds()) != SQLITE_OK) {
        st_db_fail(st, "mark set: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return st_step_done(st, "mark set", s);
}
