/* admin.c - the admin HTTP endpoint (admin.h) on libmicrohttpd.
 *
 * One internal polling thread serves every request; handlers run on it and
 * only read the health table and the metrics registry, both of which lock. */
#include "daemon/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/log.h"
#include "core/util.h"

#define ADMIN_MAX_ROUTES 32

typedef struct route {
    char method[8];
    char *path;
    int prefix, auth;
    admin_handler fn;
    void *ud;
} route;

struct gg_admin {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char listen[128];
    char *token;
    gg_health *health;
    gg_metrics *metrics;
    route routes[ADMIN_MAX_ROUTES];
    size_t nroutes;
    struct MHD_Daemon *mhd;
};

int admin_token_equal(const char *secret, const char *given) {
    size_t ls = strlen(secret), lg = strlen(given);
    unsigned char d = (unsigned char)(ls != lg);
    for (size_t i = 0; i < ls; i++) {
        unsigned char g = i < lg ? (unsigned char)given[i] : 0;
        d |= (unsigned char)secret[i] ^ g;
    }
    return d == 0;
}

int admin_parse_listen(const char *listen, char *host, size_t hostsz, int *port) {
    const char *colon = NULL, *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':') return -1;
        h = listen + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        hl = colon ? (size_t)(colon - listen) : 0;
    }
    const char *ps = colon ? colon + 1 : listen;
    if (!colon) {
        h = "127.0.0.1";
        hl = strlen(h);
    }
    if (hl == 0 || hl >= hostsz) return -1;
    char *end;
    errno = 0;
    long p = strtol(ps, &end, 10);
    if (errno || end == ps || *end || p < 1 || p > 65535) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ------------------------------------------------------------ handlers */

static void reply_json(admin_reply *out, int status, json_t *j) {
    out->status = status;
    out->content_type = "application/json";
    out->body = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
}

static void on_healthz(void *ud, const admin_request *rq, admin_reply *out) {
    gg_admin *a = ud;
    json_t *body = NULL;
    int ok = health_json(a->health, time(NULL), &body);
    if (body && !rq->authenticated) {
        /* error texts may name hosts and tables: only for token holders */
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(body, "sources"), i, s) {
            if (!json_is_null(json_object_get(s, "last_error")))
                json_object_set_new(s, "last_error", json_string("(token required)"));
        }
    }
    reply_json(out, ok ? 200 : 503, body);
}

static void on_readyz(void *ud, const admin_request *rq, admin_reply *out) {
    gg_admin *a = ud;
    int ready = health_ready(a->health);
    reply_json(out, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ready" : "starting"));
}

static void on_metrics(void *ud, const admin_request *rq, admin_reply *out) {
    gg_admin *a = ud;
    out->body = metrics_render(a->metrics);
    if (!out->body) {
        out->status = 500;
        out->content_type = "text/plain; charset=utf-8";
        out->body = xstrdup("out of memory\n");
        return;
    }
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ------------------------------------------------------------- server */

static enum MHD_Result send_reply(struct MHD_Connection *c, admin_reply *rp, int auth_challenge) {
    size_t len = rp->body ? strlen(rp->body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, rp->body ? rp->body : (void *)"",
                                                             rp->body ? MHD_RESPMEM_MUST_FREE
                                                                      : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(rp->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", rp->content_type ? rp->content_type : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (auth_challenge) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"gridgate\"");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls) {
    gg_admin *a = cls;
    (void)version;
    (void)upload_data;
    /* A body is never read: answer at the headers and drop any upload. */
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    (void)con_cls;
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int authed = authz && !strncmp(authz, "Bearer ", 7) && admin_token_equal(a->token, authz + 7);
    admin_request rq = {.method = method, .path = url, .authenticated = authed};
    admin_reply rp = {.status = 200};
    const route *hit = NULL;
    int path_known = 0;
    for (size_t i = 0; i < a->nroutes && !hit; i++) {
        const route *r = &a->routes[i];
        int same = r->prefix ? !strncmp(url, r->path, strlen(r->path)) : !strcmp(url, r->path);
        if (!same) continue;
        path_known = 1;
        if (!strcmp(r->method, method)) hit = r;
    }
    if (!hit) {
        rp.status = path_known ? 405 : 404;
        rp.body = xstrdup(path_known ? "{\"error\": \"method not allowed\"}\n" : "{\"error\": \"not found\"}\n");
        return send_reply(c, &rp, 0);
    }
    if (hit->auth && !authed) {
        gg_warn("admin", "%s %s: %s token, refused", method, url, authz ? "wrong" : "no");
        rp.status = 401;
        rp.body = xstrdup("{\"error\": \"a valid bearer token is required\"}\n");
        return send_reply(c, &rp, 1);
    }
    hit->fn(hit->ud, &rq, &rp);
    return send_reply(c, &rp, 0);
}

gg_admin *admin_new(const char *listen, const char *token, gg_health *h, gg_metrics *m, char *err, size_t errsz) {
    if (!token || !*token) {
        snprintf(err, errsz, "admin endpoint: a token is required");
        return NULL;
    }
    char host[64];
    int port;
    if (!listen || admin_parse_listen(listen, host, sizeof host, &port)) {
        snprintf(err, errsz, "admin endpoint: listen '%s' is not HOST:PORT (e.g. 127.0.0.1:9187)",
                 listen ? listen : "");
        return NULL;
    }
    gg_admin *a = xcalloc(1, sizeof *a);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        a->addrlen = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        a->addrlen = sizeof *v6;
    } else {
        snprintf(err, errsz, "admin endpoint: '%s' is not an IP address (use 127.0.0.1 or [::1])", host);
        free(a);
        return NULL;
    }
    snprintf(a->listen, sizeof a->listen, "%s", listen);
    a->token = xstrdup(token);
    a->health = h;
    a->metrics = m;
    admin_route(a, "GET", "/healthz", 0, 0, on_healthz, a);
    admin_route(a, "GET", "/readyz", 0, 0, on_readyz, a);
    admin_route(a, "GET", "/metrics", 0, 1, on_metrics, a);
    return a;
}

int admin_route(gg_admin *a, const char *method, const char *path, int prefix, int auth, admin_handler fn, void *ud) {
    if (a->nroutes >= ADMIN_MAX_ROUTES || strlen(method) >= sizeof a->routes[0].method) return -1;
    route *r = &a->routes[a->nroutes];
    snprintf(r->method, sizeof r->method, "%s", method);
    r->path = xstrdup(path);
    r->prefix = prefix;
    r->auth = auth;
    r->fn = fn;
    r->ud = ud;
    a->nroutes++;
    return 0;
}

int admin_start(gg_admin *a, char *err, size_t errsz) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (((struct sockaddr *)&a->addr)->sa_family == AF_INET6) flags |= MHD_USE_IPv6;
    a->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a->addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)10, MHD_OPTION_END);
    if (!a->mhd) {
        snprintf(err, errsz, "admin endpoint: cannot listen on %s (address in use or not available)", a->listen);
        return -1;
    }
    gg_info("admin", "listening on http://%s (/healthz, /readyz, /metrics)", a->listen);
    return 0;
}

void admin_free(gg_admin *a) {
    if (!a) return;
    if (a->mhd) MHD_stop_daemon(a->mhd);
    for (size_t i = 0; i < a->nroutes; i++) free(a->routes[i].path);
    if (a->token) explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    free(a);
}
