/* cycle.c - one matching cycle, flowing one way:
 *   connectors -> adapter runtime -> facts -> identity -> rules -> alerts/outbox -> sinks.
 *
 * Phase 1 pulls the small-side streams (persons, deaths, members, assets,
 * custody, verdicts) into the state store. Phase 2 streams payment and income
 * rows and keeps only those about a subject of interest (an id with a death,
 * custody or enrollment, or an assistance case), so what is kept grows with
 * deaths and cases, not with payment rows. Each stream is one transaction: a
 * source that fails mid-stream leaves the previous facts in place.
 *
 * Incremental streams (adapters/README.md section 2) resume after a (column,
 * key) watermark stored with their facts in that same transaction; their
 * (source, kind) is never pruned, and a payment/income stream with a `lookup`
 * fetches the rows of each subject that became of interest since its last
 * successful cycle, which an incremental read of new rows alone would miss.
 *
 * Each phase pulls in worker processes (app/pull.h): a source's streams of
 * different fact kinds in separate workers, side by side (pull_phase). */
#include "app/cycle.h"
#include "app/ingest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn/conn.h"
#include "model/factset.h"
#include "model/ident.h"
#include "identity/resolve.h"
#include "core/date.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"
#include "rules/rules.h"
#include "core/strmap.h"
#include "delivery/delivery.h"
#include "app/pull.h"
#include "worker/worker_push.h"


/* What a cycle learned about each (source, kind): whether it has streams,
 * whether all of them were read completely, and how many records they gave. */
typedef struct kind_status {
    int streams, failed;
    int incremental;   /* some stream of the kind reads only new rows: never prune */
    long records;
} kind_status;

/* State-store key of a stream's lookup mark: the last cycle whose new subjects
 * of interest the stream's lookup fetched. */
static void lookup_mark_key(const char *stream, char *out, size_t outsz) {
    snprintf(out, outsz, "%s#lookup", stream);
}

/* Reads a stream's lookup mark; -1 when none is stored. */
static int lookup_mark_get(gg_ctx *ctx, const char *source, const char *stream, long *mark) {
    char key[200];
    lookup_mark_key(stream, key, sizeof key);
    char *v = NULL;
    *mark = -1;
    if (state_mark_get(ctx->st, source, key, &v)) return -1;
    if (v) *mark = strtol(v, NULL, 10);
    free(v);
    return 0;
}

static int lookup_mark_set(gg_ctx *ctx, const char *source, const char *stream, long cycle) {
    char key[200], val[32];
    lookup_mark_key(stream, key, sizeof key);
    snprintf(val, sizeof val, "%ld", cycle);
    return state_mark_set(ctx->st, source, key, val);
}

