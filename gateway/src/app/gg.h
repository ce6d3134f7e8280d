/* gg.h - the daemon's single context: configuration, state store, name
 * normalizer and the loaded adapters. Everything else is passed explicitly. */
#ifndef GG_GG_H
#define GG_GG_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/adapter.h"
#include "app/config.h"
#include "model/ident.h"
#include "store/state.h"

#define GG_VERSION "0.1.0"

typedef struct gg_ctx {
    gg_config *cfg;
    state *st;
    name_normalizer *nn;
    adapter **adapters;    /* parallel to cfg->sources; NULL when disabled or failed to load */
    char **load_errors;    /* parallel: why an adapter is missing, or NULL */
    uint64_t *fingerprints; /* parallel: hash of the source's config section and adapter file */
    uint64_t *adapter_hashes; /* parallel: FNV-1a 64 of the adapter file when loaded, else 0 */
    int today;             /* yyyymmdd */
} gg_ctx;

/* gg_ctx_open's open_state: no store, the store, or the store as the run
 * loop opens it (a new store's first load without the WAL until the cycle's
 * pulls end: state_open_flags, STATE_OPEN_DEFER_WAL). */
enum { GG_STATE_NONE = 0, GG_STATE_OPEN = 1, GG_STATE_RUN = 2 };

/* Loads the configuration, opens the state store (open_state, above) and the
 * name normalizer. load_adapters: also load every enabled source's adapter
 * (errors are kept per source in load_errors; the context still opens). 0 ok,
 * -1 with err. */
int gg_ctx_open(gg_ctx *ctx, const char *config_path, int open_state, int load_adapters, char *err,
                size_t errsz);
void gg_ctx_close(gg_ctx *ctx);
/* SIGHUP: reads the configuration file again and loads every adapter into a
 * new context, then swaps it in, handing over the open state store. On error
 * (the loader's file:line message in err) ctx is unchanged and keeps running.
 * Compare fingerprints by source name to see which sources changed. */
int gg_ctx_reload(gg_ctx *ctx, char *err, size_t errsz);
/* FNV-1a 64 of a file's content (the adapter version in the audit log). */
int gg_file_hash(const char *path, uint64_t *out);
/* The adapter of a source by name, or NULL. */
adapter *gg_ctx_adapter(gg_ctx *ctx, const char *source);
/* Department label of a source (for explanations); the name when unknown. */
const char *gg_ctx_label(void *ctx, const char *source);

#endif
