/* test_worker.c - unit tests for worker/worker.c with real forked children: a
 * worker that writes facts; one that loops forever (killed at its deadline
 * while the others complete); one that allocates past its memory cap; one that
 * segfaults mid-stream (its open stream is void, its ended one stands); file
 * creation and reads outside the allowed paths refused (Landlock), file
 * writes killed (RLIMIT_FSIZE) without the sandbox; forbidden system calls
 * (SIGSYS naming the call); the CPU limit; a protocol violation; inherited
 * fds closed; a unix socket (PostgreSQL's kind) still reachable; and two
 * workers running concurrently in about the time of one. Every run has a
 * deadline of a few seconds. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sql.h>
#include <sqlext.h>

#include "worker/worker.h"

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan: let a real SIGSEGV end the child, and a refused allocation
 * return NULL as it does without the sanitizer. */
const char *__asan_default_options(void) { return "handle_segv=0:allocator_may_return_null=1"; }
#endif

/* ---- the consumer: commits a stream's facts at its STREAM_END ------------- */

typedef struct consumer {
    size_t pending[8], committed[8];
    char logs[8][1024];
    char errors[8][512];
} consumer;

static int on_frame(void *ud, size_t i, ch_frame *fr) {
    consumer *c = ud;
    assert_true(i < 8);
    switch (fr->type) {
    case CH_STREAM_BEGIN: c->pending[i] = 0; break;
    case CH_FACT:
        assert_non_null(fr->fact->source);
        c->pending[i]++;
        break;
    case CH_STREAM_END:
        c->committed[i] += c->pending[i];
        c->pending[i] = 0;
        break;
    case CH_LOG:
        strncat(c->logs[i], fr->text, sizeof c->logs[i] - strlen(c->logs[i]) - 2);
        strcat(c->logs[i], "\n");
        break;
    case CH_ERROR: snprintf(c->errors[i], sizeof c->errors[i], "%s", fr->text); break;
    default: break;
    }
    return 0;
}

static void payment(fact *f, int n) {
    char err[200], id[32], ref[32];
    fact_init(f, FK_PAYMENT);
    snprintf(id, sizeof id, "4205011950031%05d", n % 100000);
    snprintf(ref, sizeof ref, "P%d", n);
    f->ref = strdup(ref);
    assert_int_equal(fact_set_text(f, FF_ID_NO, id, err, sizeof err), 0);
    assert_int_equal(fact_set_text(f, FF_PROGRAM, "dibao", err, sizeof err), 0);
    assert_int_equal(fact_set_int(f, FF_PERIOD, 202403, err, sizeof err), 0);
    assert_int_equal(fact_set_int(f, FF_AMOUNT, 50000 + n, err, sizeof err), 0);
}

/* Writes ud-many facts (as an int) into each of two streams. */
static int w_facts(ch_writer *w, void *ud, char *err, size_t errsz) {
    int n = (int)(intptr_t)ud;
    for (uint32_t s = 0; s < 2; s++) {
        if (ch_stream_begin(w, s, s ? "income" : "pay")) goto fail;
        for (int i = 0; i < n; i++) {
            fact f;
            payment(&f, i);
            int rc = ch_fact(w, s, &f);
            fact_clear(&f);
            if (rc) goto fail;
        }
        if (ch_stream_end(w, s, (uint64_t)n, NULL)) goto fail;
    }
    return 0;
fail:
    snprintf(err, errsz, "%s", ch_writer_error(w));
    return 1;
}

static int w_loop(ch_writer *w, void *ud, char *err, size_t errsz) {
    fact f;
    payment(&f, 1);
    ch_stream_begin(w, 0, "pay");
    ch_fact(w, 0, &f);
    ch_flush(w);
    fact_clear(&f);
    for (volatile unsigned long x = 0;; x++) {}
    return 0;
}

static int w_mem(ch_writer *w, void *ud, char *err, size_t errsz) {
    size_t got = 0, chunk = 1 << 20;
    for (int i = 0; i < 1024; i++) { /* bounded: 1 GiB at most if the cap failed */
        char *p = malloc(chunk);
        if (p == NULL) {
            snprintf(err, errsz, "allocation of 1 MiB refused after %zu MiB", got >> 20);
            return CH_ERR_NOMEM;
        }
        memset(p, 1, chunk);
        got += chunk;
    }
    return 0;
}