/* Notes a stream's outcome in cs->streams (for the daemon's metrics). */
static void note_stream(cycle_stats *cs, const char *source, const char *stream, const ingest_stream *p, long records,
                        const struct timespec *t0, const char *error) {
    if (cs->nstreams >= CYCLE_MAX_STREAM_STATS) return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cycle_stream_stat *r = &cs->streams[cs->nstreams++];
    *r = (cycle_stream_stat){.source = source, .stream = stream, .records = records, .kept = p ? p->kept : 0,
                             .rejected = p ? p->rejected : 0, .invalid = p ? p->invalid : 0,
                             .seconds = t0 ? (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9 : 0};
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

/* The core side of a phase's pull (app/pull.h's consumer): one stream at a
 * time, each in its own transaction, through app/ingest.c's callbacks. */
/* Phase 2 begun beside phase 1 (see cycle_run, "early phase 2"): on the
 * stored subjects of interest, applied only when phase 1 changed no fact the
 * subjects of interest derive from (state_facts_identity_changes). */
typedef struct early_phase2 {
    strmap ids, cases;       /* the stored subjects of interest */
    strmap new_ids;          /* empty: a stored set owes no lookups */
    ingest_register reg;     /* the register's names, read before the gated workers fork */
    long changes0;           /* the identity change counter before phase 1 */
    int held;                /* phase 1 changed no fact of identity: the early streams are applied */
    int pruned;              /* phase 1's prune ran at the gate */
    int reported;            /* an early stream's end was reported (applied, or failed with the run) */
    int dropped;             /* the gate dropped them: phase 1 changed a fact of identity */
    int have_reg;            /* reg is loaded (when the gated workers are let start) */
    long small_left;         /* phase-1 streams of kinds other than person not ended yet */
    unsigned char **counted; /* per job, per planned stream: taken off small_left (at its end, or
                                when it came clean while waiting for the writer) */
} early_phase2;

typedef struct phase_apply {
    gg_ctx *ctx;
    long cycle;
    int phase_stream;
    strmap *ids, *cases;
    early_phase2 *early;     /* or NULL */
    cycle_stats *cs;
    kind_status (*ks)[FK__COUNT];
    pull_job *jobs;
    size_t *src_of;          /* job -> index in cfg->sources */
    seen_set (*seen)[FK__COUNT]; /* refs kept this cycle, per source and kind */
    ingest_stream p;         /* the stream being applied (app/ingest.c) */
    int open;                /* its transaction is open */
    int suspended;           /* a first load (state_first_load_begin), 2: of persons, whose index
                                is built before the commit (state_person_index_suspend) */
    struct timespec t0;
    /* the stream's row memo (app/pull.h), written in parts as it comes */
    uint64_t *memo;          /* words not written yet (MEMO_PART_WORDS) */
    size_t nmemo;
    long memo_parts;         /* parts written */
    uint64_t memo_token;
    int memo_got, memo_stands, memo_bad;
    /* pa_prepare: per source, its adapter file ("" when unknown) */
    char (*adapter_paths)[2][4096];
    uint64_t memo_base;      /* the memos' token base (memo_plan); 0: none kept */
} phase_apply;

/* Whether job belongs to phase 2 (a gated job is the early phase 2). */
static int job_phase(const phase_apply *pa, size_t job) { return pa->jobs[job].gated ? 1 : pa->phase_stream; }

static void pa_begin(void *ud, size_t job, size_t stream) {
    phase_apply *pa = ud;
    size_t i = pa->src_of[job];
    fact_kind kind = adapter_stream(pa->ctx->adapters[i], stream)->kind;
    int early = pa->jobs[job].gated;
    ingest_stream_begin(&pa->p, pa->ctx, pa->ctx->adapters[i], pa->ctx->cfg->sources[i].name, kind, pa->cycle,
                        job_phase(pa, job), early ? &pa->early->ids : pa->ids, early ? &pa->early->cases : pa->cases,
                        &pa->seen[i][kind]);
    /* the hashes its worker compared with: those of the records it found unchanged */
    if (pa->jobs[job].known[kind].n) pa->p.known = &pa->jobs[job].known[kind];
    clock_gettime(CLOCK_MONOTONIC, &pa->t0);
    pa->nmemo = 0;
    pa->memo_parts = 0;
    pa->memo_token = 0;
    pa->memo_got = pa->memo_stands = pa->memo_bad = 0;
    pa->open = state_begin(pa->ctx->st) == 0;
    if (!pa->open) pa->p.failed = 1;
    /* A first load writes without reading first and counts at its end, and
     * of persons builds their index once at the end (store/facts.c,
     * state_first_load_begin, state_person_index_suspend). */
    pa->suspended = 0;
    if (pa->open && pa->p.fresh) {
        int persons = kind == FK_PERSON;
        if (persons ? state_person_index_suspend(pa->ctx->st) : state_first_load_begin(pa->ctx->st))
            pa->p.failed = 1;
        else
            pa->suspended = persons ? 2 : 1;
    }
}

static void pa_fact(void *ud, size_t job, size_t stream, fact *f) {
    phase_apply *pa = ud;
    if (pa->p.failed) return;
    ingest_fact(&pa->p, adapter_stream(pa->jobs[job].ad, stream)->name, f);
}

static void pa_seen(void *ud, size_t job, size_t stream, const uint64_t *ref_hashes, size_t n) {
    phase_apply *pa = ud;
    (void)job, (void)stream;
    if (pa->p.failed) return;
    ingest_seen(&pa->p, ref_hashes, n);
}

/* Whether the job planned a row memo for the stream (memo_plan). */
static int memo_planned(const pull_job *job, size_t stream) {
    for (size_t j = 0; job->memo_salt && j < job->nstreams; j++)
        if (job->streams[j] == stream) return job->memo_salt[j] != 0;
    return 0;
}

/* Words of a row memo a part (1 MiB). */
#define MEMO_PART_WORDS ((size_t)1 << 17)

/* Writes the words held as the memo's next part; the first part replaces
 * the stored memo. 0, or -1 (the state store failed: logged). */
static int memo_write(phase_apply *pa, const char *source, const char *stream) {
    if (!pa->nmemo) return 0;
    if (pa->memo_parts == 0 && state_row_memo_clear(pa->ctx->st, source, stream)) return -1;
    if (state_row_memo_append(pa->ctx->st, source, stream, pa->memo_parts, pa->memo_token, pa->memo, pa->nmemo))
        return -1;
    pa->memo_parts++;
    pa->nmemo = 0;
    return 0;
}

/* pull_apply.memo: the stream's row memo comes in parts, written as they
 * fill, in the stream's transaction (memo_keep ends it). */
static void pa_memo(void *ud, size_t job, size_t stream, uint64_t token, int stands, const uint64_t *h, size_t n) {
    phase_apply *pa = ud;
    if (pa->p.failed || pa->memo_bad || !memo_planned(&pa->jobs[job], stream)) return; /* none asked for: ignored */
    if (pa->memo_got && token != pa->memo_token) {
        pa->memo_bad = 1; /* one token a stream: a worker that mixes them keeps none */
        return;
    }
    pa->memo_got = 1;
    pa->memo_token = token;
    if (stands) {
        pa->memo_stands = 1;
        return;
    }
    if (!pa->memo && !(pa->memo = malloc(MEMO_PART_WORDS * sizeof *pa->memo))) {
        pa->memo_bad = 1;
        return;
    }
    const char *source = pa->ctx->cfg->sources[pa->src_of[job]].name, *name = adapter_stream(pa->jobs[job].ad, stream)->name;
    while (n > 0) {
        size_t k = MEMO_PART_WORDS - pa->nmemo < n ? MEMO_PART_WORDS - pa->nmemo : n;
        memcpy(pa->memo + pa->nmemo, h, k * sizeof *h);
        pa->nmemo += k;
        h += k;
        n -= k;
        if (pa->nmemo == MEMO_PART_WORDS && memo_write(pa, source, name)) {
            pa->p.failed = 1;
            return;
        }
    }
}

/* Ends the stream's row memo for the next cycle, in its transaction: the
 * last part written; or, when the worker sent none (or mixed tokens, or the
 * buffer could not be had), the stored one removed; left as it is when the
 * worker said it stands. 0, or -1 (the state store failed: logged). */
static int memo_keep(phase_apply *pa, const char *source, const adapter_stream_info *si) {
    if (pa->memo_bad) {
        gg_warn(source, "stream %s: the row memo could not be kept; the next cycle maps every row", si->name);
        return state_row_memo_clear(pa->ctx->st, source, si->name);
    }
    if (pa->memo_stands && !pa->memo_parts && !pa->nmemo) return 0;
    if (!pa->memo_parts && !pa->nmemo) return state_row_memo_clear(pa->ctx->st, source, si->name);
    return memo_write(pa, source, si->name);
}

static void pa_reject(void *ud, size_t job, size_t stream, const char *ref, const char *reason, const char *raw) {
    phase_apply *pa = ud;
    if (pa->p.failed) return;
    ingest_reject(&pa->p, adapter_stream(pa->jobs[job].ad, stream)->name, ref, reason, raw);
}

/* A small-side stream of phase 1 ended (or came clean): once per stream. */
static void small_ended(phase_apply *pa, size_t job, size_t stream) {
    early_phase2 *e = pa->early;
    for (size_t j = 0; j < pa->jobs[job].nstreams; j++)
        if (pa->jobs[job].streams[j] == stream && !e->counted[job][j]) {
            e->counted[job][j] = 1;
            e->small_left--;
        }
}

/* pull_apply.arrived: a small-side stream that sent no FACT counts as ended
 * for the early workers' start (pa_gate) before its frames are applied. */
static void pa_arrived(void *ud, size_t job, size_t stream, int clean) {
    phase_apply *pa = ud;
    if (!pa->early || pa->jobs[job].gated || !clean) return;
    if (adapter_stream(pa->jobs[job].ad, stream)->kind != FK_PERSON) small_ended(pa, job, stream);
}

static void pa_end(void *ud, size_t job, size_t stream, const pull_stream_end *e) {
    phase_apply *pa = ud;
    gg_ctx *ctx = pa->ctx;
    cycle_stats *cs = pa->cs;
    size_t i = pa->src_of[job];
    const char *source = ctx->cfg->sources[i].name;
    const adapter_stream_info *si = adapter_stream(pa->jobs[job].ad, stream);
    kind_status *kst = &pa->ks[i][si->kind];
    if (!e->begun) {
        pa->p = (ingest_stream){.source = source}; /* no seen set: ingest_stream_end leaves it be */
        pa->open = 0;
        clock_gettime(CLOCK_MONOTONIC, &pa->t0);
    }
    ingest_stream *p = &pa->p;
    int rc = e->ok ? 0 : -1;
    const char *err = e->error ? e->error : "the stream failed";
    long rows = e->rows;
    int lookups = si->incremental && si->lookup && job_phase(pa, job);
    if (pa->jobs[job].gated) pa->early->reported = 1;
    else if (pa->early && si->kind != FK_PERSON) small_ended(pa, job, stream);
    if (rc == 0 && !p->failed && lookups && lookup_mark_set(ctx, source, si->name, pa->cycle)) p->failed = 1;
    if (rc == 0 && !p->failed && e->watermark && state_watermark_set(ctx->st, source, si->name, e->watermark))
        p->failed = 1;
    if (rc == 0 && !p->failed && e->watermark)
        gg_debug(source, "stream %s: watermark advanced", si->name); /* its key may be an id: not logged */
    if (rc == 0 && !p->failed && pa->suspended == 2) {
        long long t0 = gg_mono_ms();
        if (state_person_index_restore(ctx->st))
            p->failed = 1;
        else
            gg_debug(source, "stream %s: the persons' indexes built in %.2f s", si->name,
                     (double)(gg_mono_ms() - t0) / 1000.0);
    } else if (rc == 0 && !p->failed && pa->suspended == 1 && state_first_load_end(ctx->st)) {
        p->failed = 1;
    }
    if (rc == 0 && !p->failed && pa->jobs[job].memo_salt && memo_keep(pa, source, si)) p->failed = 1;
    pa->suspended = 0; /* restored, or dropped no more: a rollback restores them */
    if (rc || p->failed) {
        /* A failed rollback is logged by the state store; SQLite has rolled
         * back already then. */
        if (pa->open) (void)state_rollback(ctx->st);
        pa->open = 0;
        ingest_stream_end(p, 0);
        gg_error(source, "stream %s failed, its facts%s from this cycle are not kept: %s", si->name,
                 si->incremental ? " and watermark" : "", rc ? err : "state store write failed");
        /* A count outside any transaction; its failure is logged by the state
         * store and changes nothing of the stream's outcome. */
        (void)state_dq_add(ctx->st, source, "stream_failed", si->name, 1, pa->cycle);
        note_stream(cs, source, si->name, p, rows + p->rejected, &pa->t0, rc ? err : "state store write failed");
        cs->streams_failed++;
        kst->failed++;
        return;
    }
    pa->open = 0;
    if (state_commit(ctx->st)) {
        (void)state_rollback(ctx->st); /* logged by the state store; the commit failure is what counts */
        ingest_stream_end(p, 0);
        cs->streams_failed++;
        kst->failed++;
        return;
    }
    ingest_stream_end(p, 1);
    p->skipped += e->skipped;
    kst->records += rows + p->rejected;
    if (e->lookup_ids)
        gg_info(source, "stream %s: lookup of %ld new subjects of interest: %ld records", si->name, e->lookup_ids,
                e->lookup_rows);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - pa->t0.tv_sec) + (double)(t1.tv_nsec - pa->t0.tv_nsec) / 1e9;
    gg_info(source, "stream %s (%s): %ld records, %ld kept, %ld not of interest, %ld rejected, %ld invalid ids, %.2fs",
            si->name, fact_kind_name(si->kind), rows + p->rejected, p->kept, p->skipped, p->rejected, p->invalid,
            secs);
    if (e->passed && fact_kind_is_stream(si->kind))
        gg_info(source, "stream %s: %ld of the rows not of interest passed over as read before, unmapped", si->name,
                e->passed);
    else if (e->passed)
        gg_info(source, "stream %s: %ld rows found stored unchanged by their row hash, unmapped", si->name, e->passed);
    if (p->unchanged)
        gg_debug(source, "stream %s: %ld kept facts unchanged, not rewritten (%ld found so by the worker)", si->name,
                 p->unchanged, p->by_worker);
    cs->facts_kept += p->kept;
    cs->rows_skipped += p->skipped;
    cs->rejected += p->rejected;
    cs->invalid_ids += p->invalid;
    note_stream(cs, source, si->name, p, rows + p->rejected, &pa->t0, NULL);
    cs->streams_ok++;
}

/* The directory of the state store (where a pull's spool file goes). */
static void state_dir(const gg_ctx *ctx, char *out, size_t outsz) {
    snprintf(out, outsz, "%s", ctx->cfg->state_path ? ctx->cfg->state_path : ".");
    char *slash = strrchr(out, '/');
    if (slash == out) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(out, outsz, ".");
}

/* Frees what pull_phase allocated for a job (its watermarks, arrays, tables). */
static void job_free(pull_job *job) {
    for (size_t k = 0; k < job->nstreams; k++) free(job->wm_in[k]);
    free(job->streams);
    free(job->wm_in);
    free(job->lookup_mark);
    for (int k = 0; k < FK__COUNT; k++) pull_known_free(&job->known[k]);
    if (job->memo)
        for (size_t k = 0; k < job->nstreams; k++) free(job->memo[k]);
    free(job->memo);
    free(job->nmemo);
    free(job->memo_salt);
    free(job->memo_token);
    memset(job, 0, sizeof *job);
}

/* The row memos (app/pull.h): for each planned stream that may keep one (a
 * full read mapped in C alone), the salt of its token (base: the
 * configuration and the program; the adapter file; the source's and the
 * stream's names) and the memo stored for it. A stream whose adapter file
 * cannot be hashed keeps none. */
static void memo_plan(gg_ctx *ctx, pull_job *job, const char *source, const char *adapter_path, uint64_t base) {
    uint64_t file_h;
    if (!base || !adapter_path || gg_file_hash(adapter_path, &file_h)) return;
    job->memo_salt = xcalloc(job->nstreams, sizeof *job->memo_salt);
    job->memo_token = xcalloc(job->nstreams, sizeof *job->memo_token);
    job->memo = xcalloc(job->nstreams, sizeof *job->memo);
    job->nmemo = xcalloc(job->nstreams, sizeof *job->nmemo);
    for (size_t j = 0; j < job->nstreams; j++) {
        const adapter_stream_info *si = adapter_stream(job->ad, job->streams[j]);
        if (!si->pure || si->incremental) continue;
        uint64_t h = gg_hash64_update(base, &file_h, sizeof file_h);
        h = gg_hash64_update(h, source, strlen(source) + 1);
        h = gg_hash64_update(h, si->name, strlen(si->name) + 1);
        job->memo_salt[j] = h ? h : 1;
        (void)state_row_memo_load(ctx->st, source, si->name, &job->memo_token[j], &job->memo[j], &job->nmemo[j]);
    }
}

/* Pulls every stream of one phase from every loaded adapter (app/pull.c).
 * A source's streams of different fact kinds go to different workers (up to
 * its max_workers; kinds dealt to them in turn, in the order their first
 * stream is declared); streams of one kind stay in one worker, in declaration
 * order, since they share that kind's pull_known table. Workers run
 * concurrently, at most [gridgate] workers at once: every source's first
 * worker is started before any source's second. Streams are applied one at a
 * time. */
static void prune_facts(gg_ctx *ctx, int phase_stream, kind_status (*ks)[FK__COUNT], seen_set (*seen)[FK__COUNT]);

/* Loads the register's names for the gated workers (before they fork).
 * 0, or -1 (logged by the state store): then the early phase 2 is dropped. */
static int early_register(early_phase2 *e, gg_ctx *ctx) {
    if (e->have_reg) return 0;
    if (ingest_register_load(&e->reg, ctx->st)) return -1;
    e->have_reg = 1;
    return 0;
}

/* The gate of the early phase 2 (pull_apply.gate). "Changed" here counts the
 * facts the subjects of interest and the register's names derive from
 * (state_facts_identity_changes): a resident who moved changes none. Before
 * and during phase 1: drops the early streams at the first fact changed;
 * lets their workers start once every phase-1 stream but the persons' has
 * ended with none, or came with no FACT while waiting for the writer
 * (pa_arrived; the small side's streams end first and most often bring the
 * change, so a changed cycle rarely pays for the register's load or the
 * early reads). The register may then be read inside the persons' stream's
 * transaction: only when that has changed no fact of identity so far (the
 * counter, read in the same transaction), so what it reads, ids and name
 * hashes, is what is committed.
 * Once every phase-1 stream has ended: prunes phase 1 and applies the early
 * streams only when still no fact changed. */
static int pa_gate(void *ud, int all_ended) {
    phase_apply *pa = ud;
    early_phase2 *e = pa->early;
    gg_ctx *ctx = pa->ctx;
    long now = state_facts_identity_changes(ctx->st);
    if (!all_ended) {
        e->dropped = now < 0 || now != e->changes0;
        if (e->dropped) return 0;
        if (e->small_left > 0) return 1;
        if (early_register(e, ctx)) {
            e->dropped = 1;
            return 0;
        }
        return 2;
    }
    /* housekeeping as after phase 1 (cycle_run) */
    if (state_begin(ctx->st) == 0) {
        prune_facts(ctx, 0, pa->ks, pa->seen);
        if (state_commit(ctx->st)) (void)state_rollback(ctx->st);
    }
    e->pruned = 1;
    now = state_facts_identity_changes(ctx->st);
    e->held = now >= 0 && now == e->changes0 && early_register(e, ctx) == 0;
    e->dropped = !e->held;
    return e->held;
}

/* Whether a job pulls a stream of the kind. */
static int job_has_kind(const pull_job *job, fact_kind kind) {
    for (size_t j = 0; j < job->nstreams; j++)
        if (adapter_stream(job->ad, job->streams[j])->kind == kind) return 1;
    return 0;
}

/* Whether every stream of the kind in the job is incremental and has read
 * before (a stored watermark): it then reads only rows changed since, so the
 * stored facts' hashes would spare it little (the core compares each fact it
 * is sent with the stored one anyway, app/ingest.c) and loading them costs
 * a scan of every stored fact of the kind (0.3 s for 1M persons). */
static int job_kind_incremental(gg_ctx *ctx, const pull_job *job, const char *source, fact_kind kind) {
    int any = 0;
    for (size_t j = 0; j < job->nstreams; j++) {
        const adapter_stream_info *si = adapter_stream(job->ad, job->streams[j]);
        if (si->kind != kind) continue;
        char *wm = NULL;
        int read_before = si->incremental && state_watermark_get(ctx->st, source, si->name, &wm) == 0 && wm;
        free(wm);
        if (!read_before) return 0;
        any = 1;
    }
    return any;
}

/* pull_apply.prepare: what the core loads for a job's worker just before it
 * forks (app/pull.c runs it as late as it can, so that it overlaps the
 * workers started before). What is stored of each (source, kind) the worker
 * pulls: it sends only the ref hash of a kept record stored unchanged (a
 * load that fails leaves the table empty: every row then goes to the core;
 * not loaded for incremental streams that have read before);
 * the row memos; and for the early phase 2 the register's names, while no
 * fact of identity has changed yet (one changed later drops the early phase 2
 * anyway, so what is read here is what a later read would give). */
static void pa_prepare(void *ud, size_t j) {
    phase_apply *pa = ud;
    gg_ctx *ctx = pa->ctx;
    pull_job *job = &pa->jobs[j];
    size_t i = pa->src_of[j];
    const char *source = ctx->cfg->sources[i].name;
    unsigned char loaded[FK__COUNT] = {0};
    for (size_t k = 0; k < job->nstreams; k++) {
        fact_kind kind = adapter_stream(job->ad, job->streams[k])->kind;
        if (loaded[kind]++) continue;
        if (job_kind_incremental(ctx, job, source, kind)) {
            gg_debug(source, "%s streams read only changed rows: no stored hashes loaded for the worker",
                     fact_kind_name(kind));
            continue;
        }
        struct timespec k0, k1;
        clock_gettime(CLOCK_MONOTONIC, &k0);
        if (pull_known_load(&job->known[kind], ctx->st, source, kind) == 0 && job->known[kind].n) {
            clock_gettime(CLOCK_MONOTONIC, &k1);
            gg_debug(source, "%zu stored %s facts' hashes loaded for the worker, %.2fs", job->known[kind].n,
                     fact_kind_name(kind),
                     (double)(k1.tv_sec - k0.tv_sec) + (double)(k1.tv_nsec - k0.tv_nsec) / 1e9);
        }
    }
    const char *apath = pa->adapter_paths[i][0];
    memo_plan(ctx, job, source, apath[0] ? apath : NULL, pa->memo_base);
    early_phase2 *e = pa->early;
    if (job->gated && e && !e->dropped && !e->have_reg && state_facts_identity_changes(ctx->st) == e->changes0)
        (void)early_register(e, ctx); /* a failure: the gate tries once more, and drops them then */
}

static void pull_phase(gg_ctx *ctx, const unsigned char *pull, long cycle, int phase_stream, strmap *ids, strmap *cases, const strmap *new_ids,
                       cycle_stats *cs, kind_status (*ks)[FK__COUNT], seen_set (*seen)[FK__COUNT],
                       const ingest_register *reg, early_phase2 *early) {
    size_t n = ctx->cfg->nsources, njobs = 0, cap = (n ? n : 1) * FK__COUNT;
    pull_job *jobs = calloc(cap, sizeof *jobs), *built = calloc(cap, sizeof *built);
    size_t *src_of = calloc(cap, sizeof *src_of), *built_src = calloc(cap, sizeof *built_src);
    size_t *wave = calloc(cap, sizeof *wave); /* a built job's place among its source's workers */
    char (*paths)[2][4096] = calloc(n ? n : 1, sizeof *paths);
    if (!jobs || !built || !src_of || !built_src || !wave || !paths) {
        gg_error("cycle", "pull: out of memory");
        free(jobs);
        free(built);
        free(src_of);
        free(built_src);
        free(wave);
        free(paths);
        return;
    }
    size_t nbuilt = 0, nwaves = 0;
    /* The row memos (app/pull.h): the part of a stream's token that is the
     * settings (the match's: no row's mapping depends on the ones left out)
     * and the program; 0 when the program cannot be read (no memo is kept
     * then). */
    uint64_t memo_base = 0;
    {
        uint64_t fh[2] = {ctx->cfg->match_hash, 0};
        if (gg_file_hash("/proc/self/exe", &fh[1]) == 0) memo_base = gg_hash64_update(GG_HASH64_SEED, fh, sizeof fh);
    }
    /* The early phase 2 (phase 1 with `early`): its jobs are planned after
     * phase 1's, gated, with their own filter. */
    pull_filter flt2 = {0};
    if (early)
        flt2 = (pull_filter){.phase_stream = 1, .ids = &early->ids, .cases = &early->cases,
                             .new_ids = &early->new_ids, .today = ctx->today, .reg = &early->reg, .nn = ctx->nn,
                             .progress_s = ctx->cfg->progress_interval};
    for (int ph = phase_stream; ph <= (early ? 1 : phase_stream); ph++)
    for (size_t i = 0; i < n; i++) {
        adapter *ad = ctx->adapters[i];
        const gg_source_conf *src = &ctx->cfg->sources[i];
        if (!src->enabled || (pull && !pull[i])) continue; /* not pulled: ks stays 0, not pruned */
        if (!ad) {
            if (!ph) {
                gg_error(src->name, "skipped: %s", ctx->load_errors[i] ? ctx->load_errors[i] : "adapter not loaded");
                note_stream(cs, src->name, NULL, NULL, 0, NULL, ctx->load_errors[i] ? ctx->load_errors[i] : "adapter not loaded");
                cs->streams_failed++;
            }
            continue;
        }
        /* The planned streams, in declaration order. */
        size_t ns = adapter_stream_count(ad), np = 0;
        size_t *plan = xcalloc(ns ? ns : 1, sizeof *plan);
        char **plan_wm = xcalloc(ns ? ns : 1, sizeof *plan_wm);
        long *plan_mark = xcalloc(ns ? ns : 1, sizeof *plan_mark);
        for (size_t k = 0; k < ns; k++) {
            const adapter_stream_info *si = adapter_stream(ad, k);
            if (fact_kind_is_stream(si->kind) != ph) continue;
            kind_status *kst = &ks[i][si->kind];
            kst->streams++;
            if (si->incremental) kst->incremental++;
            char *wm = NULL;
            long mark = -1;
            const char *why = NULL;
            if (si->incremental && state_watermark_get(ctx->st, src->name, si->name, &wm))
                why = "cannot read the stream's watermark from the state store";
            if (!why && si->incremental && si->lookup && ph && wm) {
                if (lookup_mark_get(ctx, src->name, si->name, &mark))
                    why = "cannot read the stream's lookup mark from the state store";
                else if (mark < 0)
                    mark = 0;
            }
            if (why) {
                free(wm);
                gg_error(src->name, "stream %s failed, its facts%s from this cycle are not kept: %s", si->name,
                         si->incremental ? " and watermark" : "", why);
                note_stream(cs, src->name, si->name, NULL, 0, NULL, why);
                cs->streams_failed++;
                kst->failed++;
                continue;
            }
            plan[np] = k;
            plan_wm[np] = wm;
            plan_mark[np] = mark;
            np++;
        }
        if (!np) {
            free(plan);
            free(plan_wm);
            free(plan_mark);
            continue;
        }
        /* Its workers: the kinds in the order of their first stream, dealt
         * to at most max_workers workers in turn. */
        int group[FK__COUNT];
        size_t nkinds = 0;
        for (int k = 0; k < FK__COUNT; k++) group[k] = -1;
        for (size_t j = 0; j < np; j++) {
            fact_kind kind = adapter_stream(ad, plan[j])->kind;
            if (group[kind] < 0) group[kind] = (int)nkinds++;
        }
        size_t nw = nkinds;
        if (src->max_workers > 0 && (size_t)src->max_workers < nw) nw = (size_t)src->max_workers;
        for (int k = 0; k < FK__COUNT; k++)
            if (group[k] >= 0) group[k] %= (int)nw;
        if (nw > nwaves) nwaves = nw;
        /* What every worker of the source may read: its adapter file and a
         * SQLite database. */
        const char *rp[8];
        size_t nrp = 0;
        if (src->adapter) { /* resolved by config.c */
            snprintf(paths[i][0], sizeof paths[i][0], "%s", src->adapter);
            rp[nrp++] = paths[i][0];
        }
        for (int c = 0; c < src->nconns && nrp < 2; c++)
            if (worker_conn_file(src->conns[c].spec, paths[i][1], sizeof paths[i][1]) == 0) rp[nrp++] = paths[i][1];
        rp[nrp] = NULL;
        char shown[512] = "";
        size_t shownlen = 0;
        for (size_t w = 0; w < nw; w++) {
            pull_job *job = &built[nbuilt];
            job->streams = xcalloc(np, sizeof *job->streams);
            job->wm_in = xcalloc(np, sizeof *job->wm_in);
            job->lookup_mark = xcalloc(np, sizeof *job->lookup_mark);
            for (size_t j = 0; j < np; j++) {
                const adapter_stream_info *si = adapter_stream(ad, plan[j]);
                if ((size_t)group[si->kind] != w) continue;
                job->streams[job->nstreams] = plan[j];
                job->wm_in[job->nstreams] = plan_wm[j]; /* moved */
                job->lookup_mark[job->nstreams] = plan_mark[j];
                job->nstreams++;
                if (shownlen < sizeof shown)
                    shownlen += (size_t)snprintf(shown + shownlen, sizeof shown - shownlen, "%s%s (%s)",
                                                 shownlen == 0 ? "" : job->nstreams == 1 ? "; " : ", ", si->name,
                                                 fact_kind_name(si->kind));
            }
            job->name = src->name;
            job->ad = ad;
            job->gated = ph != phase_stream;
            job->flt = job->gated ? &flt2 : NULL;
            /* Deadline: the worker's streams; memory: the Lua cap, C
             * allocations included; both per worker. */
            job->lim.deadline_s = (unsigned)src->pull_timeout;
            job->lim.mem_bytes = (size_t)src->memory_mb << 20;
            memcpy(job->read_paths, rp, (nrp + 1) * sizeof *rp);
            /* its stored hashes and memos: pa_prepare, before it forks */
            built_src[nbuilt] = i;
            wave[nbuilt] = w;
            nbuilt++;
        }
        if (nw > 1) gg_debug(src->name, "phase %d: %zu workers at once: %s", ph + 1, nw, shown);
        free(plan);
        free(plan_wm);
        free(plan_mark);
    }
    /* Started in this order: every source's first worker, then every
     * source's second, ... (so that a source split in several workers does
     * not keep another from starting when [gridgate] workers is small);
     * within one round the workers without a persons' stream first: they
     * load little before they fork (pa_prepare), and the early phase 2
     * waits for their streams, not for the persons'. */
    for (int g = 0; g <= 1; g++) /* the early phase 2 after phase 1 */
        for (size_t w = 0; w < nwaves; w++)
            for (int persons = 0; persons <= 1; persons++)
                for (size_t b = 0; b < nbuilt; b++)
                    if (wave[b] == w && built[b].gated == g && job_has_kind(&built[b], FK_PERSON) == persons) {
                        jobs[njobs] = built[b];
                        src_of[njobs++] = built_src[b];
                    }

    if (early) { /* the small side's streams the early workers wait for (pa_gate) */
        early->small_left = 0;
        early->counted = xcalloc(njobs ? njobs : 1, sizeof *early->counted);
        for (size_t j = 0; j < njobs; j++) early->counted[j] = xcalloc(jobs[j].nstreams + 1, 1);
        for (size_t j = 0; j < njobs; j++)
            for (size_t k = 0; k < jobs[j].nstreams && !jobs[j].gated; k++)
                if (adapter_stream(jobs[j].ad, jobs[j].streams[k])->kind != FK_PERSON) early->small_left++;
    }
    pull_filter flt = {.phase_stream = phase_stream, .ids = ids, .cases = cases, .new_ids = new_ids,
                       .today = ctx->today, .reg = reg, .nn = ctx->nn, .progress_s = ctx->cfg->progress_interval};
    phase_apply pa = {.ctx = ctx, .cycle = cycle, .phase_stream = phase_stream, .ids = ids, .cases = cases,
                      .early = early, .cs = cs, .ks = ks, .jobs = jobs, .src_of = src_of, .seen = seen,
                      .adapter_paths = paths, .memo_base = memo_base};
    pull_apply ap = {.begin = pa_begin, .fact = pa_fact, .reject = pa_reject, .end = pa_end, .seen = pa_seen,
                     .memo = pa_memo, .arrived = pa_arrived, .prepare = pa_prepare,
                     .gate = early ? pa_gate : NULL, .ud = &pa};
    size_t maxp = ctx->cfg->workers > 0 ? (size_t)ctx->cfg->workers : 4;
    char spool[4096], err[512];
    state_dir(ctx, spool, sizeof spool);
    if (pull_run(jobs, njobs, &flt, maxp, spool, 0, &ap, err, sizeof err))
        gg_error("cycle", "pulling phase %d failed: %s", phase_stream + 1, err);
    for (size_t j = 0; j < njobs; j++) job_free(&jobs[j]);
    if (early && early->counted) {
        for (size_t j = 0; j < njobs; j++) free(early->counted[j]);
        free(early->counted);
        early->counted = NULL;
    }
    free(pa.memo);
    free(jobs);
    free(built);
    free(src_of);
    free(built_src);
    free(wave);
    free(paths);
}

/* Milliseconds from a to b (CLOCK_MONOTONIC readings), for debug lines. */
static double ms_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* What the cycle loads into memory: the facts, and which ids' person facts
 * are already among them. */
typedef struct loader {
    gg_ctx *ctx;
    factset *fs;
    strmap person_ids; /* ids whose person facts are loaded */
    strmap want;       /* ids whose person facts are to be loaded */
    strmap keys;       /* "<folded name>|<yyyymmdd>" asked for by facts without a valid id */
} loader;

static int load_fact_cb(void *ud, fact *f) {
    loader *ld = ud;
    gg_ctx *ctx = ld->ctx;
    /* The folded name was stored with the fact; fold only facts stored without one. */
    if (f->name_norm || !FACT_HAS(f, FF_NAME))
        fact_normalize_id(f, ctx->today);
    else
        fact_normalize_identity(f, ctx->nn, ctx->today);
    if (factset_add(ld->fs, f)) {
        fact_clear(f);
        return 1;
    }
    return 0;
}

/* Frees the loader's maps (the factset it fills is the caller's). */
static void loader_free(loader *ld) {
    strmap_free(&ld->person_ids);
    strmap_free(&ld->want);
    strmap_free(&ld->keys);
}

static int want_id_cb(void *ud, const char *id) {
    loader *ld = ud;
    if (strmap_has(&ld->person_ids, id)) return 0;
    if (strmap_add(&ld->want, id) < 0) {
        gg_error("cycle", "out of memory collecting the persons to load");
        return 1;
    }
    return 0;
}

/* The low links' keys (name|birth date) and, to pass most persons over
 * without building a key, their folded names alone. */
typedef struct {
    loader *ld;
    strmap names;
} key_match;

/* One person of the register: wanted when its folded name and id birth date
 * are a key some fact without a valid id asks for. */
static int key_match_cb(void *ud, const char *id, const char *name) {
    key_match *km = ud;
    char buf[256];
    if (strnlen(id, 14) < 14) return 0;
    size_t nlen = strlen(name);
    if (nlen + 10 > sizeof buf) { /* a key cut short, as load_persons cut it */
        if (snprintf(buf, sizeof buf, "%s|%.8s", name, id + 6) < 0) return 0;
        return strmap_has(&km->ld->keys, buf) ? want_id_cb(km->ld, id) : 0;
    }
    if (!strmap_has(&km->names, name)) return 0;
    memcpy(buf, name, nlen);
    buf[nlen] = '|';
    memcpy(buf + nlen + 1, id + 6, 8);
    buf[nlen + 9] = '\0';
    return strmap_has(&km->ld->keys, buf) ? want_id_cb(km->ld, id) : 0;
}

static int conflict_cb(void *ud, const char *id) { return want_id_cb(((key_match *)ud)->ld, id); }

/* Persons stay in the state store; only those the loaded facts may concern are
 * loaded: the person facts of every id among facts [from, nfacts), of every
 * person whose folded name and birth date match a fact without a valid id
 * (the candidates of a low-confidence link), and (conflicts) of every id whose
 * person facts conflict among themselves. A person fact nothing else names
 * can neither link nor change an alert except its own identity_conflict. */
static int load_persons(loader *ld, size_t from, int conflicts) {
    state *st = ld->ctx->st;
    strmap_free(&ld->want);
    memset(&ld->want, 0, sizeof ld->want);
    /* Facts of one person often come one after another (a source listing
     * payments by person, month by month): an id the fact before had is not
     * looked up again (1M, the match's 271k loaded facts, 3 alternating
     * pairs: this step 150 / 163 / 161 ms -> 110 / 141 / 117 ms). */
    const char *prev_id = NULL;
    for (size_t i = from; i < ld->fs->nfacts; i++) {
        const fact *f = &ld->fs->facts[i];
        if (f->id_status == ID_OK && f->id_norm[0]) {
            if (f->kind == FK_PERSON || (prev_id && !strcmp(prev_id, f->id_norm))) continue;
            prev_id = f->id_norm;
            if (want_id_cb(ld, f->id_norm)) return -1;
        } else if (f->name_norm && FACT_HAS(f, FF_BIRTH_DATE)) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s|%08d", f->name_norm, (int)f->f[FF_BIRTH_DATE].i);
            if (strmap_add(&ld->keys, buf) < 0) {
                gg_error("cycle", "out of memory collecting the persons to load");
                return -1;
            }
        }
    }
    /* The candidates of every low link and (conflicts) the ids in conflict
     * in one pass over the register. */
    key_match km = {.ld = ld};
    int has_keys = strmap_count(&ld->keys) > 0, wrc = 0;
    if (has_keys) {
        size_t kiter = 0;
        const char *key;
        int kv;
        while (wrc == 0 && strmap_next(&ld->keys, &kiter, &key, &kv)) {
            const char *bar = strrchr(key, '|');
            char name[256];
            size_t len = bar ? (size_t)(bar - key) : 0;
            if (!bar || len >= sizeof name) continue;
            memcpy(name, key, len);
            name[len] = '\0';
            if (strmap_add(&km.names, name) < 0) wrc = -1;
        }
        if (wrc) gg_error("cycle", "out of memory collecting the persons to load");
    }
    struct timespec w0, w1, w2;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    if (wrc == 0 && (has_keys || conflicts))
        wrc = state_person_names_walk(st, has_keys ? key_match_cb : NULL, conflicts ? conflict_cb : NULL, &km);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    strmap_free(&km.names);
    strmap_free(&ld->keys);
    memset(&ld->keys, 0, sizeof ld->keys);
    if (wrc) return -1;
    size_t iter = 0, nwant = strmap_count(&ld->want);
    const char *id;
    int v;
    /* Collected first: ids are added to person_ids while loading. The load
     * order does not matter, order_facts() puts the set in order. */
    const char **ids = malloc((nwant ? nwant : 1) * sizeof *ids);
    if (!ids) {
        gg_error("cycle", "out of memory loading persons");
        return -1;
    }
    size_t n = 0;
    int rc = 0;
    while (strmap_next(&ld->want, &iter, &id, &v)) {
        ids[n++] = id;
        if (rc == 0 && strmap_add(&ld->person_ids, id) < 0) {
            gg_error("cycle", "out of memory loading persons");
            rc = -1;
        }
    }
    if (rc == 0 && state_facts_of_ids(st, 1, ids, n, load_fact_cb, ld)) rc = -1;
    free(ids);
    clock_gettime(CLOCK_MONOTONIC, &w2);
    gg_debug("cycle", "persons to load: the walk of the register %.0f ms; %zu ids' persons loaded in %.0f ms",
             ms_between(&w0, &w1), n, ms_between(&w1, &w2));
    return rc;
}

