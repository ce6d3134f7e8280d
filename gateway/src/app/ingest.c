/* ingest.c - what becomes of each record a stream delivers (the per-record
 * callbacks of a stream, called by the cycle's pull consumer with the records
 * a worker process sent, or by an adapter's sink directly; a kept record the
 * worker found stored unchanged comes as its ref hash, ingest_seen): invalid ids are quarantined for
 * every row; payment and income rows are kept only when their id or case is
 * of interest, or when they disagree with their id's person facts (data
 * quality over every row); a kept record is written only when its content
 * hash changed; the refs kept are noted for pruning. See docs/architecture.md
 * "Fact store and the interest set". */
#include "app/ingest.h"
#include "app/pull.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"

#define MAX_LOGGED_REJECTS 20

/* Notes ref hash h kept with content hash ch (0: not known). 0, or -1 (out
 * of memory, logged). */
static int seen_add(seen_set *ss, uint64_t h, uint64_t ch) {
    if (ss->n == ss->cap) {
        size_t ncap = ss->cap ? ss->cap * 2 : 256;
        uint64_t *nh = realloc(ss->h, ncap * sizeof *nh);
        if (!nh) {
            gg_error("ingest", "out of memory noting the records seen");
            return -1;
        }
        ss->h = nh;
        if (!ss->sorted && (ss->n == 0 || ss->ch)) {
            uint64_t *nc = realloc(ss->ch, ncap * sizeof *nc);
            if (!nc) { /* the pairs are only a hash set's: none is written */
                free(ss->ch);
                ss->sorted = 1;
            }
            ss->ch = nc;
        }
        ss->cap = ncap;
    }
    if (ss->ch) ss->ch[ss->n] = ch;
    ss->h[ss->n++] = h;
    return 0;
}

/* Records an invalid id in the quarantine and the data-quality counts. */
static void quarantine_invalid_id(ingest_stream *p, const char *stream, const fact *f) {
    char masked[40], reason[160];
    ident_mask(f->id_clean[0] ? f->id_clean : "", masked, sizeof masked);
    snprintf(reason, sizeof reason, "invalid id_no: %s", ident_status_str(f->id_status));
    /* The raw values come with the fact from the worker; a fact handed over
     * by the adapter directly still has its row there. */
    char *built = f->raw_json ? NULL : adapter_raw_json(p->ad);
    if (state_quarantine_add_kind(p->ctx->st, QK_INVALID_ID, p->source, stream, f->ref, reason,
                                  f->raw_json ? f->raw_json : built, p->cycle))
        p->failed = 1;
    free(built);
    if (state_dq_add(p->ctx->st, p->source, "invalid_id", ident_status_code(f->id_status), 1, p->cycle))
        p->failed = 1;
    gg_debug(p->source, "stream %s, record %s: %s (%s)", stream, f->ref, reason, masked);
    p->invalid++;
}

/* *conflict 1 when a payment/income row with a valid id states a birth date
 * other than its id's, or a name none of the id's person facts has. The name
 * as written is compared first; OpenCC folds it only when it differs. */
static int row_conflicts(ingest_stream *p, fact *f, int *conflict) {
    *conflict = FACT_HAS(f, FF_BIRTH_DATE) && f->f[FF_BIRTH_DATE].i != ident_birth_date(f->id_norm);
    if (*conflict || !FACT_HAS(f, FF_NAME) || !f->f[FF_NAME].s || !f->f[FF_NAME].s[0]) return 0;
    uint64_t nh = state_ref_hash(f->f[FF_NAME].s);
    if (p->dq_id[0] && nh == p->dq_name && strcmp(p->dq_id, f->id_norm) == 0) {
        *conflict = p->dq_conflict;
        return 0;
    }
    int persons, same;
    if (state_person_name_check(p->ctx->st, f->id_norm, f->f[FF_NAME].s, NULL, &persons, &same)) return -1;
    if (persons && !same) {
        if (!f->name_norm) fact_normalize_name(f, p->ctx->nn); /* unless the worker did */
        if (f->name_norm &&
            state_person_name_check(p->ctx->st, f->id_norm, f->f[FF_NAME].s, f->name_norm, &persons, &same))
            return -1;
        *conflict = f->name_norm && persons && !same;
    }
    memcpy(p->dq_id, f->id_norm, sizeof p->dq_id);
    p->dq_name = nh;
    p->dq_conflict = *conflict;
    return 0;
}

