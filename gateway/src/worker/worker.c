/* worker.c - a source's worker process: fork, confine (fds, rlimits, no new
 * privileges, Landlock, seccomp), run the source's callback writing to the
 * fact channel; and the parent's poll() loop that reads every worker's
 * channel, enforces the wall-clock deadline with SIGKILL and reports how each
 * worker ended (see worker.h, docs/worker.md). */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ, CLONE_NEW*, sigabbrev_np */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "core/log.h"
#include "core/util.h"

/* ---- Landlock (declared here: Debian 12's header stops at ABI 2) ---------- */

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define GG_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define GG_LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the size passed follows the ABI. */
struct gg_ll_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

int worker_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

static const char *const default_read_paths[] = {
    "/usr", "/lib", "/lib64",                          /* libraries, ODBC drivers, OpenCC data */
    "/etc/ld.so.cache", "/etc/localtime",
    "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf",
    "/etc/services", "/etc/protocols", "/etc/passwd", "/etc/group",
    "/etc/odbc.ini", "/etc/odbcinst.ini", "/etc/postgresql-common",
    "/etc/ssl", "/etc/ca-certificates",
    "/dev/urandom", "/dev/random",
    "/proc/self",                                      /* resolved to the worker's own pid */
    NULL,
};

const char *const *worker_default_read_paths(void) { return default_read_paths; }

const char *worker_status_name(worker_status st) {
    switch (st) {
    case WORKER_OK: return "ok";
    case WORKER_FAILED: return "failed";
    case WORKER_DEADLINE: return "deadline";
    case WORKER_SIGNAL: return "signal";
    case WORKER_PROTOCOL: return "protocol";
    case WORKER_SPAWN: return "spawn";
    }
    return "?";
}

/* ---- in the child --------------------------------------------------------- */

/* The SIGSYS handler's view (child only: set before seccomp is loaded). */
#define DENY_MAX 64
static int sys_chan_fd = -1;
static int deny_nr[DENY_MAX];
static const char *deny_name[DENY_MAX];
static int ndeny;

/* Async-signal-safe: formats an ERROR frame by hand and write()s it. */
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    int nr = si->si_syscall;
    const char *name = "?";
    for (int i = 0; i < ndeny; i++)
        if (deny_nr[i] == nr) name = deny_name[i];
    char msg[128];
    size_t m = 0;
    const char *parts[] = {"forbidden system call ", name, " (nr ", NULL};
    for (int i = 0; parts[i]; i++)
        for (const char *p = parts[i]; *p && m < 100; p++) msg[m++] = *p;
    char digits[12];
    int nd = 0;
    unsigned un = nr < 0 ? 0u : (unsigned)nr;
    do digits[nd++] = (char)('0' + un % 10); while ((un /= 10) && nd < 11);
    while (nd) msg[m++] = digits[--nd];
    msg[m++] = ')';
    unsigned char fr[160];
    size_t body = 1 + 1 + 1 + 1 + m; /* type, code, stream 0, len, msg (m < 128) */
    fr[0] = (unsigned char)body;
    fr[1] = fr[2] = fr[3] = 0;
    fr[4] = CH_ERROR;
    fr[5] = CH_ERR_SYSCALL;
    fr[6] = 0;
    fr[7] = (unsigned char)m;
    memcpy(fr + 8, msg, m);
    if (sys_chan_fd >= 0) {
        ssize_t w = write(sys_chan_fd, fr, 8 + m);
        (void)w;
    }
    /* Die by the signal itself (it is blocked inside its own handler). */
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);
}

static long data_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmData:", 7) == 0) kb = strtol(line + 7, NULL, 10);
    fclose(f);
    return kb;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every fd except 0-2 and keep[] (sorted here). */
static void close_all_but(int *keep, size_t nkeep) {
    qsort(keep, nkeep, sizeof *keep, cmp_int);
    unsigned lo = 3;
    for (size_t i = 0; i <= nkeep; i++) {
        unsigned hi = i < nkeep ? (unsigned)keep[i] : UINT_MAX;
        if (i < nkeep && keep[i] < 3) continue;
        if (hi > lo) {
            if (syscall(SYS_close_range, lo, hi - 1, 0) != 0) {
                struct rlimit rl;
                unsigned top = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536) ? (unsigned)rl.rlim_cur : 65536;
                for (unsigned fd = lo; fd < hi && fd < top; fd++) close((int)fd);
            }
        }
        if (i < nkeep) lo = (unsigned)keep[i] + 1;
    }
}

