/* config.c - loads and validates the gateway configuration (INI via inih).
 *
 * Parsing is two passes: inih feeds every key to config_on_key(), which checks
 * the section and key names and stores values; config_validate() then checks
 * what needs the whole file (every source has an adapter, routes name real
 * sources, rule parameters are sane). Every error names file:line and the key.
 * Secrets are resolved here (from the environment or 0600 files) and never
 * appear in messages. */
#include "app/config.h"
#include "core/confkey.h"
#include "core/hash.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn/registry.h"
#include "core/util.h"
#include "model/fact.h"
#include "core/log.h"
#include "daemon/schedule.h"

/* Parse context handed to inih. */
typedef struct cfg_parse {
    gg_config *cfg;
    char err[512];      /* first error, without the file:line prefix */
} cfg_parse;

/* Expands ${VAR} from the environment. Returns malloc'd text, or NULL with err
 * naming the variable when it is not set. */
static char *expand_env(const char *v, char *err, size_t errsz) {
    size_t cap = strlen(v) + 64, n = 0;
    char *out = malloc(cap);
    if (!out) gg_oom();
    for (const char *p = v; *p;) {
        const char *add = p;
        size_t addlen = 1;
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                snprintf(err, errsz, "unterminated ${ in value");
                free(out);
                return NULL;
            }
            char name[128];
            size_t len = (size_t)(end - (p + 2));
            if (len == 0 || len >= sizeof name) {
                snprintf(err, errsz, "bad variable name in ${...}");
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, len);
            name[len] = '\0';
            const char *val = getenv(name);
            if (!val) {
                snprintf(err, errsz, "environment variable %s is not set", name);
                free(out);
                return NULL;
            }
            add = val;
            addlen = strlen(val);
            p = end + 1;
        } else {
            p++;
        }
        if (n + addlen + 1 > cap) {
            cap = (n + addlen + 1) * 2;
            char *grown = realloc(out, cap);
            if (!grown) gg_oom();
            out = grown;
        }
        memcpy(out + n, add, addlen);
        n += addlen;
    }
    out[n] = '\0';
    return out;
}

char *config_read_secret_file(const char *path, char *err, size_t errsz) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errsz, "secret file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errsz, "secret file %s: not a regular file", path);
        return NULL;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errsz, "secret file %s: mode %03o lets group/others read it; chmod 600 it",
                 path, (unsigned)(sb.st_mode & 0777));
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "secret file %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = '\0';
    if (n == 0) {
        snprintf(err, errsz, "secret file %s is empty", path);
        return NULL;
    }
    return xstrdup(buf);
}

static void free_list(char **items, size_t n) { confkey_free_list(items, n); }

/* ---- the configuration map ------------------------------------------------------
 *
 * Every key of every section, with its type, default, range, where it is
 * stored and its help. Base of the offsets: gg_config for [gridgate],
 * [delivery] and [admin]; gg_source_conf for [source NAME]; gg_conn_conf for
 * its conn.<c>.* keys. [rule NAME] keys come from the rule descriptors
 * (rules_common_keys and rule_desc.keys, base rules_config); [route] takes one
 * key per rule name. Defaults are applied from here only (apply_defaults). */

/* schedule.* keys are parsed by daemon/schedule.c into the source's schedule. */
static int set_schedule(const confkey *k, void *base, const char *name, const char *val, char *err, size_t errsz) {
    (void)k;
    return schedule_conf_key(&((gg_source_conf *)base)->schedule, name + strlen("schedule."), val, err, errsz);
}

/* A duration ("90", "90s", "15m", "2h", "1d", or "0") into the long at
 * k->offset, in seconds, within k->min..k->max. */
static int set_seconds(const confkey *k, void *base, const char *name, const char *val, char *err, size_t errsz) {
    long secs = 0;
    if (strcmp(val, "0") != 0 && schedule_parse_duration(val, &secs) != 0) {
        snprintf(err, errsz, "key %s: bad duration '%s' (e.g. 30, 30s, 5m, 2h, 1d)", name, val);
        return -1;
    }
    if (secs < k->min || secs > k->max) {
        snprintf(err, errsz, "key %s: %s is out of range (%lds .. %lds)", name, val, k->min, k->max);
        return -1;
    }
    *(long *)((char *)base + k->offset) = secs;
    return 0;
}

