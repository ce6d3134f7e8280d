/* main.c - the gridgate command line: run cycles, check configuration, read
 * alerts, the quarantine, data quality and the outbox, and author adapters.
 *
 *   gridgate run [--once] [--no-push] [--interval SECONDS]
 *   gridgate check
 *   gridgate alerts list [--rule R] [--status S]
 *   gridgate alerts show ID
 *   gridgate alerts export [--rule R] [--mask]
 *   gridgate quarantine list [--source S]
 *   gridgate dq
 *   gridgate outbox list [--status pending|done|dead]
 *   gridgate deliver
 *   gridgate adapter new NAME --kind pg|odbc|http [--dir DIR]
 *   gridgate adapter test FILE --source NAME [--limit N]
 * Every command takes -c FILE (default $GRIDGATE_CONFIG, else gridgate.ini). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "app/authoring.h"
#include "app/cycle.h"
#include "app/gg.h"
#include "core/log.h"

/* Set by SIGINT/SIGTERM to end the run loop between cycles: the one piece of
 * signal state a process needs. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out) {
    fputs("usage: gridgate [-c CONFIG] [-v] COMMAND ...\n"
          "\n"
          "  run [--once] [--no-push] [--interval S]   pull, match and push (loop every S seconds, default 300)\n"
          "  check                                     validate the configuration and every adapter\n"
          "  alerts list [--rule R] [--status S]       alerts in the state store\n"
          "  alerts show ID                            one alert explained (zh-CN, ids masked)\n"
          "  alerts export [--rule R] [--mask]         JSON lines for other tools\n"
          "  quarantine list [--source S]              rejected records with the reason\n"
          "  dq                                        data-quality counts of the last cycle\n"
          "  outbox list [--status pending|done|dead]  deliveries to sinks\n"
          "  deliver                                   retry due deliveries only\n"
          "  adapter new NAME --kind pg|odbc|http      write a commented skeleton adapter and config stanza\n"
          "  adapter test FILE --source NAME [--limit N]  run an adapter against its live source, touch no state\n"
          "  version\n"
          "\n"
          "CONFIG defaults to $GRIDGATE_CONFIG, else ./gridgate.ini.\n",
          out);
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

static int cmd_run(const char *cfg, int argc, char **argv) {
    int once = 0, push = 1;
    long interval = 300;
    static const struct option opts[] = {{"once", no_argument, 0, 'o'},
                                          {"no-push", no_argument, 0, 'n'},
                                          {"interval", required_argument, 0, 'i'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "oni:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': once = 1; break;
        case 'n': push = 0; break;
        case 'i': interval = strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (interval < 1) {
        fprintf(stderr, "gridgate run: --interval must be at least 1 second\n");
        return 2;
    }
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, 1, 1)) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = 0;
    do {
        cycle_opts co = {.deliver = push};
        cycle_stats cs;
        rc = cycle_run(&ctx, &co, &cs);
        if (rc < 0) {
            fprintf(stderr, "gridgate run: the cycle could not run (see the log above)\n");
            rc = 1;
        } else {
            printf("cycle %ld: %ld facts kept, %ld rows not of interest, %ld rejected, %ld invalid ids; "
                   "%ld alerts (%ld new, %ld updated, %ld withdrawn, %ld overdue, %ld verdicts); "
                   "%ld delivered, %ld delivery failures; %ld streams failed; %.2fs\n",
                   cs.cycle, cs.facts_kept, cs.rows_skipped, cs.rejected, cs.invalid_ids, cs.alerts_total,
                   cs.alerts_new, cs.alerts_updated, cs.alerts_withdrawn, cs.alerts_overdue, cs.verdicts_applied,
                   cs.delivered, cs.delivery_failed, cs.streams_failed, cs.seconds);
            fflush(stdout);
            rc = rc ? 3 : 0;
        }
        for (long s = 0; !once && s < interval && !stop_requested; s++) sleep(1);
    } while (!once && !stop_requested);
    gg_ctx_close(&ctx);
    return rc;
}

/* ----------------------------------------------------------------- check */

static int cmd_check(const char *cfg) {
    gg_ctx ctx;
    if (open_ctx(&ctx, cfg, 0, 1)) return 1;
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
    for (int r = 0; r < RULE__COUNT; r++) {
        const gg_route *rt = &ctx.cfg->routes[r];
        for (size_t k = 0; k < rt->nsinks; k++) {
            const char *sink = rt->sinks[k];
            if (!strcmp(sink, "@sources")) continue;
            adapter *ad = gg_ctx_adapter(&ctx, sink);
            if (ad && !adapter_can_push(ad)) {
                printf("route %s: ERROR sink %s has no push function\n", rule_name((rule_id)r), sink);
                bad = 1;
            }
        }
    }
    if (ctx.cfg->rules.enabled[RULE_ASSISTANCE_HIDDEN_INCOME] && ctx.cfg->rules.standard_default < 0 &&
        ctx.cfg->rules.nstandards == 0)
        printf("warning: [rule assistance_hidden_income] has no standard; the rule will not run\n");
    gg_ctx_close(&ctx);
    return bad;
}

