/* conn/http.c - HTTP connector (libcurl).
 *
 * One easy handle per connection, kept for the connection's life so that
 * keep-alive connections, DNS and TLS sessions are reused between requests
 * (curl_easy_reset clears options but keeps those).
 *
 * Requests go to base URL + path, with "Authorization: Bearer <token>" when a
 * token is set. Transport errors (refused, reset, timeouts) and 5xx/429
 * answers are retried with capped exponential backoff and full jitter; a
 * Retry-After in seconds replaces the backoff, capped by backoff_max_ms. After
 * the last retry the final response is returned whatever its status.
 *
 * Redirects are followed by hand and only within the base URL's origin
 * (scheme, host, port), at most 5 hops; a redirect elsewhere is returned to the
 * caller as is, so the token never travels to another host.
 *
 * Limits per call: timeout_ms bounds the whole conn_http call - every
 * attempt gets CURLOPT_TIMEOUT_MS = the time left, and no retry starts when
 * its backoff would end past the deadline - and the body may not exceed max_body (default 16 MiB):
 * a Content-Length over it is refused before reading (CURLOPT_MAXFILESIZE),
 * and a body without one is cut off as soon as it grows past the limit. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/conn_internal.h"
#include "core/log.h"

#define HTTP_MAX_REDIRECTS 5

typedef struct http_conn {
    CURL *curl;      /* owned easy handle */
    char *base;      /* owned base URL, no trailing slash */
    char *origin;    /* owned "scheme://host:port" of the base, for redirect checks */
    char *auth;      /* owned "Authorization: Bearer ..." header or NULL (wiped on close) */
} http_conn;

