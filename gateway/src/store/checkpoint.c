/* checkpoint.c - the state store's WAL checkpoints on a thread of their own.
 *
 * SQLite checkpoints a WAL database on the committing connection: the commit
 * that takes the WAL past wal_autocheckpoint pages copies every committed
 * page into the database file before it returns. On a first load of a city
 * that is the whole store written a second time on the core's path while
 * the other CPU idles (moved here: a 1M-resident first cycle 22.0 -> 19.6 s,
 * BENCHMARKS.md). Here the core's connection only notes the WAL's size after each
 * commit (sqlite3_wal_hook, which replaces the automatic checkpoint) and
 * wakes a thread that runs PASSIVE checkpoints on a connection of its own:
 * they neither wait for nor block the writer, which starts the WAL over at
 * its next write once everything in it is copied. What is durable, and when,
 * is SQLite's WAL as before; closing the last connection still checkpoints.
 *
 * Fork: the core forks its workers while this thread may be inside SQLite,
 * holding one of SQLite's process-wide mutexes (the VFS's, the page
 * cache's); a child that uses SQLite itself (the ODBC worker's driver) would
 * wait on it forever. So every checkpoint runs under the fork gate, which
 * fork(2) takes in its prepare handler after interrupting the running
 * checkpoints (sqlite3_interrupt: a checkpoint stops between two pages). A
 * fork waits for one page copy, not for a checkpoint; the interrupted one is
 * run again after it. The gate exists only once state_library_init has
 * registered it (st_checkpoint_library_init): without it (a program that
 * never called it, or a failed registration) SQLite checkpoints on commit as
 * it always did. */
#include "store/state_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* WAL bytes after a commit that wake the thread: SQLite's own default of
 * 1000 pages of 4 KiB (a store of bigger pages waits for as many bytes). */
#define CKPT_WAL_BYTES (1000L * 4096L)

struct st_checkpointer {
    sqlite3 *db; /* owned: the thread's connection */
    pthread_t thread;
    pthread_mutex_t mu; /* guards pending, stop */
    pthread_cond_t cv;
    int pending, stop;
    int wake_pages; /* CKPT_WAL_BYTES in the store's pages (set before the hook) */
    int warned; /* a failing checkpoint is logged once */
    long done;  /* checkpoints that completed (guarded by mu) */
    st_checkpointer *next; /* in the registry of running checkpointers */
};

/* Process-wide by necessity: pthread_atfork's handlers take no argument.
 * `gate` is held by a checkpoint in progress and by fork(2) from prepare to
 * the parent's and child's handlers; `reg_mu` guards the list of running
 * checkpointers that a fork interrupts; gate_ready is set once, before any
 * thread starts. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static st_checkpointer *running;
static int gate_ready;

static st_fork_guard *guarded; /* other connections inside SQLite (st_fork_guard_enter) */

static void fork_prepare(void) {
    pthread_mutex_lock(&reg_mu);
    for (st_checkpointer *c = running; c; c = c->next) sqlite3_interrupt(c->db);
    for (st_fork_guard *g = guarded; g; g = g->next) sqlite3_interrupt(g->db);
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&reg_mu);
}

static void fork_parent(void) { pthread_mutex_unlock(&gate); }

/* The child has no checkpoint thread: the gate is released (the forking
 * thread holds it, which is the child's only thread) and nothing else is
 * touched; the inherited connections are never used again (state.c). */
static void fork_child(void) { pthread_mutex_unlock(&gate); }

int st_checkpoint_library_init(void) {
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) return -1;
    gate_ready = 1;
    return 0;
}

/* sqlite3_wal_hook: after each commit of the core's connection, with the
 * number of pages in the WAL. Runs on the committing thread. */
static int on_commit(void *ud, sqlite3 *db, const char *dbname, int pages) {
    (void)db;
    (void)dbname;
    st_checkpointer *c = ud;
    if (pages >= c->wake_pages) {
        pthread_mutex_lock(&c->mu);
        c->pending = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *checkpoint_thread(void *ud) {
    st_checkpointer *c = ud;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->pending && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) break; /* what is left is checkpointed by the last close */
        c->pending = 0;
        pthread_mutex_unlock(&c->mu);

        pthread_mutex_lock(&gate);
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&gate);

        pthread_mutex_lock(&c->mu);
        if (rc == SQLITE_OK) {
            c->done++;
        } else if (rc == SQLITE_INTERRUPT) {
            c->pending = 1; /* a fork came: go on after it */
        } else if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED && !c->warned) {
            /* the WAL then grows until a checkpoint succeeds (the next
             * commit's wake-up, or the last close): slower, not wrong */
            c->warned = 1;
            gg_warn("state", "background checkpoint: %s (%s); the WAL is copied back later", sqlite3_errstr(rc),
                    sqlite3_errmsg(c->db));
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

st_checkpointer *st_checkpointer_start(sqlite3 *db, const char *path) {
    if (!gate_ready) return NULL;
    st_checkpointer *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    /* Used by its thread only (and interrupted by fork_prepare, which
     * SQLite allows from another thread). */
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        /* a first read opens the WAL (a checkpoint of a connection that has
         * read nothing may not find it) */
        sqlite3_exec(c->db, "PRAGMA cache_size = -1024; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
            SQLITE_OK) {
        gg_warn("state", "background checkpoint: cannot open a second connection (%s); checkpoints stay on commit",
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    int page = 0;
    sqlite3_stmt *ps = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &ps, NULL) == SQLITE_OK && sqlite3_step(ps) == SQLITE_ROW)
        page = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    c->wake_pages = page > 0 ? (int)(CKPT_WAL_BYTES / page) : 1000;
    if (c->wake_pages < 1) c->wake_pages = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_lock(&reg_mu);
    int rc = pthread_create(&c->thread, NULL, checkpoint_thread, c);
    if (rc == 0) {
        c->next = running;
        running = c;
    }
    pthread_mutex_unlock(&reg_mu);
    if (rc != 0) {
        gg_warn("state", "background checkpoint: cannot start its thread (%s); checkpoints stay on commit",
                strerror(rc));
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    /* from here the core's commits no longer checkpoint themselves */
    sqlite3_wal_hook(db, on_commit, c);
    return c;
}

void st_fork_guard_enter(st_fork_guard *g, sqlite3 *db) {
    g->db = db;
    g->next = NULL;
    if (!gate_ready) return; /* no fork handler: nothing waits on the gate */
    pthread_mutex_lock(&reg_mu);
    g->next = guarded;
    guarded = g;
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_lock(&gate);
}

void st_fork_guard_leave(st_fork_guard *g) {
    if (!gate_ready) return;
    pthread_mutex_unlock(&gate);
    pthread_mutex_lock(&reg_mu);
    for (st_fork_guard **p = &guarded; *p; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

long st_checkpointer_done(st_checkpointer *c) {
    if (!c) return -1;
    pthread_mutex_lock(&c->mu);
    long n = c->done;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void st_checkpointer_stop(st_checkpointer *c, sqlite3 *db) {
    if (!c) return;
    sqlite3_wal_hook(db, NULL, NULL);
    pthread_mutex_lock(&reg_mu);
    for (st_checkpointer **p = &running; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* After stop is set: a checkpoint in progress (or about to begin) stops at
     * once and the thread, seeing stop, starts no other; the close does it all. */
    sqlite3_interrupt(c->db);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    sqlite3_close(c->db);
    free(c);
}