/* [source] max_workers: how many workers may pull the source at once (its
 * streams are split by fact kind, app/cycle.c); unset = one per kind. */
static int set_max_workers(const confkey *k, void *base, const char *name, const char *val, char *err,
                           size_t errsz) {
    long n = 0;
    if (confkey_parse_long(val, k->min, k->max, &n) != 0) {
        snprintf(err, errsz,
                 "key %s: bad value '%s' (an integer from %ld to %ld: 1 pulls all the source's streams in one "
                 "worker, one after the other; leave it unset for one worker per kind of stream)",
                 name, val, k->min, k->max);
        return -1;
    }
    *(long *)((char *)base + k->offset) = n;
    return 0;
}

#define G(f) offsetof(gg_config, f)
#define S(f) offsetof(gg_source_conf, f)
#define C(f) offsetof(gg_conn_conf, f)

static const confkey config_map[] = {
    {"gridgate", "state", CK_PATH, "gridgate-state.db", 0, 0, G(state_path), NULL, NULL,
     "state store (SQLite), relative to the configuration file's directory"},
    {"gridgate", "log_level", CK_ENUM, "info", 0, 0, G(log_level), NULL, "debug, info, warn, error",
     "least severe log level written (-v and -q on the command line win over it)"},
    {"gridgate", "log_format", CK_ENUM, "text", 0, 0, G(log_format), NULL, "text, json",
     "log lines as human text or as JSON objects, one per line"},
    {"gridgate", "log_file", CK_PATH, NULL, 0, 0, G(log_file), NULL, NULL,
     "write the log to this file (created 0600, reopened on SIGHUP); unset = stderr"},
    {"gridgate", "shutdown_timeout", CK_LONG, "30", 1, 3600, G(shutdown_timeout), NULL, NULL,
     "seconds a stop (SIGTERM) may take; a pull still running then is abandoned, uncommitted"},
    {"gridgate", "workers", CK_LONG, NULL, 1, 64, G(workers), NULL, NULL,
     "worker processes pulling at once, all sources together (a source has one per kind of its streams, see "
     "max_workers); unset = 4"},
    {"gridgate", "early_phase2", CK_BOOL, "yes", 0, 0, G(early_phase2), NULL, NULL,
     "when the subjects of interest stored by the last cycle stand, read the payment and income streams beside "
     "the small side (their records are kept only if the small side changed nothing, else read again after it)"},
    {"gridgate", "match_scope_max", CK_LONG, "200000", 0, 100000000L, G(match_scope_max), NULL, NULL,
     "when the facts written since the last match name at most this many subjects (ids, cases, names of records "
     "without a valid id), match only those and what they depend on, the other alerts standing; more, or 0, "
     "matches every subject"},
    {"gridgate", "match_debounce", CK_STRING, "5s", 0, 86400, G(match_debounce), set_seconds, NULL,
     "run loop: after a pull brought new or changed facts, match once no other pull did for this long (0 = at once)"},
    {"gridgate", "match_max_wait", CK_STRING, "60s", 0, 7L * 86400, G(match_max_wait), set_seconds, NULL,
     "run loop: match at the latest this long after the first new facts, however often pulls keep bringing more"},
    {"gridgate", "progress_interval", CK_STRING, "30s", 0, 86400, G(progress_interval), set_seconds, NULL,
     "a stream still being read logs how many rows it read so far this often, at info level (0 = never)"},
    {"gridgate", "today", CK_DATE, NULL, 0, 0, G(rules.today), NULL, NULL,
     "fixed date bounding ongoing enrollments (tests, replays); unset = the clock"},

    {"source", "adapter", CK_PATH, NULL, 0, 0, S(adapter), NULL, NULL,
     "Lua adapter file, relative to the configuration file (required)"},
    {"source", "label", CK_STRING, NULL, 0, 0, S(label), NULL, NULL,
     "department label used in explanations, e.g. 公安户籍; unset = the source name"},
    {"source", "encoding", CK_STRING, "UTF-8", 0, 0, S(encoding), NULL, NULL, "text encoding of the source"},
    {"source", "enabled", CK_BOOL, "yes", 0, 0, S(enabled), NULL, NULL, "pull this source"},
    {"source", "deadline_ms", CK_LONG, "60000", 10, 86400000L, S(deadline_ms), NULL, NULL,
     "time limit of one adapter call, milliseconds"},
    {"source", "memory_mb", CK_LONG, "256", 1, 65536, S(memory_mb), NULL, NULL, "memory cap of the adapter's Lua state and of its worker's C memory, MiB"},
    {"source", "pull_timeout", CK_LONG, "600", 1, 86400, S(pull_timeout), NULL, NULL,
     "seconds each of the source's workers may take for a pull; past it the worker is killed and its open stream "
     "voided"},
    {"source", "push_batch", CK_LONG, "100", 1, 100000, S(push_batch), NULL, NULL,
     "alerts a push worker sends in one transaction of the sink's SQL connections, committed after that many or "
     "after 1 s; an alert the sink refuses is rolled back alone, the others are pushed again; 1 = each alert "
     "commits alone"},
    {"source", "push_workers", CK_LONG, "1", 1, 16, S(push_workers), NULL, NULL,
     "push workers sharing a delivery pass's alerts for the sink, each with its own connections and at least "
     "push_batch alerts (a pass of fewer than twice push_batch alerts uses one); 1 = one worker, one connection"},
    {"source", "max_workers", CK_LONG, NULL, 1, 64, S(max_workers), set_max_workers, NULL,
     "worker processes pulling the source at once: its streams of different fact kinds go to different workers "
     "(streams of one kind stay together, in order), up to this many; 1 = one worker, its streams one after the "
     "other; unset = one per kind (the source's systems then see one connection per kind)"},
    {"source", "max_field", CK_SIZE, "4K", 16, 1L << 30, S(max_field), NULL, NULL,
     "longest value of one field or column, bytes (K, M, G allowed); a longer one rejects the record"},
    {"source", "max_record", CK_SIZE, "64K", 16, 1L << 30, S(max_record), NULL, NULL,
     "largest record (all its values), bytes (K, M, G allowed); a larger one is rejected"},
    {"source", "max_pages", CK_LONG, "10000", 1, 100000000L, S(max_pages), NULL, NULL,
     "pages one HTTP stream may read in a pull; more (or a repeated page) fails the stream"},
    {"source", "max_amount", CK_LONG, "1000000", 1, 1000000000000L, S(max_amount), NULL, NULL,
     "largest plausible amount of one record, yuan; larger or negative amounts are rejected"},
    {"source", "schedule.interval", CK_STRING, NULL, 0, 0, 0, set_schedule, NULL,
     "how often the source is pulled: 90s, 15m, 6h, 1d; unset = run --interval"},
    {"source", "schedule.window", CK_STRING, NULL, 0, 0, 0, set_schedule, NULL,
     "when pulls are allowed, local time: 01:00-05:00 (several comma-separated; may cross midnight)"},
    {"source", "schedule.cron", CK_STRING, NULL, 0, 0, 0, set_schedule, NULL,
     "5-field cron expression instead of an interval: \"0 2 * * *\""},
    {"source", "schedule.backoff", CK_STRING, NULL, 0, 0, 0, set_schedule, NULL,
     "first backoff after a failed pull (doubles, with full jitter); unset = 30s"},
    {"source", "schedule.backoff_max", CK_STRING, NULL, 0, 0, 0, set_schedule, NULL,
     "longest backoff after repeated failures; unset = 1h"},
    {"source", "conn.<c>", CK_STRING, NULL, 0, 0, C(spec), NULL, NULL,
     "connection <c>: pg:..., odbc:... or http:URL; ${VAR} is expanded"},
    {"source", "conn.<c>.token_env", CK_SECRET, NULL, 0, 0, C(token), NULL, NULL,
     "environment variable holding the bearer token of an http connection"},
    {"source", "conn.<c>.token_file", CK_SECRET, NULL, 0, 0, C(token), NULL, NULL,
     "file (mode 0600) holding the bearer token of an http connection"},
    {"source", "conn.<c>.password_env", CK_SECRET, NULL, 0, 0, C(password), NULL, NULL,
     "environment variable holding the database password"},
    {"source", "conn.<c>.password_file", CK_SECRET, NULL, 0, 0, C(password), NULL, NULL,
     "file (mode 0600) holding the database password"},
    {"source", "conn.<c>.timeout_ms", CK_LONG, NULL, 100, 3600000L, C(timeout_ms), NULL, NULL,
     "time limit of one statement or HTTP call, milliseconds; unset = 30000 (the connector's)"},
    {"source", "conn.<c>.retries", CK_INT, NULL, 0, 100, C(retries), NULL, NULL,
     "retries of transient failures; unset = 3 (the connector's)"},
    {"source", "conn.<c>.max_body", CK_SIZE, NULL, 1024L, 1L << 30, C(max_body), NULL, NULL,
     "largest HTTP response body, bytes (K, M, G allowed); unset = 16M"},

    {"route", "<rule>", CK_LIST, NULL, 0, 0, 0, NULL, NULL,
     "where that rule's alerts go: source names (with push) or @sources (the sources involved)"},

    {"delivery", "max_attempts", CK_INT, "10", 1, 1000, G(max_attempts), NULL, NULL,
     "delivery attempts before an alert is dead-lettered"},
    {"delivery", "backoff_base_ms", CK_LONG, "1000", 1, 86400000L, G(backoff_base_ms), NULL, NULL,
     "first retry delay, milliseconds (it grows per attempt up to backoff_max_ms)"},
    {"delivery", "backoff_max_ms", CK_LONG, "300000", 1, 86400000L, G(backoff_max_ms), NULL, NULL,
     "longest retry delay, milliseconds"},
    {"delivery", "verdict_deadline_days", CK_LONG, "7", 1, 3650, G(verdict_deadline_days), NULL, NULL,
     "days a department has to return a verdict before an alert is overdue"},

    {"admin", "listen", CK_STRING, "127.0.0.1:9187", 0, 0, G(admin_listen), NULL, NULL,
     "address:port of the admin endpoint (the section turns it on)"},
    {"admin", "token_file", CK_SECRET, NULL, 0, 0, G(admin_token), NULL, NULL,
     "file (mode 0600) holding the admin bearer token (required)"},
    {"admin", "stale_after", CK_LONG, NULL, 1, 31L * 86400, G(admin_stale_after), NULL, NULL,
     "seconds after which the admin endpoint reports a source stale; unset = three run intervals"},
};

