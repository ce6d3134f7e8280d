/* outbox.c - the delivery outbox: one row per (alert id, sink, version),
 * delivered at least once (sinks are idempotent on the alert id); failures
 * are retried at a later time and become dead letters after max_attempts. */
#include "store/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest last_error kept on an outbox row, in bytes. */
#define OUTBOX_ERROR_MAX 1000

/* ---- outbox ---------------------------------------------------------------- */

int state_outbox_enqueue(state *st, const char *alert_id, const char *sink, int version) {
    long long now = gg_now_seconds();
    sqlite3_stmt *s = st_kept(st, "outbox enqueue",
                              "INSERT INTO outbox(alert_id, sink, version, status, attempts, next_attempt,"
                              " created_at) VALUES(?1, ?2, ?3, 'pending', 0, ?4, ?4)"
                              " ON CONFLICT(alert_id, sink, version) DO NOTHING");
    if (!s) return -1;
    if (st_bind_text(s, 1, alert_id) != SQLITE_OK || st_bind_text(s, 2, sink) != SQLITE_OK ||
        sqlite3_bind_int(s, 3, version) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, now) != SQLITE_OK) {
        st_db_fail(st, "outbox enqueue: bind");
        st_kept_done(s);
        return -1;
    }
    return st_kept_step_done(st, "outbox enqueue", s);
}

/* One outbox row copied out of SQLite, so callbacks can update the table. */
typedef struct outbox_copy {
    outbox_row row;
    char *alert_id, *sink, *last_error; /* owned */
} outbox_copy;

static void outbox_copies_free(outbox_copy *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].alert_id);
        free(v[i].sink);
        free(v[i].last_error);
    }
    free(v);
}

int state_outbox_due(state *st, int (*fn)(void *ud, const outbox_row *r), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "outbox due",
                "SELECT id, alert_id, sink, version, attempts, last_error FROM outbox"
                " WHERE status = 'pending' AND next_attempt <= ?1 ORDER BY id",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, gg_now_seconds()) != SQLITE_OK) {
        st_db_fail(st, "outbox due: bind");
        sqlite3_finalize(s);
        return -1;
    }
    /* Collect first: the callback delivers (slowly) and then marks rows done
     * or failed, which must not run under an open read cursor. */
    outbox_copy *rows = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            outbox_copy *nr = realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                gg_error("state", "outbox due: out of memory");
                ret = -1;
                break;
            }
            rows = nr;
            cap = ncap;
        }
        outbox_copy *c = &rows[n++];
        int oom = 0;
        memset(c, 0, sizeof *c);
        c->alert_id = st_col_dup(s, 1, &oom);
        c->sink = st_col_dup(s, 2, &oom);
        c->last_error = st_col_dup(s, 5, &oom);
        c->row.id = (long)sqlite3_column_int64(s, 0);
        c->row.version = sqlite3_column_int(s, 3);
        c->row.attempts = sqlite3_column_int(s, 4);
        if (oom) {
            gg_error("state", "outbox due: out of memory");
            ret = -1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "outbox due");
    sqlite3_finalize(s);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        rows[i].row.alert_id = rows[i].alert_id;
        rows[i].row.sink = rows[i].sink;
        rows[i].row.last_error = rows[i].last_error;
        if (fn(ud, &rows[i].row) != 0) break;
    }
    outbox_copies_free(rows, n);
    return ret;
}

int state_outbox_done(state *st, long id) {
    sqlite3_stmt *s = st_kept(st, "outbox done", "UPDATE outbox SET status = 'done', done_at = ?2 WHERE id = ?1");
    if (!s) return -1;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, gg_now_seconds()) != SQLITE_OK) {
        st_db_fail(st, "outbox done: bind");
        st_kept_done(s);
        return -1;
    }
    if (st_kept_step_done(st, "outbox done", s) != 0) return -1;
    if (sqlite3_changes(st->db) == 0) {
        gg_error("state", "outbox done: no outbox row %ld", id);
        return -1;
    }
    return 0;
}

/* Length of the longest prefix of s of at most max bytes that does not split a
 * UTF-8 sequence. */
static size_t utf8_prefix_len(const char *s, size_t max) {
    size_t len = strlen(s);
    if (len <= max) return len;
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    return len;
}

int state_outbox_failed(state *st, long id, const char *error, long long next_attempt,
                        int max_attempts) {
    /* max_attempts <= 0: retry forever. */
    char *kept = NULL; /* owned: the error cut to OUTBOX_ERROR_MAX bytes */
    if (error) {
        size_t len = utf8_prefix_len(error, OUTBOX_ERROR_MAX);
        kept = malloc(len + 1);
        if (!kept) {
            gg_error("state", "outbox failed: out of memory");
            return -1;
        }
        memcpy(kept, error, len);
        kept[len] = '\0';
    }
    sqlite3_stmt *s = st_kept(st, "outbox failed",
                              "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3,"
                              " status = CASE WHEN ?4 > 0 AND attempts + 1 >= ?4 THEN 'dead' ELSE 'pending' END"
                              " WHERE id = ?1");
    if (!s) {
        free(kept);
        return -1;
    }
    int ret;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK || st_bind_text(s, 2, kept) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, next_attempt) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, max_attempts) != SQLITE_OK) {
        ret = st_db_fail(st, "outbox failed: bind");
        st_kept_done(s);
    } else {
        ret = st_kept_step_done(st, "outbox failed", s);
        if (ret == 0 && sqlite3_changes(st->db) == 0) {
            gg_error("state", "outbox failed: no outbox row %ld", id);
            ret = -1;
        }
    }
    free(kept);
    return ret;
}

int state_outbox_pending_count(state *st, const char *alert_id, long *n) {
    *n = 0;
    /* Two statements, not one with "?1 IS NULL OR": an alert's count must
     * use the (alert_id, sink, version) index, since delivery asks it once
     * per row delivered (one shared plan scanned every pending row: quadratic
     * in the rows of a pass); "+status" keeps the planner off the status
     * index, which it prefers without statistics. */
    sqlite3_stmt *s = st_kept(st, "outbox pending count",
                              alert_id ? "SELECT COUNT(*) FROM outbox WHERE alert_id = ?1 AND +status = 'pending'"
                                       : "SELECT COUNT(*) FROM outbox WHERE status = 'pending'");
    if (!s) return -1;
    if (alert_id && st_bind_text(s, 1, alert_id) != SQLITE_OK) {
        st_db_fail(st, "outbox pending count: bind");
        st_kept_done(s);
        return -1;
    }
    int ret = 0;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = (long)sqlite3_column_int64(s, 0);
    else
        ret = st_db_fail(st, "outbox pending count");
    st_kept_done(s);
    return ret;
}

int state_outbox_each(state *st, const char *status,
                      int (*fn)(void *ud, const outbox_row *r, const char *status), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "outbox each",
                "SELECT id, alert_id, sink, version, attempts, last_error, status FROM outbox"
                " WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                &s))
        return -1;
    if (st_bind_text(s, 1, status) != SQLITE_OK) {
        st_db_fail(st, "outbox each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        outbox_row r = {
            .id = (long)sqlite3_column_int64(s, 0),
            .alert_id = st_col_text(s, 1),
            .sink = st_col_text(s, 2),
            .version = sqlite3_column_int(s, 3),
            .attempts = sqlite3_column_int(s, 4),
            .last_error = st_col_text(s, 5),
        };
        if (fn(ud, &r, st_col_text(s, 6)) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "outbox each");
    sqlite3_finalize(s);
    return ret;
}
