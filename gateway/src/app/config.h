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
#include <stdint.h>
#include <stdio.h>

#include "adapter/source.h"
#include "alerts/alert.h"
#include "core/confkey.h"
#include "rules/rules.h"

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
    long workers;       /* [gridgate] workers: worker processes pulling at once (all sources); 0 = 4 */
    long match_scope_max; /* [gridgate] match_scope_max: touched subjects a match of them alone takes at most */
    int early_phase2;   /* [gridgate] early_phase2: phase 2 beside phase 1 on the stored subjects of interest */
    long match_debounce;    /* seconds of quiet after new facts before matching; default 5 */
    long match_max_wait;    /* matching at the latest this long after the first new facts; default 60 */
    long progress_interval; /* seconds between a long read's progress lines (workers); 0 = none; default 30 */
    uint64_t match_hash;    /* every setting as written, in file order, but those no alert depends on
                             * (config.c, not_for_matching): the match's digest (app/cycle.c) */
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
