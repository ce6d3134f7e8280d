/* touched.c - the touched log: which subjects the facts written since the
 * last match concern, so that the next match recomputes only those
 * (app/cycle.c, "matching only what changed").
 *
 * The log is the table `touched` (schema_sql), filled in the transaction of
 * the write itself, so a crash leaves the log and the facts consistent: by
 * the writer (store/facts.c, fact_store, with st_touch_keys and
 * st_touch_stored_keys) for inserts and updates, by a trigger for deletes.
 * Each insert, delete, or update that changes a fact's content (as the change
 * counter counts it: only last_cycle moving is no change) adds the keys of
 * the fact as it was and as it is:
 *   'i' <id_norm>     the fact's valid normalized id;
 *   'c' <case_key>    its assistance case;
 *   'n' <name_norm>   the folded name of a fact without a valid id (its low
 *                     links go by name and birth date);
 *   'v'               a verdict (every match reads all of them: the key only
 *                     says that one changed, so that a match is due).
 *
 * The writer logs no insert or update by trigger: a trigger on facts makes
 * SQLite keep a statement journal for every write, and with 16 KiB pages the
 * four or five pages of each went to a temporary file (stores of earlier
 * builds lose those triggers at open, st_touch_log_upgrade, and the log's
 * two indexes of before, facts_id and facts_no_id: turned off then, the next
 * match builds its one index).
 *
 * The log is "on" while its delete trigger (and its index) exist. A match turns
 * it on, emptied, in
 * the transaction that stores its alerts (state_touch_log_restart); a cycle
 * that will match everything anyway turns it off first (state_touch_log_stop),
 * so a first load of a city does not fill it. On means: every fact written
 * since the last stored match is in it, also by cycles that only pulled (the
 * daemon's, between its matches), which put the match's mark back for it.
 *
 * Beside it, `low_links` keeps what the last match found of the low links'
 * candidates: for each key (folded name and stated birth date) of a fact
 * without a valid id, the ids some fact names so ('' when none), so that the
 * next match of touched subjects need not walk every person to find them. */
#include "store/state_internal.h"

#include <string.h>
#include <time.h>

/* A key is added unless the log holds it: not INSERT OR IGNORE, whose
 * conflict clause an upsert's own overrides inside a trigger. */
#define TOUCH_KEY(k, cond) \
    " INSERT INTO touched(key) SELECT " k " WHERE " cond " AND NOT EXISTS (SELECT 1 FROM touched WHERE key = " k ");"
#define TOUCH_KEYS(r)                                                                              \
    TOUCH_KEY("'i' || " r ".id_norm", r ".kind <> 'verdict' AND " r ".id_norm <> ''")              \
    TOUCH_KEY("'c' || " r ".case_key", r ".kind <> 'verdict' AND " r ".case_key IS NOT NULL")      \
    TOUCH_KEY("'n' || " r ".name_norm",                                                            \
              r ".kind <> 'verdict' AND " r ".id_norm = '' AND " r ".name_norm IS NOT NULL")        \
    TOUCH_KEY("'v'", r ".kind = 'verdict'")

/* The index a match of touched subjects reads: the facts other than persons
 * (the register has facts_person_names) and verdicts (read whole) by id, with
 * their folded names (state_fact_names_walk, state_facts_of_ids), and, under
 * the id '', the named facts without a valid id. One index, so its build
 * scans the facts once: created with the log, after the first match, sorted
 * from the stored facts (two indexes took two scans: 0.48 s against 0.37 s
 * at 1M residents; 5 s at 4M).
 * Kept through a first load instead (the two of before, measured again once
 * the writes no longer journaled their pages) they cost as much at 1M and
 * more at 4M: phase 2 took 4.1 s longer, the random inserts of 1.1M facts
 * spilling through the page cache. Never dropped after: a later load keeps
 * it for the rows it writes. */
#define TOUCH_INDEXES_SQL ST_TOUCH_INDEX_SQL /* state_internal.h: the index builder makes it too */