/* Ends stream 0, dies by SIGSEGV inside stream 1 after flushing 10 facts. */
static int w_segv(ch_writer *w, void *ud, char *err, size_t errsz) {
    fact f;
    payment(&f, 1);
    ch_stream_begin(w, 0, "pay");
    for (int i = 0; i < 5; i++) ch_fact(w, 0, &f);
    ch_stream_end(w, 0, 5, NULL);
    ch_stream_begin(w, 1, "income");
    for (int i = 0; i < 10; i++) ch_fact(w, 1, &f);
    ch_flush(w);
    fact_clear(&f);
    volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    return 0;
}

typedef struct files {
    char create[100], outside[100], allowed[100], sock[100];
    int inherited_fd;
} files;

static void logf_(ch_writer *w, const char *fmt, ...) {
    char b[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    ch_log(w, 1, b);
}

/* Tries what a hostile driver would, and says what happened. */
static int w_files(ch_writer *w, void *ud, char *err, size_t errsz) {
    files *fl = ud;
    int fd = open(fl->create, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    logf_(w, "create: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0) {
        ssize_t n = write(fd, "x", 1);
        logf_(w, "write: %zd", n);
        close(fd);
    }
    fd = open(fl->outside, O_RDONLY);
    logf_(w, "read outside: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0) close(fd);
    fd = open(fl->allowed, O_RDONLY);
    logf_(w, "read allowed: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0) close(fd);
    fd = open("/etc/shadow", O_RDONLY);
    logf_(w, "read shadow: %s", fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0) close(fd);
    logf_(w, "inherited fd: %s", fcntl(fl->inherited_fd, F_GETFD) < 0 ? strerror(errno) : "open");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", fl->sock);
    logf_(w, "unix connect: %s", connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? "ok" : strerror(errno));
    close(s);
    /* Signals to the daemon are out of the worker's scope (Landlock ABI 6). */
    logf_(w, "signal parent: %s", kill(getppid(), 0) == 0 ? "allowed" : strerror(errno));
    return 0;
}

/* Without the sandbox: the file opens, the write is killed by RLIMIT_FSIZE. */
static int w_write(ch_writer *w, void *ud, char *err, size_t errsz) {
    files *fl = ud;
    int fd = open(fl->create, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "open: %s", strerror(errno));
        return 1;
    }
    ssize_t n = write(fd, "secret", 6);
    snprintf(err, errsz, "write returned %zd", n);
    return 1;
}

static int w_ptrace(ch_writer *w, void *ud, char *err, size_t errsz) {
    ch_stream_begin(w, 0, "pay");
    ch_flush(w);
    long r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    snprintf(err, errsz, "ptrace returned %ld", r);
    return 1;
}

static int w_execve(ch_writer *w, void *ud, char *err, size_t errsz) {
    char *argv[] = {"/bin/true", NULL};
    execve("/bin/true", argv, environ);
    snprintf(err, errsz, "execve: %s", strerror(errno));
    return 1;
}

static int w_unshare(ch_writer *w, void *ud, char *err, size_t errsz) {
    long r = syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
    snprintf(err, errsz, "unshare returned %ld", r);
    return 1;
}

static int w_cpu(ch_writer *w, void *ud, char *err, size_t errsz) {
    for (volatile unsigned long x = 0;; x++) {}
    return 0;
}

static int w_protocol(ch_writer *w, void *ud, char *err, size_t errsz) {
    fact f;
    payment(&f, 1);
    ch_fact(w, 7, &f); /* no STREAM_BEGIN */
    fact_clear(&f);
    ch_flush(w);
    for (;;) pause(); /* the parent must kill it */
    return 0;
}

static int w_sleep(ch_writer *w, void *ud, char *err, size_t errsz) {
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    return w_facts(w, (void *)(intptr_t)100, err, errsz);
}

static int w_fail(ch_writer *w, void *ud, char *err, size_t errsz) {
    ch_stream_begin(w, 0, "pay");
    snprintf(err, errsz, "adapters/hr.lua:12: connection refused");
    return 1;
}

/* A real connector inside the sandbox: unixODBC loads Debian's SQLite driver
 * (dlopen under /usr), reads the source database listed in read_paths, and an
 * adapter's ATTACH of another file (the state store) fails. */
typedef struct odbc_case {
    char db[100], other[100];
    int load_extension; /* 1: the load_extension('libc.so.6', 'abort') */
} odbc_case;

static int odbc_query(SQLHDBC dbc, const char *sql, char *out, size_t outsz) {
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &st))) return -1;
    SQLRETURN rc = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(rc)) {
        SQLCHAR state[6], msg[200];
        SQLINTEGER nat;
        SQLSMALLINT ml;
        SQLGetDiagRec(SQL_HANDLE_STMT, st, 1, state, &nat, msg, sizeof msg, &ml);
        snprintf(out, outsz, "error: %s", msg);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
        return -1;
    }
    out[0] = '\0';
    if (SQL_SUCCEEDED(SQLFetch(st))) {
        SQLLEN ind;
        SQLGetData(st, 1, SQL_C_CHAR, out, (SQLLEN)outsz, &ind);
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return 0;
}

