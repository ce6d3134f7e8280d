/* config.h - the gateway configuration (INI, parsed with inih).
 *
 *   [gridgate]                  state = var/state.db ; log_level = info ; log_format = text|json
 *                               log_file = PATH (else stderr) ; shutdown_timeout = 30 (seconds)
 *   [source NAME]               adapter, label, conn.<c> = <spec>, conn.<c>.token_file, ...
 *                               schedule.interval|window|cron|backoff|backoff_max (daemon/schedule.h)
 *   [rule RULE]                 enabled, grace_months, min_months, standard[.<prefix>], exempt_subkinds
 *   [route]                     <rule> = sink, sink, ... ("@sources" = the sources involved)
 *   [delivery]                  max_attempts, backoff_base_ms, backoff_max_ms
 *   [admin]                     listen = 127.0.0.1:PORT, token_file = PATH (0600), stale_after = S
 *
 * Values may use ${VAR} to take text from the environment. Secrets are never
 * written in the file: conn.<c>.password_env / .password_file and
 * conn.<c>.token_env / .token_file name where they are; files must be mode 0600
 * (or stricter) or loading fails. Unknown sections and keys are rejected with
 * the file, line and key named, and the accepted keys of the section listed.
 * Every key is described once, in the configuration map of config.c
 * (`gridgate config keys` prints it); rule keys come from the rule descriptors. */
#ifndef GG_CONFIG_H
#define GG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "alerts/alert.h"
#include "core/confkey.h"
#include "rules/rules.h"

#define GG_MAX_CONNS 8

typedef struct gg_conn_conf {
    char *name;     /* "db" */
    char *spec;     /* "pg:..." with ${VAR} expanded and the password resolved */
    char *token;    /* resolved bearer token (HTTP), may be NULL; never logged */
    char *password; /* resolved database password, already appended to spec; never logged */
    long timeout_ms;
    int retries;    /* -1 = not set (connector default), 0 = none */
    long max_body;  /* HTTP response body limit in bytes; 0 = connector default (16 MiB) */
} gg_conn_conf;

typedef struct gg_source_conf {
    char *name;         /* section name */
    char *label;        /* department label for explanations, e.g. "公安户籍" */
    char *adapter;      /* path to the Lua file (relative to the config file's directory) */
    char *encoding;     /* source text encoding, default "UTF-8" */
    int enabled;
    long deadline_ms;   /* Lua time limit per call; default 60000 */
    long memory_mb;     /* Lua memory cap and the worker's C memory cap; default 256 */
    long pull_timeout;  /* seconds: the source's worker is killed past it; default 600 */
    /* Limits on input (0 = the default): max_field, max_record bytes (4K, 64K),
     * max_pages per HTTP stream pull (10000), max_amount yuan per record (1000000). */
    long max_field, max_record, max_pages, max_amount;
    gg_conn_conf conns[GG_MAX_CONNS];
    int nconns;
    int line;           /* where the section starts, for messages */
    struct gg_schedule *schedule; /* schedule.* keys (daemon/schedule.h), NULL when none */
} gg_source_conf;

typedef struct gg_route {
    char **sinks;  /* source names, or "@sources" */
    size_t nsinks;
} gg_route;

typedef struct gg_config {
    char *path;         /* the file loaded */
    char *dir;          /* its directory: relative paths resolve against it */
    char *state_path;
    char *log_level;
    char *log_format;       /* "text" or "json"; NULL = text */
    char *log_file;         /* NULL: stderr */
    long shutdown_timeout;  /* seconds a stop may take; default 30 */
    long workers;       /* [gridgate] workers: sources pulled at once; 0 = min(sources, 4) */
    long match_debounce;    /* seconds of quiet after new facts before matching; default 5 */
    long match_max_wait;    /* matching at the latest this long after the first new facts; default 60 */
    gg_source_conf *sources;
    size_t nsources;
    rules_config rules;
    gg_route routes[RULES_MAX]; /* by rule index */
    int max_attempts;       /* delivery attempts before dead-lettering; default 10 */
    long backoff_base_ms;   /* default 1000 */
    long backoff_max_ms;    /* default 300000 */
    long verdict_deadline_days; /* default 7 */
    /* [admin]: the daemon's HTTP endpoint; off when the section is absent */
    int admin_enabled;
    char *admin_listen;     /* "127.0.0.1:9187" by default */
    char *admin_token;      /* read from token_file (0600 or stricter); never logged */
    long admin_stale_after; /* seconds; 0 = three run intervals */
} gg_config;

/* Loads and validates; NULL with a message naming file:line and key on error. */
gg_config *config_load(const char *path, char *err, size_t errsz);
void config_free(gg_config *c);
const gg_source_conf *config_source(const gg_config *c, const char *name);
/* Resolves a path relative to the config directory (malloc'd). */
char *config_path(const gg_config *c, const char *p);
/* Reads a secret file, refusing group/other-readable files. malloc'd, trailing
 * newline stripped; NULL with err set. */
char *config_read_secret_file(const char *path, char *err, size_t errsz);

/* The configuration map (app/config.c): every key of [gridgate], [source
 * NAME], [route], [delivery] and [admin]; [rule NAME] keys are the rule
 * descriptors' (rules/rules.h). */
size_t config_map_count(void);
const confkey *config_map_at(size_t i); /* NULL past the end */
/* Every section, key, type, default, range and help as a table; markdown = 1
 * prints the reference table of docs/configuration.md. */
void config_keys_print(FILE *out, int markdown);

#endif