static const char *const touch_on_sql =
    TOUCH_INDEXES_SQL
    "DELETE FROM touched;"
    "DROP TRIGGER IF EXISTS facts_touched_ins;"
    "DROP TRIGGER IF EXISTS facts_touched_upd;"
    "CREATE TRIGGER IF NOT EXISTS facts_touched_del AFTER DELETE ON facts"
    " BEGIN" TOUCH_KEYS("old") " END;";

static const char *const touch_off_sql =
    "DROP TRIGGER IF EXISTS facts_touched_ins;"
    "DROP TRIGGER IF EXISTS facts_touched_del;"
    "DROP TRIGGER IF EXISTS facts_touched_upd;"
    "DELETE FROM touched;";

/* The keys of a fact as stored (the writer's parameters ?1 source, ?2 kind,
 * ?3 ref), as TOUCH_KEYS has them. */
static const char *const touch_stored_sql =
    "INSERT OR IGNORE INTO touched(key)"
    " SELECT 'i' || id_norm FROM facts WHERE kind = ?2 AND source = ?1 AND ref = ?3"
    "  AND kind <> 'verdict' AND id_norm <> ''"
    " UNION ALL SELECT 'c' || case_key FROM facts WHERE kind = ?2 AND source = ?1 AND ref = ?3"
    "  AND kind <> 'verdict' AND case_key IS NOT NULL"
    " UNION ALL SELECT 'n' || name_norm FROM facts WHERE kind = ?2 AND source = ?1 AND ref = ?3"
    "  AND kind <> 'verdict' AND id_norm = '' AND name_norm IS NOT NULL"
    " UNION ALL SELECT 'v' FROM facts WHERE kind = ?2 AND source = ?1 AND ref = ?3 AND kind = 'verdict'";

int st_touch_prepare(state *st) {
    int rc = sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO touched(key) VALUES(?1 || ?2)", -1, &st->touch_add, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(st->db, touch_stored_sql, -1, &st->touch_old, NULL);
    return rc;
}