static int w_odbc(ch_writer *w, void *ud, char *err, size_t errsz) {
    odbc_case *oc = ud;
    SQLHENV env;
    SQLHDBC dbc;
    SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
    SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (void *)SQL_OV_ODBC3, 0);
    SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
    char cs[300];
    snprintf(cs, sizeof cs, "Driver=SQLite3;Database=%s", oc->db);
    SQLRETURN rc = SQLDriverConnect(dbc, NULL, (SQLCHAR *)cs, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(rc)) {
        snprintf(err, errsz, "connect failed");
        return 1;
    }
    char out[256];
    odbc_query(dbc, "SELECT count(*) FROM pay", out, sizeof out);
    logf_(w, "count: %s", out);
    if (oc->load_extension) {
        odbc_query(dbc, "SELECT load_extension('libc.so.6', 'abort')", out, sizeof out);
        logf_(w, "load_extension: %s", out);
    }
    char sql[300];
    snprintf(sql, sizeof sql, "ATTACH DATABASE '%s' AS st", oc->other);
    odbc_query(dbc, sql, out, sizeof out);
    logf_(w, "attach: %s", out);
    SQLDisconnect(dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
    SQLFreeHandle(SQL_HANDLE_ENV, env);
    return 0;
}

static long ms_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

#define CONTAINS(hay, needle)                                                                                         \
    do {                                                                                                              \
        if (strstr((hay), (needle)) == NULL) fail_msg("'%s' does not contain '%s'", (hay), (needle));                \
    } while (0)

/* ---- tests --------------------------------------------------------------- */