/* ---------------------------------------------------------------- alerts */

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
        snprintf(periods, sizeof periods, "%04d-%02d..%04d-%02d", a->periods[0] / 100, a->periods[0] % 100,
                 a->periods[a->nperiods - 1] / 100, a->periods[a->nperiods - 1] % 100);
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
    if (open_ctx(&ctx, cfg, 1, 0)) return 1;
    int rc = 0;
    list_ctx lc = {.out = stdout, .mask = mask};
    if (!strcmp(sub, "list")) {
        printf("%-21s %-27s %-6s %-9s %14s  %-18s %-16s %s\n", "ID", "RULE", "CONF", "STATUS", "AMOUNT(YUAN)",
               "ID_NO", "PERIODS", "CASE");
        rc = state_alerts_each(ctx.st, rule, status, print_alert_row, &lc) ? 1 : 0;
        printf("%ld alerts\n", lc.n);
    } else if (!strcmp(sub, "export")) {
        rc = state_alerts_each(ctx.st, rule, status, export_alert, &lc) ? 1 : 0;
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

static int print_quarantine(void *ud, const quarantine_row *r) {
    long *n = ud;
    printf("%-10s %-22s %-20s %s\n", r->source, r->stream ? r->stream : "", r->ref ? r->ref : "", r->reason);
    (*n)++;
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
    printf("%-8ld %-21s %-10s v%-3d %-8s %3d  %s\n", r->id, r->alert_id, r->sink, r->version, status, r->attempts,
           r->last_error ? r->last_error : "");
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
    if (open_ctx(&ctx, cfg, 1, !strcmp(what, "deliver"))) return 1;
    long n = 0;
    int rc = 0;
    if (!strcmp(what, "quarantine")) {
        printf("%-10s %-22s %-20s %s\n", "SOURCE", "STREAM", "RECORD", "REASON");
        rc = state_quarantine_each(ctx.st, source, print_quarantine, &n) ? 1 : 0;
        printf("%ld quarantined records\n", n);
    } else if (!strcmp(what, "dq")) {
        printf("%-10s %-18s %-28s %8s\n", "SOURCE", "METRIC", "REASON", "COUNT");
        rc = state_dq_each(ctx.st, 0, print_dq, &n) ? 1 : 0;
    } else if (!strcmp(what, "outbox")) {
        printf("%-8s %-21s %-10s %-4s %-8s %3s  %s\n", "ROW", "ALERT", "SINK", "VER", "STATUS", "TRY", "LAST ERROR");
        rc = state_outbox_each(ctx.st, status, print_outbox, &n) ? 1 : 0;
        printf("%ld deliveries\n", n);
    } else if (!strcmp(what, "deliver")) {
        cycle_stats cs;
        memset(&cs, 0, sizeof cs);
        int failures = cycle_deliver(&ctx, &cs);
        printf("%ld delivered, %d failed\n", cs.delivered, failures);
        rc = failures ? 3 : 0;
    }
    gg_ctx_close(&ctx);
    return rc;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
    const char *cfg = getenv("GRIDGATE_CONFIG");
    if (!cfg || !*cfg) cfg = "gridgate.ini";
    int argi = 1;
    while (argi < argc && argv[argi][0] == '-') {
        if ((!strcmp(argv[argi], "-c") || !strcmp(argv[argi], "--config")) && argi + 1 < argc) {
            cfg = argv[argi + 1];
            argi += 2;
        } else if (!strcmp(argv[argi], "-v") || !strcmp(argv[argi], "--verbose")) {
            gg_log_set_level(GG_LOG_DEBUG);
            argi++;
        } else if (!strcmp(argv[argi], "-q") || !strcmp(argv[argi], "--quiet")) {
            gg_log_set_level(GG_LOG_WARN);
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
    if (!strcmp(cmd, "alerts")) return cmd_alerts(cfg, sub_argc, sub_argv);
    if (!strcmp(cmd, "quarantine") || !strcmp(cmd, "dq") || !strcmp(cmd, "outbox") || !strcmp(cmd, "deliver"))
        return cmd_simple(cfg, cmd, sub_argc, sub_argv);
    if (!strcmp(cmd, "adapter")) return authoring_main(cfg, sub_argc, sub_argv);
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