int st_touch_log_upgrade(state *st) {
    long n = st_query_long(st, "touched log upgrade",
                           "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                           " AND name IN ('facts_touched_ins', 'facts_touched_upd')");
    if (n < 0) return -1;
    if (n > 0 && st_exec_sql(st, "touched log upgrade",
                             "DROP TRIGGER IF EXISTS facts_touched_ins; DROP TRIGGER IF EXISTS facts_touched_upd;"))
        return -1;
    /* the two indexes of earlier builds: the log goes off with them (the
     * next match matches every subject, as after any new build, and turns
     * it on with facts_subject) */
    n = st_query_long(st, "touched log upgrade",
                      "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('facts_id', 'facts_no_id')");
    if (n <= 0) return (int)n;
    gg_info("state", "touched log: its two indexes of an earlier build are dropped; the next match builds its one");
    if (st_exec_sql(st, "touched log upgrade",
                    "BEGIN IMMEDIATE; DROP INDEX IF EXISTS facts_id; DROP INDEX IF EXISTS facts_no_id;"
                    " DROP TRIGGER IF EXISTS facts_touched_del; DELETE FROM touched; COMMIT;") == 0)
        return 0;
    if (!sqlite3_get_autocommit(st->db)) (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Adds one key: a type letter and its value ("": only the letter). */
static int touch_key(state *st, const char *type, const char *value) {
    int ret = 0;
    if (st_bind_text(st->touch_add, 1, type) != SQLITE_OK || st_bind_text(st->touch_add, 2, value) != SQLITE_OK)
        ret = st_db_fail(st, "touched log: bind");
    else if (sqlite3_step(st->touch_add) != SQLITE_DONE)
        ret = st_db_fail(st, "touched log");
    sqlite3_reset(st->touch_add);
    sqlite3_clear_bindings(st->touch_add);
    return ret;
}

int st_touch_keys(state *st, const fact *f) {
    if (f->kind == FK_VERDICT) return touch_key(st, "v", "");
    const char *case_key = FACT_HAS(f, FF_CASE) ? f->f[FF_CASE].s : NULL;
    if (f->id_norm[0] && touch_key(st, "i", f->id_norm)) return -1;
    if (case_key && touch_key(st, "c", case_key)) return -1;
    if (!f->id_norm[0] && f->name_norm && touch_key(st, "n", f->name_norm)) return -1;
    return 0;
}

int st_touch_stored_keys(state *st, const fact *f) {
    sqlite3_stmt *s = st->touch_old;
    int ret = 0;
    if (st_bind_text(s, 1, f->source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name(f->kind)) != SQLITE_OK ||
        st_bind_text(s, 3, f->ref) != SQLITE_OK)
        ret = st_db_fail(st, "touched log: bind");
    else if (sqlite3_step(s) != SQLITE_DONE)
        ret = st_db_fail(st, "touched log: stored keys");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int state_touch_log_restart(state *st) {
    /* The first start builds the indexes: a scan of every stored fact, once
     * per store, timed for the operators (a first cycle ends that much later). */
    int had = st_query_long(st, "touched log start",
                            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'facts_subject'") == 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* the index with the sorter's small cache when it is built here (the
     * builder beside the core did not) */
    if (!had && st_exec_index_build(st->db, "touched log start", TOUCH_INDEXES_SQL, STATE_CACHE_KIB)) return -1;
    if (st_exec_sql(st, "touched log start", touch_on_sql)) return -1;
    st->touch_on = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!had)
        gg_info("state", "touched log on: its indexes were built in %.2f s (once per store)",
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}

int state_touch_log_stop(state *st) {
    if (st_exec_sql(st, "touched log stop", touch_off_sql)) return -1;
    st->touch_on = 0;
    return 0;
}

int state_touch_log_on(state *st) {
    long n = st_query_long(st, "touched log on",
                           "SELECT count(*) FROM sqlite_master WHERE name IN ('facts_touched_del', 'facts_subject')");
    return n < 0 ? -1 : n == 2;
}

long state_touched_count(state *st) { return st_query_long(st, "touched count", "SELECT count(*) FROM touched"); }

int state_touched_each(state *st, int (*fn)(void *ud, char type, const char *value), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "touched each", "SELECT key FROM touched", &s)) return -1;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = st_col_text(s, 0);
        if (!k || !k[0]) continue;
        if ((ret = fn(ud, k[0], k + 1)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "touched each");
    sqlite3_finalize(s);
    return ret < 0 ? -1 : ret;
}

int state_low_links_replace(state *st, const strmap *pairs) {
    sqlite3_stmt *s;
    if (st_prepare(st, "low links replace: clear", "DELETE FROM low_links", &s)) return -1;
    if (st_step_done(st, "low links replace: clear", s)) return -1;
    if (st_prepare(st, "low links replace", "INSERT OR REPLACE INTO low_links(key, id) VALUES(?1, ?2)", &s)) return -1;
    size_t it = 0;
    const char *pair;
    int ret = 0;
    while (ret == 0 && strmap_next(pairs, &it, &pair, NULL)) {
        const char *sep = strchr(pair, '\x1f');
        if (!sep) continue;
        if (sqlite3_bind_text(s, 1, pair, (int)(sep - pair), SQLITE_STATIC) != SQLITE_OK ||
            st_bind_text(s, 2, sep + 1) != SQLITE_OK) {
            ret = st_db_fail(st, "low links replace: bind");
        } else if (sqlite3_step(s) != SQLITE_DONE) {
            ret = st_db_fail(st, "low links replace");
        }
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    sqlite3_finalize(s);
    return ret;
}

int state_low_links_each(state *st, int (*fn)(void *ud, const char *key, const char *id), void *ud) {
    return st_text_pairs_each(st, "low links each", "SELECT key, id FROM low_links", fn, ud);
}
