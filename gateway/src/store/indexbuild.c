/* indexbuild.c - the state store's deferred index build, on a thread of
 * its own beside a read-only stretch of the core (state.h,
 * state_index_build_start / state_index_build_wait).
 *
 * The touched log's index of the facts table, facts_subject (store/touched.c),
 * is built from the stored rows once per store, in a scan and a sort, when
 * the first match turns the log on, rather than kept row by row from the
 * first load. It used to be built on the core's path with the other CPU
 * idle. Here it is built on a second connection while the core only reads:
 * a match's load, identity and rules run in one read transaction, and in
 * WAL mode a writer on another connection neither blocks nor changes what
 * that transaction reads. The core waits for the build before it writes
 * again (state_begin), so it never meets the builder's write lock. 1M
 * residents: 0.35-0.5 s beside a 0.9 s match; 4M: 1.7-1.9 s beside a 4.8 s
 * match. While it runs the checkpoint thread waits (both hold the fork
 * gate), so the WAL grows by the index's pages until it ends. (Until schema
 * 11 a second index, facts_hash, was built here as well: 1.5 s at 1M and
 * 6-7 s at 4M, of which the match waited 0.3-0.9 s and 2-4 s; the hash sets
 * of store/facts.c took its place.)
 *
 * What is durable is SQLite's as ever: an index build is one statement in its
 * own transaction; a crash during it leaves the store without the index,
 * which the next match builds (its absence is seen in sqlite_master, not
 * remembered). A build that fails or is interrupted by a fork (the fork gate,
 * checkpoint.c) leaves the index to the touched log's start, as before.
 * Without it the store is right, only slower to read. */
#include "store/state_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define ST_STR_(x) #x
#define ST_STR(x) ST_STR_(x)

/* The builder's page cache (KiB): its sorter keeps as much in memory before
 * it spills sorted runs to temporary files. Small: it runs during the match,
 * where the core's memory peaks, and small runs sort faster
 * (ST_SORT_CACHE_KIB: facts_subject's keys come in random order). */
#define BUILD_CACHE_KIB ST_SORT_CACHE_KIB

/* What a build may create, in the order it creates them. */
static const struct {
    const char *name;
    const char *sql;
} build_indexes[] = {
    {"facts_subject", ST_TOUCH_INDEX_SQL},
};
#define NBUILD (sizeof build_indexes / sizeof build_indexes[0])

struct st_index_builder {
    sqlite3 *db;     /* owned: the thread's connection */
    pthread_t thread;
    int want[NBUILD]; /* the indexes missing when it started */
    /* written by the thread, read after the join */
    int built[NBUILD];
    int rc;           /* SQLite's result of the first failed build, or SQLITE_OK */
    char err[256];
    double secs[NBUILD];
};

int st_index_exists(state *st, const char *name) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'", name);
    long n = st_query_long(st, "index lookup", sql);
    return n < 0 ? -1 : n > 0;
}

static void *build_thread(void *ud) {
    st_index_builder *b = ud;
    b->rc = SQLITE_OK;
    for (size_t i = 0; i < NBUILD && b->rc == SQLITE_OK; i++) {
        if (!b->want[i]) continue;
        long long t0 = gg_mono_ms();
        char *msg = NULL;
        st_fork_guard g;
        st_fork_guard_enter(&g, b->db);
        int rc = sqlite3_exec(b->db, build_indexes[i].sql, NULL, NULL, &msg);
        st_fork_guard_leave(&g);
        if (rc == SQLITE_OK) {
            b->built[i] = 1;
            b->secs[i] = (double)(gg_mono_ms() - t0) / 1000.0;
        } else {
            b->rc = rc;
            snprintf(b->err, sizeof b->err, "%s: %s", build_indexes[i].name, msg ? msg : sqlite3_errstr(rc));
        }
        sqlite3_free(msg);
    }
    return NULL;
}

int state_index_build_start(state *st) {
    /* running already; or a rollback journal, where the builder's commit
     * would wait for the core's reads to end (WAL comes after a new store's
     * first load) */
    if (st->builder || st->wal_deferred) return 0;
    int want[NBUILD] = {0}, any = 0;
    for (size_t i = 0; i < NBUILD; i++) {
        int e = st_index_exists(st, build_indexes[i].name);
        if (e < 0) return -1;
        want[i] = !e;
        any |= want[i];
    }
    if (!any) return 0;
    st_index_builder *b = calloc(1, sizeof *b);
    if (!b) {
        gg_warn("state", "index build: out of memory; the indexes are built later");
        return -1;
    }
    memcpy(b->want, want, sizeof want);
    const char *path = sqlite3_db_filename(st->db, "main");
    char *msg = NULL;
    if (!path || !*path ||
        sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(b->db,
                     "PRAGMA busy_timeout = 5000;"
                     "PRAGMA cache_size = -" ST_STR(BUILD_CACHE_KIB) ";",
                     NULL, NULL, &msg) != SQLITE_OK) {
        gg_warn("state", "index build: cannot open a second connection (%s); the indexes are built later",
                msg ? msg : b->db ? sqlite3_errmsg(b->db) : "no path or out of memory");
        sqlite3_free(msg);
        sqlite3_close(b->db);
        free(b);
        return -1;
    }
    int rc = pthread_create(&b->thread, NULL, build_thread, b);
    if (rc != 0) {
        gg_warn("state", "index build: cannot start its thread (%s); the indexes are built later", strerror(rc));
        sqlite3_close(b->db);
        free(b);
        return -1;
    }
    st->builder = b;
    gg_debug("state", "index build started beside the core: facts_subject");
    return 0;
}

void st_index_build_join(state *st) {
    st_index_builder *b = st->builder;
    if (b) {
        long long t0 = gg_mono_ms();
        pthread_join(b->thread, NULL);
        st->builder = NULL;
        double waited = (double)(gg_mono_ms() - t0) / 1000.0;
        for (size_t i = 0; i < NBUILD; i++)
            if (b->built[i])
                gg_info("state", "index %s built beside the core in %.2f s", build_indexes[i].name, b->secs[i]);
        gg_info("state", "index build beside the core: waited %.2f s for its end", waited);
        if (b->rc != SQLITE_OK)
            gg_warn("state", "index build beside the core stopped (%s); built %s", b->err,
                    b->rc == SQLITE_INTERRUPT ? "later (a worker was forked)" : "on the core's connection or later");
        sqlite3_close(b->db);
        free(b);
    }
}

int state_index_build_wait(state *st) {
    st_index_build_join(st);
    return 0;
}