int ingest_fact(void *ud, const char *stream, fact *f) {
    ingest_stream *p = ud;
    /* The id alone first (cheap): folding the name (OpenCC) is done only for
     * facts that are written, so rows not of interest and unchanged facts
     * never pay for it. A worker reads the id of every fact it sends, on
     * this cycle's day (app/pull.c child_fact: flt.today is ctx->today), and
     * the channel carries what it read (worker/channel.c, FF_HAS_ID): only
     * a fact nobody read (ID_EMPTY, as fact_init leaves it; an absent or
     * blank id reads the same again) is read here. */
    if (f->id_status == ID_EMPTY || (f->id_status == ID_OK && !f->id_norm[0])) fact_normalize_id(f, p->ctx->today);
    if (f->id_status != ID_OK && f->id_status != ID_EMPTY) quarantine_invalid_id(p, stream, f);
    if (p->phase_stream) {
        /* Most payment and income rows are not of interest. */
        int keep = f->id_status == ID_OK && strmap_has(p->interest_ids, f->id_norm);
        if (!keep && FACT_HAS(f, FF_CASE) && f->f[FF_CASE].s) keep = strmap_has(p->interest_cases, f->f[FF_CASE].s);
        if (!keep) {
            /* Data quality covers every row: a row of no interest whose stated
             * birth date or name disagrees with the id is kept after all, so the
             * identity_conflict rule reports it with its evidence. */
            int conflict = 0;
            if (f->id_status == ID_OK && row_conflicts(p, f, &conflict)) {
                p->failed = 1;
                return 1;
            }
            if (!conflict) {
                p->skipped++;
                return 0;
            }
        }
    }
    if (seen_add(p->seen, state_ref_hash(f->ref), 0)) {
        p->failed = 1;
        return 1;
    }
    size_t seen_at = p->seen->n - 1; /* its content hash, once known */
    /* The raw values (evidence) come with each fact a worker sends, and a
     * row's raw hash (model/fact.h), which the content hash covers. A fact
     * handed over by the adapter directly with a raw hash gets its raw JSON
     * only when it is written; one without (an HTTP item, an emitted table)
     * is hashed over its raw JSON's text. */
    if (!f->raw_json && !f->raw_hash && p->ad) f->raw_hash = adapter_raw_hash(p->ad);
    if (!f->raw_json && !f->raw_hash) f->raw_json = adapter_raw_json(p->ad);
    uint64_t hash = state_fact_hash(f), stored = 0;
    int found = 0;
    if (p->seen->ch) p->seen->ch[seen_at] = hash; /* kept unchanged, or written so below */
    if (!p->fresh && state_fact_stored_hash(p->ctx->st, f, &stored, &found)) {
        p->failed = 1;
        return 1;
    }
    if (found && stored == hash) {
        p->kept++;
        p->unchanged++;
        return 0;
    }
    /* A worker folds the name of every fact it sends (app/pull.c): the core
     * folds only a fact handed over without it. */
    if (!f->name_norm || !FACT_HAS(f, FF_NAME)) fact_normalize_name(f, p->ctx->nn); /* id read on entry */
    if (!f->raw_json) f->raw_json = adapter_raw_json(p->ad);
    if ((found ? state_fact_put_stored : state_fact_put_hashed)(p->ctx->st, f, p->cycle, hash)) {
        p->failed = 1;
        return 1;
    }
    p->kept++;
    return 0;
}

int ingest_seen(ingest_stream *p, const uint64_t *ref_hashes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* unchanged: stored with the hash the worker compared with */
        const uint64_t *slot = p->known ? pull_known_find(p->known, ref_hashes[i]) : NULL;
        if (seen_add(p->seen, ref_hashes[i], slot ? slot[1] : 0)) {
            p->failed = 1;
            return 1;
        }
    }
    p->kept += (long)n;
    p->unchanged += (long)n;
    p->by_worker += (long)n;
    return 0;
}

