/* config.c - loads and validates the gateway configuration (INI via inih).
 *
 * Parsing is two passes: inih feeds every key to config_on_key(), which checks
 * the section and key names and stores values; config_validate() then checks
 * what needs the whole file (every source has an adapter, routes name real
 * sources, rule parameters are sane). Every error names file:line and the key.
 * Secrets are resolved here (from the environment or 0600 files) and never
 * appear in messages. */
#include "app/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conn/registry.h"
#include "model/fact.h"
#include "core/log.h"

/* Parse context handed to inih. */
typedef struct cfg_parse {
    gg_config *cfg;
    char err[512];      /* first error, without the file:line prefix */
    int have_standard;  /* [rule assistance_hidden_income] standard seen */
} cfg_parse;

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "gridgate: out of memory\n");
        abort();
    }
    return d;
}

/* Expands ${VAR} from the environment. Returns malloc'd text, or NULL with err
 * naming the variable when it is not set. */
static char *expand_env(const char *v, char *err, size_t errsz) {
    size_t cap = strlen(v) + 64, n = 0;
    char *out = malloc(cap);
    if (!out) abort();
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
            if (!grown) abort();
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

static int parse_long(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024): "16M". */
static int parse_size(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || x < 0) return -1;
    long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1L << 10;
    else if (*end == 'M' || *end == 'm') mul = 1L << 20;
    else if (*end == 'G' || *end == 'g') mul = 1L << 30;
    if (mul != 1) end++;
    if (*end != '\0' || x > hi / mul || x * mul < lo) return -1;
    *out = x * mul;
    return 0;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Splits "a, b ,c" into a malloc'd array of trimmed strings. */
static char **split_list(const char *v, size_t *n) {
    char *copy = xstrdup(v);
    char **items = NULL;
    size_t cnt = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*tok) continue;
        char **grown = realloc(items, (cnt + 1) * sizeof *items);
        if (!grown) abort();
        items = grown;
        items[cnt++] = xstrdup(tok);
    }
    free(copy);
    *n = cnt;
    return items;
}

