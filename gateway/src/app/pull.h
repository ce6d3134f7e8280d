/* pull.h - pulling sources in worker processes (worker/worker.h) and handing
 * their streams to the core one stream at a time.
 *
 * Each job is one worker of a source (a fork of the daemon, sandboxed, with
 * its own limits): it runs its planned streams through the adapter runtime,
 * one after the other, and sends facts over the channel. app/cycle.c gives a
 * source one job per kind of fact of its streams (capped by its max_workers),
 * so a source's kinds are pulled concurrently; the streams of one kind are
 * always in one job (they share its pull_known table, below). On the core side pull_run() serializes the
 * streams of all workers for the single writer of the state store. A stream
 * takes the free writer once its queue holds its end; or, dense, once it
 * holds PULL_WRITER_BACKLOG bytes come at PULL_WRITER_DENSE bytes a second or
 * faster (the biggest such queue); or, sparse, only when no other worker may
 * still want the writer. It owns the writer until its STREAM_END: a sparse
 * stream (a few kept rows among millions read, the pension table) would hold
 * it mostly idle, while a dense one that has arrived (the civil payments)
 * waited behind it for its whole read. Frames of other workers are kept meanwhile
 * as their raw channel bytes (in memory up to PULL_MEM_BOUND in all, then in
 * an unlinked 0600 spool file in spool_dir) and replayed, in order, when
 * their stream takes the writer. A query blocked at the source thus holds
 * nothing.
 *
 * The consumer (app/cycle.c) sees, per stream: begin, fact/reject..., end;
 * end comes exactly once for every planned stream, also for streams whose
 * worker died before or during them (begun = 0 or ok = 0 with the reason).
 *
 * Unchanged records stop at the worker: before the fork the core loads, per
 * (source, kind) pulled, the stored content hash of every fact (pull_known);
 * a worker whose row hashes (state_fact_hash, the core's function) to what is
 * stored, with a valid or no id, and that the core keeps for certain, sends
 * only its ref hash (a SEEN frame); the consumer's `seen` notes it kept and
 * unchanged. Every other row travels as a FACT, with its name folded by the
 * worker.
 *
 * Row memos: rows read before are known by their row hash (adapter_row_hash,
 * the values as the source sent them, before any conversion or mapping). A
 * worker pulling a full read of an SQL/ODBC stream mapped in C alone notes,
 * for every row it maps, an entry: in phase 2 the row hash of a row it drops
 * as of no interest with a valid or no id and agreeing with the register; in
 * phase 1 (row hash, ref hash, content hash) of a kept row with a valid or no
 * id. It sends them at the stream's end (MEMO frames) with a token, the hash
 * of everything else the entry depends on: the settings (those the match's
 * digest takes, app/config.h match_hash), the adapter file, the program, the
 * source's and stream's names (pull_job.memo_salt) and, in phase 2, the
 * subjects of interest and the register's names (pull_filter_digest). The
 * core keeps them per stream in the stream's transaction
 * (state_row_memo_append). The next cycle's worker, when its token is the
 * stored one, takes a row whose hash has an entry without converting or
 * mapping it: in phase 2 it is passed over (the same bytes
 * under the same inputs reach the same decision); in phase 1 it goes as a
 * SEEN when the stored fact of the entry's ref still has the entry's content
 * hash (pull_known), else it is mapped. Entries are kept in the order the
 * rows came, so the worker compares each row with the next stored entry, and
 * looks a row up (an index built at the first row out of order) only when
 * that differs. The day is not in the token: every test of the day a row can
 * pass (a date or month no later than a year from today, an id's birth date
 * not after today) stays passed on later days. A worker that met exactly the
 * stored entries says so in one frame instead of sending them. */
#ifndef GG_PULL_H
#define GG_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/adapter.h"
#include "core/strmap.h"
#include "model/ident.h"
#include "store/state.h"
#include "worker/worker.h"

#define PULL_MEM_BOUND ((size_t)64 << 20)
#define PULL_WRITER_BACKLOG ((uint64_t)2 << 20) /* see above: ~7k facts */
#define PULL_WRITER_DENSE 20e6                 /* bytes a second: ~65k facts, a third of what the writer applies */

/* How a stream ended, for the consumer. */
typedef struct pull_stream_end {
    int begun;              /* 0: the stream never started (worker failed first) */
    int ok;                 /* 0: failed; error says why (its facts are void) */
    const char *error;
    long rows;              /* records the pull read (facts + rejects are counted by the consumer) */
    const char *watermark;  /* NULL when none */
    long skipped;           /* rows the worker dropped as not of interest */
    long lookup_ids, lookup_rows;
    long raw_built;         /* records whose raw JSON the worker built (it sent them) */
    long passed;            /* rows the worker took by their row hash (passed over, or found stored) */
} pull_stream_end;

