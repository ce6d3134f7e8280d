/* conn.c - connection dispatch: resolves "<type>:<target>" specs through the
 * registry (conn/registry.c), applies the option defaults, routes calls to the
 * connector's ops, and
 * provides the shared helpers (error messages with secrets masked, capped
 * exponential backoff with full jitter, URL escaping). */
#include "conn/conn_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* ---- PRNG and backoff ---------------------------------------------------- */

/* splitmix64: a tiny, well-mixed generator; the state is the caller's. */
static uint64_t prng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A seed from the wall clock (nanoseconds), the pid and an address, so that
 * connections and processes started together do not retry in lockstep. */
static uint64_t prng_seed(const void *salt) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    s ^= (uint64_t)getpid() << 32;
    s ^= (uint64_t)(uintptr_t)salt;
    (void)prng_next(&s);
    return s;
}

/* The upper bound min(max, base * 2^attempt) without overflowing. */
static long backoff_cap(const conn_opts *o, int attempt) {
    long base = (o && o->backoff_base_ms > 0) ? o->backoff_base_ms : CONN_DEFAULT_BACKOFF_BASE_MS;
    long max = (o && o->backoff_max_ms > 0) ? o->backoff_max_ms : CONN_DEFAULT_BACKOFF_MAX_MS;
    if (base > max) base = max;
    long cap = base;
    for (int i = 0; i < attempt && cap < max; i++) cap = (cap > max / 2) ? max : cap * 2;
    return cap < max ? cap : max;
}

static long backoff_draw(const conn_opts *o, int attempt, uint64_t *state) {
    long cap = backoff_cap(o, attempt < 0 ? 0 : attempt);
    return (long)(prng_next(state) % ((uint64_t)cap + 1));
}

long conn_backoff_ms(const conn_opts *o, int attempt) {
    /* No connection here, hence no PRNG state to keep: seed a local one. */
    uint64_t state = prng_seed(&attempt) ^ (uint64_t)attempt;
    return backoff_draw(o, attempt, &state);
}

long conn_next_backoff(conn *c, int attempt) { return backoff_draw(&c->opts, attempt, &c->rng); }

