/* main.c - the gridgate command line: run cycles, check configuration, read
 * alerts, the quarantine, data quality and the outbox, and author adapters.
 *
 *   gridgate run [--once] [--no-push] [--rematch] [--today DATE] [--interval SECONDS]
 *                                                           (SIGHUP reloads, SIGTERM stops)
 *   gridgate check
 *   gridgate status [--url URL]
 *   gridgate alerts list [--rule R] [--status S]
 *   gridgate alerts show ID
 *   gridgate alerts export [--rule R] [--mask]
 *   gridgate quarantine list [--source S]
 *   gridgate dq
 *   gridgate outbox list [--status pending|done|dead]
 *   gridgate deliver
 *   gridgate audit list [--kind pull|push|access] [--limit N]
 *   gridgate adapter new NAME --kind pg|odbc|http [--dir DIR]
 *   gridgate adapter test FILE --source NAME [--limit N]
 * Every command takes -c FILE (default $GRIDGATE_CONFIG, else gridgate.ini). */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#ifdef GG_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "app/authoring.h"
#include "app/cycle.h"
#include "delivery/delivery.h"
#include "app/gg.h"
#include "core/date.h"
#include "model/fact.h" /* conv_date */
#include "core/log.h"
#include "core/mask.h"
#include "core/util.h"
#include "core/metrics.h"
#include "daemon/admin.h"
#include "daemon/health.h"
#include "daemon/record.h"
#include "daemon/schedule.h"
#include "store/audit.h"

/* Signal state, the one piece a process needs: SIGINT/SIGTERM ask the run
 * loop to stop between pulls and arm an alarm of shutdown_secs; should the
 * current pull not finish by then, SIGALRM ends the process (the open state
 * transaction is not committed, so nothing partial is kept). SIGHUP asks for
 * a reload (configuration, adapters, log file). */
static volatile sig_atomic_t stop_requested, reload_requested;
static volatile sig_atomic_t shutdown_secs = 30;

static void on_stop_signal(int sig) {
    (void)sig;
    if (!stop_requested) alarm((unsigned)shutdown_secs);
    stop_requested = 1;
}

static void on_hup(int sig) {
    (void)sig;
    reload_requested = 1;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "gridgate: shutdown_timeout reached during a pull: abandoned, nothing of it committed\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(0);
}

static void usage(FILE *out) {
    fputs("usage: gridgate [-c CONFIG] [-v] COMMAND ...\n"
          "\n"
          "  run [--once] [--no-push] [--rematch] [--today DATE] [--interval S]\n"
          "                                            pull, match and push (loop every S seconds, default 300);\n"
          "                                            --no-push: alerts are stored and queued, nothing is sent\n"
          "                                            (a later run or `deliver` sends them);\n"
          "                                            --rematch: match even if nothing changed since the last match;\n"
          "                                            --today DATE: the rules' today (over [gridgate] today)\n"
          "  check                                     validate the configuration and every adapter\n"
          "  status [--url URL]                        ask the running daemon (its [admin] endpoint) how it is\n"
          "  alerts list [--rule R] [--status S]       alerts in the state store\n"
          "  alerts show ID                            one alert explained (zh-CN, ids masked)\n"
          "  alerts export [--rule R] [--mask]         JSON lines for other tools\n"
          "  quarantine list [--source S]              quarantined records: rejected, or kept with an invalid id\n"
          "                                            (KIND column), with the reason\n"
          "  dq                                        data-quality counts of the last cycle (rejected,\n"
          "                                            invalid_id, ... per source)\n"
          "  outbox list [--status pending|done|dead]  deliveries to sinks\n"
          "  deliver                                   retry due deliveries only\n"
          "  audit list [--kind K] [--limit N]         the audit log: pulls, pushes, unmasked exports\n"
          "  adapter new NAME --kind pg|odbc|http      write a commented skeleton adapter and config stanza\n"
          "  adapter test FILE --source NAME [--limit N]  run an adapter against its live source, touch no state\n"
          "  config keys [--markdown]                  every configuration key: section, type, default, range, help\n"
          "  version\n"
          "\n"
          "CONFIG defaults to $GRIDGATE_CONFIG, else ./gridgate.ini.\n",
          out);
}

/* config keys [--markdown]: the configuration map as a table (no file read). */
static int cmd_config(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "keys") && (argc == 2 || (argc == 3 && !strcmp(argv[2], "--markdown")))) {
        config_keys_print(stdout, argc == 3);
        return 0;
    }
    fprintf(stderr, "usage: gridgate config keys [--markdown]\n");
    return 2;
}

/* One daemon per state store: run and deliver write it in cycles and take
 * its lock; on refusal the context is closed and -1 returned. */
static int lock_state(gg_ctx *ctx, const char *cmd, int *fd) {
    char err[1024];
    if (state_lock(ctx->cfg->state_path, fd, err, sizeof err) == 0) return 0;
    fprintf(stderr, "gridgate %s: %s\n", cmd, err);
    gg_ctx_close(ctx);
    return -1;
}

static int open_ctx(gg_ctx *ctx, const char *cfg, int state, int adapters) {
    char err[2048];
    if (gg_ctx_open(ctx, cfg, state, adapters, err, sizeof err)) {
        fprintf(stderr, "gridgate: %s\n", err);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------- run */

/* The run loop's view of each enabled source: when it was last pulled, how
 * often in a row it failed, when it is due next, and the fingerprint of its
 * configuration (to tell a changed source on reload). */
typedef struct run_source {
    char name[64];
    uint64_t fp;
    time_t last_run, next;
    int failures;
} run_source;

typedef struct run_sched {
    run_source *src;
    size_t n;
    long interval; /* --interval: for sources without schedule.interval */
    unsigned seed; /* jitter */
} run_sched;

static run_source *sched_find(run_sched *rs, const char *name) {
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->src[i].name, name)) return &rs->src[i];
    return NULL;
}

