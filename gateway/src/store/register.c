/* register.c - the register cache: the persons' id hashes and (id, name)
 * pair hashes (app/ingest.h's register, which workers check the names of
 * rows of no interest against), kept between cycles under the generation of
 * the persons they were built from.
 *
 * Building the register walks every person of the city (0.6 s of the core's
 * time at 1M residents, every night the payment and income streams run). The
 * generation (`person_gen`, one row) counts every write that may change it:
 * TEMP triggers (state.c, fact_changes_sql) add one per insert or delete of a
 * person fact and per update of a person's id, folded name or name hash, in
 * the writing transaction; a first load of persons, which suspends them,
 * adds one at its end. A cache stored under the current generation is thus
 * the register as a walk would build it; any other is rebuilt. The sets are
 * stored sorted and distinct, host byte order (as the row memos), so reading
 * one back needs no sort. */
#include "store/state_internal.h"

#include <stdlib.h>
#include <string.h>

long state_person_gen(state *st) {
    sqlite3_stmt *s;
    if (st_prepare(st, "person generation", "SELECT n FROM person_gen WHERE id = 1", &s)) return -1;
    long n = -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        st_db_fail(st, "person generation");
    sqlite3_finalize(s);
    return n;
}

/* A malloc'd copy of a blob of 64-bit words; -1 when it is not one (or out
 * of memory), with *a NULL. */
static int words_dup(sqlite3_stmt *s, int col, uint64_t **a, size_t *n) {
    const void *blob = sqlite3_column_blob(s, col);
    size_t bytes = (size_t)sqlite3_column_bytes(s, col);
    *a = NULL;
    *n = 0;
    if (bytes % sizeof **a) return -1;
    if (!bytes) return 0;
    if (!blob || !(*a = malloc(bytes))) return -1;
    memcpy(*a, blob, bytes);
    *n = bytes / sizeof **a;
    return 0;
}

int state_register_cache_get(state *st, long gen, uint64_t **ids, size_t *nids, uint64_t **pairs, size_t *npairs) {
    sqlite3_stmt *s;
    *ids = *pairs = NULL;
    *nids = *npairs = 0;
    if (st_prepare(st, "register cache get", "SELECT ids, pairs FROM register_cache WHERE id = 1 AND gen = ?1", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, gen) != SQLITE_OK) {
        st_db_fail(st, "register cache get: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        if (words_dup(s, 0, ids, nids) || words_dup(s, 1, pairs, npairs)) {
            gg_warn("state", "the stored register cache is not well formed (or no memory for it); it is rebuilt");
            free(*ids);
            free(*pairs);
            *ids = *pairs = NULL;
            *nids = *npairs = 0;
        } else {
            ret = 1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "register cache get");
    }
    sqlite3_finalize(s);
    return ret;
}

int state_register_cache_put(state *st, long gen, const uint64_t *ids, size_t nids, const uint64_t *pairs,
                             size_t npairs) {
    sqlite3_stmt *s;
    if (st_prepare(st, "register cache put",
                   "INSERT OR REPLACE INTO register_cache(id, gen, ids, pairs) VALUES(1, ?1, ?2, ?3)", &s))
        return -1;
    int ret = 0;
    if (sqlite3_bind_int64(s, 1, gen) != SQLITE_OK ||
        sqlite3_bind_blob64(s, 2, nids ? (const void *)ids : "", nids * sizeof *ids, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob64(s, 3, npairs ? (const void *)pairs : "", npairs * sizeof *pairs, SQLITE_STATIC) !=
            SQLITE_OK) {
        ret = st_db_fail(st, "register cache put: bind");
        sqlite3_finalize(s);
    } else {
        ret = st_step_done(st, "register cache put", s);
    }
    return ret;
}