static void free_list(char **items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

static gg_source_conf *source_get(gg_config *c, const char *name) {
    for (size_t i = 0; i < c->nsources; i++)
        if (!strcmp(c->sources[i].name, name)) return &c->sources[i];
    gg_source_conf *grown = realloc(c->sources, (c->nsources + 1) * sizeof *grown);
    if (!grown) abort();
    c->sources = grown;
    gg_source_conf *s = &c->sources[c->nsources++];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name);
    s->enabled = 1;
    s->deadline_ms = 60000;
    s->memory_mb = 256;
    s->pull_timeout = 600;
    s->encoding = xstrdup("UTF-8");
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

/* [source NAME] keys. Returns 1 ok, 0 error (p->err set). */
static int source_key(cfg_parse *p, gg_source_conf *s, const char *key, const char *val) {
    if (!strcmp(key, "adapter")) {
        free(s->adapter);
        s->adapter = xstrdup(val);
    } else if (!strcmp(key, "label")) {
        free(s->label);
        s->label = xstrdup(val);
    } else if (!strcmp(key, "encoding")) {
        free(s->encoding);
        s->encoding = xstrdup(val);
    } else if (!strcmp(key, "enabled")) {
        if (parse_bool(val, &s->enabled)) goto bad;
    } else if (!strcmp(key, "deadline_ms")) {
        if (parse_long(val, 10, 86400000L, &s->deadline_ms)) goto bad;
    } else if (!strcmp(key, "memory_mb")) {
        if (parse_long(val, 1, 65536, &s->memory_mb)) goto bad;
    } else if (!strcmp(key, "pull_timeout")) {
        if (parse_long(val, 1, 86400L, &s->pull_timeout)) goto bad;
    } else if (!strncmp(key, "conn.", 5)) {
        char cname[64];
        const char *rest = key + 5;
        const char *dot = strchr(rest, '.');
        size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
        if (len == 0 || len >= sizeof cname) goto unknown;
        memcpy(cname, rest, len);
        cname[len] = '\0';
        gg_conn_conf *cc = conn_get(s, cname, p->err, sizeof p->err);
        if (!cc) return 0;
        const char *attr = dot ? dot + 1 : NULL;
        if (!attr) {
            free(cc->spec);
            cc->spec = xstrdup(val);
        } else if (!strcmp(attr, "token_env") || !strcmp(attr, "token_file")) {
            return resolve_secret(p, key, attr, val, &cc->token);
        } else if (!strcmp(attr, "password_env") || !strcmp(attr, "password_file")) {
            return resolve_secret(p, key, attr, val, &cc->password);
        } else if (!strcmp(attr, "timeout_ms")) {
            if (parse_long(val, 100, 3600000L, &cc->timeout_ms)) goto bad;
        } else if (!strcmp(attr, "max_body")) {
            if (parse_size(val, 1024L, 1L << 30, &cc->max_body)) goto bad;
        } else if (!strcmp(attr, "retries")) {
            long r;
            if (parse_long(val, 0, 100, &r)) goto bad;
            cc->retries = (int)r;
        } else {
            goto unknown;
        }
    } else {
        goto unknown;
    }
    return 1;
bad:
    snprintf(p->err, sizeof p->err, "key %s: bad value '%s'", key, val);
    return 0;
unknown:
    snprintf(p->err, sizeof p->err, "unknown key '%s' in [source %s]", key, s->name);
    return 0;
}

/* [rule NAME] keys. */
static int rule_key(cfg_parse *p, rule_id r, const char *key, const char *val) {
    rules_config *rc = &p->cfg->rules;
    long l;
    if (!strcmp(key, "enabled")) {
        if (parse_bool(val, &rc->enabled[r])) goto bad;
        return 1;
    }
    switch (r) {
    case RULE_PENSION_AFTER_DEATH:
        if (!strcmp(key, "grace_months")) {
            if (parse_long(val, 0, 120, &l)) goto bad;
            rc->grace_months = (int)l;
            return 1;
        }
        break;
    case RULE_ASSISTANCE_HIDDEN_INCOME:
        if (!strcmp(key, "min_months")) {
            if (parse_long(val, 1, 120, &l)) goto bad;
            rc->min_months = (int)l;
            return 1;
        }
        if (!strcmp(key, "standard")) {
            if (parse_long(val, 0, 100000000L, &l)) goto bad;
            rc->standard_default = l;
            return 1;
        }
        if (!strncmp(key, "standard.", 9)) {
            const char *pre = key + 9;
            size_t n = strlen(pre);
            if (n < 1 || n > 6 || strspn(pre, "0123456789") != n) {
                snprintf(p->err, sizeof p->err,
                         "key %s: the region prefix must be 1 to 6 digits", key);
                return 0;
            }
            if (parse_long(val, 0, 100000000L, &l)) goto bad;
            region_standard *grown = realloc(rc->standards, (rc->nstandards + 1) * sizeof *grown);
            if (!grown) abort();
            rc->standards = grown;
            region_standard *rs = &rc->standards[rc->nstandards++];
            memset(rs, 0, sizeof *rs);
            memcpy(rs->prefix, pre, n);
            rs->fen = l;
            return 1;
        }
        break;
    case RULE_ASSISTANCE_HIDDEN_ASSETS:
        if (!strcmp(key, "exempt_subkinds")) {
            free_list(rc->exempt_subkinds, rc->nexempt);
            rc->exempt_subkinds = split_list(val, &rc->nexempt);
            return 1;
        }
        break;
    default:
        break;
    }
    snprintf(p->err, sizeof p->err, "unknown key '%s' in [rule %s]", key, rule_name(r));
    return 0;
bad:
    snprintf(p->err, sizeof p->err, "key %s: bad value '%s'", key, val);
    return 0;
}

static int config_on_key(void *user, const char *section, const char *key, const char *raw) {
    cfg_parse *p = user;
    gg_config *c = p->cfg;
    if (p->err[0]) return 0; /* keep the first error */
    char *val = expand_env(raw, p->err, sizeof p->err);
    if (!val) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "key %.100s: %.400s", key, p->err);
        snprintf(p->err, sizeof p->err, "%s", tmp);
        return 0;
    }
    int ok = 1;
    long l;
    if (!strcmp(section, "gridgate")) {
        if (!strcmp(key, "state")) {
            free(c->state_path);
            c->state_path = config_path(c, val);
        } else if (!strcmp(key, "log_level")) {
            gg_log_level lv;
            if (gg_log_parse_level(val, &lv)) {
                snprintf(p->err, sizeof p->err, "key log_level: '%s' is not one of debug, info, warn, error", val);
                ok = 0;
            } else {
                free(c->log_level);
                c->log_level = xstrdup(val);
            }
        } else if (!strcmp(key, "workers")) {
            if (parse_long(val, 1, 64, &c->workers)) {
                snprintf(p->err, sizeof p->err, "key workers: '%s' is not a number from 1 to 64", val);
                ok = 0;
            }
        } else if (!strcmp(key, "today")) {
            int d;
            if (conv_date(val, &d)) {
                snprintf(p->err, sizeof p->err, "key today: '%s' is not a date", val);
                ok = 0;
            } else {
                c->rules.today = d;
            }
        } else {
            snprintf(p->err, sizeof p->err, "unknown key '%s' in [gridgate]", key);
            ok = 0;
        }
    } else if (!strncmp(section, "source ", 7) && section[7]) {
        const char *name = section + 7;
        if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
            snprintf(p->err, sizeof p->err, "source name '%s': use lowercase letters, digits and _", name);
            ok = 0;
        } else {
            ok = source_key(p, source_get(c, name), key, val);
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
            c->routes[r].sinks = split_list(val, &c->routes[r].nsinks);
        }
    } else if (!strcmp(section, "delivery")) {
        if (!strcmp(key, "max_attempts")) {
            if (parse_long(val, 1, 1000, &l)) ok = 0;
            else c->max_attempts = (int)l;
        } else if (!strcmp(key, "backoff_base_ms")) {
            if (parse_long(val, 1, 86400000L, &c->backoff_base_ms)) ok = 0;
        } else if (!strcmp(key, "backoff_max_ms")) {
            if (parse_long(val, 1, 86400000L, &c->backoff_max_ms)) ok = 0;
        } else if (!strcmp(key, "verdict_deadline_days")) {
            if (parse_long(val, 1, 3650, &c->verdict_deadline_days)) ok = 0;
        } else {
            snprintf(p->err, sizeof p->err, "unknown key '%s' in [delivery]", key);
        }
        if (!ok && !p->err[0]) snprintf(p->err, sizeof p->err, "key %s: bad value '%s'", key, val);
        if (p->err[0]) ok = 0;
    } else if (!strcmp(section, "admin")) {
        c->admin_enabled = 1;
        if (!strcmp(key, "listen")) {
            free(c->admin_listen);
            c->admin_listen = xstrdup(val);
        } else if (!strcmp(key, "token_file")) {
            ok = resolve_secret(p, "token_file", "_file", val, &c->admin_token);
        } else if (!strcmp(key, "stale_after")) {
            if (parse_long(val, 1, 31L * 86400, &c->admin_stale_after)) {
                snprintf(p->err, sizeof p->err, "key stale_after: bad value '%s' (seconds)", val);
                ok = 0;
            }
        } else {
            snprintf(p->err, sizeof p->err, "unknown key '%s' in [admin]", key);
            ok = 0;
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
    if (!spec) abort();
    free(cc->spec);
    cc->spec = spec;
    return 0;
}

static int config_validate(gg_config *c, char *err, size_t errsz) {
    if (!c->state_path) c->state_path = config_path(c, "gridgate-state.db");
    if (c->admin_enabled) {
        if (!c->admin_token) {
            snprintf(err, errsz, "[admin]: missing key 'token_file' (a file, mode 0600, holding the bearer token)");
            return -1;
        }
        if (!c->admin_listen) c->admin_listen = xstrdup("127.0.0.1:9187");
    }
    for (size_t i = 0; i < c->nsources; i++) {
        gg_source_conf *s = &c->sources[i];
        if (!s->adapter) {
            snprintf(err, errsz, "[source %s]: missing key 'adapter'", s->name);
            return -1;
        }
        char *ap = config_path(c, s->adapter);
        free(s->adapter);
        s->adapter = ap;
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
    for (int r = 0; r < RULE__COUNT; r++) {
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
    if (!c) abort();
    c->path = xstrdup(path);
    char *tmp = xstrdup(path);
    c->dir = xstrdup(dirname(tmp));
    free(tmp);
    c->log_level = xstrdup("info");
    rules_config_defaults(&c->rules);
    c->max_attempts = 10;
    c->backoff_base_ms = 1000;
    c->backoff_max_ms = 300000;
    c->verdict_deadline_days = 7;

    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        config_free(c);
        return NULL;
    }
    cfg_parse p = {.cfg = c};
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
    free(c->admin_listen);
    if (c->admin_token) explicit_bzero(c->admin_token, strlen(c->admin_token));
    free(c->admin_token);
    for (size_t i = 0; i < c->nsources; i++) {
        gg_source_conf *s = &c->sources[i];
        free(s->name);
        free(s->label);
        free(s->adapter);
        free(s->encoding);
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
    for (int r = 0; r < RULE__COUNT; r++) free_list(c->routes[r].sinks, c->routes[r].nsinks);
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
    if (!out) abort();
    snprintf(out, n, "%s/%s", c->dir, p);
    return out;
}