static int set_limit(int res, rlim_t v, const char *what, char *err, size_t errsz) {
    struct rlimit rl = {v, v};
    if (res == RLIMIT_CPU) rl.rlim_max = v + 1; /* SIGXCPU at the soft limit, SIGKILL a second later */
    if (setrlimit(res, &rl) != 0) {
        snprintf(err, errsz, "setrlimit(%s): %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

static int landlock_apply(int abi, const worker_spec *sp, char *err, size_t errsz) {
    uint64_t fs = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */
    if (abi >= 2) fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct gg_ll_attr attr = {.handled_access_fs = fs};
    size_t attr_size = sizeof attr.handled_access_fs;
    if (abi >= 4) attr_size += sizeof attr.handled_access_net; /* network not handled: sources need TCP */
    if (abi >= 6) {
        attr.scoped = GG_LL_SCOPE_ABSTRACT_UNIX_SOCKET | GG_LL_SCOPE_SIGNAL;
        attr_size += sizeof attr.scoped;
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0) {
        snprintf(err, errsz, "landlock_create_ruleset: %s", strerror(errno));
        return -1;
    }
    const uint64_t file_read = LANDLOCK_ACCESS_FS_READ_FILE;
    const uint64_t dir_read = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    const uint64_t dir_write = dir_read | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG |
                               LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
    for (int list = 0; list < 4; list++) {
        const char *const *paths = list == 0 ? default_read_paths : list == 1 ? sp->read_paths : NULL;
        static const char *const devnull[] = {"/dev/null", NULL};
        if (list == 2) paths = devnull;
        if (list == 3) paths = sp->write_paths;
        for (size_t i = 0; paths && paths[i]; i++) {
            int fd = open(paths[i], O_PATH | O_CLOEXEC);
            if (fd < 0) continue; /* absent here: nothing to allow */
            struct stat st;
            if (fstat(fd, &st) != 0) {
                close(fd);
                continue;
            }
            struct landlock_path_beneath_attr pb = {.parent_fd = fd};
            pb.allowed_access = S_ISDIR(st.st_mode) ? dir_read : file_read;
            if (list == 2) pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
            if (list == 3) pb.allowed_access = S_ISDIR(st.st_mode) ? dir_write : file_read | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
            pb.allowed_access &= fs;
            if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0) {
                snprintf(err, errsz, "landlock_add_rule(%s): %s", paths[i], strerror(errno));
                close(fd);
                close(rs);
                return -1;
            }
            close(fd);
        }
    }
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
        snprintf(err, errsz, "landlock_restrict_self: %s", strerror(errno));
        close(rs);
        return -1;
    }
    close(rs);
    return 0;
}

/* Deny-list, not allow-list: ODBC drivers (loaded at connect, with whatever
 * they call), libpq and libcurl (threads, DNS, TLS) use a syscall set that
 * changes with each driver and library version, so an allow-list would break
 * sources at random; Landlock and the rlimits carry the rest. Every entry is a
 * call no source needs and an escape or host-tampering tool. */
static const char *const denied_syscalls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "execve", "execveat",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    "setns", "unshare",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "iopl", "ioperm", "vhangup", "uselib",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init",
    "keyctl", "add_key", "request_key",
    "open_by_handle_at", "name_to_handle_at",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "io_uring_setup", "io_uring_enter", "io_uring_register", /* io_uring bypasses seccomp */
    NULL,
};

