/* ctx.c - opens, reloads and closes the daemon context (gg.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/util.h"
#include "model/fact.h"
#include "app/gg.h"
#include "core/log.h"

/* The configured log format; text when unset. */
static gg_log_format gg_ctx_log_format(const gg_config *c) {
    gg_log_format f = GG_LOG_TEXT;
    if (c->log_format && gg_log_parse_format(c->log_format, &f)) f = GG_LOG_TEXT;
    return f;
}

int gg_file_hash(const char *path, uint64_t *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t h = GG_FNV_OFFSET;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = fnv1a64_update(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    *out = h;
    return 0;
}

/* The text of the source's section in the configuration file (from its
 * header to the next section) and its adapter file's content, hashed. */
static uint64_t source_fingerprint(const gg_config *c, const gg_source_conf *s) {
    uint64_t h = GG_FNV_OFFSET;
    FILE *f = fopen(c->path, "r");
    if (f) {
        char line[1024], head[160];
        snprintf(head, sizeof head, "[source %s]", s->name);
        int in = 0;
        while (fgets(line, sizeof line, f)) {
            const char *p = line + strspn(line, " \t");
            if (*p == '[') in = !strncmp(p, head, strlen(head));
            if (in) h = fnv1a64_update(h, line, strlen(line));
        }
        fclose(f);
    }
    uint64_t ah = 0; /* s->adapter is resolved by config.c */
    if (s->adapter && gg_file_hash(s->adapter, &ah) == 0) h = fnv1a64_update(h, &ah, sizeof ah);
    return h;
}

int gg_ctx_open(gg_ctx *ctx, const char *config_path, int open_state, int load_adapters, char *err,
                size_t errsz) {
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = config_load(config_path, err, errsz);
    if (!ctx->cfg) return -1;
    gg_log_level lv;
    /* log_level, unless -v or -q said otherwise */
    if (!gg_log_level_pinned() && gg_log_parse_level(ctx->cfg->log_level, &lv) == 0) gg_log_set_level(lv);
    gg_log_set_format(gg_ctx_log_format(ctx->cfg));
    if (ctx->cfg->log_file && gg_log_set_file(ctx->cfg->log_file, err, errsz)) {
        gg_ctx_close(ctx);
        return -1;
    }
    ctx->today = ctx->cfg->rules.today ? ctx->cfg->rules.today : date_today();
    char e2[512];
    ctx->nn = name_normalizer_new(e2, sizeof e2);
    if (!ctx->nn) {
        snprintf(err, errsz, "name normalizer: %s", e2);
        gg_ctx_close(ctx);
        return -1;
    }
    if (open_state) {
        ctx->st = state_open_flags(ctx->cfg->state_path, open_state == GG_STATE_RUN ? STATE_OPEN_DEFER_WAL : 0, e2,
                                   sizeof e2);
        if (!ctx->st) {
            snprintf(err, errsz, "state store %s: %s", ctx->cfg->state_path, e2);
            gg_ctx_close(ctx);
            return -1;
        }
    }
    size_t n = ctx->cfg->nsources;
    ctx->adapters = xcalloc(n ? n : 1, sizeof *ctx->adapters);
    ctx->load_errors = xcalloc(n ? n : 1, sizeof *ctx->load_errors);
    ctx->fingerprints = xcalloc(n ? n : 1, sizeof *ctx->fingerprints);
    ctx->adapter_hashes = xcalloc(n ? n : 1, sizeof *ctx->adapter_hashes);
    for (size_t i = 0; i < n; i++) ctx->fingerprints[i] = source_fingerprint(ctx->cfg, &ctx->cfg->sources[i]);
    if (load_adapters) {
        for (size_t i = 0; i < n; i++) {
            const gg_source_conf *s = &ctx->cfg->sources[i];
            if (!s->enabled) continue;
            char e3[1024];
            /* hashed before loading (s->adapter is resolved by config.c) */
            if (gg_file_hash(s->adapter, &ctx->adapter_hashes[i])) ctx->adapter_hashes[i] = 0;
            ctx->adapters[i] = adapter_load(s, NULL, e3, sizeof e3);
            if (!ctx->adapters[i]) {
                ctx->load_errors[i] = xstrdup(e3);
                gg_error(s->name, "adapter not loaded: %s", e3);
            }
        }
    }
    return 0;
}

void gg_ctx_close(gg_ctx *ctx) {
    if (!ctx) return;
    if (ctx->cfg) {
        for (size_t i = 0; i < ctx->cfg->nsources; i++) {
            if (ctx->adapters) adapter_free(ctx->adapters[i]);
            if (ctx->load_errors) free(ctx->load_errors[i]);
        }
    }
    free(ctx->adapters);
    free(ctx->load_errors);
    free(ctx->fingerprints);
    free(ctx->adapter_hashes);
    if (ctx->st) state_close(ctx->st);
    if (ctx->nn) name_normalizer_free(ctx->nn);
    config_free(ctx->cfg);
    memset(ctx, 0, sizeof *ctx);
}

adapter *gg_ctx_adapter(gg_ctx *ctx, const char *source) {
    for (size_t i = 0; i < ctx->cfg->nsources; i++)
        if (!strcmp(ctx->cfg->sources[i].name, source)) return ctx->adapters[i];
    return NULL;
}

const char *gg_ctx_label(void *ud, const char *source) {
    gg_ctx *ctx = ud;
    const gg_source_conf *s = source ? config_source(ctx->cfg, source) : NULL;
    return s && s->label ? s->label : source;
}

int gg_ctx_reload(gg_ctx *ctx, char *err, size_t errsz) {
    gg_ctx next;
    char *path = xstrdup(ctx->cfg->path);
    /* Everything is parsed and loaded before anything is replaced; the state
     * store is not reopened but handed over. */
    int rc = gg_ctx_open(&next, path, 0, 1, err, errsz);
    free(path);
    if (rc) {
        /* gg_ctx_open may have switched the log output before failing: put
         * back the running configuration's. */
        char e2[256];
        gg_log_set_format(gg_ctx_log_format(ctx->cfg));
        if (gg_log_set_file(ctx->cfg->log_file, e2, sizeof e2)) gg_error("reload", "%s", e2);
        return -1;
    }
    /* the admin endpoint is bound once, at start */
    const gg_config *o = ctx->cfg, *n = next.cfg;
    if (o->admin_enabled != n->admin_enabled || (o->admin_listen && n->admin_listen && strcmp(o->admin_listen, n->admin_listen)) ||
        (o->admin_token && n->admin_token && strcmp(o->admin_token, n->admin_token)) ||
        o->admin_stale_after != n->admin_stale_after)
        gg_warn("reload", "[admin] changed: the endpoint keeps its settings until the daemon is restarted");
    next.st = ctx->st;
    ctx->st = NULL;
    if (next.cfg->rules.today == 0) next.today = ctx->today;
    gg_ctx_close(ctx);
    *ctx = next;
    return 0;
}