static time_t sched_earliest(const run_sched *rs) {
    time_t t = (time_t)-1;
    for (size_t i = 0; i < rs->n; i++)
        if (t == (time_t)-1 || rs->src[i].next < t) t = rs->src[i].next;
    return t == (time_t)-1 ? time(NULL) + rs->interval : t;
}

static const char *fmt_local(time_t t, char *buf, size_t n) {
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S %z", &tm);
    return buf;
}

/* Rebuilds the table for ctx's sources: an unchanged source (same name and
 * fingerprint) keeps its schedule and failure count; a new or changed one is
 * due at once (its next allowed time). Logs which is which when reloading. */
static void sched_sync(run_sched *rs, const gg_ctx *ctx, time_t now) {
    run_source *next = xcalloc(ctx->cfg->nsources ? ctx->cfg->nsources : 1, sizeof *next);
    size_t n = 0;
    int reloading = rs->src != NULL;
    for (size_t i = 0; i < ctx->cfg->nsources; i++) {
        const gg_source_conf *s = &ctx->cfg->sources[i];
        if (!s->enabled) continue;
        run_source *old = sched_find(rs, s->name), *r = &next[n++];
        if (old && old->fp == ctx->fingerprints[i]) {
            *r = *old;
            if (reloading) gg_info(s->name, "configuration and adapter unchanged: schedule kept");
            continue;
        }
        snprintf(r->name, sizeof r->name, "%s", s->name);
        r->fp = ctx->fingerprints[i];
        r->next = schedule_next(s->schedule, rs->interval, now, 0, 0, &rs->seed);
        char tb[40];
        if (reloading)
            gg_info(s->name, "%s (label %s): pulled again from %s",
                    old ? "configuration or adapter changed" : "new source", s->label ? s->label : s->name,
                    fmt_local(r->next, tb, sizeof tb));
        else
            gg_debug(s->name, "first pull at %s", fmt_local(r->next, tb, sizeof tb));
    }
    for (size_t i = 0; reloading && i < rs->n; i++)
        if (!config_source(ctx->cfg, rs->src[i].name) || !config_source(ctx->cfg, rs->src[i].name)->enabled)
            gg_info(rs->src[i].name, "removed or disabled by the new configuration");
    free(rs->src);
    rs->src = next;
    rs->n = n;
}

/* After a cycle that started at t0: each source pulled in it gets its next
 * time, with backoff when it failed. */
static void sched_after_cycle(run_sched *rs, const gg_ctx *ctx, gg_metrics *m, gg_health *h, const cycle_stats *cs,
                              int rc, const unsigned char *pulled, time_t t0, time_t t1) {
    for (size_t i = 0; i < ctx->cfg->nsources; i++) {
        const gg_source_conf *s = &ctx->cfg->sources[i];
        run_source *r = sched_find(rs, s->name);
        if (!r || !pulled[i]) continue;
        int failed = rc < 0;
        for (size_t k = 0; k < cs->nstreams; k++)
            if (!strcmp(cs->streams[k].source, s->name) && cs->streams[k].error[0]) failed = 1;
        r->failures = failed ? r->failures + 1 : 0;
        r->last_run = t0;
        r->next = schedule_next(s->schedule, rs->interval, t1, t0, r->failures, &rs->seed);
        char tb[40], nf[16];
        snprintf(nf, sizeof nf, "%d", r->failures);
        const char *kv[] = {"source", s->name, "failures", nf, "next", fmt_local(r->next, tb, sizeof tb), NULL};
        const char *lb[] = {"source", s->name, NULL};
        metrics_gauge_set(m, "gridgate_source_next_pull_timestamp_seconds",
                          "When the source is due next, after its schedule and backoff (unix time).", lb,
                          (double)r->next);
        metrics_gauge_set(m, "gridgate_source_backoff_seconds",
                          "Current backoff cap of a failing source (0 when its last pull succeeded).", lb,
                          (double)schedule_backoff_cap(s->schedule, r->failures));
        health_source_schedule(h, s->name, r->next, schedule_backoff_cap(s->schedule, r->failures),
                               failed ? 0 : r->next);
        if (failed)
            gg_log_kv(GG_LOG_WARN, s->name, kv, "pull failed %d time(s) in a row: backing off up to %lds",
                      r->failures, schedule_backoff_cap(s->schedule, r->failures));
        else
            gg_log_kv(GG_LOG_DEBUG, s->name, kv, "next pull scheduled");
    }
}

/* SIGHUP: log file reopened; configuration and adapters reloaded and
 * swapped in, or the old ones kept with the reason logged. */
static int run_reload(run_sched *rs, gg_ctx *ctx, gg_health *health) {
    char err[2048];
    gg_info("run", "SIGHUP: reloading %s", ctx->cfg->path);
    if (gg_log_reopen(err, sizeof err)) gg_error("run", "%s (still writing to the old file)", err);
    if (gg_ctx_reload(ctx, err, sizeof err)) {
        gg_error("run", "new configuration rejected, the running one is kept: %s", err);
        return 0;
    }
    for (size_t i = 0; i < ctx->cfg->nsources; i++)
        if (ctx->cfg->sources[i].enabled) health_source_add(health, ctx->cfg->sources[i].name);
    sched_sync(rs, ctx, time(NULL));
    for (size_t i = 0; i < ctx->cfg->nsources; i++) {
        const gg_source_conf *s = &ctx->cfg->sources[i];
        if (s->enabled && !ctx->adapters[i])
            gg_error(s->name, "adapter not loaded after reload: %s", ctx->load_errors[i]);
    }
    gg_info("run", "configuration reloaded: %zu sources (label, adapters and schedules in effect)", rs->n);
    return 1;
}

