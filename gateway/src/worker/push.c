/* push.c - alerts pushed through sinks' adapters in worker processes
 * (worker_push.h): one worker per sink's batch, whose push function runs
 * sandboxed, with no handle on the state store (closed in the child, and out
 * of reach of its filesystem view), so it can touch its own department's
 * system and nothing of the gateway. The worker pushes its items in order over
 * the connections it opened for the first (the adapter keeps them), in
 * transactions of up to push_batch items (push_child).
 *
 * Each item travels back as a one-item stream of the channel: STREAM_BEGIN
 * (stream id = item index, name = alert id), then STREAM_END, plain when it
 * was pushed (a group's items once the group is committed), failed with the
 * adapter's message when not; the worker flushes after each item pushed alone
 * and each committed group, so what it reported stands if it dies later. The core reports
 * every outcome as it arrives; when the worker ends, the item it was on and
 * those it never reached fail with how it ended (deadline, signal, memory). */
#include "worker/worker_push.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "worker/worker.h"

/* One batch's run: read by the child (b, source, w) and kept by the core
 * (next, open, why). */
typedef struct batch_run {
    const push_batch *b;
    const char *source;
    ch_writer *w;   /* child: the channel */
    size_t next;    /* core: the next item to be reported */
    long open;      /* core: the item begun and not ended, or -1 */
    char why[160];  /* core: why it was stopped, or "" */
    struct timespec t0; /* core: when the batch was set up (its worker starts then, or when one is free) */
    char files[2][4096], dirs[2][4096];
    const char *paths[3], *wpaths[3];
    worker_limits lim;
} batch_run;

typedef struct push_run {
    batch_run *runs;
    size_t nb;
    push_outcome_fn on_item;
    void *ud;
} push_run;

/* Log lines of the push travel as LOG frames (see pull's child_log). */
static void push_log(void *ud, gg_log_level level, const char *component, const char *msg) {
    batch_run *r = ud;
    worker_log_send(r->w, (int)level, component, msg);
}

/* A group's transaction is committed after this long even when it is not
 * full, so that a slow sink's alerts do not wait long for their outcome. */
#define PUSH_GROUP_MS 1000

/* Reports item i pushed: begun and ended. */
static int send_outcome(ch_writer *w, size_t i, const push_item *it) {
    return ch_stream_begin(w, (uint32_t)i, it->a->id) || ch_stream_end_ex(w, (uint32_t)i, 0, NULL, NULL, NULL);
}

/* Pushes item i alone (autocommit) and reports it. */
static int push_alone(batch_run *r, size_t i) {
    const push_item *it = &r->b->items[i];
    char e2[1024];
    if (ch_stream_begin(r->w, (uint32_t)i, it->a->id)) return -1;
    int rc = it->fail ? (snprintf(e2, sizeof e2, "%s", it->fail), -1)
                      : adapter_push_due(r->b->ad, it->a, it->expl, it->deadline, e2, sizeof e2);
    return ch_stream_end_ex(r->w, (uint32_t)i, 0, NULL, NULL, rc ? e2 : NULL) || ch_flush(r->w);
}

/* The worker: every item in order; one item's failure does not stop the next.
 * Items go in groups, each one transaction on the sink's SQL connections
 * (adapter_push_begin), of up to push_batch items or PUSH_GROUP_MS; a group's
 * items are reported pushed once it is committed. When an item fails, the
 * group is rolled back, the items before it are pushed again as a group and
 * it is pushed alone (its own outcome, in autocommit); a group whose commit
 * fails is pushed again item by item. Each attempt either commits or ends on
 * an earlier item, so this ends. A sink without SQL connections, a group of
 * one, or a transaction that cannot begin, pushes each item alone. Killed
 * mid-group, the worker leaves nothing of the group committed and nothing
 * reported: those items are failed attempts, retried. Runs in the child only. */