/* The order facts had when every stored fact was loaded kind by kind (person,
 * death, assistance_member, asset, custody; then payment, income, verdict),
 * each kind in (source, ref) order: identity and rules break ties by position,
 * so the set is kept in that order whatever was loaded when. */
static int load_rank(fact_kind k) {
    switch (k) {
    case FK_PERSON: return 0;
    case FK_DEATH: return 1;
    case FK_ASSISTANCE_MEMBER: return 2;
    case FK_ASSET: return 3;
    case FK_CUSTODY: return 4;
    case FK_PAYMENT: return 5;
    case FK_INCOME: return 6;
    case FK_VERDICT: return 7;
    default: return 8;
    }
}

static int cmp_load_order(const void *a, const void *b) {
    const fact *x = a, *y = b;
    int c = load_rank(x->kind) - load_rank(y->kind);
    if (!c) c = strcmp(x->source ? x->source : "", y->source ? y->source : "");
    if (!c) c = strcmp(x->ref ? x->ref : "", y->ref ? y->ref : "");
    return c;
}

/* Puts the set in load order. A loaded set is a few sorted runs (each kind
 * read in (source, ref) order, the persons of a load appended in id order:
 * ~200 runs in 350k facts at 1M residents), so the runs are found and merged
 * pairwise on indices (n log(runs) comparisons instead of qsort's n log n),
 * then the facts are moved once, in place, cycle by cycle. Without memory
 * for the indices it falls back to qsort. The merge takes the left fact of
 * equal keys: stable, as glibc's qsort is when it can allocate. */