/* Matching, debounced: a pull that changed the facts in the state store
 * (state_facts_changes) makes matching pending; it runs once
 * [gridgate] match_debounce passed with no further change, at the latest
 * match_max_wait after the first one. The first cycle and --once always
 * match; so does the first cycle of a new day (ongoing enrollments and
 * overdue verdicts move with the date) and a cycle after a reload (rules
 * may have changed). */
typedef struct run_match {
    time_t first_new, last_new; /* pending changes; 0 = none */
    long changes;               /* the store's change counter after the last cycle */
    int matched, yday, year;    /* a match ran; the local day of the last one */
} run_match;

static void match_pending(run_match *mt, time_t at) {
    if (!mt->first_new) mt->first_new = at;
    mt->last_new = at;
}

static int match_now(const run_match *mt, const gg_config *c, time_t now, int once) {
    struct tm tm;
    localtime_r(&now, &tm);
    if (once || !mt->matched || tm.tm_yday != mt->yday || tm.tm_year != mt->year) return 1;
    time_t due = schedule_match_due(mt->first_new, mt->last_new, c->match_debounce, c->match_max_wait);
    return due && due <= now;
}

/* After a cycle: a successful match clears what was pending (the pulls of the
 * same cycle came before it); a failed one leaves it pending; a pull-only
 * cycle makes matching pending when the facts changed (or the counter could
 * not be read). */
static void match_after_cycle(run_match *mt, gg_ctx *ctx, int matched, int rc, time_t t0, time_t t1) {
    long n = state_facts_changes(ctx->st);
    if (matched && rc >= 0) {
        struct tm tm;
        localtime_r(&t0, &tm);
        mt->first_new = mt->last_new = 0;
        mt->matched = 1;
        mt->yday = tm.tm_yday;
        mt->year = tm.tm_year;
    } else if (matched || n < 0 || n != mt->changes) {
        match_pending(mt, t1);
        char tb[40];
        time_t due = schedule_match_due(mt->first_new, mt->last_new, ctx->cfg->match_debounce,
                                        ctx->cfg->match_max_wait);
        gg_debug("run", "%s: matching at %s unless more pulls change facts", matched ? "matching failed" :
                 n < 0 ? "fact changes unknown" : "facts changed", fmt_local(due, tb, sizeof tb));
    }
    mt->changes = n;
}

static int cmd_run(const char *cfg, int argc, char **argv) {
    int once = 0, push = 1, rematch = 0, today = 0;
    long interval = 300;
    static const struct option opts[] = {{"once", no_argument, 0, 'o'},
                                          {"no-push", no_argument, 0, 'n'},
                                          {"interval", required_argument, 0, 'i'},
                                          {"rematch", no_argument, 0, 'r'},
                                          {"today", required_argument, 0, 't'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "onri:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': once = 1; break;
        case 'n': push = 0; break;
        case 'i': interval = strtol(optarg, NULL, 10); break;
        case 'r': rematch = 1; break;
        case 't':
            if (conv_date(optarg, &today)) {
                fprintf(stderr, "gridgate run: --today '%s' is not a date (YYYY-MM-DD)\n", optarg);
                return 2;
            }
            break;
        default: return 2;
        }
    }
    if (interval < 1) {
        fprintf(stderr, "gridgate run: --interval must be at least 1 second\n");
        return 2;
    }
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, GG_STATE_RUN, 1)) return 1;
    int lock_fd = -1;
    if (lock_state(&ctx, "run", &lock_fd)) return 1;
    /* The daemon's metrics and health, served by the admin endpoint when
     * [admin] is configured. */
    time_t started = time(NULL);
    gg_metrics *metrics = metrics_new();
    gg_health *health = health_new(ctx.cfg->admin_stale_after ? ctx.cfg->admin_stale_after : 3 * interval, started);
    gg_admin *admin = NULL;
    if (!metrics || !health) {
        fprintf(stderr, "gridgate run: out of memory\n");
        metrics_free(metrics);
        health_free(health);
        gg_ctx_close(&ctx);
        state_unlock(lock_fd);
        return 1;
    }
    record_start(metrics, health, &ctx);
    if (ctx.cfg->admin_enabled) {
        char err[512];
        admin = admin_new(ctx.cfg->admin_listen, ctx.cfg->admin_token, health, metrics, err, sizeof err);
        if (!admin || admin_start(admin, err, sizeof err)) {
            fprintf(stderr, "gridgate run: %s\n", err);
            admin_free(admin);
            metrics_free(metrics);
            health_free(health);
            gg_ctx_close(&ctx);
            state_unlock(lock_fd);
            return 1;
        }
    }
#ifdef GG_HAVE_SYSTEMD
    sd_notify(0, "READY=1\nSTATUS=first cycle starting");