#undef G
#undef S
#undef C

static const size_t config_map_n = sizeof config_map / sizeof *config_map;

/* The map entry of `key` in `section` ("gridgate", "source", ...), or NULL. */
static const confkey *map_find(const char *section, const char *key) {
    for (size_t i = 0; i < config_map_n; i++)
        if (!strcmp(config_map[i].section, section) && confkey_matches(&config_map[i], key)) return &config_map[i];
    return NULL;
}

/* Appends "; accepted keys: a, b, c" for the keys of `section` (or, for a
 * rule, of rule r) to p->err. */
static void accepted_keys(char *err, size_t errsz, const char *section, const rule_desc *rule) {
    size_t n = strlen(err);
    int first = 1;
    n += (size_t)snprintf(err + n, n < errsz ? errsz - n : 0, "; accepted keys:");
    size_t total = rule ? rules_ncommon_keys + rule->nkeys : config_map_n;
    for (size_t i = 0; i < total && n < errsz; i++) {
        const confkey *k;
        if (rule) k = i < rules_ncommon_keys ? &rules_common_keys[i] : &rule->keys[i - rules_ncommon_keys];
        else if (strcmp((k = &config_map[i])->section, section) != 0) continue;
        n += (size_t)snprintf(err + n, errsz - n, "%s %s", first ? "" : ",", k->key);
        first = 0;
    }
}


