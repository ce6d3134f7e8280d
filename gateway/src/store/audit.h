/* audit.h - the audit log: an append-only table in the state store (schema 4)
 * recording each pull (source, stream, rows, adapter content hash), each push
 * (alert id, sink, version, result) and each access to unmasked data (which
 * command, by whom). UPDATE and DELETE on the table are refused by triggers.
 *
 * Who: the process's real uid and its user name ("uid=1000(alice)"), with the
 * sudo user when run through sudo. When: unix seconds. Nothing recorded holds
 * an id number or a name. */
#ifndef GG_AUDIT_H
#define GG_AUDIT_H

#include "store/state.h"

typedef struct audit_row {
    long id;
    long long at;
    const char *kind;   /* "pull", "push", "access" */
    const char *actor;  /* "uid=0(root)" */
    const char *source, *stream, *adapter_hash; /* pull (NULL otherwise) */
    long rows;          /* pull */
    const char *alert_id, *sink; /* push */
    int version;        /* push */
    const char *result; /* "ok", "failed: ...", "delivered" */
    const char *detail; /* access: the command */
} audit_row;

/* Each returns 0, or -1 (logged). Strings are copied. */
int audit_pull(state *st, const char *source, const char *stream, long rows, const char *adapter_hash,
               const char *result);
int audit_push(state *st, const char *alert_id, const char *sink, int version, const char *result);
int audit_access(state *st, const char *detail);
/* Newest first; kind NULL for all; limit <= 0 for no limit. Row strings are
 * borrowed for the callback's duration. 0 ok, -1 error, else cb's nonzero. */
int audit_each(state *st, const char *kind, long limit, int (*cb)(void *ud, const audit_row *r), void *ud);

#endif