/* Response body being received. */
typedef struct http_sink {
    char *data;
    size_t len, cap;
    size_t limit;   /* max_body */
    int too_big;
} http_sink;

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *ud) {
    http_sink *s = ud;
    size_t n = size * nmemb;
    if (n > s->limit || s->len > s->limit - n) {
        s->too_big = 1;
        return 0; /* makes curl abort with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t ncap = s->cap ? s->cap : 16384;
        while (ncap < s->len + n + 1) ncap *= 2;
        char *nd = realloc(s->data, ncap);
        if (!nd) return 0;
        s->data = nd;
        s->cap = ncap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

/* "scheme://host:port" of a URL (malloc'd), NULL when it does not parse. */
static char *http_origin(const char *url) {
    CURLU *u = curl_url();
    if (!u) return NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
        out = malloc(n);
        if (out) snprintf(out, n, "%s://%s:%s", scheme, host, port);
        for (char *p = out; p && *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

static int http_open(conn *c, const char *target, char *err, size_t errsz) {
    http_conn *h = calloc(1, sizeof *h);
    if (!h) return conn_fail(c, err, errsz, "out of memory");
    c->impl = h;
    if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0)
        return conn_fail(c, err, errsz, "base URL after \"http:\" must start with http:// or https://");
    h->origin = http_origin(target);
    if (!h->origin) return conn_fail(c, err, errsz, "base URL after \"http:\" does not parse");
    /* A password in the URL's userinfo is a secret too. */
    CURLU *u = curl_url();
    if (u) {
        char *pw = NULL;
        if (curl_url_set(u, CURLUPART_URL, target, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK)
            conn_add_secret(c, pw);
        curl_free(pw);
        curl_url_cleanup(u);
    }
    h->base = strdup(target);
    if (!h->base) return conn_fail(c, err, errsz, "out of memory");
    size_t bl = strlen(h->base);
    while (bl > 0 && h->base[bl - 1] == '/') h->base[--bl] = '\0';
    if (c->opts.bearer_token) {
        size_t n = strlen(c->opts.bearer_token) + 32;
        h->auth = malloc(n);
        if (!h->auth) return conn_fail(c, err, errsz, "out of memory");
        snprintf(h->auth, n, "Authorization: Bearer %s", c->opts.bearer_token);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return conn_fail(c, err, errsz, "libcurl initialisation failed");
    h->curl = curl_easy_init();
    if (!h->curl) {
        curl_global_cleanup();
        return conn_fail(c, err, errsz, "cannot create a libcurl handle");
    }
    return 0;
}

static void http_close(conn *c) {
    http_conn *h = c->impl;
    if (!h) return;
    if (h->curl) {
        curl_easy_cleanup(h->curl);
        curl_global_cleanup(); /* pairs with the init in http_open */
    }
    if (h->auth) {
        memset(h->auth, 0, strlen(h->auth));
        free(h->auth);
    }
    free(h->base);
    free(h->origin);
    free(h);
    c->impl = NULL;
}

/* The path without its query string, for messages (queries may carry keys). */
static void path_for_message(const char *path, char *out, size_t outsz) {
    size_t n = strcspn(path, "?#");
    if (n >= outsz) n = outsz - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

/* One request/response exchange. Returns the CURLcode; fills resp on CURLE_OK. */
typedef struct http_attempt {
    CURLcode code;
    long status;
    long retry_after_s;   /* from Retry-After, -1 when absent */
    char *redirect;       /* malloc'd Location target for 3xx, or NULL */
    int too_big;
    char curl_err[CURL_ERROR_SIZE];
} http_attempt;

static int http_once(conn *c, http_conn *h, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t bodylen, long left_ms,
                     http_response *resp, http_attempt *at) {
    memset(at, 0, sizeof *at);
    at->retry_after_s = -1;
    CURL *cu = h->curl;
    http_sink sink = {.limit = c->opts.max_body};
    struct curl_slist *hdrs = NULL, *tmp;
    int rc = -1;

    curl_easy_reset(cu);
    if (h->auth) {
        if (!(tmp = curl_slist_append(hdrs, h->auth))) goto oom;
        hdrs = tmp;
    }
    for (const char *const *p = headers; p && *p; p++) {
        if (!(tmp = curl_slist_append(hdrs, *p))) goto oom;
        hdrs = tmp;
    }
    if (!(tmp = curl_slist_append(hdrs, "Expect:"))) goto oom; /* no 100-continue round trip */
    hdrs = tmp;

    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, left_ms);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, left_ms < 10000 ? left_ms : 10000L);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "gridgate");
    curl_easy_setopt(cu, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(cu, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->opts.max_body);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, at->curl_err);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(cu, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(cu, CURLOPT_POST, 1L);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body ? body : "");
    }

    at->code = curl_easy_perform(cu);
    at->too_big = sink.too_big || at->code == CURLE_FILESIZE_EXCEEDED;
    if (at->code != CURLE_OK) {
        rc = 0;
        goto out;
    }
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &at->status);
    curl_off_t ra = -1;
    if (curl_easy_getinfo(cu, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        at->retry_after_s = (long)ra;
    char *loc = NULL;
    if (at->status >= 300 && at->status < 400 &&
        curl_easy_getinfo(cu, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
        if (!(at->redirect = strdup(loc))) goto oom;
    }
    char *ct = NULL;
    curl_easy_getinfo(cu, CURLINFO_CONTENT_TYPE, &ct);
    resp->status = at->status;
    resp->content_type = ct ? strdup(ct) : NULL;
    if (ct && !resp->content_type) goto oom;
    if (!sink.data) {
        sink.data = calloc(1, 1);
        if (!sink.data) goto oom;
    }
    resp->body = sink.data;
    resp->len = sink.len;
    sink.data = NULL;
    rc = 0;
    goto out;
oom:
    rc = -1;
out:
    free(sink.data);
    curl_slist_free_all(hdrs);
    return rc;
}

static int http_request(conn *c, const char *method, const char *path, const char *const *headers,
                        const char *body, size_t bodylen, http_response *resp, char *err,
                        size_t errsz) {
    http_conn *h = c->impl;
    char shown[256];
    path_for_message(path, shown, sizeof shown);
    size_t ulen = strlen(h->base) + strlen(path) + 2;
    char *url = malloc(ulen);
    if (!url) return conn_fail(c, err, errsz, "%s %s: out of memory", method, shown);
    snprintf(url, ulen, "%s%s%s", h->base, (path[0] == '/' || path[0] == '\0') ? "" : "/", path);

    char *cur_method = strdup(method);
    if (!cur_method) {
        free(url);
        return conn_fail(c, err, errsz, "%s %s: out of memory", method, shown);
    }
    const char *cur_body = body;
    size_t cur_len = bodylen;
    int failures = 0, hops = 0, rc = -1;
    /* timeout_ms bounds the whole call: every attempt, backoff and redirect. */
    int64_t deadline = conn_now_ms() + c->opts.timeout_ms;
    http_attempt at;
    for (;;) {
        http_response_free(resp);
        long left = (long)(deadline - conn_now_ms());
        if (left <= 0) {
            rc = conn_fail(c, err, errsz, "%s %s: timed out: no complete answer within %ld ms (timeout_ms, whole call)",
                           method, shown, c->opts.timeout_ms);
            break;
        }
        if (http_once(c, h, cur_method, url, headers, cur_body, cur_len, left, resp, &at) != 0) {
            rc = conn_fail(c, err, errsz, "%s %s: out of memory", method, shown);
            break;
        }
        if (at.too_big) {
            http_response_free(resp);
            char lim[48];
            size_t mb = c->opts.max_body;
            if (mb % ((size_t)1 << 20) == 0) snprintf(lim, sizeof lim, "%zu MiB", mb >> 20);
            else snprintf(lim, sizeof lim, "%zu bytes", mb);
            rc = conn_fail(c, err, errsz, "%s %s: response body larger than the %s limit (max_body); not read further",
                           method, shown, lim);
            break;
        }
        int transient = at.code != CURLE_OK || at.status >= 500 || at.status == 429;
        if (at.code == CURLE_OK && at.redirect) {
            char *org = http_origin(at.redirect);
            int same = org && strcmp(org, h->origin) == 0;
            free(org);
            if (!same || hops >= HTTP_MAX_REDIRECTS) {
                gg_warn(c->log_tag, "%s %s: %s redirect (HTTP %ld) not followed", method, shown,
                        same ? "too many hops; last" : "cross-origin", at.status);
                free(at.redirect);
                rc = 0;
                break;
            }
            hops++;
            free(url);
            url = at.redirect;
            /* 303, and 301/302 after a non-GET, continue as GET without a body. */
            if (at.status == 303 || ((at.status == 301 || at.status == 302) &&
                                     strcmp(cur_method, "GET") != 0 &&
                                     strcmp(cur_method, "HEAD") != 0)) {
                free(cur_method);
                cur_method = strdup("GET");
                if (!cur_method) {
                    rc = conn_fail(c, err, errsz, "%s %s: out of memory", method, shown);
                    break;
                }
                cur_body = NULL;
                cur_len = 0;
            }
            continue;
        }
        free(at.redirect);
        if (!transient) {
            rc = 0;
            break;
        }
        char why[CURL_ERROR_SIZE + 64];
        if (at.code != CURLE_OK)
            snprintf(why, sizeof why, "%s", at.curl_err[0] ? at.curl_err : curl_easy_strerror(at.code));
        else
            snprintf(why, sizeof why, "HTTP %ld", at.status);
        conn_scrub(c, why, sizeof why);
        long delay = conn_next_backoff(c, failures);
        if (at.code == CURLE_OK && at.retry_after_s >= 0)
            delay = at.retry_after_s > c->opts.backoff_max_ms / 1000 ? c->opts.backoff_max_ms
                                                                     : at.retry_after_s * 1000;
        int out_of_time = conn_now_ms() + delay >= deadline;
        if (failures >= c->opts.retries || out_of_time) {
            if (at.code == CURLE_OK) {
                rc = 0; /* a response arrived: hand over the last one */
                break;
            }
            http_response_free(resp);
            rc = conn_fail(c, err, errsz, "%s %s failed after %d attempt%s%s: %s", method, shown,
                           failures + 1, failures ? "s" : "",
                           out_of_time && failures < c->opts.retries ? " (no time left within timeout_ms)" : "",
                           why);
            break;
        }
        gg_warn(c->log_tag, "%s %s: %s; retry %d of %d in %ld ms", method, shown, why, failures + 1,
                c->opts.retries, delay);
        failures++;
        conn_sleep_ms(delay);
    }
    free(url);
    free(cur_method);
    return rc;
}

const conn_ops conn_http_ops = {
    .open = http_open,
    .close = http_close,
    .query = NULL,
    .exec = NULL,
    .http = http_request,
};

/* ---- registry entry: `adapter new --kind http` texts and the kind ---------- */

/* Passes `gridgate check` unchanged with its stanza (tests/integration/adapter_authoring.sh). */
static const char http_skeleton[] =
    "-- @NAME@.lua - gridgate adapter for <the department system> (REST/JSON).\n"
    "--\n"
    "-- Written by `gridgate adapter new @NAME@ --kind http`. Replace the example\n"
    "-- endpoint (household deregistrations, 户籍注销) and its keys with yours, then\n"
    "--   gridgate adapter test adapters/@NAME@.lua --source @NAME@ --limit 20\n"
    "-- The bearer token comes from conn.api.token_file (a 0600 file) or token_env.\n"
    "-- The full reference is adapters/README.md.\n"
    "return {\n"
    "  streams = {\n"
    "    deregistrations = {\n"
    "      kind  = \"death\",             -- see README.md for the kinds and their fields\n"
    "      conn  = \"api\",               -- conn.api in the [source @NAME@] section\n"
    "      get   = \"/api/v1/zxdj\",      -- path under the connection's base URL\n"
    "      items = \"data.items\",        -- where the array of records is in each page\n"
    "      -- pages ?page=1&size=100, ?page=2&size=100 ... until a page is short\n"
    "      page  = { param = \"page\", start = 1, size_param = \"size\", size = 100 },\n"
    "      key   = \"zxbh\",              -- the record key (注销编号)\n"
    "      map   = {                    -- fact field = JSON key (dotted for nested)\n"
    "        id_no      = \"ry.gmsfhm\",             -- 公民身份号码\n"
    "        name       = \"ry.xm\",                 -- 姓名\n"
    "        death_date = date \"swrq\",             -- 死亡日期\n"
    "        basis      = const \"household_deregistration\",\n"
    "        revoked    = bool(\"hfbz\", { \"1\" }), -- 恢复标志: registration restored\n"
    "      },\n"
    "      -- A row function sees each item (r.key, dotted paths too) after the map.\n"
    "      -- Return a table of fields to add or override, nil to skip the item, or\n"
    "      -- false, \"reason\" to reject it.\n"
    "      -- row = function(r)\n"
    "      --   if r.zxyy ~= \"死亡\" then return nil end   -- other deregistrations\n"
    "      --   return { address = r.hjdz }\n"
    "      -- end,\n"
    "    },\n"
    "  },\n"
    "\n"
    "  -- push writes one alert back (only if [route] sends alerts here); it must\n"
    "  -- be idempotent on alert.id.\n"
    "  -- push = function(alert, conns)\n"
    "  --   local status, body = conns.api:post(\"/api/v1/notices\", {\n"
    "  --     id = alert.id, rule = alert.rule, summary = alert.summary,\n"
    "  --     amount_yuan = alert.amount_yuan, version = alert.version })\n"
    "  --   if status >= 300 then error(\"notice refused: HTTP \" .. status) end\n"
    "  -- end,\n"
    "}\n";

static const char http_stanza[] =
    "[source @NAME@]\n"
    "; the adapter file, relative to this config file's directory\n"
    "adapter = @PATH@\n"
    "; the department's name in alert explanations, e.g. 公安户籍\n"
    "label = @NAME@\n"
    "; the base URL; stream paths are appended to it\n"
    "conn.api = http:https://CHANGE-ME.example.gov.cn/\n"
    "; the bearer token from a 0600 file or an environment variable, never in this file:\n"
    "; conn.api.token_file = secrets/@NAME@.token\n"
    "; conn.api.token_env = @UNAME@_TOKEN\n";

const conn_kind conn_http_kind = {
    .prefix = "http",
    .type = CONN_HTTP,
    .ops = &conn_http_ops,
    .takes_password = 0,
    .takes_token = 1,
    .streams = CONN_SERVES_HTTP,
    .params = CONN_PARAMS_NONE,
    .with_password = NULL,
    .skeleton = http_skeleton,
    .stanza = http_stanza,
    .help = "http:<base URL>              HTTP(S) API (libcurl); bearer token optional",
};