static int apply_defaults(cfg_parse *p, const char *section, void *base);

static gg_source_conf *source_get(cfg_parse *p, const char *name) {
    gg_config *c = p->cfg;
    for (size_t i = 0; i < c->nsources; i++)
        if (!strcmp(c->sources[i].name, name)) return &c->sources[i];
    gg_source_conf *grown = realloc(c->sources, (c->nsources + 1) * sizeof *grown);
    if (!grown) gg_oom();
    c->sources = grown;
    gg_source_conf *s = &c->sources[c->nsources++];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name);
    if (apply_defaults(p, "source", s) != 0) return NULL;
    return s;
}

static gg_conn_conf *conn_get(gg_source_conf *s, const char *name, char *err, size_t errsz) {
    for (int i = 0; i < s->nconns; i++)
        if (!strcmp(s->conns[i].name, name)) return &s->conns[i];
    if (s->nconns >= GG_MAX_CONNS) {
        snprintf(err, errsz, "too many connections (at most %d)", GG_MAX_CONNS);
        return NULL;
    }
    gg_conn_conf *cc = &s->conns[s->nconns++];
    memset(cc, 0, sizeof *cc);
    cc->name = xstrdup(name);
    cc->retries = -1; /* not set: the connector's default */
    return cc;
}

/* Resolves a secret named by an *_env or *_file key into *dst. 1 ok, 0 error. */
static int resolve_secret(cfg_parse *p, const char *key, const char *attr, const char *val, char **dst) {
    char *sec = NULL;
    if (strstr(attr, "_env")) {
        const char *e = getenv(val);
        if (!e || !*e) {
            snprintf(p->err, sizeof p->err, "key %s: environment variable %s is not set", key, val);
            return 0;
        }
        sec = xstrdup(e);
    } else {
        char *path = config_path(p->cfg, val);
        char e2[400];
        sec = config_read_secret_file(path, e2, sizeof e2);
        free(path);
        if (!sec) {
            snprintf(p->err, sizeof p->err, "key %s: %s", key, e2);
            return 0;
        }
    }
    free(*dst);
    *dst = sec;
    return 1;
}