static void order_facts(factset *fs) {
    factset_clear_resolution(fs);
    size_t n = fs->nfacts;
    if (n < 2) return;
    (void)factset_collapse_pages(fs); /* walked below, by identity and by the rules */
    fact *v = fs->facts;
    size_t *idx = malloc(n * sizeof *idx), *tmp = malloc(n * sizeof *tmp), *run = malloc((n + 1) * sizeof *run);
    if (!idx || !tmp || !run) {
        free(idx);
        free(tmp);
        free(run);
        qsort(v, n, sizeof *v, cmp_load_order);
        return;
    }
    size_t nrun = 0;
    run[nrun++] = 0;
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        if (i > 0 && cmp_load_order(&v[i - 1], &v[i]) > 0) run[nrun++] = i;
    }
    run[nrun] = n; /* run r is [run[r], run[r + 1]) */
    while (nrun > 1) {
        size_t out = 0;
        for (size_t r = 0; r < nrun; r += 2) {
            size_t a = run[r], am = run[r + 1], b = am, bm = r + 1 < nrun ? run[r + 2] : am, o = a;
            while (a < am && b < bm) tmp[o++] = cmp_load_order(&v[idx[b]], &v[idx[a]]) < 0 ? idx[b++] : idx[a++];
            while (a < am) tmp[o++] = idx[a++];
            while (b < bm) tmp[o++] = idx[b++];
            run[out++] = run[r];
        }
        run[out] = n;
        nrun = out;
        size_t *sw = idx;
        idx = tmp;
        tmp = sw;
    }
    /* idx[i] is the fact that belongs at i: follow each cycle once. */
    for (size_t i = 0; i < n; i++) {
        if (idx[i] == i || idx[i] == SIZE_MAX) continue;
        fact hold = v[i];
        size_t j = i;
        while (idx[j] != i) {
            size_t from = idx[j];
            v[j] = v[from];
            idx[j] = SIZE_MAX;
            j = from;
        }
        v[j] = hold;
        idx[j] = SIZE_MAX;
    }
    free(idx);
    free(tmp);
    free(run);
}

/* The subjects of interest after phase 1: every person a death, custody or
 * enrollment is linked to (by id, or by name + birth date when the record's
 * id is invalid), and every assistance case. Resolving identities here, not
 * just taking valid ids, keeps the payments of a person whose death record
 * carries a mistyped id. */
/* Collects "source\x1fkind\x1fref" -> first cycle of newly stored facts. */
static int collect_new_fact(void *ud, const char *source, const char *kind, const char *ref, long first_cycle) {
    strmap *m = ud;
    char key[512];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", source, kind, ref);
    return strmap_put(m, key, (int)first_cycle) < 0;
}

/* Remembers, for each id of a new subject of interest, the latest cycle it
 * became one. */
static int note_new_id(strmap *new_ids, const char *id, int cycle) {
    int prev;
    if (!id || !id[0]) return 0;
    if (strmap_get(new_ids, id, &prev) == 1 && prev >= cycle) return 0;
    return strmap_put(new_ids, id, cycle) < 0 ? -1 : 0;
}

/* Loads the small side into the loader's (empty) set: the death, custody,
 * enrollment and asset facts, the persons without an id and the persons
 * linked to them. Kept for the rules. */
static int load_small_side(loader *ld) {
    gg_ctx *ctx = ld->ctx;
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < FK__COUNT; k++) {
        if (fact_kind_is_stream((fact_kind)k) || k == FK_VERDICT || k == FK_PERSON) continue;
        if (state_facts_each(ctx->st, k, load_fact_cb, ld)) return -1;
    }
    if (state_persons_without_id(ctx->st, load_fact_cb, ld)) return -1;
    size_t nsmall = ld->fs->nfacts;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (load_persons(ld, 0, 1)) return -1;
    clock_gettime(CLOCK_MONOTONIC, &t2);
    gg_debug("cycle", "small side: %zu facts %.0f ms; their persons and the ids in conflict (a pass over the "
             "register) %zu facts %.0f ms", nsmall, ms_between(&t0, &t1), ld->fs->nfacts - nsmall, ms_between(&t1, &t2));
    return 0;
}

/* Derives the subjects of interest from the small side load_small_side put
 * in the loader's set. new_ids (may be NULL): the ids of interest whose
 * death, custody or enrollment fact was first stored after cycle `since`,
 * each with that cycle: what incremental streams look up. */
static int derive_interest(loader *ld, strmap *ids, strmap *cases, strmap *new_ids, long since) {
    gg_ctx *ctx = ld->ctx;
    factset *fsp = ld->fs;
    strmap new_facts = {0};
    if (new_ids && state_interest_new_each(ctx->st, since, collect_new_fact, &new_facts)) goto fail;
    order_facts(fsp);
    const factset *fs = fsp;
    identity_stats ist;
    if (identity_resolve(fsp, &ist)) goto fail;
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (f->kind != FK_DEATH && f->kind != FK_CUSTODY && f->kind != FK_ASSISTANCE_MEMBER) continue;
        if (f->kind == FK_DEATH && FACT_HAS(f, FF_REVOKED) && f->f[FF_REVOKED].i) continue; /* registration restored */
        if (fs->person_of[i] >= 0 && strmap_add(ids, fs->persons[fs->person_of[i]].id_no) < 0) goto fail;
        if (f->id_norm[0] && strmap_add(ids, f->id_norm) < 0) goto fail;
        if (f->kind == FK_ASSISTANCE_MEMBER && f->f[FF_CASE].s && strmap_add(cases, f->f[FF_CASE].s) < 0) goto fail;
        if (new_ids && strmap_count(&new_facts)) {
            char key[512];
            int first;
            snprintf(key, sizeof key, "%s\x1f%s\x1f%s", f->source, fact_kind_name(f->kind), f->ref);
            if (strmap_get(&new_facts, key, &first) != 1) continue;
            if (fs->person_of[i] >= 0 && note_new_id(new_ids, fs->persons[fs->person_of[i]].id_no, first)) goto fail;
            if (note_new_id(new_ids, f->id_norm, first)) goto fail;
        }
    }
    strmap_free(&new_facts);
    return 0;
fail:
    strmap_free(&new_facts);
    return -1;
}