#endif
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    shutdown_secs = (sig_atomic_t)ctx.cfg->shutdown_timeout;
    run_sched rs = {.interval = interval, .seed = (unsigned)started ^ (unsigned)getpid()};
    sched_sync(&rs, &ctx, started);
    run_match mt = {.changes = state_facts_changes(ctx.st)};
    gg_info("run", "daemon started (pid %ld), %zu sources, default interval %lds", (long)getpid(), rs.n, interval);
    int rc = 0;
    for (;;) {
        /* The sources due now are pulled (every one with --once); the others
         * keep their facts and state. Matching runs when due (run_match). */
        time_t t0 = time(NULL);
        size_t ns = ctx.cfg->nsources, npull = 0;
        unsigned char *pull = xcalloc(ns ? ns : 1, 1);
        for (size_t i = 0; i < ns; i++) {
            run_source *r = sched_find(&rs, ctx.cfg->sources[i].name);
            if (!r || (!once && r->next > t0)) continue; /* disabled or not due */
            pull[i] = 1;
            npull++;
            gg_debug(ctx.cfg->sources[i].name, "due: pulled in this cycle");
        }
        /* The rules' today: --today, else [gridgate] today, else the day of
         * the cycle. */
        ctx.today = today ? today : ctx.cfg->rules.today ? ctx.cfg->rules.today : date_today();
        int match = match_now(&mt, ctx.cfg, t0, once);
        cycle_opts co = {.deliver = push, .pull = pull, .no_match = !match, .rematch = rematch};
        rematch = 0; /* the first matching cycle only */
        cycle_stats cs;
        health_cycle_running(health, t0, (long)npull);
        rc = cycle_run(&ctx, &co, &cs);
        time_t t1 = time(NULL);
        /* A completed cycle stops running where its result is recorded
         * (health_cycle_done); a failed one, which records none, here. */
        record_cycle(metrics, health, &ctx, &cs, rc, t1);
        health_cycle_running(health, 0, 0);
        sched_after_cycle(&rs, &ctx, metrics, health, &cs, rc, pull, t0, t1);
        match_after_cycle(&mt, &ctx, match, rc, t0, t1);
        free(pull);
#ifdef GG_HAVE_SYSTEMD
        if (match)
            sd_notifyf(0, "STATUS=cycle %ld done: %ld streams failed, %ld alerts", cs.cycle, cs.streams_failed,
                       cs.alerts_total);
        else
            sd_notifyf(0, "STATUS=cycle %ld done: %zu sources pulled, %ld streams failed, matching %s", cs.cycle,
                       npull, cs.streams_failed, mt.first_new ? "pending" : "not needed");
#endif
        if (rc < 0) {
            fprintf(stderr, "gridgate run: the cycle could not run (see the log above)\n");
            rc = 1;
        } else if (!match) {
            printf("cycle %ld: %zu sources pulled: %ld facts kept, %ld rows not of interest, %ld rejected, "
                   "%ld invalid ids; matching %s; %ld delivered, %ld delivery failures; %ld streams failed; "
                   "%.2fs\n",
                   cs.cycle, npull, cs.facts_kept, cs.rows_skipped, cs.rejected, cs.invalid_ids,
                   mt.first_new ? "pending" : "not needed (no fact changed)", cs.delivered, cs.delivery_failed,
                   cs.streams_failed, cs.seconds);
            fflush(stdout);
            rc = rc ? 3 : 0;
        } else {
            if (cs.match_skipped)
                printf("cycle %ld: %ld facts kept, %ld rows not of interest, %ld rejected, %ld invalid ids; "
                       "matching not needed (nothing changed since the last match; --rematch forces it), "
                       "%ld overdue; %ld delivered, %ld delivery failures; %ld streams failed; %.2fs\n",
                       cs.cycle, cs.facts_kept, cs.rows_skipped, cs.rejected, cs.invalid_ids, cs.alerts_overdue,
                       cs.delivered, cs.delivery_failed, cs.streams_failed, cs.seconds);
            else
            printf("cycle %ld: %ld facts kept, %ld rows not of interest, %ld rejected, %ld invalid ids; "
                   "%ld alerts (%ld new, %ld updated, %ld withdrawn, %ld overdue, %ld verdicts); "
                   "%ld delivered, %ld delivery failures; %ld streams failed; %.2fs\n",
                   cs.cycle, cs.facts_kept, cs.rows_skipped, cs.rejected, cs.invalid_ids, cs.alerts_total,
                   cs.alerts_new, cs.alerts_updated, cs.alerts_withdrawn, cs.alerts_overdue, cs.verdicts_applied,
                   cs.delivered, cs.delivery_failed, cs.streams_failed, cs.seconds);
            fflush(stdout);
            rc = rc ? 3 : 0;
        }
        if (once) break;
        /* Wait for the first source due, matching due, a reload or a stop. */
        while (!stop_requested) {
            if (reload_requested) {
                reload_requested = 0;
                if (run_reload(&rs, &ctx, health)) match_pending(&mt, time(NULL));
                shutdown_secs = (sig_atomic_t)ctx.cfg->shutdown_timeout;
            }
            time_t now = time(NULL);
            if (sched_earliest(&rs) <= now || (mt.first_new && match_now(&mt, ctx.cfg, now, 0))) break;
            sleep(1);
        }
        if (stop_requested) break;
    }
    if (stop_requested) {
        gg_info("run", "stopping on signal: state store closed, exit 0");
        rc = 0;
    }
#ifdef GG_HAVE_SYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
    admin_free(admin);
    metrics_free(metrics);
    health_free(health);
    gg_ctx_close(&ctx);
    state_unlock(lock_fd);
    free(rs.src);
    alarm(0);
    return rc;
}

/* ---------------------------------------------------------------- status */

typedef struct fetch_buf {
    char *p;
    size_t n;
} fetch_buf;

static size_t on_body(char *data, size_t sz, size_t nm, void *ud) {
    fetch_buf *b = ud;
    size_t len = sz * nm;
    if (b->n + len > 4 * 1024 * 1024) return 0; /* the endpoint's answers are small */
    char *g = realloc(b->p, b->n + len + 1);
    if (!g) return 0;
    memcpy(g + b->n, data, len);
    b->p = g;
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

/* GETs base+path with the token; *code gets the HTTP status. malloc'd body or NULL. */
static char *admin_get(const char *base, const char *path, const char *token, long *code) {
    CURL *cu = curl_easy_init();
    if (!cu) return NULL;
    char url[512], auth[4200];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    fetch_buf b = {0};
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(cu);
    *code = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, code);
    else fprintf(stderr, "gridgate status: %s: %s\n", url, curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    explicit_bzero(auth, sizeof auth);
    curl_easy_cleanup(cu);
    if (rc != CURLE_OK) {
        free(b.p);
        return NULL;
    }
    if (!b.p) b.p = strdup("");
    return b.p;
}

/* Sums the samples of one metric family in exposition text (all label sets). */
static double metric_sum(const char *text, const char *name) {
    double sum = 0;
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (!strncmp(p, name, nl) && (p[nl] == ' ' || p[nl] == '{')) {
            const char *v = p[nl] == '{' ? strchr(p, '}') : p + nl;
            if (v && (!eol || v < eol)) sum += strtod(v + 1, NULL);
        }
        p = eol ? eol + 1 : NULL;
    }
    return sum;
}