void conn_sleep_ms(long ms) {
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void conn_retry_pause(conn *c, const char *what, int attempt, char *msg, size_t msgsz) {
    conn_scrub(c, msg, msgsz);
    long delay = conn_next_backoff(c, attempt);
    gg_warn(c->log_tag, "%s failed (%s); retry %d of %d in %ld ms", what, msg, attempt + 1, c->opts.retries, delay);
    conn_sleep_ms(delay);
}

int64_t conn_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- messages -------------------------------------------------------------- */

void conn_add_secret(conn *c, const char *secret) {
    if (!secret || !*secret || c->nsecrets >= CONN_MAX_SECRETS) return;
    char *copy = strdup(secret);
    if (!copy) return; /* masking is best effort; messages never hold the spec anyway */
    c->secrets[c->nsecrets++] = copy;
}

void conn_scrub(const conn *c, char *buf, size_t bufsz) {
    static const char mask[] = "***";
    for (int i = 0; i < c->nsecrets; i++) {
        size_t slen = strlen(c->secrets[i]);
        char *p = buf;
        while ((p = strstr(p, c->secrets[i])) != NULL) {
            size_t tail = strlen(p + slen);
            /* The mask is never longer than needed to fit: truncate the tail. */
            size_t room = bufsz - (size_t)(p - buf) - 1;
            size_t mlen = sizeof mask - 1 < room ? sizeof mask - 1 : room;
            if (tail > room - mlen) tail = room - mlen;
            memmove(p + mlen, p + slen, tail);
            memcpy(p, mask, mlen);
            p[mlen + tail] = '\0';
            p += mlen;
        }
    }
}

void conn_first_line(const char *msg, char *out, size_t outsz) {
    if (outsz == 0) return;
    if (!msg) msg = "";
    while (*msg == ' ' || *msg == '\n') msg++;
    size_t n = strcspn(msg, "\r\n");
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\t')) n--;
    if (n >= outsz) n = outsz - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

int conn_fail(conn *c, char *err, size_t errsz, const char *fmt, ...) {
    if (!err || errsz == 0) return -1;
    int n = snprintf(err, errsz, "%s: ", c->log_tag);
    if (n < 0 || (size_t)n >= errsz) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
    va_end(ap);
    conn_scrub(c, err, errsz);
    return -1;
}

/* Error before a conn exists (spec parsing). */
static void open_fail(const char *source, const char *name, char *err, size_t errsz,
                      const char *what) {
    if (err && errsz) snprintf(err, errsz, "source %s, connection %s: %s", source ? source : "?",
                               name ? name : "?", what);
}

/* ---- lifecycle ------------------------------------------------------------- */

static void conn_free_struct(conn *c) {
    if (!c) return;
    for (int i = 0; i < c->nsecrets; i++) {
        /* Wipe secrets before freeing so they do not linger in the heap. */
        memset(c->secrets[i], 0, strlen(c->secrets[i]));
        free(c->secrets[i]);
    }
    if (c->opts.bearer_token) {
        char *t = (char *)c->opts.bearer_token;
        memset(t, 0, strlen(t));
        free(t);
    }
    free(c->source);
    free(c->name);
    free(c->log_tag);
    free(c);
}

conn *conn_open(const char *source, const char *name, const char *spec, const conn_opts *opts,
                char *err, size_t errsz) {
    if (err && errsz) err[0] = '\0';
    if (!source || !name || !spec) {
        open_fail(source, name, err, errsz, "missing source, connection name or spec");
        return NULL;
    }
    /* Never echo the spec: it may carry a password. Only the type is named. */
    const char *target = NULL;
    const conn_kind *kind = conn_registry_for_spec(spec, &target);
    if (!kind) {
        char list[160], msg[200];
        conn_registry_list(list, sizeof list, "\"", ":\"", ", ", " or ");
        snprintf(msg, sizeof msg, "connection spec must start with %s", list);
        open_fail(source, name, err, errsz, msg);
        return NULL;
    }
    const conn_ops *ops = kind->ops;
    if (!*target) {
        open_fail(source, name, err, errsz, "connection spec has an empty target after the type");
        return NULL;
    }

    conn *c = calloc(1, sizeof *c);
    if (!c) {
        open_fail(source, name, err, errsz, "out of memory");
        return NULL;
    }
    c->type = kind->type;
    c->kind = kind;
    c->ops = ops;
    c->source = strdup(source);
    c->name = strdup(name);
    size_t taglen = strlen(source) + strlen(name) + 32;
    c->log_tag = malloc(taglen);
    if (opts) c->opts = *opts;
    c->opts.bearer_token = NULL;
    if (opts && opts->bearer_token) c->opts.bearer_token = strdup(opts->bearer_token);
    if (!c->source || !c->name || !c->log_tag ||
        (opts && opts->bearer_token && !c->opts.bearer_token)) {
        open_fail(source, name, err, errsz, "out of memory");
        conn_free_struct(c);
        return NULL;
    }
    snprintf(c->log_tag, taglen, "source %s, connection %s", source, name);
    if (c->opts.timeout_ms <= 0) c->opts.timeout_ms = CONN_DEFAULT_TIMEOUT_MS;
    /* retries: 0 means the default; a negative value means "no retries". */
    if (c->opts.retries == 0) c->opts.retries = CONN_DEFAULT_RETRIES;
    else if (c->opts.retries < 0) c->opts.retries = 0;
    if (c->opts.backoff_base_ms <= 0) c->opts.backoff_base_ms = CONN_DEFAULT_BACKOFF_BASE_MS;
    if (c->opts.backoff_max_ms <= 0) c->opts.backoff_max_ms = CONN_DEFAULT_BACKOFF_MAX_MS;
    if (c->opts.max_body == 0) c->opts.max_body = CONN_DEFAULT_MAX_BODY;
    c->rng = prng_seed(c);
    if (c->opts.bearer_token) conn_add_secret(c, c->opts.bearer_token);

    if (ops->open(c, target, err, errsz) != 0) {
        ops->close(c);
        conn_free_struct(c);
        return NULL;
    }
    return c;
}

void conn_close(conn *c) {
    if (!c) return;
    c->ops->close(c);
    conn_free_struct(c);
}

conn_type conn_get_type(const conn *c) { return c->type; }
const char *conn_get_name(const conn *c) { return c->name; }

/* ---- dispatch -------------------------------------------------------------- */

int conn_query(conn *c, const char *sql, int nparams, const char *const *params, conn_row_fn fn,
               void *ud, char *err, size_t errsz) {
    if (!c->ops->query) return conn_fail(c, err, errsz, "query on an HTTP connection");
    if (!sql || !fn || nparams < 0 || (nparams > 0 && !params))
        return conn_fail(c, err, errsz, "query called without SQL, callback or parameters");
    return c->ops->query(c, sql, nparams, params, fn, ud, err, errsz);
}

int conn_exec(conn *c, const char *sql, int nparams, const char *const *params, long *affected,
              char *err, size_t errsz) {
    if (affected) *affected = 0;
    if (!c->ops->exec) return conn_fail(c, err, errsz, "exec on an HTTP connection");
    if (!sql || nparams < 0 || (nparams > 0 && !params))
        return conn_fail(c, err, errsz, "exec called without SQL or parameters");
    return c->ops->exec(c, sql, nparams, params, affected, err, errsz);
}

int conn_send(conn *c, const char *sql, int nparams, const char *const *params, char *err, size_t errsz) {
    if (!c->ops->exec) return conn_fail(c, err, errsz, "send on an HTTP connection");
    if (!sql || nparams < 0 || (nparams > 0 && !params))
        return conn_fail(c, err, errsz, "send called without SQL or parameters");
    if (c->in_tx && c->ops->send) return c->ops->send(c, sql, nparams, params, err, errsz);
    return c->ops->exec(c, sql, nparams, params, NULL, err, errsz);
}

int conn_begin(conn *c, char *err, size_t errsz) {
    if (!c->ops->tx) return conn_fail(c, err, errsz, "transaction on an HTTP connection");
    if (c->in_tx) return conn_fail(c, err, errsz, "a transaction is already open");
    if (c->ops->tx(c, CONN_TX_BEGIN, err, errsz) != 0) return -1;
    c->in_tx = 1;
    c->tx_lost = 0;
    return 0;
}

int conn_commit(conn *c, char *err, size_t errsz) {
    if (!c->ops->tx) return conn_fail(c, err, errsz, "transaction on an HTTP connection");
    if (!c->in_tx) return conn_fail(c, err, errsz, "commit without a transaction");
    int rc;
    if (c->tx_lost)
        rc = conn_fail(c, err, errsz, "commit failed: the connection was lost inside the transaction");
    else
        rc = c->ops->tx(c, CONN_TX_COMMIT, err, errsz);
    if (rc != 0) c->ops->tx(c, CONN_TX_ROLLBACK, NULL, 0);
    c->in_tx = 0;
    c->tx_lost = 0;
    return rc;
}

void conn_rollback(conn *c) {
    if (!c->ops->tx || !c->in_tx) return;
    c->ops->tx(c, CONN_TX_ROLLBACK, NULL, 0);
    c->in_tx = 0;
    c->tx_lost = 0;
}

int conn_in_transaction(const conn *c) { return c->in_tx; }

int conn_http(conn *c, const char *method, const char *path, const char *const *headers,
              const char *body, size_t bodylen, http_response *resp, char *err, size_t errsz) {
    if (resp) memset(resp, 0, sizeof *resp);
    if (!c->ops->http) return conn_fail(c, err, errsz, "HTTP request on a SQL connection");
    if (!method || !*method || !path || !resp || (bodylen > 0 && !body))
        return conn_fail(c, err, errsz, "HTTP request without method, path or response");
    return c->ops->http(c, method, path, headers, body, bodylen, resp, err, errsz);
}

void http_response_free(http_response *r) {
    if (!r) return;
    free(r->body);
    free(r->content_type);
    memset(r, 0, sizeof *r);
}

char *conn_url_escape(const char *s) {
    if (!s) return NULL;
    size_t len = strlen(s);
    if (len > (size_t)INT_MAX / 3) return NULL; /* curl takes an int length */
    /* curl_easy_escape ignores its handle argument since 7.82; pass NULL. */
    char *esc = curl_easy_escape(NULL, s, (int)len);
    if (!esc) return NULL;
    char *out = strdup(esc); /* hand back plain malloc memory: caller uses free() */
    curl_free(esc);
    return out;
}

int conn_sql_statement(conn *c, const conn_sql_driver *d, const char *what, const char *sql, int nparams,
                       const char *const *params, conn_row_fn fn, void *ud, long *affected, char *err,
                       size_t errsz) {
    conn_run_result res;
    int failures = 0;
    char msg[1024];
    for (;;) {
        if (c->tx_lost)
            return conn_fail(c, err, errsz, "%s failed: the connection was lost inside the transaction", what);
        if (!d->alive(c)) {
            if (c->in_tx) {
                /* a new connection would run the statement outside the
                 * transaction, whose earlier statements are gone */
                c->tx_lost = 1;
                d->mark_broken(c);
                return conn_fail(c, err, errsz,
                                 "%s failed: the connection was lost inside a transaction (rolled back by the "
                                 "server; not re-established until it ends)",
                                 what);
            }
            gg_info(c->log_tag, "connection is broken; reconnecting");
            if (d->reconnect(c, msg, sizeof msg) != 0) {
                if (failures >= c->opts.retries)
                    return conn_fail(c, err, errsz, "%s failed: connection lost and reconnect failed: %s", what,
                                     msg);
                conn_retry_pause(c, "reconnect", failures, msg, sizeof msg);
                failures++;
                continue;
            }
        }
        d->run(c, sql, nparams, params, fn, ud, &res);
        if (res.stopped) return res.rc;
        if (!res.failed) {
            if (affected) *affected = res.affected;
            return 0;
        }
        if (res.lost && c->in_tx) {
            c->tx_lost = 1;
            d->mark_broken(c);
            return conn_fail(c, err, errsz, "%s failed: the connection was lost inside a transaction: %s", what,
                             res.msg);
        }
        int retryable = res.lost && res.delivered == 0 && (fn || !res.sent);
        if (!retryable || failures >= c->opts.retries) {
            if (res.lost && res.delivered > 0)
                return conn_fail(c, err, errsz,
                                 "%s failed: connection lost after %ld rows (not retried, to "
                                 "avoid delivering rows twice): %s",
                                 what, res.delivered, res.msg);
            if (res.lost && !fn && res.sent)
                return conn_fail(c, err, errsz, "%s failed: %s; it may or may not have been applied: %s", what,
                                 d->lost_after_send, res.msg);
            return conn_fail(c, err, errsz, "%s failed: %s", what, res.msg);
        }
        conn_scrub(c, res.msg, sizeof res.msg);
        long delay = conn_next_backoff(c, failures);
        gg_warn(c->log_tag, "%s: connection lost (%s); retry %d of %d in %ld ms", what, res.msg, failures + 1,
                c->opts.retries, delay);
        failures++;
        conn_sleep_ms(delay);
        d->mark_broken(c);
    }
}
