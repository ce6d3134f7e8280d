/* health.c - the daemon's health table (health.h). A small array of sources
 * and the cycles' state under one mutex; /healthz renders it as JSON. */
#include "daemon/health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"
#include "core/util.h"

typedef struct src_health {
    char *name;
    time_t last_success, last_error_at;  /* 0 = never */
    char *last_error;
    long consecutive_failures;
    time_t next_pull;   /* 0 = not scheduled yet */
    time_t refresh_due; /* the pull expected to refresh it; 0 = not known */
    long backoff;       /* seconds; 0 = not backing off */
} src_health;

struct gg_health {
    pthread_mutex_t mu;
    long stale_after;
    time_t started;
    src_health *s;
    size_t ns;
    long cycle;
    time_t cycle_at;
    double cycle_seconds;
    long outbox_pending, outbox_dead;
    time_t running_since; /* the cycle under way began then; 0 = none */
    long running_sources;
};

gg_health *health_new(long stale_after, time_t started) {
    gg_health *h = xcalloc(1, sizeof *h);
    if (pthread_mutex_init(&h->mu, NULL)) {
        free(h);
        return NULL;
    }
    h->stale_after = stale_after;
    h->started = started;
    h->cycle = -1;
    return h;
}

void health_free(gg_health *h) {
    if (!h) return;
    for (size_t i = 0; i < h->ns; i++) {
        free(h->s[i].name);
        free(h->s[i].last_error);
    }
    free(h->s);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Called with the mutex held. NULL when the source is unknown and !add. */
static src_health *find(gg_health *h, const char *source, int add) {
    for (size_t i = 0; i < h->ns; i++)
        if (!strcmp(h->s[i].name, source)) return &h->s[i];
    if (!add) return NULL;
    h->s = xrealloc(h->s, (h->ns + 1) * sizeof *h->s);
    src_health *s = &h->s[h->ns];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(source);
    h->ns++;
    return s;
}

void health_source_add(gg_health *h, const char *source) {
    pthread_mutex_lock(&h->mu);
    find(h, source, 1);
    pthread_mutex_unlock(&h->mu);
}

void health_source_ok(gg_health *h, const char *source, time_t at) {
    pthread_mutex_lock(&h->mu);
    src_health *s = find(h, source, 1);
    if (s) {
        s->last_success = at;
        s->consecutive_failures = 0;
    }
    pthread_mutex_unlock(&h->mu);
}

void health_source_error(gg_health *h, const char *source, time_t at, const char *error) {
    pthread_mutex_lock(&h->mu);
    src_health *s = find(h, source, 1);
    if (s) {
        /* Error texts may quote a record back (a database error naming a
         * value): masked as every text leaving the process is. */
        char *e = mask_text(error ? error : "failed", MASK_ESCAPE);
        if (e) {
            free(s->last_error);
            s->last_error = e;
        }
        s->last_error_at = at;
        s->consecutive_failures++;
    }
    pthread_mutex_unlock(&h->mu);
}

void health_source_schedule(gg_health *h, const char *source, time_t next, long backoff, time_t refresh_due) {
    pthread_mutex_lock(&h->mu);
    src_health *s = find(h, source, 1);
    if (s) {
        s->next_pull = next;
        s->backoff = backoff;
        if (refresh_due) s->refresh_due = refresh_due;
    }
    pthread_mutex_unlock(&h->mu);
}

void health_cycle_running(gg_health *h, time_t since, long sources) {
    pthread_mutex_lock(&h->mu);
    h->running_since = since;
    h->running_sources = since ? sources : 0;
    pthread_mutex_unlock(&h->mu);
}

void health_cycle_done(gg_health *h, long cycle, time_t at, double seconds, long outbox_pending, long outbox_dead) {
    pthread_mutex_lock(&h->mu);
    h->cycle = cycle;
    h->cycle_at = at;
    h->cycle_seconds = seconds;
    h->outbox_pending = outbox_pending;
    h->outbox_dead = outbox_dead;
    h->running_since = 0;
    h->running_sources = 0;
    pthread_mutex_unlock(&h->mu);
}

int health_ready(gg_health *h) {
    pthread_mutex_lock(&h->mu);
    int r = h->cycle >= 0;
    pthread_mutex_unlock(&h->mu);
    return r;
}

static json_t *time_or_null(time_t t) {
    if (!t) return json_null();
    char buf[32];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

int health_json(gg_health *h, time_t now, json_t **body) {
    json_t *srcs = json_array();
    int healthy = 1;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->ns; i++) {
        const src_health *s = &h->s[i];
        long stale = (long)(now - (s->last_success ? s->last_success : h->started));
        if (stale < 0) stale = 0;
        time_t due = s->refresh_due > s->last_success ? s->refresh_due : s->last_success ? s->last_success : h->started;
        time_t since = due + (time_t)h->stale_after;
        int is_stale = now > since;
        if (is_stale) healthy = 0;
        json_array_append_new(
            srcs, json_pack("{s:s, s:o, s:o, s:o, s:I, s:b, s:o, s:I, s:I, s:o}", "source", s->name, "last_success",
                            time_or_null(s->last_success), "last_error",
                            s->last_error ? json_string(s->last_error) : json_null(), "last_error_at",
                            time_or_null(s->last_error_at), "staleness_seconds", (json_int_t)stale, "stale",
                            is_stale, "stale_since", is_stale ? time_or_null(since) : json_null(),
                            "consecutive_failures", (json_int_t)s->consecutive_failures, "backoff_seconds",
                            (json_int_t)s->backoff, "next_pull", time_or_null(s->next_pull)));
    }
    json_t *cycle = h->cycle >= 0 ? json_pack("{s:I, s:o, s:f}", "number", (json_int_t)h->cycle, "finished",
                                              time_or_null(h->cycle_at), "seconds", h->cycle_seconds)
                                  : json_null();
    long run_for = h->running_since ? (long)(now - h->running_since) : 0;
    json_t *running = h->running_since
                          ? json_pack("{s:o, s:I, s:I}", "started", time_or_null(h->running_since), "seconds",
                                      (json_int_t)(run_for < 0 ? 0 : run_for), "sources", (json_int_t)h->running_sources)
                          : json_null();
    *body = json_pack("{s:s, s:o, s:o, s:o, s:I, s:o, s:{s:I, s:I}}", "status", healthy ? "ok" : "stale", "started",
                      time_or_null(h->started), "last_cycle", cycle, "running_cycle", running, "stale_after_seconds",
                      (json_int_t)h->stale_after, "sources", srcs, "outbox", "pending",
                      (json_int_t)h->outbox_pending, "dead", (json_int_t)h->outbox_dead);
    pthread_mutex_unlock(&h->mu);
    return healthy;
}