/* Stores val for map key k (written as `name`) at base. The types that need
 * the file's context are handled here: paths resolve against the file's
 * directory, secrets are read from the environment or a 0600 file, dates
 * take the forms of conv_date(). 1 ok, 0 error (p->err set). */
static int store(cfg_parse *p, const confkey *k, void *base, const char *name, const char *val) {
    char *at = (char *)base + k->offset;
    if (k->set == NULL && k->type == CK_PATH) {
        free(*(char **)(void *)at);
        *(char **)(void *)at = config_path(p->cfg, val);
        return 1;
    }
    if (k->set == NULL && k->type == CK_SECRET) {
        const char *attr = strrchr(name, '.');
        return resolve_secret(p, name, attr ? attr + 1 : name, val, (char **)(void *)at);
    }
    if (k->set == NULL && k->type == CK_DATE) {
        int d;
        if (conv_date(val, &d)) {
            snprintf(p->err, sizeof p->err, "key %s: '%s' is not a date", name, val);
            return 0;
        }
        *(int *)(void *)at = d;
        return 1;
    }
    return confkey_store(k, base, name, val, p->err, sizeof p->err) == 0;
}

/* Applies the map's defaults of `section` to base. 0 ok, -1 p->err set. */
static int apply_defaults(cfg_parse *p, const char *section, void *base) {
    for (size_t i = 0; i < config_map_n; i++) {
        const confkey *k = &config_map[i];
        if (strcmp(k->section, section) != 0 || !k->def || strchr(k->key, '<')) continue;
        if (!store(p, k, base, k->key, k->def)) return -1;
    }
    return 0;
}

/* [source NAME] keys. Returns 1 ok, 0 error (p->err set). */
static int source_key(cfg_parse *p, gg_source_conf *s, const char *key, const char *val) {
    const confkey *k = map_find("source", key);
    if (!k) {
        snprintf(p->err, sizeof p->err, "unknown key '%s' in [source %s]", key, s->name);
        accepted_keys(p->err, sizeof p->err, "source", NULL);
        return 0;
    }
    if (strncmp(k->key, "conn.", 5) != 0) return store(p, k, s, key, val);
    char cname[64];
    const char *rest = key + 5;
    size_t len = strcspn(rest, ".");
    if (len >= sizeof cname) {
        snprintf(p->err, sizeof p->err, "unknown key '%s' in [source %s] (connection names are at most %zu characters)",
                 key, s->name, sizeof cname - 1);
        return 0;
    }
    memcpy(cname, rest, len);
    cname[len] = '\0';
    gg_conn_conf *cc = conn_get(s, cname, p->err, sizeof p->err);
    return cc ? store(p, k, cc, key, val) : 0;
}

/* [rule NAME] keys: `enabled` (rules_common_keys, stored in enabled[r]) and
 * the keys of the rule's descriptor (stored in rules_config). */
static int rule_key(cfg_parse *p, rule_id r, const char *key, const char *val) {
    rules_config *rc = &p->cfg->rules;
    const rule_desc *d = rules_get(r);
    for (size_t i = 0; i < rules_ncommon_keys; i++)
        if (confkey_matches(&rules_common_keys[i], key))
            return confkey_store(&rules_common_keys[i], &rc->enabled[r], key, val, p->err, sizeof p->err) == 0;
    for (size_t i = 0; i < d->nkeys; i++)
        if (confkey_matches(&d->keys[i], key))
            return confkey_store(&d->keys[i], rc, key, val, p->err, sizeof p->err) == 0;
    snprintf(p->err, sizeof p->err, "unknown key '%s' in [rule %s]", key, rule_name(r));
    accepted_keys(p->err, sizeof p->err, "rule", d);
    return 0;
}