static int cmd_status(const char *cfg, int argc, char **argv) {
    const char *url_opt = NULL;
    static const struct option opts[] = {{"url", required_argument, 0, 'u'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
        if (c == 'u') url_opt = optarg;
        else return 2;
    }
    char err[2048];
    gg_config *conf = config_load(cfg, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "gridgate status: %s\n", err);
        return 1;
    }
    if (!conf->admin_enabled) {
        fprintf(stderr, "gridgate status: %s has no [admin] section: the daemon serves no status\n", conf->path);
        config_free(conf);
        return 1;
    }
    char base[300], host[64];
    int port;
    if (url_opt) snprintf(base, sizeof base, "%s", url_opt);
    else if (admin_parse_listen(conf->admin_listen, host, sizeof host, &port) == 0)
        snprintf(base, sizeof base, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d",
                 !strcmp(host, "0.0.0.0") ? "127.0.0.1" : !strcmp(host, "::") ? "::1" : host, port);
    else {
        fprintf(stderr, "gridgate status: [admin] listen '%s' is not HOST:PORT\n", conf->admin_listen);
        config_free(conf);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long code = 0, mcode = 0;
    char *health = admin_get(base, "/healthz", conf->admin_token, &code);
    char *metrics = health ? admin_get(base, "/metrics", conf->admin_token, &mcode) : NULL;
    config_free(conf);
    int rc = 1;
    json_error_t je;
    json_t *h = health ? json_loads(health, 0, &je) : NULL;
    if (!health) {
        fprintf(stderr, "gridgate status: the daemon does not answer at %s (is `gridgate run` running?)\n", base);
    } else if (!h) {
        fprintf(stderr, "gridgate status: %s/healthz answered %ld with no JSON\n", base, code);
    } else {
        json_t *lc = json_object_get(h, "last_cycle");
        printf("daemon   %s (%s), started %s\n", json_string_value(json_object_get(h, "status")),
               code == 200 ? "healthy" : "unhealthy", json_string_value(json_object_get(h, "started")));
        if (json_is_object(lc))
            printf("cycle    %" JSON_INTEGER_FORMAT " finished %s in %.2fs\n",
                   json_integer_value(json_object_get(lc, "number")),
                   json_string_value(json_object_get(lc, "finished")), json_real_value(json_object_get(lc, "seconds")));
        else
            printf("cycle    none completed yet\n");
        json_t *rcy = json_object_get(h, "running_cycle");
        if (json_is_object(rcy))
            printf("running  a cycle since %s (%" JSON_INTEGER_FORMAT "s), pulling %" JSON_INTEGER_FORMAT " sources\n",
                   json_string_value(json_object_get(rcy, "started")),
                   json_integer_value(json_object_get(rcy, "seconds")),
                   json_integer_value(json_object_get(rcy, "sources")));
        json_t *ob = json_object_get(h, "outbox");
        printf("outbox   %" JSON_INTEGER_FORMAT " pending, %" JSON_INTEGER_FORMAT " dead letters\n",
               json_integer_value(json_object_get(ob, "pending")), json_integer_value(json_object_get(ob, "dead")));
        if (metrics && mcode == 200)
            printf("records  %.0f pulled, %.0f quarantined; %.0f alerts in the store\n",
                   metric_sum(metrics, "gridgate_records_pulled_total"),
                   metric_sum(metrics, "gridgate_records_quarantined_total"), metric_sum(metrics, "gridgate_alerts"));
        else if (metrics)
            printf("metrics  refused (%ld): check [admin] token_file\n", mcode);
        printf("\n%-14s %-21s %10s %6s %8s %-21s %-21s %s\n", "SOURCE", "LAST SUCCESS", "STALENESS", "FAILS",
               "BACKOFF", "STALE SINCE", "NEXT PULL", "LAST ERROR");
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(h, "sources"), i, s) {
            const char *ls = json_string_value(json_object_get(s, "last_success"));
            const char *le = json_string_value(json_object_get(s, "last_error"));
            char stale[32];
            snprintf(stale, sizeof stale, "%" JSON_INTEGER_FORMAT "s%s",
                     json_integer_value(json_object_get(s, "staleness_seconds")),
                     json_is_true(json_object_get(s, "stale")) ? "!" : "");
            const char *ss = json_string_value(json_object_get(s, "stale_since"));
            const char *np = json_string_value(json_object_get(s, "next_pull"));
            char bo[24];
            snprintf(bo, sizeof bo, "%" JSON_INTEGER_FORMAT "s", json_integer_value(json_object_get(s, "backoff_seconds")));
            printf("%-14s %-21s %10s %6" JSON_INTEGER_FORMAT " %8s %-21s %-21s %.100s\n",
                   json_string_value(json_object_get(s, "source")), ls ? ls : "never", stale,
                   json_integer_value(json_object_get(s, "consecutive_failures")), bo, ss ? ss : "-", np ? np : "-",
                   le ? le : "");
        }
        rc = code == 200 ? 0 : 3;
    }
    json_decref(h);
    free(health);
    free(metrics);
    curl_global_cleanup();
    return rc;
}

/* ----------------------------------------------------------------- check */

