/* reader.c - a read-only second connection to the state store, for one
 * thread beside the core (state.h, state_reader_open).
 *
 * The core's connection belongs to the run loop's thread. A read that does
 * not depend on what the core is doing (the register's name hashes, read
 * while the core derives the subjects of interest) can run on a connection
 * of its own in another thread: the other CPU is idle between the phases.
 * The connection is opened read-only, so it never changes the journal mode
 * (a new store's first load keeps its rollback journal until
 * state_wal_settle) and never holds a write lock. What it reads is the
 * committed store: in WAL mode a snapshot the core's writes do not change,
 * in a rollback journal the file between the core's commits (a core commit
 * waits, within busy_timeout, for a read statement to end; the reads here
 * take a fraction of a second).
 *
 * A reader logs nothing (the log is the run loop's): a failure is kept as
 * text for the thread's owner to log after the join. It must be closed
 * before the core forks a worker (SQLite connections do not cross fork). */
#include "store/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state_reader {
    sqlite3 *db; /* owned */
    char err[256];
};

state_reader *state_reader_open(state *st, char *err, size_t errsz) {
    const char *path = sqlite3_db_filename(st->db, "main");
    state_reader *r = calloc(1, sizeof *r);
    if (!r || !path || !*path) {
        snprintf(err, errsz, "%s", r ? "the store has no file" : "out of memory");
        free(r);
        return NULL;
    }
    char *msg = NULL;
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(r->db, "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -" ST_READER_CACHE_KIB ";", NULL,
                     NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open a reading connection to %s: %s", path,
                 msg ? msg : r->db ? sqlite3_errmsg(r->db) : "out of memory");
        sqlite3_free(msg);
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    return r;
}

int state_reader_person_name_hashes_each(state_reader *r, int (*fn)(void *ud, const char *id_norm,
                                                                      uint64_t name_hash),
                                         void *ud) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(r->db, ST_PERSON_NAME_HASHES_SQL, -1, &s, NULL) != SQLITE_OK) {
        snprintf(r->err, sizeof r->err, "person name hashes: %s", sqlite3_errmsg(r->db));
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        if (id && fn(ud, id, (uint64_t)sqlite3_column_int64(s, 1)) != 0) {
            ret = 1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        snprintf(r->err, sizeof r->err, "person name hashes: %s", sqlite3_errmsg(r->db));
        ret = -1;
    }
    sqlite3_finalize(s);
    return ret;
}

const char *state_reader_error(const state_reader *r) { return r && r->err[0] ? r->err : "no error"; }

void state_reader_close(state_reader *r) {
    if (!r) return;
    sqlite3_close(r->db);
    free(r);
}