/* Keys of the single-instance sections [gridgate], [delivery], [admin]. */
static int plain_key(cfg_parse *p, const char *section, const char *key, const char *val) {
    gg_config *c = p->cfg;
    const confkey *k = map_find(section, key);
    if (!strcmp(section, "admin") && !c->admin_enabled) {
        c->admin_enabled = 1;
        if (apply_defaults(p, "admin", c) != 0) return 0;
    }
    if (!k) {
        snprintf(p->err, sizeof p->err, "unknown key '%s' in [%s]", key, section);
        accepted_keys(p->err, sizeof p->err, section, NULL);
        return 0;
    }
    return store(p, k, c, key, val);
}

/* Settings no alert depends on: logging, the admin endpoint, when and how
 * hard sources are pulled, delivery retries. Editing them (or comments,
 * blank lines, spacing) leaves the last match standing; every other key
 * counts, as written (before ${VAR} expansion), in file order. Section "source"
 * stands for every [source NAME]. A key added to the map counts until it is
 * listed here. */
static const struct {
    const char *section, *key;
} not_for_matching[] = {
    {"gridgate", "log_level"},      {"gridgate", "log_format"},     {"gridgate", "log_file"},
    {"gridgate", "shutdown_timeout"}, {"gridgate", "workers"},      {"gridgate", "match_debounce"},
    {"gridgate", "match_max_wait"}, {"gridgate", "progress_interval"}, {"admin", "listen"},            {"admin", "token_file"},
    {"admin", "stale_after"},       {"source", "pull_timeout"},     {"source", "push_batch"},
    {"source", "push_workers"},     {"source", "max_workers"},      {"source", "schedule.interval"}, {"source", "schedule.window"},
    {"source", "schedule.cron"},    {"source", "schedule.backoff"}, {"source", "schedule.backoff_max"},
    {"delivery", "max_attempts"},   {"delivery", "backoff_base_ms"}, {"delivery", "backoff_max_ms"},
};

static int for_matching(const char *section, const char *key) {
    const char *sec = strncmp(section, "source ", 7) ? section : "source";
    for (size_t i = 0; i < sizeof not_for_matching / sizeof not_for_matching[0]; i++)
        if (!strcmp(not_for_matching[i].section, sec) && !strcmp(not_for_matching[i].key, key)) return 0;
    return 1;
}

static int config_on_key(void *user, const char *section, const char *key, const char *raw) {
    cfg_parse *p = user;
    gg_config *c = p->cfg;
    if (p->err[0]) return 0; /* keep the first error */
    if (for_matching(section, key)) {
        const char *parts[] = {section, key, raw};
        for (size_t i = 0; i < 3; i++) c->match_hash = gg_hash64_update(c->match_hash, parts[i], strlen(parts[i]) + 1);
    }
    char *val = expand_env(raw, p->err, sizeof p->err);
    if (!val) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "key %.100s: %.400s", key, p->err);
        snprintf(p->err, sizeof p->err, "%s", tmp);
        return 0;
    }
    int ok = 1;
    if (!strcmp(section, "gridgate") || !strcmp(section, "delivery") || !strcmp(section, "admin")) {
        ok = plain_key(p, section, key, val);
    } else if (!strncmp(section, "source ", 7) && section[7]) {
        const char *name = section + 7;
        if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
            snprintf(p->err, sizeof p->err, "source name '%s': use lowercase letters, digits and _", name);
            ok = 0;
        } else {
            gg_source_conf *s = source_get(p, name);
            ok = s ? source_key(p, s, key, val) : 0;
        }
    } else if (!strncmp(section, "rule ", 5)) {
        rule_id r;
        if (rule_parse(section + 5, &r)) {
            snprintf(p->err, sizeof p->err, "unknown rule '%s' in section [%s]", section + 5, section);
            ok = 0;
        } else {
            ok = rule_key(p, r, key, val);
        }
    } else if (!strcmp(section, "route")) {
        rule_id r;
        if (rule_parse(key, &r)) {
            snprintf(p->err, sizeof p->err, "unknown rule '%s' in [route]", key);
            ok = 0;
        } else {
            free_list(c->routes[r].sinks, c->routes[r].nsinks);
            c->routes[r].sinks = confkey_split_list(val, &c->routes[r].nsinks);
        }
    } else {
        snprintf(p->err, sizeof p->err, "unknown section [%s]", section);
        ok = 0;
    }
    free(val);
    return ok;
}