/* The consumer: called in the parent, one stream at a time. */
typedef struct pull_apply {
    void (*begin)(void *ud, size_t job, size_t stream);
    void (*fact)(void *ud, size_t job, size_t stream, fact *f);  /* f may be moved out once fact_own'd */
    void (*reject)(void *ud, size_t job, size_t stream, const char *ref, const char *reason, const char *raw);
    void (*end)(void *ud, size_t job, size_t stream, const pull_stream_end *e);
    /* kept records the worker found stored unchanged: their ref hashes */
    void (*seen)(void *ud, size_t job, size_t stream, const uint64_t *ref_hashes, size_t n);
    /* the stream's row memo: n words of it under token (in parts), or
     * stands = 1: the memo stored under token stands; given before the
     * stream's end. NULL: ignored */
    void (*memo)(void *ud, size_t job, size_t stream, uint64_t token, int stands, const uint64_t *h, size_t n);
    /* Gated jobs (pull_job.gated): their workers start when the gate says so,
     * and their frames wait until every stream of the other jobs has ended.
     * gate(ud, 0) is asked before the run and after each of those streams'
     * end: 0 discards the gated jobs at once, 2 starts their workers, 1
     * waits. gate(ud, 1) is asked once all have ended (the writer free):
     * nonzero applies the gated streams (starting their workers if they were
     * not), 0 discards them. Discarded: their workers are stopped or never
     * started, their frames dropped, and none of their streams is reported
     * (the caller pulls them again). NULL: applied. */
    int (*gate)(void *ud, int all_ended);
    /* Optional: the end of a stream of a job not gated came while its frames
     * wait for the writer (applied later, through end). clean: the stream
     * sent no FACT frame and did not fail, so it will change no fact. The
     * gate, while it waits, is asked again after it (gate(ud, 0)), which may
     * then be inside another stream's transaction. */
    void (*arrived)(void *ud, size_t job, size_t stream, int clean);
    /* Optional: fills in what the job's worker inherits and the core loads
     * from the state store (pull_job.known, the memos), once, in the core,
     * before that worker forks (worker_spec.prepare): a job loads while the
     * workers started before it already read, and a gated job as soon as
     * every job before it has started. */
    void (*prepare)(void *ud, size_t job);
    void *ud;
    /* The rate from which a queue is dense, in bytes a second (0:
     * PULL_WRITER_DENSE); tests that need a dense stream whatever the
     * machine's speed set it low. */
    double dense_rate;
} pull_apply;

/* The facts of one (source, kind) stored before the pull: ref hash -> content
 * hash, an open-addressing table (linear probing, 16 bytes a slot, load at
 * most 0.7). A ref hash of 0 or 1 is never stored (such a record always
 * travels as a FACT); 1 marks a slot given up: a worker that sends a record
 * as a FACT gives its slot up, so that a later row with the same ref (in any
 * later stream of the source's kind: they all run in this worker, in order)
 * is compared by the core with what it then holds; two
 * stored refs with the same hash give theirs up at load. Built by the core,
 * inherited by the worker copy-on-write. */
typedef struct pull_known {
    uint64_t *slot;  /* cap x (ref hash, content hash) */
    size_t cap, n;
} pull_known;

/* Loads what st holds of (source, kind) into k (zeroed first; empty when
 * nothing is stored). 0, or -1 (logged; k is left empty: every row then
 * travels as a FACT). */
int pull_known_load(pull_known *k, state *st, const char *source, fact_kind kind);
void pull_known_free(pull_known *k);
/* The slot (ref hash, content hash) of ref_hash, or NULL. */
uint64_t *pull_known_find(const pull_known *k, uint64_t ref_hash);
/* A hint: the cache line pull_known_find(k, ref_hash) starts at is fetched. */
void pull_known_prefetch(const pull_known *k, uint64_t ref_hash);

/* The worker's filter: in phase 2 only rows about a subject of interest, with
 * an invalid id (for the quarantine), or that may disagree with the register
 * (for the core's data-quality check, app/ingest.h) cross the channel.
 * Inherited at fork, never sent. */
typedef struct pull_filter {
    int phase_stream;             /* 1: filter by interest */
    const strmap *ids, *cases;
    const strmap *new_ids;        /* id -> cycle it became of interest (lookups) */
    const struct ingest_register *reg; /* phase 2: rows of no interest that may disagree with the
                                          register cross too (data quality); NULL: none do */
    int today;
    name_normalizer *nn;          /* folds the names of the facts sent (the core's, inherited); NULL: trimmed */
    long progress_s;              /* a worker logs a long read's rows so far this often; 0: never */
} pull_filter;

/* The hash of what a phase-2 filter decides by: the subjects of interest
 * (ids and cases, in any order) and the register's names; never 0. The
 * worker computes it (the row memos above). */
uint64_t pull_filter_digest(const pull_filter *f);

/* One worker: streams of one source (every stream of a kind it pulls, in the
 * adapter's order). Arrays are parallel, nstreams long; owned by the caller.
 * name is the source's (several jobs may share it, and the adapter). */
typedef struct pull_job {
    const char *name;
    adapter *ad;                  /* loaded in the parent; used (copy-on-write) in the child */
    size_t nstreams;
    size_t *streams;              /* the adapter's stream indexes to pull, in order */
    char **wm_in;                 /* watermark to resume after, or NULL */
    long *lookup_mark;            /* run lookups for ids of interest after this cycle; -1: none */
    worker_limits lim;
    const char *read_paths[8];    /* NULL-terminated */
    pull_known known[FK__COUNT];  /* per kind of the planned streams: stored before the pull (may be empty);
                                     the worker's copy is its own, so a kind must not span two jobs */
    const pull_filter *flt;       /* this job's filter, or NULL: pull_run's */
    int gated;                    /* applied only once pull_apply.gate says so */
    /* Row memos (above), per planned stream: the salt of its token (0: the
     * stream keeps none), and the memo stored under memo_token (memo[j],
     * nmemo[j] words, in the order the rows came; NULL: none). All owned by
     * the job; NULL arrays: no stream keeps one. */
    uint64_t *memo_salt, *memo_token;
    uint64_t **memo;
    size_t *nmemo;
} pull_job;

/* Runs every job (at most max_parallel at once; 0 = all). mem_bound: bytes
 * of waiting frames kept in memory before spooling (0 = PULL_MEM_BOUND). Returns 0 when the
 * run happened (each stream's fate went to ap->end), -1 with err when the
 * parent itself failed. */
int pull_run(pull_job *jobs, size_t njobs, const pull_filter *flt, size_t max_parallel, const char *spool_dir,
             size_t mem_bound, const pull_apply *ap, char *err, size_t errsz);

#endif
