/* state_internal.h - what the state store's modules share and nobody else
 * sees: the handle and the small SQLite helpers (state.c).
 *
 *   state.c       open, schema, migrations, transactions, cycles
 *   marks.c       watermarks
 *   facts.c       facts kept for matching
 *   alerts.c      alerts and their lifecycle
 *   outbox.c      delivery outbox
 *   quarantine.c  quarantine and data-quality counts
 *   checkpoint.c  WAL checkpoints on a thread of their own
 *
 * Errors are logged as "state: <operation>: <sqlite message>" and returned as
 * -1; id numbers and names are never logged. */
#ifndef GG_STATE_INTERNAL_H
#define GG_STATE_INTERNAL_H

#include <stddef.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/log.h"
#include "core/util.h"
#include "model/factcodec.h"
#include "store/state.h"

/* The persons' index (by id, name hash, folded name): in the schema, and
 * rebuilt after a first load of persons (state_person_index_suspend). */
#define FACTS_PERSON_NAMES_SQL                                                                             \
    "CREATE INDEX IF NOT EXISTS facts_person_names ON facts(id_norm, name_hash, name_norm, kind)"         \
    " WHERE kind = 'person';"

/* The index a match of touched subjects reads (store/touched.c explains it),
 * built with the touched log or beforehand beside the core (indexbuild.c). */
#define ST_TOUCH_INDEX_SQL                                                                        \
    "CREATE INDEX IF NOT EXISTS facts_subject ON facts(id_norm, name_norm, kind)"                 \
    " WHERE kind NOT IN ('person', 'verdict');"

/* The register's pass: (id_norm, name_hash) of every person with a valid id
 * and a folded name, from the persons' index (facts.c on the core's
 * connection, reader.c on a reader's). */
#define ST_PERSON_NAME_HASHES_SQL                                                                     \
    "SELECT id_norm, name_hash FROM facts INDEXED BY facts_person_names"                          \
    " WHERE kind = 'person' AND id_norm <> '' AND name_norm IS NOT NULL AND name_hash IS NOT NULL"
/* A reader's page cache (KiB, as text): it scans an index once. */
#define ST_READER_CACHE_KIB "4096"

/* How many one-shot statements a connection keeps prepared (st_kept). */
#define ST_KEPT_MAX 24

/* A thread that checkpoints the WAL of one connection (checkpoint.c). */
typedef struct st_checkpointer st_checkpointer;
/* The deferred index builds' thread (indexbuild.c). */
typedef struct st_index_builder st_index_builder;

struct state {
    sqlite3 *db;                 /* owned */
    st_checkpointer *ckpt;       /* owned, or NULL: checkpoints on commit */
    st_index_builder *builder;   /* owned, or NULL: an index build running beside the core */
    int wal_deferred;            /* rollback journal until state_wal_settle (STATE_OPEN_DEFER_WAL) */
    int wal_warned;              /* state_wal_settle said once that it could not switch */
    int wal_kept;                /* the WAL file outlives the connection (st_wal_keep) */
    int wrote;                   /* a write transaction began on this handle */
    sqlite3_stmt *fact_put;      /* owned, cached: called per fact */
    sqlite3_stmt *fact_upd;      /* owned, cached: called per changed stored fact */
    sqlite3_stmt *fact_old;      /* owned, cached: per fact written outside a first load */
    sqlite3_stmt *changes_add;   /* owned, cached: per change counted outside a first load */
    sqlite3_stmt *touch_add;     /* owned, cached: per key the touched log gets (touched.c) */
    sqlite3_stmt *touch_old;     /* owned, cached: the keys of a fact as stored (touched.c) */
    int touch_on;                /* the touched log is on (state_open, state_begin, its restart/stop) */
    sqlite3_stmt *fact_hash;     /* owned, cached: called per fact */
    sqlite3_stmt *fact_raw;      /* owned, cached: called per piece of evidence */
    sqlite3_stmt *person_name;   /* owned, cached: called per named row not of interest */
    sqlite3_stmt *case_ids;      /* owned, cached on first use: per case of such a match */
    sqlite3_stmt *case_no_id;    /* owned, cached on first use: per case of such a match */
    sqlite3_stmt *quarantine_add;/* owned, cached */
    sqlite3_stmt *dq_add;        /* owned, cached */
    fact_blob fields_buf;        /* owned: the encoded fields of the fact being put */
    /* One-shot statements kept prepared (st_kept): the per-alert and
     * per-delivery writes, each prepared once per connection. */
    struct {
        const char *sql;         /* borrowed: a string literal, the key */
        sqlite3_stmt *s;         /* owned */
    } kept[ST_KEPT_MAX];
    char actor[160];             /* the audit's actor ("uid=0(root)"), found once; "" before */
    /* A first load (state_first_load_begin) counts the facts it puts here;
     * state_first_load_end adds the count to the counters, a rollback drops
     * it. */
    int changes_suspended;
    long changes_pending;
    long ident_pending;      /* of those, the small side's (state_facts_identity_changes) */
    long persons_pending;    /* of those, persons: the persons' generation moves */
    int gen_moved;           /* the persons' generation moved in this transaction (fact_store) */
    /* The (source, kind) whose hash sets this transaction dropped already
     * (st_hash_set_drop), so that a stream's writes drop theirs once. */
    struct {
        char source[64];
        int kind;
    } hs_dropped[8];
    size_t hs_ndropped;
};