/* Appends a resolved password to a connection spec in the form its driver
 * reads (the connector's registry entry knows how). */
static int attach_password(gg_source_conf *s, gg_conn_conf *cc, char *err, size_t errsz) {
    if (!cc->password) return 0;
    const conn_kind *k = conn_registry_for_spec(cc->spec, NULL);
    if (!k || !k->takes_password || !k->with_password) {
        char list[160];
        size_t n = 0;
        list[0] = '\0';
        for (size_t i = 0; i < conn_registry_count(); i++) {
            const conn_kind *ki = conn_registry_at(i);
            if (ki->takes_password && n < sizeof list)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s:", n ? " and " : "", ki->prefix);
        }
        snprintf(err, errsz, "[source %s] conn.%s: a password applies to %s connections only", s->name, cc->name,
                 list);
        return -1;
    }
    char *spec = k->with_password(cc->spec, cc->password);
    if (!spec) gg_oom();
    free(cc->spec);
    cc->spec = spec;
    return 0;
}

static int config_validate(gg_config *c, char *err, size_t errsz) {
    if (c->admin_enabled && !c->admin_token) {
        snprintf(err, errsz, "[admin]: missing key 'token_file' (a file, mode 0600, holding the bearer token)");
        return -1;
    }
    for (size_t i = 0; i < c->nsources; i++) {
        gg_source_conf *s = &c->sources[i];
        if (!s->adapter) {
            snprintf(err, errsz, "[source %s]: missing key 'adapter'", s->name);
            return -1;
        }
        /* s->adapter is a CK_PATH: already resolved against the file's
         * directory when it was read (store) */
        if (!s->label) s->label = xstrdup(s->name);
        for (int k = 0; k < s->nconns; k++) {
            gg_conn_conf *cc = &s->conns[k];
            if (!cc->spec) {
                char list[160];
                conn_registry_list(list, sizeof list, "", ":...", " | ", " | ");
                snprintf(err, errsz, "[source %s]: conn.%s has settings but no spec (conn.%s = %s)", s->name,
                         cc->name, cc->name, list);
                return -1;
            }
            if (!conn_registry_for_spec(cc->spec, NULL)) {
                char list[160];
                conn_registry_list(list, sizeof list, "", ":", ", ", " or ");
                snprintf(err, errsz, "[source %s] conn.%s: the spec must start with %s", s->name, cc->name, list);
                return -1;
            }
            if (attach_password(s, cc, err, errsz)) return -1;
        }
    }
    for (int r = 0; r < (int)rules_count(); r++) {
        for (size_t k = 0; k < c->routes[r].nsinks; k++) {
            const char *sink = c->routes[r].sinks[k];
            if (!strcmp(sink, "@sources")) continue;
            if (!config_source(c, sink)) {
                snprintf(err, errsz, "[route] %s: no [source %s] to deliver to", rule_name((rule_id)r), sink);
                return -1;
            }
        }
    }
    return 0;
}

