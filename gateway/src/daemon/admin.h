/* admin.h - the daemon's admin HTTP endpoint (libmicrohttpd, its own thread).
 *
 *   GET /healthz   200 when no source is stale, else 503; JSON from the health
 *                  table. No token needed (probes), but without a valid token
 *                  the per-source last_error texts are left out.
 *   GET /readyz    200 once a cycle has completed, else 503. No token needed.
 *   GET /metrics   the metrics registry, Prometheus text. Token required.
 *   anything else  404 (405 for another method on a known path).
 * A missing or wrong token gets 401 with WWW-Authenticate: Bearer.
 *
 * The token is a bearer token ("Authorization: Bearer <token>") compared in
 * constant time. Routes are a table, so more pages (a reviewer console) can be
 * served by the same server: admin_route() before admin_start().
 *
 * Ownership: the endpoint borrows the health table and the registry (they must
 * outlive it) and copies the token and listen address. admin_free() stops the
 * server thread and wipes the token. */
#ifndef GG_ADMIN_H
#define GG_ADMIN_H

#include <stddef.h>

#include "core/metrics.h"
#include "daemon/health.h"

typedef struct gg_admin gg_admin;

typedef struct admin_request {
    const char *method;    /* "GET" */
    const char *path;      /* "/healthz" */
    int authenticated;     /* the request carried the right token */
} admin_request;

typedef struct admin_reply {
    int status;                /* HTTP status, default 200 */
    const char *content_type;  /* static text, default application/json */
    char *body;                /* malloc'd, freed by the endpoint; NULL = empty */
} admin_reply;

typedef void (*admin_handler)(void *ud, const admin_request *rq, admin_reply *out);

/* listen: "HOST:PORT" (IPv4 address, or [IPv6]:PORT), or "PORT" for
 * 127.0.0.1:PORT. token: required, non-empty. NULL with err on bad input. */
gg_admin *admin_new(const char *listen, const char *token, gg_health *h, gg_metrics *m, char *err, size_t errsz);
/* Adds a route: exact path, or every path under it when prefix is set
 * ("/console/"). auth: the token is required. 0 ok, -1 when full. */
int admin_route(gg_admin *a, const char *method, const char *path, int prefix, int auth, admin_handler fn, void *ud);
/* Binds and starts serving. 0 ok, -1 with err (e.g. the port is taken). */
int admin_start(gg_admin *a, char *err, size_t errsz);
void admin_free(gg_admin *a);

/* Parses a listen address into host and port (helpers for the CLI). 0 ok. */
int admin_parse_listen(const char *listen, char *host, size_t hostsz, int *port);

/* Constant-time equality of two NUL-terminated strings (time depends only on
 * the length of `secret`). 1 equal, 0 not. */
int admin_token_equal(const char *secret, const char *given);

#endif