/* Logs the connection's last error for operation `op`; returns -1. */
int st_db_fail(state *st, const char *op);
/* Prepares sql into *out; -1 (logged as op) on failure. */
int st_prepare(state *st, const char *op, const char *sql, sqlite3_stmt **out);
/* Binds a borrowed string (valid until the statement is reset), or NULL. */
int st_bind_text(sqlite3_stmt *s, int idx, const char *v);
/* Column text as a C string, NULL for SQL NULL. Borrowed until the next step. */
const char *st_col_text(sqlite3_stmt *s, int i);
/* malloc'd copy of a column, NULL for SQL NULL; sets *oom on allocation failure. */
char *st_col_dup(sqlite3_stmt *s, int i, int *oom);
/* The touched log's side of a fact write (touched.c): its cached statements
 * (SQLite's result code); the removal of the insert and update triggers of a
 * store written by an earlier build (0, or -1 logged); the keys of fact f as
 * it is, and as it is stored before f replaces it, added to the log (0, or
 * -1 logged). */
int st_touch_prepare(state *st);
int st_touch_log_upgrade(state *st);
int st_touch_keys(state *st, const fact *f);
int st_touch_stored_keys(state *st, const fact *f);
/* Drops the hash set of (source, kind) (store/facts.c), as every write to
 * its facts must before it changes them: a set stands for the facts only as
 * its writer left them. Once per (source, kind) and transaction. 0, or -1
 * (logged). */
int st_hash_set_drop(state *st, const char *source, int kind);
/* Runs a statement that returns no rows (or whose rows are ignored). */
int st_exec_sql(state *st, const char *op, const char *sql);
/* The page cache's size: PRAGMA cache_size of every connection (in KiB,
 * negative), and the page size of a new store. 16 KiB pages (SQLite's
 * default is 4 KiB): a first load of 1M residents writes every page of the
 * facts table through the cache in one transaction, spilling it to the WAL a
 * page at a time, and a quarter of the pages is a quarter of the spills,
 * b-tree levels and cell moves (1M residents, 3 alternating runs: the
 * residents' stream 9.4-12.1 s -> 8.2-9.8 s, CPU 32.5-37.9 s -> 34.0-35.1 s;
 * an incremental night the same, 3.4-4.3 s either way, though its random
 * updates write 2.7x the bytes: 387 MB of WAL and checkpoint at 1M against
 * 142 MB, as each changed row dirties a whole page). A store made
 * earlier keeps its page size (WAL fixes it) and gets a page cache sized for
 * it (page_cache_setup). */
#define STATE_CACHE_KIB 65536 /* 64 MiB: the per-row hash and person lookups */
#define STATE_PAGE_SIZE 16384

/* The WAL file is kept between runs and after a checkpoint up to this size
 * (st_wal_keep in state.c says why). */
#define STATE_WAL_KEEP_BYTES 1073741824 /* 1 GiB */