static void print_warning(void *ud, const char *msg) {
    (void)ud;
    printf("warning: %s\n", msg);
}

static int cmd_check(const char *cfg) {
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, GG_STATE_NONE, 1)) return 1;
    int bad = 0;
    printf("config %s: ok (%zu sources)\n", ctx.cfg->path, ctx.cfg->nsources);
    for (size_t i = 0; i < ctx.cfg->nsources; i++) {
        const gg_source_conf *s = &ctx.cfg->sources[i];
        if (!s->enabled) {
            printf("source %s: disabled\n", s->name);
            continue;
        }
        if (!ctx.adapters[i]) {
            printf("source %s: ERROR %s\n", s->name, ctx.load_errors[i]);
            bad = 1;
            continue;
        }
        adapter *ad = ctx.adapters[i];
        printf("source %s: ok, adapter %s, %zu streams%s\n", s->name, s->adapter, adapter_stream_count(ad),
               adapter_can_push(ad) ? ", push" : "");
        for (size_t k = 0; k < adapter_stream_count(ad); k++) {
            const adapter_stream_info *si = adapter_stream(ad, k);
            printf("  stream %-24s %-18s %s\n", si->name, fact_kind_name(si->kind),
                   si->declarative ? "declarative" : "lua pull");
        }
        for (const char *const *w = adapter_warnings(ad); w && *w; w++) printf("  warning: %s\n", *w);
    }
    delivery_route_check(&ctx, print_warning, NULL);
    if (ctx.cfg->rules.enabled[RULE_ASSISTANCE_HIDDEN_INCOME] && ctx.cfg->rules.standard_default < 0 &&
        ctx.cfg->rules.nstandards == 0)
        printf("warning: [rule assistance_hidden_income] has no standard; the rule will not run\n");
    gg_ctx_close(&ctx);
    return bad;
}

/* ---------------------------------------------------------------- alerts */

/* `alerts show`: an evidence record rejected in the latest cycle whose last
 * good version stands in is named under the explanation. */
static int print_last_good(void *ud, const quarantine_row *r) {
    const alert *a = ud;
    for (size_t e = 0; e < a->nev; e++) {
        if (strcmp(a->ev[e].source, r->source) || !a->ev[e].ref || strcmp(a->ev[e].ref, r->ref)) continue;
        printf("注意：证据记录 %s（来源 %s）在最近一个周期被拒收（%s），沿用其上一次有效版本\n", r->ref,
               r->source, r->reason);
        break;
    }
    return 0;
}

typedef struct list_ctx {
    FILE *out;
    int mask;
    long n;
} list_ctx;

static int print_alert_row(void *ud, const alert *a) {
    list_ctx *lc = ud;
    char amt[40], masked[40] = "";
    fen_format(a->amount, amt, sizeof amt);
    if (a->id_no[0]) ident_mask(a->id_no, masked, sizeof masked);
    char periods[40] = "";
    if (a->nperiods)
    {
        char m1[16], m2[16];
        month_text(a->periods[0], m1, sizeof m1);
        month_text(a->periods[a->nperiods - 1], m2, sizeof m2);
        snprintf(periods, sizeof periods, "%s..%s", m1, m2);
    }
    fprintf(lc->out, "%-21s %-27s %-6s %-9s %14s  %-18s %-16s %s\n", a->id, rule_name(a->rule),
            confidence_name(a->conf), a->status, amt, masked, periods, a->case_key ? a->case_key : "");
    lc->n++;
    return 0;
}

static int export_alert(void *ud, const alert *a) {
    list_ctx *lc = ud;
    json_t *j = alert_to_json(a, lc->mask);
    if (!j) return 1;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!s) return 1;
    fprintf(lc->out, "%s\n", s);
    free(s);
    lc->n++;
    return 0;
}

static int cmd_alerts(const char *cfg, int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "gridgate alerts: list, show ID or export\n");
        return 2;
    }
    const char *sub = argv[1];
    const char *rule = NULL, *status = NULL;
    int mask = 0;
    static const struct option opts[] = {{"rule", required_argument, 0, 'r'},
                                          {"status", required_argument, 0, 's'},
                                          {"mask", no_argument, 0, 'm'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "r:s:m", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rule = optarg; break;
        case 's': status = optarg; break;
        case 'm': mask = 1; break;
        default: return 2;
        }
    }
    rule_id rid;
    if (rule && rule_parse(rule, &rid)) {
        fprintf(stderr, "gridgate alerts: unknown rule '%s'\n", rule);
        return 2;
    }
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, GG_STATE_OPEN, 0)) return 1;
    int rc = 0;
    list_ctx lc = {.out = stdout, .mask = mask};
    if (!strcmp(sub, "list")) {
        printf("%-21s %-27s %-6s %-9s %14s  %-18s %-16s %s\n", "ID", "RULE", "CONF", "STATUS", "AMOUNT(YUAN)",
               "ID_NO", "PERIODS", "CASE");
        rc = state_alerts_each(ctx.st, rule, status, print_alert_row, &lc) ? 1 : 0;
        printf("%ld alerts\n", lc.n);
    } else if (!strcmp(sub, "export")) {
        /* unmasked id numbers and names leave the store: audited first, and
         * nothing is exported when the audit row cannot be written */
        if (!mask && audit_access(ctx.st, "alerts export (unmasked)")) {
            fprintf(stderr, "gridgate alerts export: the access could not be audited; nothing exported\n");
            rc = 1;
        } else {
            rc = state_alerts_each(ctx.st, rule, status, export_alert, &lc) ? 1 : 0;
        }
    } else if (!strcmp(sub, "show")) {
        if (optind >= argc) {
            fprintf(stderr, "gridgate alerts show: which alert id?\n");
            rc = 2;
        } else {
            alert a;
            memset(&a, 0, sizeof a);
            int found = state_alert_get(ctx.st, argv[optind], &a);
            if (found == 1) {
                fprintf(stderr, "gridgate alerts show: no alert %s\n", argv[optind]);
                rc = 1;
            } else if (found < 0) {
                rc = 1;
            } else {
                char *text = alert_explain_zh(&a, gg_ctx_label, &ctx);
                char amt[40];
                fen_format(a.amount, amt, sizeof amt);
                printf("%s  %s  状态 %s  版本 %d\n%s\n", a.id, rule_name(a.rule), a.status, a.version,
                       text ? text : "");
                free(text);
                state_quarantine_last_good_each(ctx.st, 0, print_last_good, &a);
                alert_free(&a);
            }
        }
    } else {
        fprintf(stderr, "gridgate alerts: unknown subcommand '%s' (list, show, export)\n", sub);
        rc = 2;
    }
    gg_ctx_close(&ctx);
    return rc;
}