static int seccomp_apply(int chan_fd, char *err, size_t errsz) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW); /* other architectures: killed (libseccomp's default) */
    if (ctx == NULL) {
        snprintf(err, errsz, "seccomp_init failed");
        return -1;
    }
    int rc = 0;
    ndeny = 0;
    for (size_t i = 0; denied_syscalls[i] && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
        if (nr == __NR_SCMP_ERROR || nr < 0) continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, nr, 0);
        if (ndeny < DENY_MAX) {
            deny_nr[ndeny] = nr;
            deny_name[ndeny++] = denied_syscalls[i];
        }
        if (rc) snprintf(err, errsz, "seccomp_rule_add(%s): %s", denied_syscalls[i], strerror(-rc));
    }
    /* clone() making namespaces is unshare() by another name. */
    static const unsigned long ns_flags[] = {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP};
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0] && rc == 0; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_TRAP, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
        if (rc) snprintf(err, errsz, "seccomp_rule_add(clone): %s", strerror(-rc));
    }
    if (ndeny < DENY_MAX) {
        deny_nr[ndeny] = SCMP_SYS(clone);
        deny_name[ndeny++] = "clone with namespace flags";
    }
    /* clone3's flags sit behind a pointer seccomp cannot read: ENOSYS makes
     * glibc fall back to clone(), which is checked above. */
    if (rc == 0) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (rc) snprintf(err, errsz, "seccomp_rule_add(clone3): %s", strerror(-rc));
    }
    if (rc == 0) {
        sys_chan_fd = chan_fd;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSYS, &sa, NULL);
        rc = seccomp_load(ctx);
        if (rc) snprintf(err, errsz, "seccomp_load: %s", strerror(-rc));
    }
    seccomp_release(ctx);
    return rc ? -1 : 0;
}

/* The child: never returns. */
static void child_main(const worker_spec *sp, const worker_limits *lim, int wfd, pid_t parent, int ll_abi) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char comm[16]; /* "gg:<source>" in ps, top and perf (cut at 15 bytes) */
    snprintf(comm, sizeof comm, "gg:%s", sp->name ? sp->name : "worker");
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (getppid() != parent) _exit(127); /* the daemon is already gone */

    /* The daemon's handlers and mask are not the worker's. */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);

    char err[512] = "";
    int code = CH_ERR_FAILED;
    long base_kb = data_kb();

    /* stdin/stdout to /dev/null; stderr kept (ASan reports) unless it is a
     * regular file, which RLIMIT_FSIZE=0 would turn into SIGXFSZ. */
    int nul = open("/dev/null", O_RDWR);
    struct stat st;
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        if (fstat(2, &st) == 0 && S_ISREG(st.st_mode)) dup2(nul, 2);
        if (nul > 2) close(nul);
    }
    int keep[1 + 64];
    size_t nkeep = 0;
    keep[nkeep++] = wfd;
    for (size_t i = 0; i < sp->nkeep && nkeep < sizeof keep / sizeof keep[0]; i++) keep[nkeep++] = sp->keep_fds[i];
    close_all_but(keep, nkeep);

    ch_writer *w = ch_writer_new(wfd);

    size_t mem = lim->mem_bytes ? lim->mem_bytes : WORKER_DEFAULT_MEM;
    unsigned deadline = lim->deadline_s ? lim->deadline_s : WORKER_DEFAULT_DEADLINE_S;
    unsigned cpu = lim->cpu_s ? lim->cpu_s : deadline;
    unsigned nofile = lim->nofile ? lim->nofile : WORKER_DEFAULT_NOFILE;
    /* Under AddressSanitizer the freed-memory quarantine counts here too:
     * scripts/test.sh --sanitize keeps it small (quarantine_size_mb). */
    rlim_t data = (rlim_t)mem + (base_kb > 0 ? (rlim_t)base_kb * 1024 : 0);
    int rc = 0;
    if (set_limit(RLIMIT_DATA, data, "RLIMIT_DATA", err, sizeof err) ||
        set_limit(RLIMIT_CPU, cpu, "RLIMIT_CPU", err, sizeof err) ||
        set_limit(RLIMIT_NOFILE, nofile, "RLIMIT_NOFILE", err, sizeof err) ||
        set_limit(RLIMIT_FSIZE, sp->write_paths && sp->write_paths[0] ? RLIM_INFINITY : 0, "RLIMIT_FSIZE", err,
                  sizeof err) ||
        set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err, sizeof err))
        rc = -1;
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, sizeof err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, sizeof err, "PR_SET_DUMPABLE: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0 && !lim->no_sandbox && ll_abi > 0) rc = landlock_apply(ll_abi, sp, err, sizeof err);
    if (rc == 0 && !lim->no_sandbox) rc = seccomp_apply(wfd, err, sizeof err);
    if (rc != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "worker setup failed: %s", err);
        memcpy(err, msg, sizeof err - 1);
        err[sizeof err - 1] = '\0';
    } else {
        rc = sp->fn(w, sp->ud, err, sizeof err);
        if (rc == CH_ERR_NOMEM) code = CH_ERR_NOMEM;
        if (rc != 0 && err[0] == '\0') snprintf(err, sizeof err, "the source failed (no message)");
    }
    if (rc != 0) {
        ch_error(w, (ch_err_code)code, 0, 0, err);
        ch_flush(w);
        _exit(1);
    }
    if (ch_done(w) != 0 || ch_flush(w) != 0) _exit(1);
    _exit(0);
}