/* Runs a CREATE INDEX on db with a page cache of ST_SORT_CACHE_KIB, then sets
 * the connection's cache back to cache_kib; 0 or -1 (logged with op).
 * SQLite's sorter keeps runs as large as the page cache in memory and sorts
 * each as a linked list before merging them: an index whose keys come in
 * random order (the persons' by id) sorts 64 MiB runs far slower than 4 MiB
 * ones, whose lists fit the CPU's caches (1M persons: 1.85-2.0 s -> 0.9 s;
 * 4M: 5.9 s -> 3.7 s, sqlite3 on copies of the dev stores). An index whose
 * keys come nearly in table order takes the same time either way. */
#define ST_SORT_CACHE_KIB 4096
int st_exec_index_build(sqlite3 *db, const char *op, const char *create_sql, int cache_kib);
/* The integer of the one row a query gives; -1 on failure or no row (logged
 * with op). */
long st_query_long(state *st, const char *op, const char *sql);
/* Calls fn with the two text columns of every row of a query whose columns
 * are not NULL; a non-zero return of fn stops (returned when positive);
 * -1 on failure (logged with op). */
int st_text_pairs_each(state *st, const char *op, const char *sql,
                       int (*fn)(void *ud, const char *a, const char *b), void *ud);
/* Steps a prepared one-shot statement to completion and finalizes it. */
int st_step_done(state *st, const char *op, sqlite3_stmt *s);
/* A statement of a string literal (its address is the key) prepared once per
 * connection and kept: given reset, with no bindings; NULL on failure
 * (logged as op). For statements stepped to an end at once and never used
 * again before that: the caller gives it back with st_kept_done (reset,
 * bindings cleared; where it would have finalized it) or steps it with
 * st_kept_step_done (st_step_done's result). Preparing the per-alert and
 * per-delivery statements each time was a quarter of storing and routing
 * an alert. The statements kept are a fixed set of this module's literals;
 * one past ST_KEPT_MAX is an error of the build (logged, NULL). */
sqlite3_stmt *st_kept(state *st, const char *op, const char *sql);
void st_kept_done(sqlite3_stmt *s);
int st_kept_step_done(state *st, const char *op, sqlite3_stmt *s);
/* SQL function gg_fields_blob(kind, fields_json) (facts.c): a schema-6
 * fields_json converted to the binary form; an error for a row that does
 * not parse. Used by the 6 -> 7 migration only. */
void st_sql_fields_blob(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* Registers the fork gate (checkpoint.c) once, before any thread; 0 or -1.
 * Without it no checkpoint thread starts. */
int st_checkpoint_library_init(void);
/* Starts the checkpoint thread for the connection db of the database at
 * path: from then db's commits only wake it. NULL (logged, and db keeps
 * checkpointing on commit) when it cannot, or the gate is not registered. */
st_checkpointer *st_checkpointer_start(sqlite3 *db, const char *path);
/* Checkpoints c completed so far; -1 for NULL (state_background_checkpoints). */
long st_checkpointer_done(st_checkpointer *c);
/* Stops and frees c (NULL: nothing); db checkpoints no more on commit, its
 * close does what is left. Call before closing db. */
void st_checkpointer_stop(st_checkpointer *c, sqlite3 *db);

/* A connection that runs a long statement on a thread of its own marks it
 * with a guard: fork(2) then interrupts the statement (SQLITE_INTERRUPT) and
 * waits for it to leave SQLite, as for a checkpoint, so that no child
 * inherits SQLite's mutexes held. g is the caller's, valid until leave. */
typedef struct st_fork_guard {
    sqlite3 *db;
    struct st_fork_guard *next;
} st_fork_guard;
void st_fork_guard_enter(st_fork_guard *g, sqlite3 *db);
void st_fork_guard_leave(st_fork_guard *g);

/* Waits for the index build running beside the core, if any, and logs what
 * it built (indexbuild.c). */
void st_index_build_join(state *st);
/* 1 when the index `name` is in the store's schema, 0 when not, -1 on a
 * failure (logged) (indexbuild.c). */
int st_index_exists(state *st, const char *name);

#endif