/* ------------------------------------------------- quarantine, dq, outbox */

/* Counts per kind: [0] rejected, [1] invalid id (kept), [2] rejected, last good kept. */
static int print_quarantine(void *ud, const quarantine_row *r) {
    long *n = ud;
    n[r->kind && !strcmp(r->kind, "invalid_id") ? 1 : r->kind && !strcmp(r->kind, "last_good_kept") ? 2 : 0]++;
    /* The key and the reason come from a source (a system keyed by id number
     * shows ids there): both through the masker. */
    char ref[256], reason[1024];
    mask_text_buf(r->ref, MASK_ESCAPE, ref, sizeof ref);
    mask_text_buf(r->reason, MASK_ESCAPE, reason, sizeof reason);
    printf("%-10s %-22s %-20s %-26s %s\n", r->source, r->stream ? r->stream : "", ref,
           quarantine_kind_words(r->kind), reason);
    return 0;
}

static int print_dq(void *ud, const char *source, const char *metric, const char *reason, long n) {
    long *cnt = ud;
    printf("%-10s %-18s %-28s %8ld\n", source, metric, reason ? reason : "", n);
    (*cnt)++;
    return 0;
}

static int print_outbox(void *ud, const outbox_row *r, const char *status) {
    long *n = ud;
    char last_error[1024]; /* a sink's answer: masked */
    mask_text_buf(r->last_error, MASK_ESCAPE, last_error, sizeof last_error);
    printf("%-8ld %-21s %-10s v%-3d %-8s %3d  %s\n", r->id, r->alert_id, r->sink, r->version, status, r->attempts,
           last_error);
    (*n)++;
    return 0;
}

static int cmd_simple(const char *cfg, const char *what, int argc, char **argv) {
    const char *source = NULL, *status = NULL;
    static const struct option opts[] = {{"source", required_argument, 0, 'S'},
                                          {"status", required_argument, 0, 's'},
                                          {0, 0, 0, 0}};
    int c;
    optind = (!strcmp(what, "quarantine") || !strcmp(what, "outbox")) ? 2 : 1;
    while ((c = getopt_long(argc, argv, "S:s:", opts, NULL)) != -1) {
        if (c == 'S') source = optarg;
        else if (c == 's') status = optarg;
        else return 2;
    }
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, GG_STATE_OPEN, !strcmp(what, "deliver"))) return 1;
    long n = 0;
    int rc = 0;
    if (!strcmp(what, "quarantine")) {
        printf("%-10s %-22s %-20s %-26s %s\n", "SOURCE", "STREAM", "RECORD", "KIND", "REASON");
        long nk[3] = {0, 0, 0};
        rc = state_quarantine_each(ctx.st, source, print_quarantine, nk) ? 1 : 0;
        printf("%ld quarantined records: %ld rejected, %ld invalid id (kept), %ld rejected with the last good "
               "version kept\n",
               nk[0] + nk[1] + nk[2], nk[0], nk[1], nk[2]);
    } else if (!strcmp(what, "dq")) {
        printf("%-10s %-18s %-28s %8s\n", "SOURCE", "METRIC", "REASON", "COUNT");
        rc = state_dq_each(ctx.st, 0, print_dq, &n) ? 1 : 0;
    } else if (!strcmp(what, "outbox")) {
        printf("%-8s %-21s %-10s %-4s %-8s %3s  %s\n", "ROW", "ALERT", "SINK", "VER", "STATUS", "TRY", "LAST ERROR");
        rc = state_outbox_each(ctx.st, status, print_outbox, &n) ? 1 : 0;
        printf("%ld deliveries\n", n);
    } else if (!strcmp(what, "deliver")) {
        int lock_fd = -1;
        if (lock_state(&ctx, "deliver", &lock_fd)) return 1;
        cycle_stats cs;
        memset(&cs, 0, sizeof cs);
        int failures = cycle_deliver(&ctx, &cs);
        printf("%ld delivered, %d failed\n", cs.delivered, failures);
        rc = failures ? 3 : 0;
        gg_ctx_close(&ctx);
        state_unlock(lock_fd);
        return rc;
    }
    gg_ctx_close(&ctx);
    return rc;
}

/* ----------------------------------------------------------------- audit */

static int print_audit(void *ud, const audit_row *r) {
    long *n = ud;
    char when[32];
    time_t t = (time_t)r->at;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    char what[200];
    if (!strcmp(r->kind, "pull"))
        snprintf(what, sizeof what, "%s/%s rows=%ld adapter=%s", r->source ? r->source : "",
                 r->stream ? r->stream : "-", r->rows, r->adapter_hash ? r->adapter_hash : "-");
    else if (!strcmp(r->kind, "push"))
        snprintf(what, sizeof what, "%s -> %s v%d", r->alert_id ? r->alert_id : "", r->sink ? r->sink : "",
                 r->version);
    else
        snprintf(what, sizeof what, "%s", r->detail ? r->detail : "");
    printf("%-8ld %-19s %-6s %-24s %-60s %s\n", r->id, when, r->kind, r->actor, what, r->result ? r->result : "");
    (*n)++;
    return 0;
}

