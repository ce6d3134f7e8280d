/* quarantine.c - the quarantine (rejected records, records kept with an
 * invalid id, rejected corrections whose last good version is kept), one row
 * per (source, stream, ref, reason) with a count and its kind, and the
 * data-quality counters per (cycle, source, metric, reason). Both writers use
 * statements cached in the handle and the caller's transaction. */
#include "store/state_internal.h"

#include <string.h>

/* ---- quarantine ------------------------------------------------------------ */

const char *quarantine_kind_name(quarantine_kind k) {
    switch (k) {
    case QK_INVALID_ID: return "invalid_id";
    case QK_LAST_GOOD_KEPT: return "last_good_kept";
    case QK_REJECTED: break;
    }
    return "rejected";
}

const char *quarantine_kind_words(const char *stored) {
    if (stored && !strcmp(stored, "invalid_id")) return "invalid id, kept";
    if (stored && !strcmp(stored, "last_good_kept")) return "rejected, last good kept";
    return "rejected";
}

int state_quarantine_add(state *st, const char *source, const char *stream, const char *ref,
                         const char *reason, const char *raw_json, long cycle) {
    return state_quarantine_add_kind(st, QK_REJECTED, source, stream, ref, reason, raw_json, cycle);
}

int state_quarantine_keep_fact(state *st, const char *source, int kind, const char *ref, long cycle, int *kept) {
    *kept = 0;
    sqlite3_stmt *s;
    if (st_prepare(st, "quarantine keep fact",
                "UPDATE facts SET last_cycle = ?4 WHERE source = ?1 AND kind = ?2 AND ref = ?3", &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)kind)) != SQLITE_OK ||
        st_bind_text(s, 3, ref) != SQLITE_OK || sqlite3_bind_int64(s, 4, cycle) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "quarantine keep fact: bind");
    }
    if (st_step_done(st, "quarantine keep fact", s)) return -1;
    *kept = sqlite3_changes(st->db) > 0;
    return 0;
}

int state_quarantine_add_kind(state *st, quarantine_kind kind, const char *source, const char *stream,
                              const char *ref, const char *reason, const char *raw_json, long cycle) {
    /* Missing keys are stored as "" so that UNIQUE(...) deduplicates them
     * (NULLs never compare equal). */
    sqlite3_stmt *s = st->quarantine_add;
    int ret = 0;
    if (st_bind_text(s, 1, source ? source : "") != SQLITE_OK ||
        st_bind_text(s, 2, stream ? stream : "") != SQLITE_OK ||
        st_bind_text(s, 3, ref ? ref : "") != SQLITE_OK ||
        st_bind_text(s, 4, reason ? reason : "") != SQLITE_OK ||
        st_bind_text(s, 5, raw_json) != SQLITE_OK || sqlite3_bind_int64(s, 6, cycle) != SQLITE_OK ||
        sqlite3_bind_int64(s, 7, gg_now_seconds()) != SQLITE_OK ||
        st_bind_text(s, 8, quarantine_kind_name(kind)) != SQLITE_OK) {
        ret = st_db_fail(st, "quarantine add: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = st_db_fail(st, "quarantine add");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* Lists quarantine rows: of one source (NULL: all), or (cycle != 0) the
 * last-good-kept rows seen in that cycle (cycle < 0: the latest cycle). */
static int quarantine_select(state *st, const char *source, long cycle,
                             int (*fn)(void *ud, const quarantine_row *r), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "quarantine each",
                "SELECT id, source, stream, ref, reason, raw_json, at, kind, last_cycle FROM quarantine"
                " WHERE (?1 IS NULL OR source = ?1)"
                " AND (?2 = 0 OR (kind = 'last_good_kept' AND last_cycle ="
                " CASE WHEN ?2 > 0 THEN ?2 ELSE (SELECT MAX(id) FROM cycles) END)) ORDER BY id",
                &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || sqlite3_bind_int64(s, 2, cycle) != SQLITE_OK) {
        st_db_fail(st, "quarantine each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        quarantine_row r = {
            .id = (long)sqlite3_column_int64(s, 0),
            .source = st_col_text(s, 1),
            .stream = st_col_text(s, 2),
            .ref = st_col_text(s, 3),
            .reason = st_col_text(s, 4),
            .raw_json = st_col_text(s, 5),
            .at = sqlite3_column_int64(s, 6),
            .kind = st_col_text(s, 7),
            .last_cycle = (long)sqlite3_column_int64(s, 8),
        };
        if (fn(ud, &r) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "quarantine each");
    sqlite3_finalize(s);
    return ret;
}

int state_quarantine_each(state *st, const char *source,
                          int (*fn)(void *ud, const quarantine_row *r), void *ud) {
    return quarantine_select(st, source, 0, fn, ud);
}

int state_quarantine_last_good_each(state *st, long cycle, int (*fn)(void *ud, const quarantine_row *r),
                                    void *ud) {
    return quarantine_select(st, NULL, cycle > 0 ? cycle : -1, fn, ud);
}

/* ---- data quality ---------------------------------------------------------- */

int state_dq_add(state *st, const char *source, const char *metric, const char *reason, long n,
                 long cycle) {
    sqlite3_stmt *s = st->dq_add;
    int ret = 0;
    if (sqlite3_bind_int64(s, 1, cycle) != SQLITE_OK ||
        st_bind_text(s, 2, source ? source : "") != SQLITE_OK ||
        st_bind_text(s, 3, metric ? metric : "") != SQLITE_OK ||
        st_bind_text(s, 4, reason ? reason : "") != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, n) != SQLITE_OK) {
        ret = st_db_fail(st, "dq add: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = st_db_fail(st, "dq add");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int state_dq_each(state *st, long cycle,
                  int (*fn)(void *ud, const char *source, const char *metric, const char *reason,
                            long n),
                  void *ud) {
    sqlite3_stmt *s;
    /* cycle <= 0: the latest cycle that has counts. */
    if (st_prepare(st, "dq each",
                "SELECT source, metric, reason, n FROM dq"
                " WHERE cycle = CASE WHEN ?1 > 0 THEN ?1 ELSE (SELECT MAX(cycle) FROM dq) END"
                " ORDER BY source, metric, reason",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, cycle) != SQLITE_OK) {
        st_db_fail(st, "dq each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, st_col_text(s, 0), st_col_text(s, 1), st_col_text(s, 2),
               (long)sqlite3_column_int64(s, 3)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "dq each");
    sqlite3_finalize(s);
    return ret;
}
