/* ctx.c - opens and closes the daemon context (gg.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/fact.h"
#include "app/gg.h"
#include "core/log.h"

int gg_ctx_open(gg_ctx *ctx, const char *config_path, int open_state, int load_adapters, char *err,
                size_t errsz) {
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = config_load(config_path, err, errsz);
    if (!ctx->cfg) return -1;
    gg_log_level lv;
    if (gg_log_parse_level(ctx->cfg->log_level, &lv) == 0 && lv > gg_log_get_level()) gg_log_set_level(lv);
    ctx->today = ctx->cfg->rules.today ? ctx->cfg->rules.today : date_today();
    char e2[512];
    ctx->nn = name_normalizer_new(e2, sizeof e2);
    if (!ctx->nn) {
        snprintf(err, errsz, "name normalizer: %s", e2);
        gg_ctx_close(ctx);
        return -1;
    }
    if (open_state) {
        ctx->st = state_open(ctx->cfg->state_path, e2, sizeof e2);
        if (!ctx->st) {
            snprintf(err, errsz, "state store %s: %s", ctx->cfg->state_path, e2);
            gg_ctx_close(ctx);
            return -1;
        }
    }
    size_t n = ctx->cfg->nsources;
    ctx->adapters = calloc(n ? n : 1, sizeof *ctx->adapters);
    ctx->load_errors = calloc(n ? n : 1, sizeof *ctx->load_errors);
    if (!ctx->adapters || !ctx->load_errors) gg_oom();
    if (load_adapters) {
        for (size_t i = 0; i < n; i++) {
            const gg_source_conf *s = &ctx->cfg->sources[i];
            if (!s->enabled) continue;
            char e3[1024];
            ctx->adapters[i] = adapter_load(s, NULL, e3, sizeof e3);
            if (!ctx->adapters[i]) {
                ctx->load_errors[i] = strdup(e3);
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