/* ---- in the parent -------------------------------------------------------- */

typedef struct slot {
    int state;          /* 0 waiting, 1 running, 2 finished */
    pid_t pid;
    int rfd, pidfd;
    ch_reader *rd;
    int64_t start_ms, deadline_ms;
    unsigned deadline_s, cpu_s;
    size_t mem;
    int exited, wstatus;
    struct rusage ru;
    int killed_deadline, protocol, stopped, got_error, error_code;
    int prepared;       /* spec.prepare was called */
    char perr[300];
    char error[300];
    char stream_name[64];
} slot;

static void kill_group(slot *s) {
    if (s->pid > 0 && !s->exited) {
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
    }
}

static int spawn(const worker_spec *sp, const worker_limits *lim, slot *s, int ll_abi, char *msg, size_t msgsz) {
    if (sp->lim) lim = sp->lim;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(msg, msgsz, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[0], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; best effort */
    s->rd = ch_reader_new(sp->name, 0);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, msgsz, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(sp, lim, fds[1], parent, ll_abi);
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    s->pid = pid;
    s->rfd = fds[0];
    s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    s->start_ms = gg_mono_ms();
    s->deadline_s = lim->deadline_s ? lim->deadline_s : WORKER_DEFAULT_DEADLINE_S;
    s->cpu_s = lim->cpu_s ? lim->cpu_s : s->deadline_s;
    s->mem = lim->mem_bytes ? lim->mem_bytes : WORKER_DEFAULT_MEM;
    s->deadline_ms = s->start_ms + (int64_t)s->deadline_s * 1000;
    s->state = 1;
    return 0;
}

static void close_channel(slot *s) {
    if (s->rfd >= 0) close(s->rfd);
    s->rfd = -1;
}

/* Reads what the worker sent and dispatches whole frames. */
static void pump(slot *s, size_t index, worker_frame_fn on_frame, void *ud) {
    unsigned char buf[64 * 1024];
    for (int round = 0; round < 16 && s->rfd >= 0; round++) {
        ssize_t n = read(s->rfd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            snprintf(s->perr, sizeof s->perr, "read from channel: %s", strerror(errno));
            s->protocol = 1;
            kill_group(s);
            close_channel(s);
            return;
        }
        if (n == 0) {
            if (!s->protocol && ch_reader_eof(s->rd, s->perr, sizeof s->perr) != 0) s->protocol = 1;
            close_channel(s);
            return;
        }
        if (s->protocol || s->stopped) continue; /* draining a worker being killed */
        if (ch_reader_feed(s->rd, buf, (size_t)n) != 0) {
            snprintf(s->perr, sizeof s->perr, "out of memory buffering the channel");
            s->protocol = 1;
            kill_group(s);
            continue;
        }
        ch_frame fr;
        int r;
        while ((r = ch_reader_next(s->rd, &fr, s->perr, sizeof s->perr)) == 1) {
            if (fr.type == CH_STREAM_BEGIN) snprintf(s->stream_name, sizeof s->stream_name, "%s", fr.text);
            if (fr.type == CH_ERROR && !s->got_error) {
                s->got_error = 1;
                s->error_code = fr.level;
                snprintf(s->error, sizeof s->error, "%s", fr.text);
            }
            if (on_frame && on_frame(ud, index, &fr) != 0) {
                s->stopped = 1;
                kill_group(s);
                break;
            }
        }
        if (r < 0) {
            s->protocol = 1;
            kill_group(s);
        }
    }
}

static void reap(slot *s) {
    if (s->exited) return;
    int st;
    pid_t p = wait4(s->pid, &st, WNOHANG, &s->ru);
    if (p == s->pid) {
        s->exited = 1;
        s->wstatus = st;
        kill(-s->pid, SIGKILL); /* whatever it left behind in its group */
        if (s->pidfd >= 0) close(s->pidfd);
        s->pidfd = -1;
    } else if (p < 0 && errno == ECHILD) {
        /* SIGCHLD ignored by the embedding process: the kernel reaped it and
         * its status is lost; the channel (DONE or not) decides. */
        s->exited = 1;
        s->wstatus = 0;
        if (s->pidfd >= 0) close(s->pidfd);
        s->pidfd = -1;
    }
}

static const char *sig_text(int sig) {
    switch (sig) {
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGILL: return "illegal instruction";
    case SIGFPE: return "arithmetic exception";
    case SIGABRT: return "aborted";
    case SIGSYS: return "forbidden system call";
    case SIGXCPU: return "CPU time limit";
    case SIGXFSZ: return "tried to write a file (file writes are not allowed)";
    case SIGKILL: return "killed (not by the gateway: the kernel's OOM killer?)";
    case SIGPIPE: return "the channel closed";
    default: return "signal";
    }
}

static void finish(const worker_spec *sp, slot *s, worker_result *res) {
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    res->open_stream = ch_reader_open_stream(s->rd);
    res->facts = ch_reader_facts(s->rd);
    res->rejects = ch_reader_rejects(s->rd);
    res->peak_rss_kb = s->ru.ru_maxrss;
    res->elapsed_ms = (long)(gg_mono_ms() - s->start_ms);
    char where[128] = "";
    if (res->open_stream >= 0)
        snprintf(where, sizeof where, " (stream %ld '%s' unfinished: its facts are void)", res->open_stream,
                 s->stream_name);
    char what[360];
    int sig = 0;
    if (WIFEXITED(s->wstatus)) res->exit_code = WEXITSTATUS(s->wstatus);
    if (WIFSIGNALED(s->wstatus)) sig = res->signal = WTERMSIG(s->wstatus);

    if (s->killed_deadline) {
        res->status = WORKER_DEADLINE;
        snprintf(what, sizeof what, "deadline of %u s exceeded, killed", s->deadline_s);
    } else if (s->protocol) {
        res->status = WORKER_PROTOCOL;
        snprintf(what, sizeof what, "channel protocol error: %s", s->perr);
    } else if (s->stopped) {
        res->status = WORKER_FAILED;
        snprintf(what, sizeof what, "stopped by the core");
    } else if (sig) {
        res->status = WORKER_SIGNAL;
        if (sig == SIGXCPU)
            snprintf(what, sizeof what, "CPU time limit of %u s exceeded (SIGXCPU)", s->cpu_s);
        else if (sig == SIGSYS && s->got_error)
            snprintf(what, sizeof what, "killed: %s", s->error);
        else if (s->got_error && s->error_code == CH_ERR_NOMEM)
            snprintf(what, sizeof what, "memory cap of %zu MiB reached: %s (%s)", s->mem >> 20, s->error, strsignal(sig));
        else
            snprintf(what, sizeof what, "killed by %s: %s%s%s", sigabbrev_np(sig) ? sigabbrev_np(sig) : "signal",
                     sig_text(sig), s->got_error ? "; last error: " : "", s->got_error ? s->error : "");
    } else if (s->got_error || res->exit_code != 0) {
        res->status = WORKER_FAILED;
        if (s->got_error && s->error_code == CH_ERR_NOMEM)
            snprintf(what, sizeof what, "memory cap of %zu MiB reached: %s", s->mem >> 20, s->error);
        else if (s->got_error)
            snprintf(what, sizeof what, "%s", s->error);
        else
            snprintf(what, sizeof what, "exited with code %d", res->exit_code);
    } else if (!ch_reader_done(s->rd)) {
        res->status = WORKER_PROTOCOL;
        snprintf(what, sizeof what, "exited without finishing its channel (no DONE)");
    } else {
        res->status = WORKER_OK;
        snprintf(what, sizeof what, "ok, %llu facts, %llu rejects", (unsigned long long)res->facts,
                 (unsigned long long)res->rejects);
    }
    snprintf(res->message, sizeof res->message, "source %s: %s%s", sp->name, what,
             res->status == WORKER_OK ? "" : where);
    ch_reader_free(s->rd);
    s->rd = NULL;
    s->state = 2;
}

int worker_run_all(const worker_spec *specs, size_t n, const worker_limits *lim, size_t max_parallel,
                   worker_frame_fn on_frame, void *ud, worker_result *results, char *err, size_t errsz) {
    return worker_run_all_ex(specs, n, lim, max_parallel, on_frame, NULL, ud, results, err, errsz);
}

/* Calls spec->prepare once per slot (worker_spec.prepare). */
static void prepare_once(const worker_spec *spec, slot *s) {
    if (s->prepared) return;
    s->prepared = 1;
    if (spec->prepare) spec->prepare(spec->prepare_ud);
}

int worker_run_all_ex(const worker_spec *specs, size_t n, const worker_limits *lim, size_t max_parallel,
                      worker_frame_fn on_frame, worker_end_fn on_end, void *ud, worker_result *results, char *err,
                      size_t errsz) {
    worker_limits none = {0};
    if (lim == NULL) lim = &none;
    if (max_parallel == 0 || max_parallel > n) max_parallel = n;
    if (n == 0) return 0;
    slot *slots = xcalloc(n, sizeof *slots);
    struct pollfd *pfd = xcalloc(2 * n, sizeof *pfd);
    size_t *pidx = xcalloc(2 * n, sizeof *pidx);
    int sandboxed = !lim->no_sandbox;
    for (size_t i = 0; i < n; i++)
        if (specs[i].lim && !specs[i].lim->no_sandbox) sandboxed = 1;
    int ll_abi = sandboxed ? worker_landlock_abi() : 0;
    if (sandboxed && ll_abi == 0)
        gg_warn("worker", "Landlock is not available in this kernel: workers run without a filesystem sandbox "
                          "(rlimits and seccomp still apply)");

    size_t next = 0, running = 0, finished = 0;
    while (finished < n) {
        while (running < max_parallel && next < n) {
            slot *s = &slots[next];
            s->rfd = s->pidfd = -1;
            char msg[256];
            if (specs[next].hold && *specs[next].hold && !(specs[next].cancel && *specs[next].cancel)) {
                prepare_once(&specs[next], s); /* ahead: its loads overlap the running workers */
                if (running > 0) break;        /* started once a callback lets it */
                /* nothing else runs: no callback can come to let it start */
                gg_warn("worker", "source %s: started although held (nothing else was running)", specs[next].name);
            }
            if (specs[next].cancel && *specs[next].cancel) { /* cancelled before it started */
                worker_result *r = &results[next];
                memset(r, 0, sizeof *r);
                r->status = WORKER_FAILED;
                r->exit_code = -1;
                r->open_stream = -1;
                snprintf(r->message, sizeof r->message, "source %s: stopped by the core before it started",
                         specs[next].name);
                s->state = 2;
                finished++;
                next++;
                if (on_end) on_end(ud, next - 1, r);
                continue;
            }
            prepare_once(&specs[next], s);
            if (spawn(&specs[next], lim, s, ll_abi, msg, sizeof msg) != 0) {
                worker_result *r = &results[next];
                memset(r, 0, sizeof *r);
                r->status = WORKER_SPAWN;
                r->exit_code = -1;
                r->open_stream = -1;
                snprintf(r->message, sizeof r->message, "source %s: worker not started: %s", specs[next].name, msg);
                ch_reader_free(s->rd);
                s->rd = NULL;
                s->state = 2;
                finished++;
                if (on_end) on_end(ud, next, r);
            } else {
                running++;
            }
            next++;
        }
        if (finished == n) break;

        size_t np = 0;
        int64_t now = gg_mono_ms(), timeout = INT_MAX;
        int need_tick = 0;
        for (size_t i = 0; i < n; i++) {
            slot *s = &slots[i];
            if (s->state != 1) continue;
            if (specs[i].cancel && *specs[i].cancel && !s->stopped && !s->exited) {
                /* cancelled by a callback: killed, and reaped like any other */
                s->stopped = 1;
                kill_group(s);
            }
            if (s->rfd >= 0) {
                pfd[np] = (struct pollfd){.fd = s->rfd, .events = POLLIN};
                pidx[np++] = i;
            }
            if (!s->exited) {
                if (s->pidfd >= 0) {
                    pfd[np] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
                    pidx[np++] = i;
                } else {
                    need_tick = 1;
                }
            }
            int64_t left = s->deadline_ms - now;
            if (left < timeout) timeout = left < 0 ? 0 : left;
        }
        if (need_tick && timeout > 50) timeout = 50;
        int pr = poll(pfd, np, (int)timeout);
        if (pr < 0 && errno != EINTR) {
            snprintf(err, errsz, "poll: %s", strerror(errno));
            for (size_t i = 0; i < n; i++)
                if (slots[i].state == 1) {
                    kill_group(&slots[i]);
                    close_channel(&slots[i]);
                    while (!slots[i].exited && waitpid(slots[i].pid, &slots[i].wstatus, 0) < 0 && errno == EINTR) {}
                    if (slots[i].pidfd >= 0) close(slots[i].pidfd);
                    ch_reader_free(slots[i].rd);
                }
            free(slots);
            free(pfd);
            free(pidx);
            return -1;
        }
        for (size_t k = 0; pr > 0 && k < np; k++) {
            if (!pfd[k].revents) continue;
            slot *s = &slots[pidx[k]];
            if (pfd[k].fd == s->rfd) pump(s, pidx[k], on_frame, ud);
            else reap(s);
        }
        now = gg_mono_ms();
        for (size_t i = 0; i < n; i++) {
            slot *s = &slots[i];
            if (s->state != 1) continue;
            if (s->pidfd < 0) reap(s);
            if (now >= s->deadline_ms) {
                if (!s->exited) {
                    if (!s->killed_deadline) {
                        s->killed_deadline = 1;
                        kill_group(s);
                    }
                } else if (s->rfd >= 0) {
                    /* Exited, yet something still holds its channel open. */
                    snprintf(s->perr, sizeof s->perr, "channel held open after the worker exited");
                    s->protocol = 1;
                    close_channel(s);
                }
            }
            if (s->exited && s->rfd < 0) {
                finish(&specs[i], s, &results[i]);
                running--;
                finished++;
                if (on_end) on_end(ud, i, &results[i]);
            }
        }
    }
    free(slots);
    free(pfd);
    free(pidx);
    return 0;
}

/* ---- log lines of a worker ---------------------------------------------------- */

void worker_log_send(ch_writer *w, int level, const char *component, const char *msg) {
    char line[2300];
    snprintf(line, sizeof line, "%s\x1f%s", component ? component : "", msg);
    ch_log(w, level, line);
}

void worker_log_print(const char *source, int level, const char *text) {
    const char *sep = strchr(text, '\x1f');
    if (!sep) {
        gg_log((gg_log_level)level, source, "%s", text);
        return;
    }
    size_t cl = (size_t)(sep - text), sl = strlen(source);
    char comp[200];
    snprintf(comp, sizeof comp, "%.*s", (int)(cl < sizeof comp ? cl : sizeof comp - 1), text);
    /* A worker speaks for its own source only: its component is the source's
     * name or "source NAME, ..."; anything else is shown as its text. */
    int own = !strcmp(comp, source) ||
              (!strncmp(comp, "source ", 7) && !strncmp(comp + 7, source, sl) &&
               (comp[7 + sl] == '\0' || comp[7 + sl] == ','));
    if (own) gg_log((gg_log_level)level, comp, "%s", sep + 1);
    else gg_log((gg_log_level)level, source, "[%s] %s", comp, sep + 1);
}