static int cmd_audit(const char *cfg, int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "list")) {
        fprintf(stderr, "gridgate audit: list [--kind pull|push|access] [--limit N]\n");
        return 2;
    }
    const char *kind = NULL;
    long limit = 100;
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},
                                          {"limit", required_argument, 0, 'l'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "k:l:", opts, NULL)) != -1) {
        if (c == 'k') kind = optarg;
        else if (c == 'l') limit = strtol(optarg, NULL, 10);
        else return 2;
    }
    if (kind && strcmp(kind, "pull") && strcmp(kind, "push") && strcmp(kind, "access")) {
        fprintf(stderr, "gridgate audit list: --kind is pull, push or access\n");
        return 2;
    }
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, GG_STATE_OPEN, 0)) return 1;
    printf("%-8s %-19s %-6s %-24s %-60s %s\n", "ROW", "WHEN", "KIND", "WHO", "WHAT", "RESULT");
    long n = 0;
    int rc = audit_each(ctx.st, kind, limit, print_audit, &n) ? 1 : 0;
    printf("%ld audit records (newest first%s)\n", n, limit > 0 ? ", --limit applies" : "");
    gg_ctx_close(&ctx);
    return rc;
}

/* ------------------------------------------------------------------ main */

/* Huge pages for the heap. Every cycle allocates its big arrays anew (the
 * fact set: 120 MB at 1M residents; the identity tables; SQLite's sorter
 * building the persons' index), and this kind of machine takes a fault per
 * 4 KiB page touched: growing a 120 MB array took 0.34 s, 0.01-0.08 s on 2 MiB
 * pages. glibc (>= 2.35) advises the kernel to back malloc's large chunks
 * with transparent huge pages under the tunable glibc.malloc.hugetlb=1,
 * which it reads only at process start: so the program executes itself once
 * more with the tunable added, before anything else, unless GLIBC_TUNABLES
 * names it already (GLIBC_TUNABLES=glibc.malloc.hugetlb=0 keeps 4 KiB pages).
 * 1M residents, first cycle: 15.9 s -> 14.4 s, peak RSS +5 MB. If the
 * program cannot be executed again (no /proc, its file replaced by an
 * upgrade since it started), it goes on as it is. */
static void exec_with_huge_pages(char **argv) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    const char *was = getenv("GLIBC_TUNABLES");
    if (was && strstr(was, "glibc.malloc.hugetlb")) return;
    char old[1024], tun[1100];
    if (was && strlen(was) >= sizeof old) return; /* not ours to rewrite */
    snprintf(old, sizeof old, "%s", was ? was : "");
    snprintf(tun, sizeof tun, "%s%sglibc.malloc.hugetlb=1", old, old[0] ? ":" : "");
    /* the program's own path, not /proc/self/exe: the process's name (ps,
     * top, the journal) is the file name executed */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || (size_t)n >= sizeof self - 1) return;
    self[n] = '\0';
    if (setenv("GLIBC_TUNABLES", tun, 1) != 0) return;
    execv(self, argv); /* fails for a program file replaced since ("... (deleted)") */
    /* still this process: as it was */
    if (was) (void)setenv("GLIBC_TUNABLES", old, 1);
    else (void)unsetenv("GLIBC_TUNABLES");
#else
    (void)argv;
#endif
}

int main(int argc, char **argv) {
    exec_with_huge_pages(argv);
    state_library_init();
    const char *cfg = getenv("GRIDGATE_CONFIG");
    if (!cfg || !*cfg) cfg = "gridgate.ini";
    int argi = 1;
    while (argi < argc && argv[argi][0] == '-') {
        if ((!strcmp(argv[argi], "-c") || !strcmp(argv[argi], "--config")) && argi + 1 < argc) {
            cfg = argv[argi + 1];
            argi += 2;
        } else if (!strcmp(argv[argi], "-v") || !strcmp(argv[argi], "--verbose")) {
            gg_log_pin_level(GG_LOG_DEBUG);
            argi++;
        } else if (!strcmp(argv[argi], "-q") || !strcmp(argv[argi], "--quiet")) {
            gg_log_pin_level(GG_LOG_WARN);
            argi++;
        } else if (!strcmp(argv[argi], "-h") || !strcmp(argv[argi], "--help")) {
            usage(stdout);
            return 0;
        } else {
            break;
        }
    }
    if (argi >= argc) {
        usage(stderr);
        return 2;
    }
    /* Allow -c after the command too: gridgate run --once -c conf.ini */
    for (int i = argi + 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            cfg = argv[i + 1];
            for (int k = i; k + 2 <= argc; k++) argv[k] = argv[k + 2];
            argc -= 2;
            break;
        }
    }
    const char *cmd = argv[argi];
    int sub_argc = argc - argi;
    char **sub_argv = argv + argi;
    if (!strcmp(cmd, "run")) return cmd_run(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "check")) return cmd_check(cfg);
    if (!strcmp(cmd, "status")) return cmd_status(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "alerts")) return cmd_alerts(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "quarantine") || !strcmp(cmd, "dq") || !strcmp(cmd, "outbox") || !strcmp(cmd, "deliver"))
        return cmd_simple(cfg, cmd, sub_argc, sub_argv);
    if (!strcmp(cmd, "adapter")) return authoring_main(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "config")) return cmd_config(sub_argc, sub_argv);
    if (!strcmp(cmd, "audit")) return cmd_audit(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "version")) {
        printf("gridgate %s\n", GG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "gridgate: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
