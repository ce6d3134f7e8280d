/* push.c - one alert pushed through a sink's adapter in a worker process
 * (worker_push.h): the push function runs sandboxed, with no handle on the
 * state store (closed in the child, and out of reach of its filesystem view),
 * so it can touch its own department's system and nothing of the gateway.
 * The outcome comes back over the channel: DONE (pushed) or ERROR (the
 * adapter's message), or how the worker ended (deadline, signal, memory). */
#include "worker/worker_push.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "worker/worker.h"

typedef struct push_arg {
    adapter *ad;
    const alert *a;
    const char *expl;
    const char *source;
    ch_writer *w;
    long long deadline; /* alert.deadline handed to the push (epoch seconds; 0 = none) */
} push_arg;

/* Log lines of the push travel as LOG frames (see pull's child_log). */
static void push_log(void *ud, gg_log_level level, const char *component, const char *msg) {
    push_arg *pa = ud;
    worker_log_send(pa->w, (int)level, component, msg);
}

static int push_child(ch_writer *w, void *ud, char *err, size_t errsz) {
    push_arg *pa = ud;
    pa->w = w;
    gg_log_set_sink(push_log, pa);
    if (adapter_after_fork(pa->ad, err, errsz)) return -1;
    return adapter_push_due(pa->ad, pa->a, pa->expl, pa->deadline, err, errsz) ? 1 : 0;
}

static int push_frame(void *ud, size_t index, ch_frame *fr) {
    (void)index;
    push_arg *pa = ud;
    if (fr->type == CH_LOG) worker_log_print(pa->source, fr->level, fr->text);
    return fr->type == CH_FACT || fr->type == CH_REJECT || fr->type == CH_STREAM_BEGIN; /* not a push's */
}

int worker_conn_file(const char *spec, char *out, size_t outsz) {
    if (strncmp(spec, "odbc:", 5) != 0) return -1;
    const char *p = spec + 5;
    while (*p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 9 && !strncasecmp(p, "Database=", 9)) {
            size_t n = len - 9;
            if (n + 1 > outsz) return -1;
            memcpy(out, p + 9, n);
            out[n] = '\0';
            return 0;
        }
        if (!end) break;
        p = end + 1;
    }
    return -1;
}

int worker_push(adapter *ad, const gg_source_conf *src, const alert *a, const char *explanation, long long deadline,
                char *err, size_t errsz) {
    /* Wall clock: the Lua limit of the call plus the slowest connection's
     * timeout, and a margin for the worker's start. */
    long conn_ms = 0;
    static const char *const none[] = {NULL};
    char files[2][4096];
    const char *paths[3] = {NULL, NULL, NULL};
    size_t np = 0;
    for (int c = 0; src && c < src->nconns; c++) {
        long t = src->conns[c].timeout_ms ? src->conns[c].timeout_ms : 30000;
        if (t > conn_ms) conn_ms = t;
        if (np < 2 && src->conns[c].spec && worker_conn_file(src->conns[c].spec, files[np], sizeof files[np]) == 0) {
            paths[np] = files[np];
            np++;
        }
    }
    worker_limits lim = {0};
    long ms = (src ? src->deadline_ms : 60000) + conn_ms + 5000;
    lim.deadline_s = (unsigned)((ms + 999) / 1000);
    lim.mem_bytes = src ? (size_t)src->memory_mb << 20 : 0;
    push_arg pa = {.ad = ad, .a = a, .expl = explanation, .source = src ? src->name : adapter_source(ad),
                  .deadline = deadline};
    /* A SQLite sink is written, with its journal beside it: its directory is
     * writable (SQL that reaches other files - ATTACH, VACUUM INTO - is refused
     * by the connector's guard; Lua has no file access). */
    char dirs[2][4096];
    const char *wpaths[3] = {NULL, NULL, NULL};
    for (size_t k = 0; k < np; k++) {
        snprintf(dirs[k], sizeof dirs[k], "%s", paths[k]);
        char *slash = strrchr(dirs[k], '/');
        if (slash && slash != dirs[k]) *slash = '\0';
        else snprintf(dirs[k], sizeof dirs[k], slash ? "/" : ".");
        wpaths[k] = dirs[k];
    }
    worker_spec spec = {.name = pa.source, .fn = push_child, .ud = &pa, .read_paths = np ? paths : none,
                        .write_paths = np ? wpaths : NULL};
    worker_result res;
    char e2[300];
    if (worker_run_all(&spec, 1, &lim, 1, push_frame, &pa, &res, e2, sizeof e2)) {
        snprintf(err, errsz, "push worker: %s", e2);
        return -1;
    }
    if (res.status == WORKER_OK) return 0;
    /* "source x: <the adapter's own 'source x: push of ...' message>" */
    size_t pl = strlen(pa.source);
    const char *m = res.message;
    if (res.status == WORKER_FAILED && !strncmp(m, "source ", 7) && !strncmp(m + 7, pa.source, pl) &&
        !strncmp(m + 7 + pl, ": source ", 9))
        m += 7 + pl + 2;
    snprintf(err, errsz, "%s", m);
    return -1;
}