static int push_child(ch_writer *w, void *ud, char *err, size_t errsz) {
    batch_run *r = ud;
    r->w = w;
    gg_log_set_sink(push_log, r);
    if (adapter_after_fork(r->b->ad, err, errsz)) return -1;
    const push_batch *b = r->b;
    size_t group = b->src && b->src->push_batch > 1 ? (size_t)b->src->push_batch : 1;
    size_t alone_lo = SIZE_MAX, alone_hi = 0; /* items to push alone */
    int no_tx = group < 2;                     /* set once beginning failed or there is no SQL connection */
    size_t i = 0;
    while (i < b->n) {
        size_t end = b->n - i > group ? i + group : b->n;
        if (alone_lo > i && end > alone_lo) end = alone_lo;
        char e2[1024];
        int alone = no_tx || (i >= alone_lo && i < alone_hi) || end - i < 2;
        if (!alone) {
            int opened = adapter_push_begin(b->ad, e2, sizeof e2);
            if (opened < 0) gg_warn(adapter_source(b->ad), "pushing alert by alert: %s", e2);
            if (opened <= 0) no_tx = alone = 1; /* no SQL connection, or no transaction to be had */
        }
        if (alone) {
            if (push_alone(r, i)) goto chan;
            i++;
            continue;
        }
        long long t0 = gg_mono_ms();
        size_t k = i;
        int failed = 0;
        while (k < end) {
            const push_item *it = &b->items[k];
            if (it->fail || adapter_push_due(b->ad, it->a, it->expl, it->deadline, e2, sizeof e2)) {
                failed = 1;
                break;
            }
            k++;
            if (gg_mono_ms() - t0 >= PUSH_GROUP_MS) break;
        }
        if (failed) {
            adapter_push_rollback(b->ad);
            alone_lo = k; /* i..k-1 again as a group, k alone */
            alone_hi = k + 1;
            continue;
        }
        if (adapter_push_commit(b->ad, e2, sizeof e2)) {
            gg_warn(adapter_source(b->ad), "a group of %zu pushes was not committed, pushing them one by one: %s",
                    k - i, e2);
            alone_lo = i;
            alone_hi = k;
            continue;
        }
        for (size_t j = i; j < k; j++)
            if (send_outcome(w, j, &b->items[j])) goto chan;
        if (ch_flush(w)) goto chan;
        i = k;
    }
    return 0;
chan:
    snprintf(err, errsz, "%s", ch_writer_error(w));
    return -1;
}

static void report(push_run *pr, size_t bi, int ok, const char *msg) {
    batch_run *r = &pr->runs[bi];
    pr->on_item(pr->ud, bi, r->next, ok, msg);
    r->next++;
    r->open = -1;
}

/* A frame of batch `index`: outcomes in item order, nothing else of a pull's. */
static int push_frame(void *ud, size_t index, ch_frame *fr) {
    push_run *pr = ud;
    batch_run *r = &pr->runs[index];
    switch (fr->type) {
    case CH_LOG: worker_log_print(r->source, fr->level, fr->text); return 0;
    case CH_STREAM_BEGIN:
        if (r->open >= 0 || r->next >= r->b->n || fr->stream != r->next) {
            snprintf(r->why, sizeof r->why, "push worker began item %u, item %zu was expected", fr->stream, r->next);
            return 1;
        }
        r->open = (long)fr->stream;
        return 0;
    case CH_STREAM_END:
        if (r->open != (long)fr->stream) {
            snprintf(r->why, sizeof r->why, "push worker ended item %u, which it had not begun", fr->stream);
            return 1;
        }
        report(pr, index, !fr->failed, fr->failed ? fr->text : NULL);
        return 0;
    case CH_FACT:
    case CH_REJECT:
        snprintf(r->why, sizeof r->why, "push worker sent a %s frame", ch_frame_type_name((int)fr->type));
        return 1;
    default: return 0;
    }
}

/* How a worker ended, as the error of the items it did not report:
 * res.message without the pull's "(stream N 'x' unfinished ...)" and, for the
 * worker's own ERROR, without the runtime's "source x: " before the adapter's
 * "source x: ...". */
static void end_message(const batch_run *r, const worker_result *res, char *out, size_t outsz) {
    if (r->why[0]) {
        snprintf(out, outsz, "source %s: %s, stopped", r->source, r->why);
        return;
    }
    if (res->status == WORKER_OK) {
        snprintf(out, outsz, "source %s: the push worker ended before this alert", r->source);
        return;
    }
    const char *m = res->message;
    size_t pl = strlen(r->source);
    if (res->status == WORKER_FAILED && !strncmp(m, "source ", 7) && !strncmp(m + 7, r->source, pl) &&
        !strncmp(m + 7 + pl, ": source ", 9))
        m += 7 + pl + 2;
    snprintf(out, outsz, "%s", m);
    if (res->open_stream >= 0) {
        char *cut = NULL, *p = out;
        while ((p = strstr(p, " (stream ")) != NULL) cut = p++;
        if (cut) *cut = '\0';
    }
}