int ingest_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw) {
    ingest_stream *p = ud;
    /* A record rejected now whose earlier version is stored (a bad
     * correction typed over a good record) is not gone: its last good fact is
     * kept (seen this cycle, so not pruned), and the alerts resting on it are
     * neither withdrawn nor changed. Only a record gone from the source or
     * revoked withdraws them. */
    int kept = 0;
    if (ref && *ref && state_quarantine_keep_fact(p->ctx->st, p->source, p->kind, ref, p->cycle, &kept)) {
        p->failed = 1;
        return 1;
    }
    if (kept && seen_add(p->seen, state_ref_hash(ref), 0)) {
        p->failed = 1;
        return 1;
    }
    /* The quarantine keeps every reject; the log shows the first few of a
     * stream so that a broken mapping does not flood it. */
    if (p->rejected < MAX_LOGGED_REJECTS)
        gg_warn(p->source, "stream %s, record %s: rejected%s: %s", stream, ref ? ref : "?",
                kept ? " this cycle, its last good version is kept" : "", reason);
    else if (p->rejected == MAX_LOGGED_REJECTS)
        gg_warn(p->source, "stream %s: more rejects are quarantined without logging them (gridgate quarantine list)",
                stream);
    if (state_quarantine_add_kind(p->ctx->st, kept ? QK_LAST_GOOD_KEPT : QK_REJECTED, p->source, stream,
                                  ref ? ref : "", reason, raw, p->cycle)) {
        p->failed = 1;
        return 1;
    }
    const char *metric = strstr(reason, "not valid") && strstr(reason, "text") ? "encoding_error" : "rejected";
    if (state_dq_add(p->ctx->st, p->source, metric, stream, 1, p->cycle)) {
        p->failed = 1;
        return 1;
    }
    p->rejected++;
    return 0;
}

void ingest_stream_begin(ingest_stream *p, gg_ctx *ctx, adapter *ad, const char *source, fact_kind kind,
                         long cycle, int phase_stream, strmap *interest_ids, strmap *interest_cases, seen_set *seen) {
    memset(p, 0, sizeof *p);
    p->fresh = state_fact_any_source(ctx->st, source, kind) == 0; /* the first read of a source */
    p->ctx = ctx;
    p->ad = ad;
    p->source = source;
    p->kind = kind;
    p->cycle = cycle;
    p->phase_stream = phase_stream;
    p->interest_ids = interest_ids;
    p->interest_cases = interest_cases;
    p->seen = seen;
    p->seen0 = seen->n;
}

void ingest_stream_end(ingest_stream *p, int ok) {
    /* rolled back: its records were not kept (a stream that never began has no seen set) */
    if (!ok && p->seen) p->seen->n = p->seen0;
}

/* ---- the register's names for the worker's pre-check ----------------------- */

/* The register's own hashes, never stored (so XXH3, not the stored FNV-1a):
 * of an id, and of an id (its hash) with the FNV-1a hash of a name as the
 * store keeps it (state_ref_hash). */
static uint64_t id_hash(const char *id_norm) { return gg_hash64_update(GG_HASH64_SEED, id_norm, strlen(id_norm)); }

static uint64_t pair_hash(uint64_t idh, uint64_t name_hash) {
    return gg_hash64_update(idh, &name_hash, sizeof name_hash);
}

static int push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v) {
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        uint64_t *na = realloc(*a, ncap * sizeof *na);
        if (!na) return -1;
        *a = na;
        *cap = ncap;
    }
    (*a)[(*n)++] = v;
    return 0;
}

typedef struct reg_load {
    uint64_t *ids, *pairs; /* as read, duplicates included */
    size_t nids, npairs, capids, cappairs;
    int oom;
} reg_load;

static int reg_add(void *ud, const char *id_norm, uint64_t name_hash) {
    reg_load *l = ud;
    uint64_t idh = id_hash(id_norm);
    if (push_u64(&l->ids, &l->nids, &l->capids, idh) ||
        push_u64(&l->pairs, &l->npairs, &l->cappairs, pair_hash(idh, name_hash))) {
        l->oom = 1;
        return 1;
    }
    return 0;
}

/* The register written under the persons' generation (store/register.c):
 * 1 mapped into r, 0 none stands (or it cannot be read: the walk builds it). */
static int register_cached(ingest_register *r, state *st, long gen) {
    if (gen < 0 || state_register_cache_get(st, gen, &r->map) != 1) return 0;
    if (hashset_view(&r->ids, r->map.ids, r->map.nids) || hashset_view(&r->pairs, r->map.pairs, r->map.npairs)) {
        ingest_register_free(r);
        return 0;
    }
    return 1;
}