/* The loader's (empty) set gets the small side, kept for the rules; ids,
 * cases and new_ids (may be NULL) get the subjects of interest. */
static int build_interest(loader *ld, strmap *ids, strmap *cases, strmap *new_ids, long since) {
    if (load_small_side(ld)) return -1;
    return derive_interest(ld, ids, cases, new_ids, since);
}

/* The earliest lookup mark among incremental streams with a lookup that have
 * read before (a watermark exists); -1 when no lookup can be owed. */
static long lookups_since(gg_ctx *ctx) {
    long since = -1;
    for (size_t i = 0; i < ctx->cfg->nsources; i++) {
        adapter *ad = ctx->adapters[i];
        const char *source = ctx->cfg->sources[i].name;
        if (!ad || !ctx->cfg->sources[i].enabled) continue;
        for (size_t k = 0; k < adapter_stream_count(ad); k++) {
            const adapter_stream_info *si = adapter_stream(ad, k);
            if (!si->incremental || !si->lookup) continue;
            char *wm = NULL;
            long mark = -1;
            if (state_watermark_get(ctx->st, source, si->name, &wm) || !wm) {
                free(wm);
                continue;
            }
            free(wm);
            if (lookup_mark_get(ctx, source, si->name, &mark)) continue;
            if (mark < 0) mark = 0;
            if (since < 0 || mark < since) since = mark;
        }
    }
    return since;
}

/* Full-refresh semantics: when every stream of a (source, kind) was read
 * completely, the facts not seen this cycle are gone from the source (deleted
 * rows, restored registrations, payments no longer of interest) and are
 * removed, so alerts resting on them are withdrawn. A kind whose streams
 * returned nothing at all keeps its facts: an empty answer from a source that
 * had data is more likely a fault than a city without deaths. */
static void prune_facts(gg_ctx *ctx, int phase_stream, kind_status (*ks)[FK__COUNT], seen_set (*seen)[FK__COUNT]) {
    for (size_t i = 0; i < ctx->cfg->nsources; i++) {
        const char *source = ctx->cfg->sources[i].name;
        for (int k = 0; k < FK__COUNT; k++) {
            if (fact_kind_is_stream((fact_kind)k) != phase_stream) continue;
            kind_status *kst = &ks[i][k];
            if (!kst->streams || kst->failed) continue;
            if (kst->incremental) continue; /* rows not re-read are not gone */
            if (kst->records == 0) {
                long had = state_fact_count_source(ctx->st, source, k);
                if (had > 0)
                    gg_warn(source, "%s streams returned no records; keeping the %ld facts from earlier cycles",
                            fact_kind_name((fact_kind)k), had);
                continue;
            }
            long gone = 0;
            seen_set *ss = &seen[i][k];
            /* The pairs the next cycle's worker compares with, as the prune
             * leaves the facts: those kept now (a set dropped by this cycle's
             * writes, or missing, is put; one that stands is the same). */
            size_t npairs = 0;
            int ok = 0, has = state_fact_hash_set_exists(ctx->st, source, k);
            uint64_t *pairs = has == 0 ? seen_pairs(ss, &npairs, &ok) : NULL;
            seen_sort(ss);
            /* Every hash seen is a stored fact's (one kept, or found stored by
             * its worker): as many distinct hashes as stored facts leave none
             * unseen, and the facts need not be read (an unchanged night). */
            int pruned = ss->n > 0 && state_fact_count_source(ctx->st, source, k) == (long)ss->n;
            if (!pruned) {
                pruned = state_facts_prune_unseen(ctx->st, source, k, ss->h, ss->n, &gone) == 0;
                if (pruned && gone > 0)
                    gg_info(source, "%ld %s facts no longer in the source (or no longer of interest) were removed",
                            gone, fact_kind_name((fact_kind)k));
            }
            if (pruned && ok && state_fact_hash_set_put(ctx->st, source, k, pairs, npairs) == 0)
                gg_debug(source, "%s hash set put: %zu facts", fact_kind_name((fact_kind)k), npairs);
            free(pairs);
        }
    }
}

/* ---- matching only when what it reads changed -----------------------------
 * Identity and rules are a function of the stored facts, the configuration
 * (rule settings, today), the program and the day. A successful match stores a
 * digest of everything but the facts as a mark; every cycle removes it before
 * its pulls and puts it back only when the pulls changed no fact (the state
 * store's change counter, state_facts_changes), so a crash between a fact
 * write and the end of the cycle leaves no digest and the next cycle matches.
 * An unchanged night then costs the pulls and no matching.
 *
 * The day is not one part of the digest but a window: the mark holds
 * "<digest>.<day matched>.<first day it no longer stands>". Of the day,
 * matching reads only (a) the month, through which ongoing enrollments and
 * custody run (rules/driver.c), and (b) whether an id's birth date is still in
 * the future (model/ident.c: ID_FUTURE_DATE). So a match stands from its day
 * until the first of the next month or the earliest future birth date of an
 * id among the facts it read, whichever comes first (day_window_end); a night
 * inside that window with no fact changed skips matching, as the same day
 * does. The subjects of interest read no month: their mark stands until such
 * a birth date alone. Before, the mark held the day itself, so every night of
 * a deployment whose today is the clock matched and rebuilt the subjects of
 * interest although nothing had changed (BENCHMARKS.md: the unchanged night). */
#define MATCH_SCOPE ""            /* no source has an empty name */
#define MATCH_KEY "match.digest"
/* The subjects of interest are kept the same way (state_interest_replace):
 * they are a function of the small side (death, custody, enrollment, asset,
 * verdict and person facts, all written in phase 1), the configuration, the
 * program and the day (an id's reading depends on it). A cycle that builds
 * them stores them with this mark holding the digest, in one transaction;
 * every cycle takes the mark out before its pulls and reads the stored set
 * instead of building it only when the mark was its digest, phase 1 changed
 * no fact the set derives from (state_facts_identity_changes: of persons,
 * only their valid id and names count, through the links by id and by name +
 * birth date; a resident's new address does not) and no fact of the small
 * side is newer than the incremental
 * lookups' mark (its ids must be looked up: only a build finds them). Phase 2
 * writes payments and incomes only, which the set does not depend on. */
#define INTEREST_KEY "interest.digest"
/* A mark's value: two 16-digit hashes, two days and the dots. */
#define MARK_LEN 64

/* The digest of what matching reads besides the facts and the day: the
 * settings (config.c: every one but those no alert depends on, so editing a
 * log level or a comment leaves the last match standing) and the program
 * (its rules). "" when it cannot be made: such a cycle always matches. */
static void match_digest(const gg_ctx *ctx, char *out, size_t outsz) {
    uint64_t prog_h;
    out[0] = '\0';
    if (gg_file_hash("/proc/self/exe", &prog_h)) return;
    snprintf(out, outsz, "%016llx.%016llx", (unsigned long long)ctx->cfg->match_hash, (unsigned long long)prog_h);
}

/* The first day on which what was read of facts [0, n) on day `today` may
 * read otherwise: the earliest birth date of an id that is in the future
 * today (it becomes a valid id, or a wrong check character, that day), and
 * with `monthly` (matching: the rules count months through today's) the
 * first of the next month if that comes earlier. */
static int day_window_end(const fact *facts, size_t n, int today, int monthly) {
    int end = monthly ? month_next(date_month(today)) * 100 + 1 : 99991231;
    for (size_t i = 0; i < n; i++) {
        if (facts[i].id_status != ID_FUTURE_DATE) continue;
        int birth = ident_birth_date(facts[i].id_clean);
        if (birth > today && birth < end) end = birth;
    }
    return end;
}

/* The mark's value for a match (monthly) or a build of the subjects of
 * interest on ctx->today over facts [0, n). */
static void mark_value(const gg_ctx *ctx, const char *digest, const fact *facts, size_t n, int monthly, char *out,
                       size_t outsz) {
    snprintf(out, outsz, "%s.%d.%d", digest, ctx->today, day_window_end(facts, n, ctx->today, monthly));
}

/* The mark of a match of the touched subjects alone: the alerts it left
 * stand on the last match (kept, which stood today), so the window is the
 * intersection of the last match's and this one's: from today (which the
 * kept window holds) until the earlier end. */
static void mark_value_scoped(const gg_ctx *ctx, const char *digest, const char *kept, const fact *facts, size_t n,
                              char *out, size_t outsz) {
    size_t dl = strlen(digest);
    int from = 0, until = 0;
    if (strlen(kept) <= dl || sscanf(kept + dl, ".%d.%d", &from, &until) != 2) {
        out[0] = '\0'; /* cannot happen: kept stood this cycle; no mark, the next cycle matches */
        return;
    }
    int end = day_window_end(facts, n, ctx->today, 1);
    snprintf(out, outsz, "%s.%d.%d", digest, ctx->today > from ? ctx->today : from, end < until ? end : until);
}

/* Reads and removes the stored mark under key (MATCH_KEY, INTEREST_KEY);
 * *same = 1 when it holds this digest and today is inside its window, and
 * then `kept` gets the mark as it was, to be put back by a cycle that stands
 * on it (kept[0] = 0 otherwise). A mark of the older form (the day alone)
 * never stands. A failure of either step is logged by the state store and
 * leaves *same 0. */
static void match_digest_take(gg_ctx *ctx, const char *key, const char *digest, int *same, char *kept,
                              size_t keptsz) {
    char *prev = NULL;
    *same = 0;
    kept[0] = '\0';
    if (state_mark_get(ctx->st, MATCH_SCOPE, key, &prev)) return;
    if (prev && prev[0]) {
        size_t dl = strlen(digest);
        int from = 0, until = 0, used = 0;
        if (dl && !strncmp(prev, digest, dl) && prev[dl] == '.' &&
            sscanf(prev + dl, ".%d.%d%n", &from, &until, &used) == 2 && prev[dl + (size_t)used] == '\0' &&
            from <= ctx->today && ctx->today < until && strlen(prev) < keptsz) {
            *same = 1;
            memcpy(kept, prev, strlen(prev) + 1);
        }
        if (state_mark_set(ctx->st, MATCH_SCOPE, key, "")) *same = 0;
    }
    if (!*same) kept[0] = '\0';
    free(prev);
}

/* Stops at the first newly stored fact of the small side. */
static int interest_newer_cb(void *ud, const char *source, const char *kind, const char *ref, long first_cycle) {
    (void)source, (void)kind, (void)ref, (void)first_cycle;
    *(int *)ud = 1;
    return 1;
}

/* The subjects of interest after phase 1, from the state store when the
 * small side is unchanged since they were stored (INTEREST_KEY; *stored = 1,
 * the loader's set left empty, new_ids empty), else built (the small side is
 * left in the loader's set) and stored for the next cycles. A failure to read
 * or store them is logged and costs only the build. */
static int interest_get(loader *ld, const char *digest, int same, const char *kept, long ident0, strmap *ids,
                        strmap *cases, strmap *new_ids, long since, int *stored) {
    gg_ctx *ctx = ld->ctx;
    *stored = 0;
    if (same && ident0 >= 0 && state_facts_identity_changes(ctx->st) == ident0) {
        int newer = 0;
        if (since >= 0 && state_interest_new_each(ctx->st, since, interest_newer_cb, &newer)) newer = 1;
        if (!newer) {
            if (state_interest_load(ctx->st, ids, cases) == 0) {
                *stored = 1;
                /* still true for the next cycle (a failure: it builds) */
                (void)state_mark_set(ctx->st, MATCH_SCOPE, INTEREST_KEY, kept);
                return 0;
            }
            gg_warn("cycle", "the stored subjects of interest could not be read; building them");
            strmap_free(ids);
            strmap_free(cases);
        }
    }
    /* one read transaction for the build's loads (as the match's) */
    int reading = state_read_begin(ctx->st) == 0;
    int brc = build_interest(ld, ids, cases, since >= 0 ? new_ids : NULL, since);
    if (reading) (void)state_read_end(ctx->st);
    if (brc) return -1;
    char mark[MARK_LEN];
    mark_value(ctx, digest, ld->fs->facts, ld->fs->nfacts, 0, mark, sizeof mark);
    if (digest[0] && state_begin(ctx->st) == 0) {
        if (state_interest_replace(ctx->st, ids, cases) || state_mark_set(ctx->st, MATCH_SCOPE, INTEREST_KEY, mark) ||
            state_commit(ctx->st)) {
            gg_warn("cycle", "the subjects of interest could not be stored; the next cycle builds them");
            (void)state_rollback(ctx->st);
        }
    }
    return 0;
}

