/* evidence.c - the raw values of stored facts, fetched for the evidence of
 * alerts. The cycle loads facts for matching without their raw values (they
 * are most of a fact's bytes, and only the few facts an alert cites need
 * them); after the rules ran, each piece of evidence gets its record's raw
 * values here, by (source, kind, ref), before the alert is stored. */
#include "store/state_internal.h"

#include <stdlib.h>

int state_fact_raw(state *st, const char *source, fact_kind kind, const char *ref, char **raw) {
    *raw = NULL;
    sqlite3_stmt *s = st->fact_raw;
    int ret = 0, rc;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name(kind)) != SQLITE_OK ||
        st_bind_text(s, 3, ref) != SQLITE_OK) {
        ret = st_db_fail(st, "fact raw values: bind");
    } else if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int oom = 0;
        *raw = st_col_dup(s, 0, &oom);
        if (oom) {
            gg_error("state", "fact raw values: out of memory");
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "fact raw values");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}