/* The two sets from the hashes read (taken over: l's arrays are the sets'
 * or freed). 0, or -1 out of memory (r is then empty). Logs nothing: it runs
 * on the register's thread too. */
static int register_build(ingest_register *r, reg_load *l) {
    int rc = 0;
    if (l->nids > UINT32_MAX || l->npairs > UINT32_MAX || hashset_build(&r->ids, l->ids, l->nids))
        rc = -1;
    else
        l->ids = NULL; /* the set's now (freed by it on failure too) */
    if (rc == 0 && hashset_build(&r->pairs, l->pairs, l->npairs)) rc = -1;
    if (rc == 0) l->pairs = NULL;
    free(l->ids);
    free(l->pairs);
    l->ids = l->pairs = NULL;
    if (rc) {
        hashset_free(&r->ids);
        hashset_free(&r->pairs);
    }
    return rc;
}

/* Writes the cache under gen when no transaction is open (inside a stream's
 * transaction the generation may still be undone) and logs the load. */
static void register_keep(ingest_register *r, state *st, long gen, const char *how) {
    int kept = gen >= 0 && !state_in_transaction(st) &&
               state_register_cache_put(st, gen, r->ids.h, r->ids.n, r->pairs.h, r->pairs.n) == 0;
    gg_debug("ingest", "register: %zu ids, %zu names read from the persons%s%s", r->ids.n, r->pairs.n, how,
             kept ? ", cached for the next cycles" : "");
}

int ingest_register_load(ingest_register *r, state *st) {
    memset(r, 0, sizeof *r);
    long gen = state_person_gen(st);
    if (register_cached(r, st, gen)) {
        gg_debug("ingest", "register: %zu ids, %zu names from its cache (the persons' generation %ld)", r->ids.n,
                 r->pairs.n, gen);
        return 0;
    }
    reg_load l = {0};
    if (state_person_name_hashes_each(st, reg_add, &l) || l.oom) {
        if (l.oom) gg_error("ingest", "out of memory loading the register's name hashes");
        free(l.ids);
        free(l.pairs);
        ingest_register_free(r);
        return -1;
    }
    if (register_build(r, &l)) {
        gg_error("ingest", "out of memory building the register's name sets");
        ingest_register_free(r);
        return -1;
    }
    register_keep(r, st, gen, "");
    return 0;
}

/* ---- the register read beside the core ----------------------------------- */

struct ingest_register_job {
    long gen;               /* the persons' generation when the job began */
    int how;                /* JOB_CACHED, JOB_THREAD, or JOB_CORE (ingest_register_end reads) */
    state_reader *reader;   /* owned until the join (JOB_THREAD) */
    pthread_t thread;
    /* the thread's, read after the join */
    ingest_register r;
    int rc;                 /* 0, -1 the read failed, -2 out of memory */
    char err[256];          /* why the read failed, kept at the join */
};

enum { JOB_CORE, JOB_CACHED, JOB_THREAD };

static void *register_thread(void *ud) {
    ingest_register_job *job = ud;
    reg_load l = {0};
    int rc = state_reader_person_name_hashes_each(job->reader, reg_add, &l);
    if (l.oom)
        job->rc = -2;
    else if (rc != 0)
        job->rc = -1;
    else
        job->rc = register_build(&job->r, &l) ? -2 : 0;
    free(l.ids);
    free(l.pairs);
    return NULL;
}

ingest_register_job *ingest_register_begin(state *st) {
    ingest_register_job *job = calloc(1, sizeof *job);
    if (!job) return NULL; /* ingest_register_end(NULL) reads on the core */
    job->gen = state_person_gen(st);
    if (register_cached(&job->r, st, job->gen)) {
        job->how = JOB_CACHED;
        return job;
    }
    char err[256] = "";
    job->reader = state_reader_open(st, err, sizeof err);
    if (!job->reader) {
        gg_debug("ingest", "register: %s; read on the core after the subjects of interest", err);
        return job;
    }
    int rc = pthread_create(&job->thread, NULL, register_thread, job);
    if (rc != 0) {
        gg_debug("ingest", "register: no thread (%s); read on the core after the subjects of interest",
                 strerror(rc));
        state_reader_close(job->reader);
        job->reader = NULL;
        return job;
    }
    job->how = JOB_THREAD;
    return job;
}