/* A worker ended: the items it did not report fail with how it ended. */
static void push_end(void *ud, size_t index, const worker_result *res) {
    push_run *pr = ud;
    batch_run *r = &pr->runs[index];
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    gg_debug(r->source, "push worker ended after %zu of %zu items, %ld ms", r->next, r->b->n,
             (long)(t1.tv_sec - r->t0.tv_sec) * 1000 + (t1.tv_nsec - r->t0.tv_nsec) / 1000000);
    if (r->next >= r->b->n) return;
    char msg[600];
    end_message(r, res, msg, sizeof msg);
    while (r->next < r->b->n) report(pr, index, 0, msg);
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

/* The batch's limits and the files it may read (a SQLite sink's database,
 * and its directory writable for the journal: SQL that reaches other files -
 * ATTACH, VACUUM INTO - is refused by the connector's guard; Lua has no file
 * access). */
static void batch_setup(batch_run *r, const push_batch *b) {
    const gg_source_conf *src = b->src;
    r->b = b;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->source = src ? src->name : adapter_source(b->ad);
    r->open = -1;
    long conn_ms = 0;
    size_t np = 0;
    for (int c = 0; src && c < src->nconns; c++) {
        long t = src->conns[c].timeout_ms ? src->conns[c].timeout_ms : 30000;
        if (t > conn_ms) conn_ms = t;
        if (np < 2 && src->conns[c].spec &&
            worker_conn_file(src->conns[c].spec, r->files[np], sizeof r->files[np]) == 0) {
            r->paths[np] = r->files[np];
            np++;
        }
    }
    for (size_t k = 0; k < np; k++) {
        snprintf(r->dirs[k], sizeof r->dirs[k], "%s", r->paths[k]);
        char *slash = strrchr(r->dirs[k], '/');
        if (slash && slash != r->dirs[k]) *slash = '\0';
        else snprintf(r->dirs[k], sizeof r->dirs[k], slash ? "/" : ".");
        r->wpaths[k] = r->dirs[k];
    }
    /* Wall clock: per item the Lua limit of the call plus the slowest
     * connection's timeout; once the worker's start; the whole capped so that
     * a hung sink cannot hold the pass for long (its remaining items are
     * failed attempts, retried with backoff). */
    long item_ms = (src ? src->deadline_ms : 60000) + conn_ms;
    long long ms = PUSH_START_MS + (long long)item_ms * (long long)(b->n ? b->n : 1);
    long long cap = PUSH_BATCH_CAP_MS > PUSH_START_MS + item_ms ? PUSH_BATCH_CAP_MS : PUSH_START_MS + item_ms;
    if (ms > cap) ms = cap;
    r->lim.deadline_s = (unsigned)((ms + 999) / 1000);
    r->lim.mem_bytes = src ? (size_t)src->memory_mb << 20 : 0;
}

int worker_push_batches(const push_batch *b, size_t nb, size_t max_parallel, push_outcome_fn on_item, void *ud,
                        char *err, size_t errsz) {
    static const char *const none[] = {NULL};
    if (nb == 0) return 0;
    push_run pr = {.runs = xcalloc(nb, sizeof *pr.runs), .nb = nb, .on_item = on_item, .ud = ud};
    worker_spec *specs = xcalloc(nb, sizeof *specs);
    worker_result *res = xcalloc(nb, sizeof *res);
    for (size_t i = 0; i < nb; i++) {
        batch_run *r = &pr.runs[i];
        batch_setup(r, &b[i]);
        specs[i] = (worker_spec){.name = r->source, .fn = push_child, .ud = r,
                                 .read_paths = r->paths[0] ? r->paths : none,
                                 .write_paths = r->paths[0] ? r->wpaths : NULL, .lim = &r->lim,
                                 .prepare = b[i].prepare, .prepare_ud = b[i].prepare_ud};
    }
    char e2[300];
    int rc = 0;
    if (worker_run_all_ex(specs, nb, NULL, max_parallel, push_frame, push_end, &pr, res, e2, sizeof e2)) {
        snprintf(err, errsz, "push worker: %s", e2);
        for (size_t i = 0; i < nb; i++)
            while (pr.runs[i].next < b[i].n) report(&pr, i, 0, err);
        rc = -1;
    }
    free(res);
    free(specs);
    free(pr.runs);
    return rc;
}

int worker_push_batch(adapter *ad, const gg_source_conf *src, const push_item *items, size_t n,
                      push_outcome_fn on_item, void *ud, char *err, size_t errsz) {
    push_batch b = {.ad = ad, .src = src, .items = items, .n = n};
    return worker_push_batches(&b, 1, 1, on_item, ud, err, errsz);
}