static void test_deadline_crash_and_others_complete(void **state) {
    (void)state;
    worker_spec specs[] = {
        {.name = "alpha", .fn = w_facts, .ud = (void *)(intptr_t)3000},
        {.name = "looper", .fn = w_loop},
        {.name = "crasher", .fn = w_segv},
        {.name = "beta", .fn = w_facts, .ud = (void *)(intptr_t)10},
        {.name = "failing", .fn = w_fail},
    };
    worker_limits lim = {.deadline_s = 2, .cpu_s = 30};
    worker_result res[5];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(worker_run_all(specs, 5, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    long ms = ms_since(&t0);
    assert_true(ms < 4000);

    assert_int_equal(res[0].status, WORKER_OK);
    assert_int_equal(res[0].facts, 6000);
    assert_int_equal(c.committed[0], 6000);
    assert_int_equal(res[0].open_stream, -1);
    CONTAINS(res[0].message, "source alpha: ok, 6000 facts");

    assert_int_equal(res[1].status, WORKER_DEADLINE);
    assert_int_equal(res[1].signal, SIGKILL);
    assert_int_equal(res[1].open_stream, 0);
    assert_int_equal(c.committed[1], 0);
    CONTAINS(res[1].message, "source looper: deadline of 2 s exceeded");
    CONTAINS(res[1].message, "stream 0 'pay' unfinished");
    assert_true(res[1].elapsed_ms >= 1900 && res[1].elapsed_ms < 3500);

    assert_int_equal(res[2].status, WORKER_SIGNAL);
    assert_int_equal(res[2].signal, SIGSEGV);
    assert_int_equal(res[2].open_stream, 1);
    assert_int_equal(c.committed[2], 5);  /* stream 0 stands */
    assert_int_equal(c.pending[2], 10);   /* stream 1's facts are void */
    CONTAINS(res[2].message, "source crasher: killed by SEGV: segmentation fault");
    CONTAINS(res[2].message, "stream 1 'income' unfinished");

    assert_int_equal(res[3].status, WORKER_OK);
    assert_int_equal(c.committed[3], 20);

    assert_int_equal(res[4].status, WORKER_FAILED);
    assert_int_equal(res[4].exit_code, 1);
    CONTAINS(res[4].message, "source failing: adapters/hr.lua:12: connection refused (stream 0 'pay' unfinished");
}

static void test_memory_cap(void **state) {
    (void)state;
    worker_spec specs[] = {{.name = "hog", .fn = w_mem}};
    worker_limits lim = {.deadline_s = 10, .mem_bytes = 64 << 20};
    worker_result res[1];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    assert_int_equal(worker_run_all(specs, 1, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    assert_int_equal(res[0].status, WORKER_FAILED);
    CONTAINS(res[0].message, "source hog: memory cap of 64 MiB reached: allocation of 1 MiB refused after");
    size_t got = 0;
    sscanf(strstr(res[0].message, "after ") + 6, "%zu", &got);
    assert_true(got < 64);
    /* The children's peak, not the test's: well under the 1 GiB the loop would take. */
    assert_true(res[0].peak_rss_kb < 200 * 1024);
}

static void test_files_and_fds(void **state) {
    (void)state;
    if (worker_landlock_abi() == 0) skip();
    char dir[] = "/tmp/gg-worker-XXXXXX";
    assert_non_null(mkdtemp(dir));
    files fl;
    snprintf(fl.create, sizeof fl.create, "%s/created", dir);
    snprintf(fl.outside, sizeof fl.outside, "%s/state.db", dir);
    snprintf(fl.allowed, sizeof fl.allowed, "%s/adapter.lua", dir);
    snprintf(fl.sock, sizeof fl.sock, "%s/.s.PGSQL.5432", dir);
    FILE *f = fopen(fl.outside, "w");
    fputs("every department's ids", f);
    fclose(f);
    f = fopen(fl.allowed, "w");
    fputs("return {}", f);
    fclose(f);
    fl.inherited_fd = open(fl.outside, O_RDONLY); /* as the daemon's state store */
    assert_true(fl.inherited_fd >= 0);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", fl.sock);
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 4), 0);

    const char *paths[] = {fl.allowed, NULL};
    worker_spec specs[] = {{.name = "snoop", .fn = w_files, .ud = &fl, .read_paths = paths}};
    worker_limits lim = {.deadline_s = 5};
    worker_result res[1];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    assert_int_equal(worker_run_all(specs, 1, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    assert_int_equal(res[0].status, WORKER_OK);
    CONTAINS(c.logs[0], "create: Permission denied");
    CONTAINS(c.logs[0], "read outside: Permission denied");
    CONTAINS(c.logs[0], "read allowed: opened");
    CONTAINS(c.logs[0], "read shadow: Permission denied");
    CONTAINS(c.logs[0], "inherited fd: Bad file descriptor");
    CONTAINS(c.logs[0], "unix connect: ok");
    if (worker_landlock_abi() >= 6) CONTAINS(c.logs[0], "signal parent: Operation not permitted");
    struct stat st;
    assert_int_equal(stat(fl.create, &st), -1);

    /* Without the sandbox, RLIMIT_FSIZE=0 still stops the write. */
    worker_spec specs2[] = {{.name = "writer", .fn = w_write, .ud = &fl}};
    worker_limits lim2 = {.deadline_s = 5, .no_sandbox = 1};
    assert_int_equal(worker_run_all(specs2, 1, &lim2, 0, on_frame, &c, res, err, sizeof err), 0);
    assert_int_equal(res[0].status, WORKER_SIGNAL);
    assert_int_equal(res[0].signal, SIGXFSZ);
    CONTAINS(res[0].message, "source writer: killed by XFSZ: tried to write a file");
    assert_int_equal(stat(fl.create, &st), 0);
    assert_int_equal(st.st_size, 0);

    close(ls);
    close(fl.inherited_fd);
    unlink(fl.sock);
    unlink(fl.create);
    unlink(fl.outside);
    unlink(fl.allowed);
    rmdir(dir);
}

static void test_odbc_sqlite_in_sandbox(void **state) {
    (void)state;
    if (worker_landlock_abi() == 0) skip();
    char dir[] = "/tmp/gg-worker-XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* Zeroed: load_extension was left to whatever the stack held, which in
     * the ASan build (its own stack layout) was often nonzero, so the plain
     * "odbc" worker ran load_extension too and died by ABRT. */
    odbc_case oc;
    memset(&oc, 0, sizeof oc);
    snprintf(oc.db, sizeof oc.db, "%s/src.db", dir);
    snprintf(oc.other, sizeof oc.other, "%s/state.db", dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s 'CREATE TABLE pay(a); INSERT INTO pay VALUES (1),(2),(3);' && "
             "sqlite3 %s 'CREATE TABLE secret(a); INSERT INTO secret VALUES (42);'", oc.db, oc.other);
    assert_int_equal(system(cmd), 0);
    const char *paths[] = {oc.db, NULL};
    odbc_case oc2 = oc;
    oc2.load_extension = 1;
    worker_spec specs[] = {{.name = "odbc", .fn = w_odbc, .ud = &oc, .read_paths = paths},
                           {.name = "odbc-ext", .fn = w_odbc, .ud = &oc2, .read_paths = paths}};
    worker_limits lim = {.deadline_s = 10};
    worker_result res[2];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    assert_int_equal(worker_run_all(specs, 2, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    for (int i = 0; i < 2; i++)
        if (res[i].status != (i == 0 ? WORKER_OK : WORKER_SIGNAL)) print_message("%s\n", res[i].message);
    assert_int_equal(res[0].status, WORKER_OK);
    CONTAINS(c.logs[0], "count: 3");
    assert_null(strstr(c.logs[0], "load_extension"));
    CONTAINS(c.logs[0], "attach: error: [SQLite]unable to open database");
    /* Debian's driver lets the extension load: libc's abort() ends only that
     * worker (RLIMIT_CORE 0: no core with the secrets), the other completed. */
    assert_int_equal(res[1].status, WORKER_SIGNAL);
    assert_int_equal(res[1].signal, SIGABRT);
    CONTAINS(res[1].message, "source odbc-ext: killed by ABRT: aborted");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_forbidden_syscalls(void **state) {
    (void)state;
    worker_spec specs[] = {
        {.name = "tracer", .fn = w_ptrace},
        {.name = "execer", .fn = w_execve},
        {.name = "nsuser", .fn = w_unshare},
    };
    worker_limits lim = {.deadline_s = 5};
    worker_result res[3];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    assert_int_equal(worker_run_all(specs, 3, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    const char *calls[] = {"ptrace", "execve", "unshare"};
    for (int i = 0; i < 3; i++) {
        print_message("%s\n", res[i].message);
        assert_int_equal(res[i].status, WORKER_SIGNAL);
        assert_int_equal(res[i].signal, SIGSYS);
        CONTAINS(res[i].message, "killed: forbidden system call");
        CONTAINS(res[i].message, calls[i]);
    }
    CONTAINS(res[0].message, "source tracer: killed: forbidden system call ptrace (nr ");
    CONTAINS(res[0].message, "stream 0 'pay' unfinished");
}

static void test_cpu_limit_and_protocol(void **state) {
    (void)state;
    /* 1 s of CPU can take several seconds of wall clock on a loaded machine:
     * the deadline is far enough that SIGXCPU comes first. The spinner's
     * limits are its own; the liar runs with the run's. */
    worker_limits spin_lim = {.deadline_s = 20, .cpu_s = 1};
    worker_spec specs[] = {
        {.name = "spinner", .fn = w_cpu, .lim = &spin_lim},
        {.name = "liar", .fn = w_protocol},
    };
    worker_limits lim = {.deadline_s = 20};
    worker_result res[2];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(worker_run_all(specs, 2, &lim, 0, on_frame, &c, res, err, sizeof err), 0);
    assert_true(ms_since(&t0) < 20000);
    assert_int_equal(res[0].status, WORKER_SIGNAL);
    assert_int_equal(res[0].signal, SIGXCPU);
    CONTAINS(res[0].message, "source spinner: CPU time limit of 1 s exceeded");
    assert_int_equal(res[1].status, WORKER_PROTOCOL);
    CONTAINS(res[1].message, "source liar: channel protocol error: frame at byte 0: FACT for stream 7 outside");
    assert_true(res[1].elapsed_ms < 3000); /* killed at once, not at the deadline */
}

static void test_concurrent(void **state) {
    (void)state;
    worker_spec specs[] = {
        {.name = "slow1", .fn = w_sleep},
        {.name = "slow2", .fn = w_sleep},
    };
    worker_limits lim = {.deadline_s = 5};
    worker_result res[2];
    consumer c;
    memset(&c, 0, sizeof c);
    char err[256];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(worker_run_all(specs, 2, &lim, 2, on_frame, &c, res, err, sizeof err), 0);
    long both = ms_since(&t0);
    assert_int_equal(res[0].status, WORKER_OK);
    assert_int_equal(res[1].status, WORKER_OK);
    assert_int_equal(c.committed[0] + c.committed[1], 400);
    assert_true(both >= 1000 && both < 1900); /* max, not sum (2000) */

    /* One at a time: the sum. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(worker_run_all(specs, 2, &lim, 1, on_frame, &c, res, err, sizeof err), 0);
    long serial = ms_since(&t0);
    assert_true(serial >= 2000);
    assert_int_equal(res[1].status, WORKER_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_crash_and_others_complete),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_files_and_fds),
        cmocka_unit_test(test_odbc_sqlite_in_sandbox),
        cmocka_unit_test(test_forbidden_syscalls),
        cmocka_unit_test(test_cpu_limit_and_protocol),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