/* ---- matching only the subjects that changed -----------------------------
 * A match's alerts are a function of the facts, but each alert only of the
 * facts of its subject: a person (every fact of the id, the cases it is
 * enrolled in with their payments, the facts without a valid id that may
 * link to it by name and birth date) or a case (its members' facts and its
 * payments). The touched log (store/touched.c) keeps the id, case and, for a
 * fact without a valid id, the folded name of every fact written since the
 * last match. When the last match stands (its digest and day window, as for
 * skipping) and the log is on, a cycle that changed facts matches only the
 * subjects the log names, closed over what they depend on:
 *   - every named fact without a valid id is loaded (few), with every id
 *     some fact names with the folded name and birth date of one of them
 *     (the candidates of its low link), or with the folded name of a
 *     touched fact without a valid id (the candidates its old version had:
 *     a superset, any birth date). The last match stored the candidates of
 *     each key (state_low_links_replace), those of the touched names' old
 *     keys among them; a candidate since is a touched id; so only a key it
 *     did not know takes a walk over every person's name and every other
 *     fact's (and the touched names, when no set was stored);
 *   - ids and cases are closed: an id's facts name its cases, a case's facts
 *     name its members' ids, until nothing new comes;
 *   - each id's facts and persons, and each case's facts with no id, are
 *     loaded; the verdicts all, as every match.
 * Identity and rules then run over that set; the alerts of subjects in the
 * scope (id or case in it, or a subject without a valid id) are stored and
 * the open ones no longer produced withdrawn, the others stand as the last
 * match left them. More touched keys than [gridgate] match_scope_max, or a
 * closure of more than twice as many ids, match everything: cheaper then. */

typedef struct match_scope {
    strmap ids;   /* value 0: to load, 1: loaded */
    strmap cases; /* the same */
    strmap names; /* folded names of the touched facts without a valid id */
    strmap keys;  /* "<folded name>|<yyyymmdd>" of the stored ones that may link low;
                     value 1: the stored low links answer it */
    int keys_unknown; /* some key is not answered: the walk looks for it */
    int links_stored; /* the last match stored the low links (else the names take the walk) */
    int failed;   /* a callback ran out of memory: the store functions stop without saying so */
    size_t touched;
    int too_big;  /* the closure passed twice match_scope_max ids: match everything */
} match_scope;

static void scope_free(match_scope *sc) {
    strmap_free(&sc->ids);
    strmap_free(&sc->cases);
    strmap_free(&sc->names);
    strmap_free(&sc->keys);
}

/* state_touched_each: one key of the log. */
static int scope_touched_cb(void *ud, char type, const char *value) {
    match_scope *sc = ud;
    strmap *m = type == 'i' ? &sc->ids : type == 'c' ? &sc->cases : type == 'n' ? &sc->names : NULL;
    sc->touched++;
    if (m && strmap_intern(m, value, 0, NULL) < 0) return sc->failed = -1;
    return 0;
}

/* An id some fact names with one of the scope's names, or with the name and
 * birth date (the id's) of one of its keys the stored low links do not
 * answer (value 0): a candidate of a low link. */
static int scope_name_cb(void *ud, const char *id, const char *name) {
    match_scope *sc = ud;
    int want = !sc->links_stored && strmap_has(&sc->names, name), stored = 1;
    if (!want && sc->keys_unknown && strnlen(id, 14) == 14) {
        char buf[256];
        if (snprintf(buf, sizeof buf, "%s|%.8s", name, id + 6) < (int)sizeof buf &&
            strmap_get(&sc->keys, buf, &stored))
            want = !stored;
    }
    return want && strmap_intern(&sc->ids, id, 0, NULL) < 0 ? (sc->failed = -1) : 0;
}

/* A stored low link (state_low_links_each): of one of the scope's keys, its
 * candidate joins the scope and the key is answered; of a key whose folded
 * name a touched fact without a valid id had, its candidate joins the scope
 * (every such fact of the last match had its key stored, with the
 * candidates its alerts may rest on). The empty key marks a stored set. */
static int scope_link_cb(void *ud, const char *key, const char *id) {
    match_scope *sc = ud;
    if (!key[0]) {
        sc->links_stored = 1;
        return 0;
    }
    int want = strmap_has(&sc->keys, key);
    if (want && strmap_put(&sc->keys, key, 1) < 0) return sc->failed = -1;
    if (!want && strmap_count(&sc->names)) {
        const char *bar = strrchr(key, '|');
        char name[256];
        size_t len = bar ? (size_t)(bar - key) : 0;
        if (bar && len < sizeof name) {
            memcpy(name, key, len);
            name[len] = '\0';
            want = strmap_has(&sc->names, name);
        }
    }
    return want && id[0] && strmap_intern(&sc->ids, id, 0, NULL) < 0 ? (sc->failed = -1) : 0;
}

/* The low links' candidates in a resolved set, to store for the next match
 * of touched subjects: for each key (folded name | stated birth date) of a
 * fact without a valid id, "<key>\x1f<id>" for every id some fact names with
 * that folded name and birth date, "<key>\x1f" when none does. For a match
 * of touched subjects the set holds every candidate (see scope_load). */
static int low_link_pairs(const factset *fs, strmap *pairs) {
    strmap keys = {0};
    char buf[300];
    int rc = 0;
    for (size_t i = 0; i < fs->nfacts && rc == 0; i++) {
        const fact *f = &fs->facts[i];
        if ((f->id_status == ID_OK && f->id_norm[0]) || !f->name_norm || !FACT_HAS(f, FF_BIRTH_DATE)) continue;
        int n = snprintf(buf, sizeof buf, "%s|%08d", f->name_norm, (int)f->f[FF_BIRTH_DATE].i);
        if (n > 0 && n < 256 && strmap_intern(&keys, buf, 0, NULL) < 0) rc = -1;
    }
    for (size_t i = 0; i < fs->nfacts && rc == 0 && strmap_count(&keys); i++) {
        const fact *f = &fs->facts[i];
        if (f->id_status != ID_OK || !f->id_norm[0] || !f->name_norm) continue;
        int n = snprintf(buf, sizeof buf, "%s|%.8s", f->name_norm, f->id_norm + 6);
        if (n <= 0 || n >= 256 || !strmap_has(&keys, buf)) continue;
        if (strmap_put(&keys, buf, 1) < 0) rc = -1;
        snprintf(buf + n, sizeof buf - (size_t)n, "\x1f%s", f->id_norm);
        if (rc == 0 && strmap_add(pairs, buf) < 0) rc = -1;
    }
    size_t it = 0;
    const char *k;
    int v;
    while (rc == 0 && strmap_next(&keys, &it, &k, &v)) {
        if (v) continue;
        snprintf(buf, sizeof buf, "%s\x1f", k);
        if (strmap_add(pairs, buf) < 0) rc = -1;
    }
    if (rc == 0 && strmap_add(pairs, "\x1f") < 0) rc = -1; /* the set is stored (scope_link_cb) */
    strmap_free(&keys);
    if (rc) gg_error("cycle", "out of memory listing the candidates of low links");
    return rc;
}

/* Loads into the loader's set, noting the fact's case in the scope. */
typedef struct scope_loader {
    loader *ld;
    match_scope *sc;
} scope_loader;

/* An id among a case's facts. */
static int scope_id_cb(void *ud, const char *id) {
    scope_loader *sl = ud;
    return strmap_intern(&sl->sc->ids, id, 0, NULL) < 0 ? (sl->sc->failed = -1) : 0;
}

static int scope_fact_cb(void *ud, fact *f) {
    scope_loader *sl = ud;
    const char *ck = FACT_HAS(f, FF_CASE) && f->f[FF_CASE].s && f->f[FF_CASE].s[0] ? f->f[FF_CASE].s : NULL;
    if (ck && strmap_intern(&sl->sc->cases, ck, 0, NULL) < 0) {
        fact_clear(f);
        return sl->sc->failed = -1;
    }
    return load_fact_cb(sl->ld, f) ? (sl->sc->failed = -1) : 0;
}

/* A person of an id of the scope. */
static int scope_person_cb(void *ud, fact *f) {
    scope_loader *sl = ud;
    return load_fact_cb(sl->ld, f) ? (sl->sc->failed = -1) : 0;
}

/* Facts without a valid id: the key of a low link they may take joins the
 * scope's (identity_link_low: folded name and stated birth date). */
static int scope_noid_cb(void *ud, fact *f) {
    scope_loader *sl = ud;
    if (f->name_norm && FACT_HAS(f, FF_BIRTH_DATE)) {
        char buf[256];
        int n = snprintf(buf, sizeof buf, "%s|%08d", f->name_norm, (int)f->f[FF_BIRTH_DATE].i);
        if (n > 0 && n < (int)sizeof buf && strmap_add(&sl->sc->keys, buf) < 0) {
            fact_clear(f);
            return sl->sc->failed = -1;
        }
    }
    return scope_fact_cb(ud, f);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The keys of m still to load (value 0), marked loaded; *n of them in a
 * malloc'd array of the map's own keys (they live until the map is freed). */
static const char **scope_pending(strmap *m, size_t *n) {
    size_t it = 0, cap = 0;
    const char *k, **out = NULL;
    int v;
    *n = 0;
    while (strmap_next(m, &it, &k, &v)) {
        if (v) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            const char **grown = realloc(out, cap * sizeof *out);
            if (!grown) {
                free(out);
                *n = (size_t)-1;
                return NULL;
            }
            out = grown;
        }
        out[(*n)++] = k;
    }
    for (size_t i = 0; i < *n; i++) (void)strmap_put(m, out[i], 1); /* present: no allocation */
    /* in key order, so the index probes walk the indexes' pages in order */
    if (*n > 1) qsort(out, *n, sizeof *out, cmp_cstr);
    return out;
}

/* Loads the scope's facts into the loader's (empty) set, closing it as
 * above. 0 loaded, 1 too big (the set is left to the caller to free), -1
 * failure (logged). */
static int scope_load(loader *ld, match_scope *sc) {
    gg_ctx *ctx = ld->ctx;
    state *st = ctx->st;
    scope_loader sl = {.ld = ld, .sc = sc};
    struct timespec t0, t1, t2, t3;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (state_facts_without_id_named(st, scope_noid_cb, &sl) || state_persons_without_id(st, scope_noid_cb, &sl) ||
        sc->failed)
        goto failed;
    if (((strmap_count(&sc->keys) || strmap_count(&sc->names)) && state_low_links_each(st, scope_link_cb, sc)) ||
        sc->failed)
        goto failed;
    size_t it = 0;
    const char *k;
    int v;
    while (strmap_next(&sc->keys, &it, &k, &v)) sc->keys_unknown |= !v;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t nnoid = ld->fs->nfacts;
    if (((strmap_count(&sc->names) && !sc->links_stored) || sc->keys_unknown) &&
        (state_person_names_walk(st, scope_name_cb, NULL, sc) || state_fact_names_walk(st, scope_name_cb, sc) ||
         sc->failed))
        goto failed;
    clock_gettime(CLOCK_MONOTONIC, &t2);
    int rounds = 0;
    for (;; rounds++) {
        size_t nid, ncase;
        const char **ids = scope_pending(&sc->ids, &nid);
        if (nid == (size_t)-1) goto oom;
        const char **cases = scope_pending(&sc->cases, &ncase);
        if (ncase == (size_t)-1) {
            free(ids);
            goto oom;
        }
        if (nid == 0 && ncase == 0) {
            free(ids);
            free(cases);
            break;
        }
        if ((long)strmap_count(&sc->ids) > 2 * ctx->cfg->match_scope_max) {
            free(ids);
            free(cases);
            sc->too_big = 1;
            return 1;
        }
        /* the round's ids at once: their facts in the table's order */
        int rc = 0;
        if (state_facts_of_ids(st, 0, (const char *const *)ids, nid, scope_fact_cb, &sl) || sc->failed ||
            state_facts_of_ids(st, 1, (const char *const *)ids, nid, scope_person_cb, &sl))
            rc = -1;
        for (size_t i = 0; i < ncase && rc == 0; i++)
            if (state_case_facts(st, cases[i], scope_id_cb, scope_fact_cb, &sl)) rc = -1;
        free(ids);
        free(cases);
        if (rc || sc->failed) goto failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t3);
    gg_debug("cycle", "match scope: %zu facts without a valid id %.0f ms, their candidates %.0f ms, %zu ids and %zu "
             "cases closed in %d rounds %.0f ms", nnoid, ms_between(&t0, &t1), ms_between(&t1, &t2),
             strmap_count(&sc->ids), strmap_count(&sc->cases), rounds, ms_between(&t2, &t3));
    if (state_facts_each(st, FK_VERDICT, scope_person_cb, &sl) || sc->failed) goto failed;
    return 0;
oom:
    gg_error("cycle", "out of memory closing the subjects to match");
    return -1;
failed:
    if (sc->failed) gg_error("cycle", "out of memory loading the subjects to match");
    return -1;
}

