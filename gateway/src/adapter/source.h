/* source.h - what a source is: its connections and its limits.
 *
 * A [source NAME] section of the configuration becomes one gg_source_conf;
 * app/config.c's loader fills it (and owns every string in it), the adapter
 * runtime and the pull worker read it. It lives in the adapter layer so that
 * adapter_load can be handed its section without reaching up into app/. */
#ifndef GG_SOURCE_H
#define GG_SOURCE_H

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
    long pull_timeout;  /* seconds: each of the source's workers is killed past it; default 600 */
    long push_batch;    /* alerts pushed in one transaction of the sink's SQL connections;
                           default 100, 1 = each alone (worker/push.c) */
    long push_workers;  /* push workers sharing a delivery pass's alerts for the sink (each gets
                           at least push_batch of them); default 1 = one connection */
    long max_workers;   /* workers pulling the source at once, one per kind of its streams up
                           to this many; 0 (unset) = one per kind, 1 = one for all its streams */
    /* Limits on input (0 = the default): max_field, max_record bytes (4K, 64K),
     * max_pages per HTTP stream pull (10000), max_amount yuan per record (1000000). */
    long max_field, max_record, max_pages, max_amount;
    gg_conn_conf conns[GG_MAX_CONNS];
    int nconns;
    int line;           /* where the section starts, for messages */
    struct gg_schedule *schedule; /* schedule.* keys (daemon/schedule.h), NULL when none */
} gg_source_conf;

#endif