gg_config *config_load(const char *path, char *err, size_t errsz) {
    gg_config *c = calloc(1, sizeof *c);
    if (!c) gg_oom();
    c->path = xstrdup(path);
    char *tmp = xstrdup(path);
    c->dir = xstrdup(dirname(tmp));
    free(tmp);
    c->match_hash = GG_HASH64_SEED;
    cfg_parse p = {.cfg = c};
    if (rules_config_defaults(&c->rules) != 0 || apply_defaults(&p, "gridgate", c) != 0 ||
        apply_defaults(&p, "delivery", c) != 0) {
        snprintf(err, errsz, "%s: defaults: %s", path, p.err[0] ? p.err : "out of memory");
        config_free(c);
        return NULL;
    }

    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        config_free(c);
        return NULL;
    }
    int line = ini_parse_file(f, config_on_key, &p);
    fclose(f);
    if (line != 0) {
        if (line < 0)
            snprintf(err, errsz, "%s: cannot read the file", path);
        else if (p.err[0])
            snprintf(err, errsz, "%s:%d: %s", path, line, p.err);
        else
            snprintf(err, errsz, "%s:%d: syntax error (expected [section] or key = value; lines are limited to 200 characters)",
                     path, line);
        config_free(c);
        return NULL;
    }
    if (config_validate(c, err, errsz)) {
        char tmp2[1024];
        snprintf(tmp2, sizeof tmp2, "%.300s: %.700s", path, err);
        snprintf(err, errsz, "%s", tmp2);
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(gg_config *c) {
    if (!c) return;
    free(c->path);
    free(c->dir);
    free(c->state_path);
    free(c->log_level);
    free(c->log_file);
    free(c->log_format);
    free(c->admin_listen);
    if (c->admin_token) explicit_bzero(c->admin_token, strlen(c->admin_token));
    free(c->admin_token);
    for (size_t i = 0; i < c->nsources; i++) {
        gg_source_conf *s = &c->sources[i];
        free(s->name);
        free(s->label);
        free(s->adapter);
        free(s->encoding);
        schedule_free(s->schedule);
        for (int k = 0; k < s->nconns; k++) {
            gg_conn_conf *cc = &s->conns[k];
            free(cc->name);
            if (cc->spec) explicit_bzero(cc->spec, strlen(cc->spec));
            free(cc->spec);
            if (cc->token) explicit_bzero(cc->token, strlen(cc->token));
            free(cc->token);
            if (cc->password) explicit_bzero(cc->password, strlen(cc->password));
            free(cc->password);
        }
    }
    free(c->sources);
    for (int r = 0; r < RULES_MAX; r++) free_list(c->routes[r].sinks, c->routes[r].nsinks);
    rules_config_free(&c->rules);
    free(c);
}

const gg_source_conf *config_source(const gg_config *c, const char *name) {
    for (size_t i = 0; i < c->nsources; i++)
        if (!strcmp(c->sources[i].name, name)) return &c->sources[i];
    return NULL;
}

char *config_path(const gg_config *c, const char *p) {
    if (p[0] == '/' || !c->dir) return xstrdup(p);
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *out = malloc(n);
    if (!out) gg_oom();
    snprintf(out, n, "%s/%s", c->dir, p);
    return out;
}

/* ---- listing -------------------------------------------------------------------- */

static void key_row(FILE *out, int markdown, const char *section, const confkey *k) {
    char range[128];
    confkey_range(k, range, sizeof range);
    const char *def = k->def ? k->def : "-";
    if (markdown)
        fprintf(out, "| `[%s]` | `%s` | %s | %s | %s | %s |\n", section, k->key, confkey_type_name(k->type),
                k->def ? k->def : "", range, k->help);
    else
        fprintf(out, "%-32s %-26s %-6s %-31s %-24s %s\n", section, k->key, confkey_type_name(k->type), def,
                range[0] ? range : "-", k->help);
}

void config_keys_print(FILE *out, int markdown) {
    if (markdown)
        fputs("| section | key | type | default | range | help |\n|---|---|---|---|---|---|\n", out);
    else
        fprintf(out, "%-32s %-26s %-6s %-31s %-24s %s\n", "SECTION", "KEY", "TYPE", "DEFAULT", "RANGE", "HELP");
    const char *order[] = {"gridgate", "source", "rule", "route", "delivery", "admin"};
    for (size_t o = 0; o < sizeof order / sizeof *order; o++) {
        if (!strcmp(order[o], "rule")) {
            for (size_t r = 0; r < rules_count(); r++) {
                const rule_desc *d = rules_get((rule_id)r);
                char sec[96];
                snprintf(sec, sizeof sec, "rule %s", d->info.name);
                for (size_t i = 0; i < rules_ncommon_keys; i++) key_row(out, markdown, sec, &rules_common_keys[i]);
                for (size_t i = 0; i < d->nkeys; i++) key_row(out, markdown, sec, &d->keys[i]);
            }
            continue;
        }
        for (size_t i = 0; i < config_map_n; i++)
            if (!strcmp(config_map[i].section, order[o]))
                key_row(out, markdown, !strcmp(order[o], "source") ? "source NAME" : order[o], &config_map[i]);
    }
}

size_t config_map_count(void) { return config_map_n; }
const confkey *config_map_at(size_t i) { return i < config_map_n ? &config_map[i] : NULL; }