/* alert_scope.in_scope: an alert of a subject the scope's match recomputed. */
static int scope_has(void *ud, const char *id_no, const char *case_key, const char *subject) {
    const match_scope *sc = ud;
    if (id_no && id_no[0] && strmap_get(&sc->ids, id_no, NULL)) return 1;
    if (case_key && strmap_get(&sc->cases, case_key, NULL)) return 1;
    return subject && !strncmp(subject, "person:~", 8);
}

/* Keeps the alerts of al that are in the scope (frees the others). */
static void scope_filter(const match_scope *sc, alert_list *al) {
    size_t w = 0;
    for (size_t i = 0; i < al->n; i++) {
        alert *a = &al->items[i];
        if (!scope_has((void *)sc, a->id_no, a->case_key, a->subject)) {
            alert_free(a);
            continue;
        }
        if (w != i) al->items[w] = *a;
        w++;
    }
    al->n = w;
}

/* The stored alerts a scope's match leaves as they are, counted as a whole
 * match would have produced them again: cs->alerts_total, and the
 * data-quality count of each identity conflict per source. */
typedef struct scope_rest {
    gg_ctx *ctx;
    const match_scope *sc;
    cycle_stats *cs;
    int failed;
} scope_rest;

static int scope_rest_cb(void *ud, const char *id, const char *rule, const char *id_no, const char *case_key,
                         const char *subject, const char *status) {
    scope_rest *sr = ud;
    if (!strcmp(status, "withdrawn") || scope_has((void *)sr->sc, id_no, case_key, subject)) return 0;
    sr->cs->alerts_total++;
    if (strcmp(rule, rule_name(RULE_IDENTITY_CONFLICT))) return 0;
    alert a;
    memset(&a, 0, sizeof a);
    int found = state_alert_get(sr->ctx->st, id, &a);
    if (found != 0) {
        sr->failed = found < 0;
        return found < 0 ? -1 : 0;
    }
    for (size_t e = 0; e < a.nev && !sr->failed; e++) {
        int dup = 0;
        for (size_t p = 0; p < e; p++) dup |= !strcmp(a.ev[p].source, a.ev[e].source);
        if (!dup && state_dq_add(sr->ctx->st, a.ev[e].source, "identity_conflict", "persons", 1, sr->cs->cycle))
            sr->failed = 1;
    }
    alert_free(&a);
    return sr->failed ? -1 : 0;
}

/* Facts are loaded for matching without their raw values (most of their
 * bytes); the evidence of each alert gets them from the state store here,
 * before the alert is stored or compared with its stored version. */
static int fill_evidence_raw(gg_ctx *ctx, alert_list *al, size_t *nraw) {
    for (size_t i = 0; i < al->n; i++) {
        alert *a = &al->items[i];
        for (size_t e = 0; e < a->nev; e++) {
            alert_evidence *ev = &a->ev[e];
            fact_kind k;
            if (ev->raw_json || !ev->kind || fact_kind_parse(ev->kind, &k)) continue;
            if (state_fact_raw(ctx->st, ev->source, k, ev->ref, &ev->raw_json)) return -1;
            (*nraw)++;
        }
    }
    return 0;
}

/* Counts the records rejected this cycle whose last good version was kept. */
static int count_last_good(void *ud, const quarantine_row *r) {
    (void)r;
    (*(long *)ud)++;
    return 0;
}

/* Delivers due outbox rows only (delivery/deliver.c). */
int cycle_deliver(gg_ctx *ctx, cycle_stats *cs) { return delivery_deliver_due(ctx, cs); }

