/* audit.c - the append-only audit table (audit.h). The table and its
 * triggers are created by the schema (state.c, schema 4); this module only
 * inserts and reads. */
#include "store/audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "store/state_internal.h"

/* "uid=1000(alice)", plus " sudo=bob" when SUDO_USER is set. */
static void actor(char *out, size_t n) {
    uid_t uid = getuid();
    struct passwd pw, *res = NULL;
    char buf[1024];
    const char *name = getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res ? res->pw_name : "?";
    const char *sudo = getenv("SUDO_USER");
    if (sudo && *sudo)
        snprintf(out, n, "uid=%ld(%.64s) sudo=%.64s", (long)uid, name, sudo);
    else
        snprintf(out, n, "uid=%ld(%.64s)", (long)uid, name);
}

static int audit_add(state *st, const char *kind, const char *source, const char *stream, long rows,
                     const char *hash, const char *alert_id, const char *sink, int version, const char *result,
                     const char *detail) {
    sqlite3_stmt *s = st_kept(st, "audit add",
                              "INSERT INTO audit(at, kind, actor, source, stream, rows, adapter_hash, alert_id,"
                              " sink, version, result, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                              " ?11, ?12)");
    if (!s) return -1;
    if (!st->actor[0]) actor(st->actor, sizeof st->actor); /* once: a passwd lookup opens files */
    const char *who = st->actor;
    sqlite3_bind_int64(s, 1, gg_now_seconds());
    st_bind_text(s, 2, kind);
    st_bind_text(s, 3, who);
    st_bind_text(s, 4, source);
    st_bind_text(s, 5, stream);
    if (!strcmp(kind, "pull")) sqlite3_bind_int64(s, 6, rows);
    st_bind_text(s, 7, hash);
    st_bind_text(s, 8, alert_id);
    st_bind_text(s, 9, sink);
    if (!strcmp(kind, "push")) sqlite3_bind_int(s, 10, version);
    st_bind_text(s, 11, result);
    st_bind_text(s, 12, detail);
    return st_kept_step_done(st, "audit add", s);
}

int audit_pull(state *st, const char *source, const char *stream, long rows, const char *adapter_hash,
               const char *result) {
    return audit_add(st, "pull", source, stream, rows, adapter_hash, NULL, NULL, 0, result, NULL);
}

int audit_push(state *st, const char *alert_id, const char *sink, int version, const char *result) {
    return audit_add(st, "push", NULL, NULL, 0, NULL, alert_id, sink, version, result, NULL);
}

int audit_access(state *st, const char *detail) {
    return audit_add(st, "access", NULL, NULL, 0, NULL, NULL, NULL, 0, "ok", detail);
}

int audit_each(state *st, const char *kind, long limit, int (*cb)(void *ud, const audit_row *r), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "audit list",
                "SELECT id, at, kind, actor, source, stream, rows, adapter_hash, alert_id, sink, version, result,"
                " detail FROM audit WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2",
                &s))
        return -1;
    st_bind_text(s, 1, kind);
    sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
    int rc, out = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        audit_row r = {.id = (long)sqlite3_column_int64(s, 0),
                       .at = sqlite3_column_int64(s, 1),
                       .kind = st_col_text(s, 2),
                       .actor = st_col_text(s, 3),
                       .source = st_col_text(s, 4),
                       .stream = st_col_text(s, 5),
                       .rows = (long)sqlite3_column_int64(s, 6),
                       .adapter_hash = st_col_text(s, 7),
                       .alert_id = st_col_text(s, 8),
                       .sink = st_col_text(s, 9),
                       .version = sqlite3_column_int(s, 10),
                       .result = st_col_text(s, 11),
                       .detail = st_col_text(s, 12)};
        if ((out = cb(ud, &r)) != 0) break;
    }
    if (!out && rc != SQLITE_DONE) out = st_db_fail(st, "audit list");
    sqlite3_finalize(s);
    return out;
}
