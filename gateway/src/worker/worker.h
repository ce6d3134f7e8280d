/* worker.h - running a source in a sandboxed child process.
 *
 * worker_run_all() forks one child per worker spec (at most max_parallel at a
 * time). The child keeps only the channel's write end, stdin/stdout on
 * /dev/null and the fds the spec lists (everything else, the state store
 * included, is closed), sets its rlimits, PR_SET_NO_NEW_PRIVS and
 * PR_SET_DUMPABLE 0, restricts its filesystem view with Landlock (read-only,
 * the paths of worker_default_read_paths() plus the spec's), installs a
 * seccomp deny-list, and then runs the spec's callback, which writes frames to
 * the channel. The parent reads every running worker's channel in one poll()
 * loop, hands each decoded frame to on_frame, kills a worker at its wall-clock
 * deadline (SIGKILL to its process group: no cooperation needed), reaps it and
 * fills a worker_result saying how it ended.
 *
 * Streams are transactions: on_frame sees STREAM_BEGIN, the stream's FACT and
 * REJECT frames, then STREAM_END. A worker that dies, hangs, exceeds a limit
 * or breaks the protocol mid-stream never delivers that STREAM_END: the
 * consumer drops what it got since the STREAM_BEGIN (result.open_stream names
 * the stream); streams that ended stand, and so do the other workers'.
 *
 * No global mutable state, except that a child process, which runs only its
 * callback, installs a SIGSYS handler that reports a forbidden system call on
 * the channel before dying. */
#ifndef GG_WORKER_H
#define GG_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "worker/channel.h"

/* Limits; 0 in a field means its default. */
typedef struct worker_limits {
    unsigned deadline_s;   /* wall clock from fork to the end (default 600) */
    unsigned cpu_s;        /* RLIMIT_CPU (default = deadline_s) */
    size_t mem_bytes;      /* RLIMIT_DATA above what the child inherits (default 256 MiB) */
    unsigned nofile;       /* RLIMIT_NOFILE (default 64) */
    int no_sandbox;        /* 1: skip Landlock and seccomp (rlimits still apply) */
} worker_limits;

#define WORKER_DEFAULT_DEADLINE_S 600u
#define WORKER_DEFAULT_MEM ((size_t)256 << 20)
#define WORKER_DEFAULT_NOFILE 64u

/* The child's work: write frames to w (STREAM_BEGIN ... STREAM_END per stream;
 * the runtime sends DONE, or ERROR with err when this returns nonzero).
 * Return 0 ok, CH_ERR_NOMEM when an allocation was refused, any other nonzero
 * for a failure; err says what failed. Runs in the child only. */
typedef int (*worker_fn)(ch_writer *w, void *ud, char *err, size_t errsz);

typedef struct worker_spec {
    const char *name;                /* the source's name: messages, and every fact's source */
    worker_fn fn;
    void *ud;                        /* inherited by the child at fork */
    const int *keep_fds;             /* fds the source needs (kept open in the child) */
    size_t nkeep;
    const char *const *read_paths;   /* extra read-only paths (adapter file, ...), NULL-terminated */
    const char *const *write_paths;  /* paths it may also write (a sink's SQLite directory, for its
                                        journal), NULL-terminated or NULL; when set, RLIMIT_FSIZE is
                                        lifted */
    const worker_limits *lim;        /* this source's limits, or NULL for worker_run_all's */
    const int *cancel;               /* or NULL; once *cancel is nonzero (set by a callback of the run)
                                        the worker is not started, or is killed if running ("stopped by
                                        the core", WORKER_FAILED) */
    const int *hold;                 /* or NULL; while *hold is nonzero the worker, and every one after
                                        it, waits to be started (a callback of the run clears it; with
                                        nothing else running it is started anyway) */
    void (*prepare)(void *ud);       /* or NULL; called once in the parent before the worker forks, so
                                        that what it loads into ud is inherited: just before the fork,
                                        or, for a held worker, as soon as the run reaches it (while the
                                        workers before it run). Not called for one cancelled first. */
    void *prepare_ud;
} worker_spec;

typedef enum {
    WORKER_OK = 0,       /* exit 0 after DONE */
    WORKER_FAILED,       /* the source reported an ERROR, or exited nonzero */
    WORKER_DEADLINE,     /* killed at the wall-clock deadline */
    WORKER_SIGNAL,       /* killed by a signal (crash, CPU limit, forbidden syscall) */
    WORKER_PROTOCOL,     /* sent a bad frame, or ended without DONE: killed */
    WORKER_SPAWN,        /* could not be started */
} worker_status;

typedef struct worker_result {
    worker_status status;
    int exit_code;         /* when it exited */
    int signal;            /* when a signal ended it */
    long open_stream;      /* stream begun and never ended (its frames are void), or -1 */
    uint64_t facts, rejects;
    long peak_rss_kb;      /* from wait4 */
    long elapsed_ms;
    char message[512];     /* "source hr: deadline of 5 s exceeded (stream 2 'pay' unfinished)" */
} worker_result;

/* A decoded frame from worker `index` (position in the specs). The FACT's
 * fact may be moved out. Return nonzero to stop that worker (it is killed and
 * reported as failed with "stopped by the core"). */
typedef int (*worker_frame_fn)(void *ud, size_t index, ch_frame *fr);

/* Runs every spec to its end; results[i] for specs[i]. max_parallel 0 = all at
 * once. Returns 0 when the loop ran (each worker's fate is in its result, even
 * if all failed), -1 with err on a failure of the parent itself. */
int worker_run_all(const worker_spec *specs, size_t n, const worker_limits *lim, size_t max_parallel,
                   worker_frame_fn on_frame, void *ud, worker_result *results, char *err, size_t errsz);

/* Called once per worker as soon as it has ended (results[index] is final),
 * while the others may still run: lets the consumer roll back that worker's
 * open stream at once. */
typedef void (*worker_end_fn)(void *ud, size_t index, const worker_result *res);
int worker_run_all_ex(const worker_spec *specs, size_t n, const worker_limits *lim, size_t max_parallel,
                      worker_frame_fn on_frame, worker_end_fn on_end, void *ud, worker_result *results, char *err,
                      size_t errsz);

/* The read-only paths every worker gets (those that exist are used):
 * NULL-terminated static list. */
const char *const *worker_default_read_paths(void);

/* Landlock ABI version of the running kernel, or 0 when unavailable. */
int worker_landlock_abi(void);

const char *worker_status_name(worker_status st); /* "ok", "deadline", ... */

/* A worker's log line as a LOG frame carrying its component (child side), and
 * printing one in the daemon under the worker's source (a component that is
 * not the source's own is shown inside the text, never taken over). */
void worker_log_send(ch_writer *w, int level, const char *component, const char *msg);
void worker_log_print(const char *source, int level, const char *text);

#endif