int cycle_run(gg_ctx *ctx, const cycle_opts *opts, cycle_stats *cs) {
    memset(cs, 0, sizeof *cs);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (state_cycle_begin(ctx->st, &cs->cycle)) return -1;
    gg_info("cycle", "cycle %ld started", cs->cycle);

    size_t nsrc = ctx->cfg->nsources ? ctx->cfg->nsources : 1;
    kind_status (*ks)[FK__COUNT] = calloc(nsrc, sizeof *ks);
    seen_set (*seen)[FK__COUNT] = calloc(nsrc, sizeof *seen);
    if (!ks || !seen) {
        free(ks);
        free(seen);
        return -1;
    }

    /* The digest of the last match is taken out of the store before anything
     * is written (see match_digest). */
    char digest[MARK_LEN], match_kept[MARK_LEN], interest_kept[MARK_LEN];
    int digest_same = 0, interest_same = 0;
    match_digest(ctx, digest, sizeof digest);
    match_digest_take(ctx, MATCH_KEY, digest, &digest_same, match_kept, sizeof match_kept);
    match_digest_take(ctx, INTEREST_KEY, digest, &interest_same, interest_kept, sizeof interest_kept);
    /* A cycle that will match everything keeps no touched log: a first load
     * does not fill it (a failure, logged, leaves it on; the match restarts it). */
    if (!digest_same || (opts && opts->rematch)) (void)state_touch_log_stop(ctx->st);
    long changes0 = state_facts_changes(ctx->st);
    /* What the subjects of interest derive from changes less often: a night
     * when residents only moved keeps them (state_facts_identity_changes). */
    long ident0 = state_facts_identity_changes(ctx->st);

    long since = lookups_since(ctx);
    /* Early phase 2: when the subjects of interest stored by an earlier cycle
     * stand unless phase 1 changes a fact they derive from (the identity
     * change counter: a resident who moved changes none; the conditions of
     * interest_get, short of phase 1's outcome), the payment and income streams are planned
     * with phase 1 on them, as gated jobs (app/pull.c). Their workers start
     * once every phase-1 stream but the persons' has ended with no change,
     * with the register read then (pa_gate): the same inputs the sequential
     * order would give them if phase 1 changes nothing. Their records wait
     * until every phase-1 stream has ended and phase 1 is pruned; they are
     * applied when no such fact changed, else dropped (their workers killed or
     * never started) and phase 2 runs after phase 1 as usual. An unchanged
     * night, or one when residents only moved, thus reads the big tables
     * beside the persons' stream. */
    early_phase2 early = {0};
    int use_early = 0;
    if (interest_same && ident0 >= 0 && ctx->cfg->early_phase2) {
        int newer = 0;
        if (since >= 0 && state_interest_new_each(ctx->st, since, interest_newer_cb, &newer)) newer = 1;
        if (!newer && state_interest_load(ctx->st, &early.ids, &early.cases) == 0) {
            use_early = 1;
            early.changes0 = ident0;
            gg_debug("cycle", "payment and income streams may start beside phase 1 on the stored subjects of "
                     "interest (%zu ids, %zu cases)", strmap_count(&early.ids), strmap_count(&early.cases));
        }
        if (!use_early) {
            strmap_free(&early.ids);
            strmap_free(&early.cases);
        }
    }

    /* Phase 1: the small side, then what it no longer holds is pruned so the
     * resolved set built from it is current. */
    pull_phase(ctx, opts ? opts->pull : NULL, cs->cycle, 0, NULL, NULL, NULL, cs, ks, seen, NULL,
               use_early ? &early : NULL);
    int early_done = use_early && (early.held || early.reported);
    if (use_early && !early_done) {
        /* dropped (or never asked: nothing was pulled): what their planning
         * counted for phase 2 starts over */
        for (size_t i = 0; i < nsrc; i++)
            for (int k = 0; k < FK__COUNT; k++)
                if (fact_kind_is_stream((fact_kind)k)) memset(&ks[i][k], 0, sizeof ks[i][k]);
        if (early.dropped)
            gg_info("cycle", "phase 1 changed facts: the payment and income streams begun beside it are read again "
                    "after it");
    }
    /* Pruning is housekeeping: when the state store fails (logged there) the
     * facts are pruned next cycle; a failed rollback has nothing left to undo. */
    if (!early.pruned && state_begin(ctx->st) == 0) {
        prune_facts(ctx, 0, ks, seen);
        if (state_commit(ctx->st)) (void)state_rollback(ctx->st);
    }

    /* Phase 2: payment and income rows about subjects of interest. The small
     * side loaded and resolved here is kept for the rules. */
    factset fs;
    memset(&fs, 0, sizeof fs);
    loader ld = {.ctx = ctx, .fs = &fs};
    strmap ids = {0}, cases = {0}, new_ids = {0};
    int interest_stored = 0;
    int lrc;
    ingest_register_job *reg_job = NULL;
    struct timespec i1;
    double interest_secs = 0;
    if (early_done) {
        /* Phase 2 is done (applied, or failed with the run), on the stored
         * set: as interest_get's stored path, the mark stands again. */
        ids = early.ids;
        cases = early.cases;
        memset(&early.ids, 0, sizeof early.ids);
        memset(&early.cases, 0, sizeof early.cases);
        interest_stored = 1;
        lrc = 0;
        if (early.held) (void)state_mark_set(ctx->st, MATCH_SCOPE, INTEREST_KEY, interest_kept);
        if (state_begin(ctx->st) == 0) {
            prune_facts(ctx, 1, ks, seen);
            if (state_commit(ctx->st)) (void)state_rollback(ctx->st);
        }
    } else {
        /* the register's names for phase 2's workers are read on a thread
         * of their own meanwhile (app/ingest.h): the subjects of interest
         * write no person and fork nothing */
        reg_job = ingest_register_begin(ctx->st);
        struct timespec i0;
        clock_gettime(CLOCK_MONOTONIC, &i0);
        lrc = interest_get(&ld, digest, interest_same, interest_kept, ident0, &ids, &cases, &new_ids, since,
                           &interest_stored);
        clock_gettime(CLOCK_MONOTONIC, &i1);
        interest_secs = ms_between(&i0, &i1) / 1e3;
    }
    if (use_early) {
        strmap_free(&early.ids);
        strmap_free(&early.cases);
        ingest_register_free(&early.reg);
    }
    if (early_done && early.held) {
        gg_info("cycle", "subjects of interest: %zu ids, %zu cases (stored: the small side is unchanged)",
                strmap_count(&ids), strmap_count(&cases));
        gg_info("cycle", "payment and income streams were read beside phase 1 on them");
        if (since >= 0)
            gg_info("cycle", "0 ids became of interest since cycle %ld (looked up by incremental streams)", since);
    }
    if (lrc == 0 && !early_done) {
        gg_info("cycle", "subjects of interest: %zu ids, %zu cases%s, %.2fs", strmap_count(&ids), strmap_count(&cases),
                interest_stored ? " (stored: the small side is unchanged)" : "", interest_secs);
        if (since >= 0)
            gg_info("cycle", "%zu ids became of interest since cycle %ld (looked up by incremental streams)",
                    strmap_count(&new_ids), since);
        /* The register's names for the workers' data-quality pre-check;
         * without them (logged) every named row of no interest is sent to the
         * core, which checks it against the state store: slower, same facts. */
        ingest_register reg;
        struct timespec r0, r1;
        clock_gettime(CLOCK_MONOTONIC, &r0);
        int have_reg = ingest_register_end(reg_job, &reg, ctx->st) == 0;
        reg_job = NULL;
        clock_gettime(CLOCK_MONOTONIC, &r1);
        gg_debug("cycle", "register for the phase-2 workers: %.0f ms after the subjects of interest",
                 ms_between(&r0, &r1));
        if (!have_reg) {
            gg_warn("cycle", "register names not loaded; workers send every named payment/income row");
            reg.all = 1;
        }
        pull_phase(ctx, opts ? opts->pull : NULL, cs->cycle, 1, &ids, &cases, &new_ids, cs, ks, seen, &reg, NULL);
        ingest_register_free(&reg);
        if (state_begin(ctx->st) == 0) {
            prune_facts(ctx, 1, ks, seen); /* as in phase 1 */
            if (state_commit(ctx->st)) (void)state_rollback(ctx->st);
        }
    }
    ingest_register_cancel(reg_job); /* not ended: no phase 2 */
    strmap_free(&ids);
    strmap_free(&cases);
    strmap_free(&new_ids);
    for (size_t i = 0; i < nsrc; i++)
        for (int k = 0; k < FK__COUNT; k++) seen_free(&seen[i][k]);
    free(seen);
    free(ks);
    /* A new store's first pulls are written (STATE_OPEN_DEFER_WAL); the
     * match, the delivery and every later cycle use the WAL. A failure
     * (logged) leaves the rollback journal until the next cycle. */
    (void)state_wal_settle(ctx->st);
    long changes1 = state_facts_changes(ctx->st);
    int unchanged = digest_same && changes0 >= 0 && changes1 == changes0 && lrc == 0;
    /* A record rejected with its last good version kept changes no fact, but
     * the lifecycle step names the alerts resting on it: such a cycle matches. */
    long last_good = 0;
    if (digest_same && state_quarantine_last_good_each(ctx->st, cs->cycle, count_last_good, &last_good))
        last_good = 1; /* unknown: as if some */
    if (last_good) unchanged = 0;
    /* With the touched log on (store/touched.c), what changed since the last
     * match is what it holds: this cycle's writes and those of cycles that
     * only pulled before it, which put the mark back for it. */
    int log_on = digest_same ? state_touch_log_on(ctx->st) : 0;
    long touched = log_on == 1 ? state_touched_count(ctx->st) : -1;
    if (log_on == 1 && touched != 0) unchanged = 0;
    if (opts && opts->no_match && digest_same && !last_good && lrc == 0 && (unchanged || touched > 0)) {
        /* nothing changed, or the log holds what did: the last match still
         * stands for the rest (a failure is logged by the state store; the
         * next cycle then matches everything) */
        (void)state_mark_set(ctx->st, MATCH_SCOPE, MATCH_KEY, match_kept);
    }
    if (opts && opts->no_match) { /* pull only: matching is the run loop's to schedule */
        loader_free(&ld);
        factset_free(&fs);
        goto deliver;
    }
    if (unchanged && !(opts && opts->rematch)) {
        /* Identity and rules would produce the alerts already stored: only the
         * time-driven overdue escalation runs. */
        loader_free(&ld);
        factset_free(&fs);
        cs->match_skipped = 1;
        gg_info("cycle", "matching not needed: no fact, setting or program changed since the last match");
        if (state_begin(ctx->st)) return -1;
        if (delivery_escalate_overdue(ctx, cs)) {
            gg_error("cycle", "cycle %ld: escalating overdue alerts failed; retried next cycle", cs->cycle);
            (void)state_rollback(ctx->st); /* its own failure is logged by the state store */
        } else if (state_commit(ctx->st)) {
            (void)state_rollback(ctx->st);
        }
        (void)state_mark_set(ctx->st, MATCH_SCOPE, MATCH_KEY, match_kept); /* as above */
        goto deliver;
    }

    /* Identity and rules over what the state store holds: the small side is
     * already loaded (unless the subjects of interest were read from the
     * store: loaded now, the same facts in the same order); add the kept
     * payments and incomes, the verdicts and the persons they name. */
    struct timespec m0, m1, m2, m3, m4;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    /* Only the subjects the touched log names, when the last match stands
     * for the rest (see "matching only the subjects that changed"). */
    match_scope sc;
    memset(&sc, 0, sizeof sc);
    int scoped = 0;
    if (lrc == 0 && digest_same && !(opts && opts->rematch) && !last_good && log_on == 1) {
        long nt = touched, max = ctx->cfg->match_scope_max;
        scoped = nt >= 0 && nt <= max;
        if (nt > max)
            gg_info("cycle", "matching every subject: %ld touched since the last match (match_scope_max %ld)", nt,
                    max);
    }
    /* The loads and the evidence read in one read transaction (a failure to
     * open it, logged, leaves each statement its own). Meanwhile the touched
     * log's index, when the store has none yet, is built beside it on a
     * second connection; the next write waits for it (store/indexbuild.c). */
    int reading = state_read_begin(ctx->st) == 0;
    if (reading) (void)state_index_build_start(ctx->st); /* a failure (logged): built later */
    if (scoped) {
        loader_free(&ld);
        factset_free(&fs);
        memset(&fs, 0, sizeof fs);
        ld = (loader){.ctx = ctx, .fs = &fs};
        int src = state_touched_each(ctx->st, scope_touched_cb, &sc) || sc.failed ? -1 : scope_load(&ld, &sc);
        if (src < 0) lrc = -1;
        if (src == 1) {
            gg_info("cycle", "matching every subject: the subjects touched since the last match close over more "
                    "than %ld ids (twice match_scope_max)", 2 * ctx->cfg->match_scope_max);
            loader_free(&ld);
            factset_free(&fs);
            memset(&fs, 0, sizeof fs);
            ld = (loader){.ctx = ctx, .fs = &fs};
            scoped = 0;
            interest_stored = 1; /* the small side is loaded below */
        }
    }
    size_t from = fs.nfacts, nstream = 0;
    if (!scoped) {
        if (lrc == 0 && interest_stored && load_small_side(&ld)) lrc = -1;
        from = fs.nfacts;
        clock_gettime(CLOCK_MONOTONIC, &m1);
        static const fact_kind rest[] = {FK_PAYMENT, FK_INCOME, FK_VERDICT};
        for (size_t r = 0; r < sizeof rest / sizeof rest[0] && lrc == 0; r++)
            if (state_facts_each(ctx->st, rest[r], load_fact_cb, &ld)) lrc = -1;
        clock_gettime(CLOCK_MONOTONIC, &m2);
        nstream = fs.nfacts - from;
        if (lrc == 0 && load_persons(&ld, from, 0)) lrc = -1;
    } else {
        clock_gettime(CLOCK_MONOTONIC, &m1);
        m2 = m1;
    }
    clock_gettime(CLOCK_MONOTONIC, &m3);
    loader_free(&ld);
    identity_stats ist;
    if (lrc == 0) {
        order_facts(&fs);
        if (identity_resolve(&fs, &ist)) lrc = -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &m4);
    if (lrc == 0 && scoped)
        gg_info("cycle", "matching the subjects changed since the last match: %zu touched, %zu ids, %zu cases, "
                "%zu facts loaded in %.0f ms, identity %.0f ms; the other alerts stand",
                sc.touched, strmap_count(&sc.ids), strmap_count(&sc.cases), fs.nfacts, ms_between(&m0, &m3),
                ms_between(&m3, &m4));
    else if (lrc == 0)
        gg_debug("cycle", "match load: small side %zu facts %.0f ms%s, %zu payment/income/verdict facts %.0f ms, "
                 "their persons %zu facts %.0f ms, order and identity %.0f ms", from, ms_between(&m0, &m1),
                 interest_stored ? "" : " (kept from the subjects of interest)", nstream, ms_between(&m1, &m2),
                 fs.nfacts - from - nstream, ms_between(&m2, &m3), ms_between(&m3, &m4));
    if (lrc) {
        if (reading) (void)state_read_end(ctx->st); /* a failure is logged; nothing was written */
        factset_free(&fs);
        scope_free(&sc);
        return -1;
    }
    gg_info("identity", "%zu facts, %zu persons, %zu linked by id, %zu by name+birth date, %zu ambiguous, %zu name conflicts",
            fs.nfacts, ist.persons, ist.linked_high, ist.linked_low, ist.ambiguous, ist.name_conflicts);
    rules_config rc = ctx->cfg->rules;
    rc.today = ctx->today;
    alert_list al = {0};
    struct timespec a0, a1, a2, a3, a4;
    clock_gettime(CLOCK_MONOTONIC, &a0);
    int matched = rules_run(&fs, &rc, &al) == 0;
    if (matched && scoped) scope_filter(&sc, &al);
    clock_gettime(CLOCK_MONOTONIC, &a1);
    size_t nraw = 0;
    matched = matched && fill_evidence_raw(ctx, &al, &nraw) == 0;
    clock_gettime(CLOCK_MONOTONIC, &a2);
    if (reading) (void)state_read_end(ctx->st); /* as above */
    if (!matched) {
        alert_list_free(&al);
        factset_free(&fs);
        scope_free(&sc);
        return -1;
    }

    /* Alerts: upsert (stable ids), route new/changed ones to the outbox. */
    if (state_begin(ctx->st)) {
        alert_list_free(&al);
        factset_free(&fs);
        scope_free(&sc);
        return -1;
    }
    /* Any state store failure here fails the whole transaction (an alert not
     * stored or not queued would be dropped silently otherwise): rolled back,
     * the same alerts are produced and routed again next cycle. */
    int failed = delivery_apply_verdicts(ctx, &fs, cs) != 0;
    for (size_t i = 0; i < al.n && !failed; i++) {
        alert *a = &al.items[i];
        alert_change ch;
        if (state_alert_upsert(ctx->st, a, &ch)) {
            failed = 1;
            break;
        }
        cs->alerts_total++;
        if (ch == ALERT_CREATED) cs->alerts_new++;
        if (ch == ALERT_UPDATED) cs->alerts_updated++;
        if (ch != ALERT_UNCHANGED) {
            /* its explanation made now, from the evidence in memory, for
             * every delivery of this version (one that cannot be made is
             * made at delivery, from the stored evidence) */
            char *expl = alert_explain_zh(a, gg_ctx_label, ctx);
            if (expl && state_alert_explanation_set(ctx->st, a->id, a->version, expl)) failed = 1;
            free(expl);
            if (!failed && delivery_route_alert(ctx, a, cs)) failed = 1;
        }
        if (a->rule == RULE_IDENTITY_CONFLICT) {
            /* one count per source involved in the conflict */
            for (size_t e = 0; e < a->nev; e++) {
                int dup = 0;
                for (size_t p = 0; p < e; p++) dup |= !strcmp(a->ev[p].source, a->ev[e].source);
                if (!dup && state_dq_add(ctx->st, a->ev[e].source, "identity_conflict", "persons", 1, cs->cycle))
                    failed = 1;
            }
        }
    }
    alert_scope scope = {.in_scope = scope_has, .ud = &sc};
    if (!failed && delivery_lifecycle_update(ctx, &al, scoped ? &scope : NULL, cs)) failed = 1;
    if (!failed && scoped) {
        scope_rest sr = {.ctx = ctx, .sc = &sc, .cs = cs};
        if (state_alerts_subjects_each(ctx->st, scope_rest_cb, &sr) || sr.failed) failed = 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a3);
    /* From here the touched log holds what the next match must recompute,
     * and the low links' candidates are this match's. */
    if (!failed) {
        strmap pairs = {0};
        if (low_link_pairs(&fs, &pairs) || state_low_links_replace(ctx->st, &pairs) ||
            state_touch_log_restart(ctx->st))
            failed = 1;
        strmap_free(&pairs);
    }
    if (failed) {
        gg_error("cycle", "cycle %ld: storing or queueing alerts failed; the alerts step is rolled back and runs "
                 "again next cycle", cs->cycle);
        (void)state_rollback(ctx->st); /* its own failure is logged by the state store */
        alert_list_free(&al);
        factset_free(&fs);
        scope_free(&sc);
        return -1;
    }
    if (state_commit(ctx->st)) {
        alert_list_free(&al);
        factset_free(&fs);
        scope_free(&sc);
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a4);
    gg_debug("cycle", "match: rules %.0f ms, %zu alerts; evidence: %zu records' raw values %.0f ms; alerts stored and "
             "routed %.0f ms; touched log and commit %.0f ms", ms_between(&a0, &a1), al.n, nraw, ms_between(&a1, &a2),
             ms_between(&a2, &a3), ms_between(&a3, &a4));
    alert_list_free(&al);
    /* This match stands for these facts: the next cycle that changes none
     * skips matching, in the match's window of days. Not stored (logged by
     * the state store): it matches. */
    if (digest[0]) {
        char mark[MARK_LEN];
        if (scoped)
            mark_value_scoped(ctx, digest, match_kept, fs.facts, fs.nfacts, mark, sizeof mark);
        else
            mark_value(ctx, digest, fs.facts, fs.nfacts, 1, mark, sizeof mark);
        if (mark[0]) (void)state_mark_set(ctx->st, MATCH_SCOPE, MATCH_KEY, mark);
    }
    factset_free(&fs);
    scope_free(&sc);

deliver:
    /* whatever the match's path: the index build ended (the push workers
     * fork after); a failure is logged */
    (void)state_index_build_wait(ctx->st);
    if (!opts || opts->deliver) cycle_deliver(ctx, cs);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    cs->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    char summary[600];
    snprintf(summary, sizeof summary,
             "{\"facts_kept\":%ld,\"rows_skipped\":%ld,\"rejected\":%ld,\"invalid_ids\":%ld,\"streams_ok\":%ld,"
             "\"streams_failed\":%ld,\"alerts\":%ld,\"alerts_new\":%ld,\"alerts_updated\":%ld,\"delivered\":%ld,"
             "\"delivery_failed\":%ld,\"verdicts\":%ld,\"withdrawn\":%ld,\"overdue\":%ld,\"seconds\":%.3f}",
             cs->facts_kept, cs->rows_skipped, cs->rejected, cs->invalid_ids, cs->streams_ok, cs->streams_failed,
             cs->alerts_total, cs->alerts_new, cs->alerts_updated, cs->delivered, cs->delivery_failed,
             cs->verdicts_applied, cs->alerts_withdrawn, cs->alerts_overdue, cs->seconds);
    if (state_cycle_end(ctx->st, cs->cycle, summary)) {
        gg_error("cycle", "cycle %ld: cannot record its end in the state store", cs->cycle);
        return 1;
    }
    gg_info("cycle", "cycle %ld done: %s", cs->cycle, summary);
    return cs->streams_failed || cs->delivery_failed ? 1 : 0;
}