/* Joins the thread (if any) and closes the reader; the result stays in job. */
static void register_job_join(ingest_register_job *job) {
    if (job->how != JOB_THREAD) return;
    pthread_join(job->thread, NULL);
    snprintf(job->err, sizeof job->err, "%s", job->rc == -2 ? "out of memory" : state_reader_error(job->reader));
    state_reader_close(job->reader);
    job->reader = NULL;
    job->how = JOB_CORE;
}

int ingest_register_end(ingest_register_job *job, ingest_register *r, state *st) {
    memset(r, 0, sizeof *r);
    if (!job) return ingest_register_load(r, st);
    int how = job->how;
    register_job_join(job);
    long gen = how == JOB_CORE ? -1 : state_person_gen(st);
    if (how == JOB_CACHED && gen != job->gen) { /* persons written since it was mapped */
        gg_debug("ingest", "register: the persons changed since its cache was mapped; read again");
        ingest_register_free(&job->r);
        how = JOB_CORE;
    }
    if (how == JOB_CACHED) {
        *r = job->r;
        gg_debug("ingest", "register: %zu ids, %zu names from its cache (the persons' generation %ld)", r->ids.n,
                 r->pairs.n, job->gen);
        free(job);
        return 0;
    }
    if (how == JOB_THREAD) {
        if (job->rc == 0 && gen == job->gen) {
            *r = job->r;
            register_keep(r, st, gen, " beside the core");
            free(job);
            return 0;
        }
        if (job->rc == 0)
            gg_debug("ingest", "register: the persons changed while it was read beside the core; read again");
        else
            gg_warn("ingest", "register: the read beside the core failed (%s); read again on the core", job->err);
        ingest_register_free(&job->r);
    }
    free(job);
    return ingest_register_load(r, st);
}

void ingest_register_cancel(ingest_register_job *job) {
    if (!job) return;
    register_job_join(job);
    ingest_register_free(&job->r);
    free(job);
}

void ingest_register_free(ingest_register *r) {
    hashset_free(&r->ids);
    hashset_free(&r->pairs);
    state_register_map_release(&r->map);
    memset(r, 0, sizeof *r);
}

int ingest_register_may_conflict(const ingest_register *r, const char *id18, const fact *f) {
    /* the same tests as row_conflicts(), short of folding the name */
    if (FACT_HAS(f, FF_BIRTH_DATE) && f->f[FF_BIRTH_DATE].i != ident_birth_date(id18)) return 1;
    const char *name = FACT_HAS(f, FF_NAME) ? f->f[FF_NAME].s : NULL;
    if (!name || !name[0] || !r) return 0;
    if (r->all) return 1;
    if (!r->ids.dir || !r->pairs.dir) return 0; /* an empty register */
    uint64_t idh = id_hash(id18), ph = pair_hash(idh, state_ref_hash(name));
    __builtin_prefetch(&r->ids.dir[idh >> r->ids.shift]);
    __builtin_prefetch(&r->pairs.dir[ph >> r->pairs.shift]);
    uint32_t i0, i1, p0, p1;
    hashset_bucket(&r->ids, idh, &i0, &i1);
    hashset_bucket(&r->pairs, ph, &p0, &p1);
    if (!hashset_in(&r->ids, idh, i0, i1)) return 0; /* no person: nothing to disagree with */
    return !hashset_in(&r->pairs, ph, p0, p1);
}

void seen_sort(seen_set *ss) {
    free(ss->ch);
    ss->ch = NULL;
    ss->sorted = 1;
    ss->n = hashset_sort_unique(ss->h, ss->n);
}

uint64_t *seen_pairs(const seen_set *ss, size_t *n, int *ok) {
    *n = 0;
    *ok = ss->n == 0 || (ss->ch && !ss->sorted);
    if (!*ok || ss->n == 0) return NULL;
    uint64_t *a = malloc(ss->n * 2 * sizeof *a);
    if (!a) {
        *ok = 0;
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < ss->n; i++) {
        if (!ss->ch[i]) continue; /* not known: left out, such a record travels whole */
        a[2 * m] = ss->h[i];
        a[2 * m + 1] = ss->ch[i];
        m++;
    }
    *n = m;
    return a;
}

void seen_free(seen_set *ss) {
    free(ss->h);
    free(ss->ch);
    memset(ss, 0, sizeof *ss);
}
