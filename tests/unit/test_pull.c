/* test_pull.c - app/pull.c with real worker processes and real adapters:
 * streams of concurrent sources reach the consumer one at a time, whole and
 * in order, also when the frames that wait go to the spool file; a stream
 * that fails (Lua error) or whose worker is killed (deadline) ends failed,
 * and the other sources' streams end ok with all their facts; rows stored
 * unchanged reach the consumer as SEEN ref hashes, the others as facts; two
 * workers of one source (one adapter, one name: app/cycle.c's split by kind)
 * run side by side, the stuck one failing alone. Also
 * the workers' data-quality pre-check against the register (app/ingest.h),
 * and gated jobs (the early phase 2): applied only after the others, or
 * dropped whole with their worker stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "app/ingest.h"
#include "app/pull.h"
#include "store/state.h"

static char tmpdir[64];

typedef struct seen {
    state *st;              /* when set, facts are stored (test_unchanged_stop_at_the_worker) */
    long nseen[4];          /* ref hashes in SEEN frames, per job */
    const char *source;     /* every fact's source, when set (else a, b, c by job) */
    long open_job;          /* job whose stream is open, or -1 */
    size_t open_stream;
    int overlaps, wrong_stream;
    long facts[4][2];       /* per job and stream */
    long raw_built[4][2];   /* raw JSON the worker built, per job and stream */
    int ended[4][2], ok[4][2], begun[4][2];
    int end_seq[4][2];      /* the order of the ends, from 1 */
    int nends;
    double t_begin[4], t_end[4]; /* when the job's (last) stream began and ended here, monotonic s */
    char error[4][2][600];
    /* gated jobs (test_gated_*): the gate's answers and what it saw */
    const char *gate_early;       /* answers to the successive gate(ud, 0): '0', '1', '2' */
    int gate_final;               /* answer to gate(ud, 1) */
    int gate_calls[2];            /* calls with all_ended 0 and 1 */
    int gate_before_ungated_end;  /* gate(ud, 1) asked while job 0 had not ended */
    int gated_begun_early;        /* job 1 (gated) began before gate(ud, 1) */
    /* streams ended while queued (test_gate_asked_on_arrival) */
    long slow_fact_us;            /* the consumer takes this long over each fact of job 0 */
    int arrived[4], arrived_clean[4], arrived_while_job0_open;
    int gate_calls_at_job0_end;
    /* the row memo of job 0's stream (test_raw_value_change) */
    uint64_t memo_token, *memo;
    size_t nmemo, memo_cap;
    int memo_stands;
    long taken[4];                /* rows the worker took by their row hash */
    /* pull_apply.prepare (gated_case): calls per job, and what they saw */
    int prepared[4];
    int prepared_with_job0_ended[4], prepared_with_stream_open[4];
    pull_filter *prep_flt;        /* the gated job's filter: its day is set by the prepare */
} seen;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void c_begin(void *ud, size_t job, size_t stream) {
    seen *s = ud;
    s->t_begin[job] = now_s();
    if (job == 1 && s->gate_calls[1] == 0) s->gated_begun_early++;
    if (s->open_job >= 0) s->overlaps++;
    s->open_job = (long)job;
    s->open_stream = stream;
}

static void c_fact(void *ud, size_t job, size_t stream, fact *f) {
    seen *s = ud;
    if (s->open_job != (long)job || s->open_stream != stream || strcmp(f->source, s->source ? s->source : (const char *[]){"a", "b", "c", "d"}[job]))
        s->wrong_stream++;
    s->facts[job][stream]++;
    if (s->st) assert_int_equal(state_fact_put(s->st, f, 1), 0);
    if (job == 0 && s->slow_fact_us) usleep((useconds_t)s->slow_fact_us);
}

static void c_arrived(void *ud, size_t job, size_t stream, int clean) {
    seen *s = ud;
    (void)stream;
    s->arrived[job]++;
    s->arrived_clean[job] += clean;
    if (s->open_job == 0) s->arrived_while_job0_open++;
}

static void c_seen(void *ud, size_t job, size_t stream, const uint64_t *h, size_t n) {
    seen *s = ud;
    (void)h;
    if (s->open_job != (long)job || s->open_stream != stream) s->wrong_stream++;
    s->nseen[job] += (long)n;
}

static void c_reject(void *ud, size_t job, size_t stream, const char *ref, const char *reason, const char *raw) {
    (void)ud, (void)job, (void)stream, (void)ref, (void)reason, (void)raw;
    fail_msg("unexpected reject: %s", reason);
}

static void c_end(void *ud, size_t job, size_t stream, const pull_stream_end *e) {
    seen *s = ud;
    if (e->begun && (s->open_job != (long)job || s->open_stream != stream)) s->wrong_stream++;
    if (e->begun) s->open_job = -1;
    s->ended[job][stream]++;
    s->end_seq[job][stream] = ++s->nends;
    s->t_end[job] = now_s();
    if (job == 0) s->gate_calls_at_job0_end = s->gate_calls[0];
    s->ok[job][stream] = e->ok;
    s->begun[job][stream] = e->begun;
    s->raw_built[job][stream] = e->raw_built;
    s->taken[job] = e->passed;
    snprintf(s->error[job][stream], sizeof s->error[job][stream], "%s", e->error ? e->error : "");
}

static void c_memo(void *ud, size_t job, size_t stream, uint64_t token, int stands, const uint64_t *h, size_t n) {
    seen *s = ud;
    (void)job, (void)stream;
    s->memo_token = token;
    s->memo_stands |= stands;
    if (s->nmemo + n > s->memo_cap) {
        s->memo_cap = (s->nmemo + n) * 2;
        s->memo = realloc(s->memo, s->memo_cap * sizeof *s->memo);
        assert_non_null(s->memo);
    }
    if (n) memcpy(s->memo + s->nmemo, h, n * sizeof *h);
    s->nmemo += n;
}

/* pull_apply.prepare: before the job's worker forks. The gated job's day is
 * set here only: a worker that did not inherit it would reject every death
 * (its date more than a year after 1900-01-01) and fail the test. */
static void c_prepare(void *ud, size_t job) {
    seen *s = ud;
    s->prepared[job]++;
    s->prepared_with_job0_ended[job] += s->ended[0][0];
    s->prepared_with_stream_open[job] += s->open_job >= 0;
    if (job == 1 && s->prep_flt) s->prep_flt->today = 20250630;
}

static int c_gate(void *ud, int all_ended) {
    seen *s = ud;
    s->gate_calls[all_ended ? 1 : 0]++;
    if (all_ended && !s->ended[0][0]) s->gate_before_ungated_end++;
    if (all_ended) return s->gate_final;
    size_t k = (size_t)s->gate_calls[0] - 1, n = strlen(s->gate_early);
    return s->gate_early[k < n ? k : n - 1] - '0';
}

static const char *write_file(const char *name, const char *text) {
    static char path[3][256];
    static int k;
    char *p = path[k++ % 3];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

#define EMITTER(N)                                                                                         \
    "  kind = 'death', pull = function(ctx)\n"                                                             \
    "    for i = 1, " #N " do\n"                                                                           \
    "      ctx.emit{ ref = ctx.stream .. i, id_no = '42050219500101' .. string.format('%04d', i % 10000),\n" \
    "                name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n"                      \
    "    end\n"                                                                                            \
    "  end },\n"

static void run_case(size_t mem_bound) {
    char err[1024];
    gg_source_conf src[3];
    memset(src, 0, sizeof src);
    const char *names[3] = {"a", "b", "c"};
    const char *paths[3];
    paths[0] = write_file("a.lua", "return { streams = {\n  one = {" EMITTER(3000) "  two = {" EMITTER(2000) "} }\n");
    paths[1] = write_file("b.lua", "return { streams = {\n  one = {" EMITTER(5000) "} }\n");
    paths[2] = write_file("c.lua",
                          "return { streams = {\n"
                          "  broken = { kind = 'death', pull = function(ctx)\n"
                          "    for i = 1, 100 do ctx.emit{ ref = 'x' .. i, id_no = '420502195001010011', name = '李四',\n"
                          "      death_date = '2024-01-01', basis = 'cremation' } end\n"
                          "    error('the source broke')\n"
                          "  end },\n"
                          "  hang = { kind = 'death', pull = function(ctx)\n"
                          "    for i = 1, 50 do ctx.emit{ ref = 'h' .. i, id_no = '420502195001010011', name = '李四',\n"
                          "      death_date = '2024-01-01', basis = 'cremation' } end\n"
                          "    while true do end\n"
                          "  end },\n"
                          "} }\n");
    adapter *ad[3];
    pull_job jobs[3];
    size_t streams[3][2] = {{0, 1}, {0, 0}, {0, 1}};
    char *wm[3][2] = {{NULL, NULL}, {NULL, NULL}, {NULL, NULL}};
    long marks[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 3; i++) {
        src[i].name = (char *)names[i];
        src[i].encoding = "UTF-8";
        src[i].enabled = 1;
        src[i].deadline_ms = 60000;
        src[i].memory_mb = 128;
        ad[i] = adapter_load(&src[i], paths[i], err, sizeof err);
        assert_non_null(ad[i]);
        jobs[i] = (pull_job){.name = names[i], .ad = ad[i], .nstreams = i == 1 ? 1 : 2, .streams = streams[i],
                             .wm_in = wm[i], .lookup_mark = marks[i]};
        jobs[i].lim.deadline_s = i == 2 ? 3 : 60;
        jobs[i].read_paths[0] = NULL;
    }
    /* planned order: "one"/"broken" first, "two"/"hang" second */
    for (int i = 0; i < 3; i++)
        for (size_t k = 0; k < adapter_stream_count(ad[i]); k++) {
            const char *n = adapter_stream(ad[i], k)->name;
            size_t j = !strcmp(n, "two") || !strcmp(n, "hang") ? 1 : 0;
            streams[i][j] = k;
        }
#if defined(__SANITIZE_ADDRESS__)
    /* Let the adapters' watchdog threads finish starting before the fork:
     * gcc's ASan sets a new thread up under allocator locks and has no fork
     * handler, so a fork during that setup leaves the child blocked on a copy
     * of a held lock (glibc's malloc, in the normal build, handles fork). */
    usleep(300 * 1000);
#endif
    seen s;
    memset(&s, 0, sizeof s);
    s.open_job = -1;
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .ud = &s};
    assert_int_equal(pull_run(jobs, 3, &flt, 3, tmpdir, mem_bound, &ap, err, sizeof err), 0);
    assert_int_equal(s.overlaps, 0);
    assert_int_equal(s.wrong_stream, 0);
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < jobs[i].nstreams; j++) assert_int_equal(s.ended[i][j], 1);
    /* a: both streams whole */
    assert_true(s.ok[0][0] && s.ok[0][1] && s.ok[1][0]);
    long fa0 = s.facts[0][streams[0][0]], fa1 = s.facts[0][streams[0][1]], fb = s.facts[1][streams[1][0]];
    assert_int_equal(fa0 + fa1, 5000);
    assert_int_equal(fb, 5000);
    /* c: the Lua error fails its stream with file:line; the hang is killed */
    size_t cb = streams[2][0], ch = streams[2][1];
    assert_false(s.ok[2][cb]);
    assert_non_null(strstr(s.error[2][cb], "the source broke"));
    assert_non_null(strstr(s.error[2][cb], "c.lua:"));
    assert_false(s.ok[2][ch]);
    /* its wall-clock deadline or its CPU limit, whichever the scheduler makes come first */
    if (!strstr(s.error[2][ch], "deadline of 3 s exceeded") &&
        !strstr(s.error[2][ch], "CPU time limit of 3 s exceeded"))
        fail_msg("the hang was stopped for another reason: %s", s.error[2][ch]);
    for (int i = 0; i < 3; i++) adapter_free(ad[i]);
    /* the spool file was unlinked: nothing is left in the directory but the adapters */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -vc '\\.lua$') -eq 0", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_streams_one_at_a_time_in_memory(void **state) {
    (void)state;
    run_case(0);
}

static void test_streams_one_at_a_time_spooled(void **state) {
    (void)state;
    run_case(1); /* every waiting frame goes to the spool file */
}

/* One source in two workers (a job per kind, as app/cycle.c plans them):
 * both forked from the same loaded adapter, under the source's name. The
 * first worker's stream emits and then hangs until its deadline; the
 * second's stream runs meanwhile, and the frames of whichever waits for the
 * writer are kept (in memory, or all in the spool file) and applied whole:
 * the second ends ok with every fact, the first fails alone, named. Each
 * stream ends once. */
static void split_case(size_t mem_bound) {
    char err[1024];
    gg_source_conf src;
    memset(&src, 0, sizeof src);
    src.name = "s";
    src.encoding = "UTF-8";
    src.enabled = 1;
    src.deadline_ms = 60000;
    src.memory_mb = 128;
    const char *path = write_file("s.lua", "return { streams = {\n"
                                           "  first = { kind = 'death', pull = function(ctx)\n"
                                           "    for i = 1, 20 do ctx.emit{ ref = 'f' .. i, id_no = '420502195001010011',\n"
                                           "      name = '李四', death_date = '2024-01-01', basis = 'cremation' } end\n"
                                           "    while true do end\n"
                                           "  end },\n"
                                           "  second = {" EMITTER(4000) "} }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    size_t streams[2] = {0, 0};
    for (size_t k = 0; k < adapter_stream_count(ad); k++)
        streams[strcmp(adapter_stream(ad, k)->name, "second") == 0] = k;
    char *wm[2] = {NULL, NULL};
    long marks[2] = {-1, -1};
    pull_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 2; i++) {
        jobs[i] = (pull_job){.name = "s", .ad = ad, .nstreams = 1, .streams = &streams[i], .wm_in = &wm[i],
                             .lookup_mark = &marks[i]};
        jobs[i].lim.deadline_s = i == 0 ? 2 : 60;
        jobs[i].lim.cpu_s = 60; /* the wall deadline, not RLIMIT_CPU (default: the deadline), ends the loop */
    }
#if defined(__SANITIZE_ADDRESS__)
    usleep(300 * 1000); /* as in run_case */
#endif
    seen s;
    memset(&s, 0, sizeof s);
    s.open_job = -1;
    s.source = "s";
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .ud = &s};
    assert_int_equal(pull_run(jobs, 2, &flt, 2, tmpdir, mem_bound, &ap, err, sizeof err), 0);
    assert_int_equal(s.overlaps, 0);
    assert_int_equal(s.wrong_stream, 0);
    size_t f = streams[0], g = streams[1];
    assert_int_equal(s.ended[0][f], 1);
    assert_int_equal(s.ended[1][g], 1);
    assert_false(s.ok[0][f]);
    assert_true(s.begun[0][f]);
    assert_non_null(strstr(s.error[0][f], "source s: deadline of 2 s exceeded"));
    assert_non_null(strstr(s.error[0][f], "'first' unfinished"));
    assert_true(s.ok[1][g]);
    assert_int_equal(s.facts[1][g], 4000);
    adapter_free(ad);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -vc '\\.lua$') -eq 0", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_one_source_two_workers(void **state) {
    (void)state;
    split_case(0);
}

static void test_one_source_two_workers_spooled(void **state) {
    (void)state;
    split_case(1);
}

/* Two sources pulled twice: the second time every row stored unchanged
 * reaches the consumer as a ref hash (SEEN), also when its frames waited in
 * the spool; a row stored with another content, one with an invalid id and
 * one never stored come as facts, and so does a later row with the ref of a
 * fact sent (the core compares it). */
#define VALID_EMITTER(N)                                                                                   \
    "  kind = 'death', pull = function(ctx)\n"                                                             \
    "    for i = 1, " #N " do\n"                                                                           \
    "      ctx.emit{ ref = ctx.stream .. i, id_no = '11010519491231002X',\n"                                \
    "                name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n"                      \
    "    end\n"                                                                                            \
    "    ctx.emit{ ref = 'bad', id_no = '110105194912310021', name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n" \
    "    ctx.emit{ ref = ctx.stream .. '1', id_no = '11010519491231002X', name = '李四', death_date = '2024-01-01', basis = 'cremation' }\n" \
    "    ctx.emit{ ref = ctx.stream .. '2', id_no = '11010519491231002X', name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n" \
    "  end },\n"

static void sql_exec(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void pull_twice(size_t mem_bound) {
    char err[1024], path[128];
    snprintf(path, sizeof path, "%s/known.db", tmpdir);
    state *st = state_open(path, err, sizeof err);
    assert_non_null(st);
    gg_source_conf src[2];
    memset(src, 0, sizeof src);
    const char *names[2] = {"a", "b"};
    const char *paths[2];
    paths[0] = write_file("ka.lua", "return { streams = {\n  one = {" VALID_EMITTER(3000) "} }\n");
    paths[1] = write_file("kb.lua", "return { streams = {\n  one = {" VALID_EMITTER(4000) "} }\n");
    adapter *ad[2];
    pull_job jobs[2];
    size_t streams[2] = {0, 0};
    char *wm[2] = {NULL, NULL};
    long marks[2] = {-1, -1};
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 2; i++) {
        src[i].name = (char *)names[i];
        src[i].encoding = "UTF-8";
        src[i].enabled = 1;
        src[i].deadline_ms = 60000;
        src[i].memory_mb = 128;
        ad[i] = adapter_load(&src[i], paths[i], err, sizeof err);
        assert_non_null(ad[i]);
        jobs[i] = (pull_job){.name = names[i], .ad = ad[i], .nstreams = 1, .streams = &streams[i],
                             .wm_in = &wm[i], .lookup_mark = &marks[i]};
        jobs[i].lim.deadline_s = 60;
    }
#if defined(__SANITIZE_ADDRESS__)
    usleep(300 * 1000); /* as in run_case */
#endif
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    long want_rows[2] = {3000 + 3, 4000 + 3};
    for (int round = 0; round < 2; round++) {
        seen s;
        memset(&s, 0, sizeof s);
        s.open_job = -1;
        s.st = round == 0 ? st : NULL;
        if (round == 1) {
            for (int i = 0; i < 2; i++) {
                assert_int_equal(pull_known_load(&jobs[i].known[FK_DEATH], st, names[i], FK_DEATH), 0);
                /* one<=2998 stored once, 'bad' and one1/one2 (sent last) stored */
                assert_int_equal((long)jobs[i].known[FK_DEATH].n, want_rows[i] - 2);
            }
            /* one7 of a: stored with another content; one9 of b: never stored */
            sql_exec(path, "UPDATE facts SET content_hash = content_hash + 1 WHERE source = 'a' AND ref = 'one7';"
                           "DELETE FROM facts WHERE source = 'b' AND ref = 'one9'");
            pull_known_free(&jobs[0].known[FK_DEATH]);
            pull_known_free(&jobs[1].known[FK_DEATH]);
            for (int i = 0; i < 2; i++)
                assert_int_equal(pull_known_load(&jobs[i].known[FK_DEATH], st, names[i], FK_DEATH), 0);
        }
        pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .seen = c_seen, .ud = &s};
        assert_int_equal(pull_run(jobs, 2, &flt, 2, tmpdir, mem_bound, &ap, err, sizeof err), 0);
        assert_int_equal(s.overlaps, 0);
        assert_int_equal(s.wrong_stream, 0);
        for (int i = 0; i < 2; i++) {
            assert_true(s.ok[i][0]);
            assert_int_equal(s.facts[i][0] + s.nseen[i], want_rows[i]);
            if (round == 0) {
                assert_int_equal(s.nseen[i], 0); /* nothing stored yet */
            } else {
                /* facts: 'bad' (invalid id), the changed (a) or missing (b)
                 * one, and one1 twice: stored as its later row, its first
                 * row differs, and once that was sent the core compares the
                 * later one (one2, sent as SEEN, stays SEEN) */
                if (s.facts[i][0] != 4) fail_msg("job %d, second pull: %ld facts, want 4", i, s.facts[i][0]);
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        pull_known_free(&jobs[i].known[FK_DEATH]);
        adapter_free(ad[i]);
    }
    state_close(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/known.db*", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_unchanged_stop_at_the_worker(void **state) {
    (void)state;
    pull_twice(0);
}

static void test_unchanged_stop_at_the_worker_spooled(void **state) {
    (void)state;
    pull_twice(1);
}

/* A payment/income row of no interest with a valid id: the worker sends it to
 * the core only when it may disagree with the register. */
static fact row(const char *ref, const char *id, const char *name, int birth) {
    fact f;
    char err[200];
    fact_init(&f, FK_PAYMENT);
    f.source = strdup("hr");
    f.ref = strdup(ref);
    assert_int_equal(fact_set_text(&f, FF_ID_NO, id, err, sizeof err), 0);
    if (name) assert_int_equal(fact_set_text(&f, FF_NAME, name, err, sizeof err), 0);
    if (birth) assert_int_equal(fact_set_int(&f, FF_BIRTH_DATE, birth, err, sizeof err), 0);
    fact_normalize_identity(&f, NULL, 20250101);
    return f;
}

/* A valid id number (GB 11643 check digit) for i < 6000, distinct for each. */
static void make_id(int i, char out[19]) {
    snprintf(out, 19, "11010519600101%03d", i % 1000);
    out[8] = (char)('4' + i / 1000); /* born 1940..1990: distinct ids past 1000 (i < 6000) */
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int k = 0; k < 17; k++) sum += (out[k] - '0') * w[k];
    out[17] = "10X98765432"[sum % 11];
    out[18] = '\0';
}

static void test_register_precheck(void **stp) {
    (void)stp;
    char path[128], err[300];
    snprintf(path, sizeof path, "%s/reg.db", tmpdir);
    state *st = state_open(path, err, sizeof err);
    assert_non_null(st);
    const char *A = "11010519491231002X", *B = "110105195001010020";
    fact p = row("P1", A, "张三", 0), q = row("P2", A, "張三", 0); /* two spellings for A; none for B */
    p.kind = q.kind = FK_PERSON;
    assert_int_equal(state_fact_put(st, &p, 1), 0);
    assert_int_equal(state_fact_put(st, &q, 1), 0);
    fact_clear(&p);
    fact_clear(&q);
    ingest_register reg;
    assert_int_equal(ingest_register_load(&reg, st), 0);
    assert_int_equal(reg.ids.n, 1); /* one id, duplicates dropped */
    assert_int_equal(reg.pairs.n, 2);
    struct {
        const char *id, *name;
        int birth, expect;
    } cases[] = {
        {A, "张三", 0, 0},        /* as the register writes it */
        {A, "張三", 0, 0},        /* the other spelling the register holds */
        {A, "李四", 0, 1},        /* another name: the core decides */
        {A, NULL, 0, 0},          /* no name, no birth date */
        {A, "张三", 19491231, 0}, /* the id's birth date */
        {A, "张三", 19500101, 1}, /* another birth date */
        {B, "李四", 0, 0},        /* no person fact for the id: nothing to disagree with */
        {B, NULL, 19600101, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fact f = row("R", cases[i].id, cases[i].name, cases[i].birth);
        assert_int_equal(f.id_status, ID_OK);
        if (ingest_register_may_conflict(&reg, f.id_norm, &f) != cases[i].expect) fail_msg("case %zu", i);
        fact_clear(&f);
    }
    ingest_register_free(&reg);

    /* Many ids, so that the register's buckets hold several: every
     * id with its own name agrees, with another name may disagree; an id
     * without a person fact cannot. */
    enum { MANY = 3000 };
    char ids[MANY][19], names[MANY][32];
    assert_int_equal(state_begin(st), 0);
    for (int i = 0; i < 2 * MANY; i++) {
        char id[19];
        make_id(i, id);
        if (i < MANY) {
            memcpy(ids[i], id, sizeof id);
            snprintf(names[i], sizeof names[i], "王%d", i);
        }
        if (i % 2) continue; /* odd ids: no person fact */
        char ref[32];
        snprintf(ref, sizeof ref, "M%d", i);
        char nm[32];
        snprintf(nm, sizeof nm, "王%d", i);
        fact m = row(ref, id, nm, 0);
        m.kind = FK_PERSON;
        assert_int_equal(state_fact_put(st, &m, 1), 0);
        fact_clear(&m);
    }
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(ingest_register_load(&reg, st), 0);
    assert_int_equal(reg.ids.n, MANY + 1); /* A and the MANY even ids below 2 * MANY */
    for (int i = 0; i < MANY; i++) {
        fact same = row("R", ids[i], names[i], 0), other = row("R", ids[i], "李四", 0);
        assert_int_equal(same.id_status, ID_OK);
        int has = i % 2 == 0;
        if (ingest_register_may_conflict(&reg, same.id_norm, &same) != 0) fail_msg("id %d, own name", i);
        if (ingest_register_may_conflict(&reg, other.id_norm, &other) != has) fail_msg("id %d, other name", i);
        fact_clear(&same);
        fact_clear(&other);
    }
    ingest_register_free(&reg);
    /* not loaded: every named row goes to the core */
    reg.all = 1;
    fact f = row("R", B, "李四", 0);
    assert_int_equal(ingest_register_may_conflict(&reg, f.id_norm, &f), 1);
    fact_clear(&f);
    state_close(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/reg.db*", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Whether two registers hold the same sets. */
static void assert_same_register(const ingest_register *a, const ingest_register *b) {
    assert_int_equal(a->ids.n, b->ids.n);
    assert_int_equal(a->pairs.n, b->pairs.n);
    assert_memory_equal(a->ids.h, b->ids.h, a->ids.n * sizeof *a->ids.h);
    assert_memory_equal(a->pairs.h, b->pairs.h, a->pairs.n * sizeof *a->pairs.h);
}

static void put_named_persons(state *st, int from, int to) {
    assert_int_equal(state_begin(st), 0);
    for (int i = from; i < to; i++) {
        char id[19], ref[32], nm[32];
        make_id(i, id);
        snprintf(ref, sizeof ref, "M%d", i);
        snprintf(nm, sizeof nm, "王%d", i);
        fact m = row(ref, id, nm, 0);
        m.kind = FK_PERSON;
        assert_int_equal(state_fact_put(st, &m, 1), 0);
        fact_clear(&m);
    }
    assert_int_equal(state_commit(st), 0);
}

/* The register read on a thread beside the core is the register the core
 * reads: the same sets, the cache written for the next load (then mapped at
 * once); persons written while it reads make the end read them again; a
 * reader that cannot open leaves the read to the core; a cancelled job
 * leaves nothing behind. */
static void test_register_read_beside_the_core(void **stp) {
    (void)stp;
    char path[128], regfile[160], err[300];
    snprintf(path, sizeof path, "%s/regjob.db", tmpdir);
    snprintf(regfile, sizeof regfile, "%s.register", path);
    state *st = state_open(path, err, sizeof err);
    assert_non_null(st);
    put_named_persons(st, 0, 2000);
    unlink(regfile);
    ingest_register_job *job = ingest_register_begin(st);
    assert_non_null(job);
    assert_int_equal(state_fact_count(st, FK_PERSON), 2000); /* the core reads meanwhile */
    ingest_register beside, core;
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_null(beside.map.map); /* read, not mapped */
    assert_int_equal(beside.ids.n, 2000);
    assert_int_equal(access(regfile, F_OK), 0); /* kept for the next load */
    unlink(regfile);
    assert_int_equal(ingest_register_load(&core, st), 0);
    assert_same_register(&beside, &core);
    ingest_register_free(&beside);
    /* the cache is current now: mapped at once, the same sets */
    job = ingest_register_begin(st);
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_non_null(beside.map.map);
    assert_same_register(&beside, &core);
    ingest_register_free(&beside);
    ingest_register_free(&core);
    /* persons written while it reads: read again, with them */
    unlink(regfile);
    job = ingest_register_begin(st);
    put_named_persons(st, 2000, 2010);
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_int_equal(beside.ids.n, 2010);
    ingest_register_free(&beside);
    /* persons written after the cache was mapped: read again, with them */
    job = ingest_register_begin(st);
    put_named_persons(st, 2010, 2012);
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_null(beside.map.map);
    assert_int_equal(beside.ids.n, 2012);
    ingest_register_free(&beside);
    /* a read that fails on the thread (the index it reads is gone): the end
     * reads again on the core, which fails the same way: -1, an empty
     * register, nothing leaked; with the index back it reads again */
    unlink(regfile);
    sql_exec(path, "DROP INDEX facts_person_names");
    job = ingest_register_begin(st);
    assert_int_equal(ingest_register_end(job, &beside, st), -1);
    assert_int_equal(beside.ids.n, 0);
    ingest_register_free(&beside);
    sql_exec(path, "CREATE INDEX facts_person_names ON facts(id_norm, name_hash, name_norm, kind)"
                   " WHERE kind = 'person'");
    job = ingest_register_begin(st);
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_int_equal(beside.ids.n, 2012);
    ingest_register_free(&beside);
    /* cancelled: joined and freed (the sanitizer build checks the leak) */
    unlink(regfile);
    job = ingest_register_begin(st);
    ingest_register_cancel(job);
    ingest_register_cancel(NULL);
    /* no reader (the file is gone; the core still holds it open): the end
     * reads on the core */
    char moved[160];
    snprintf(moved, sizeof moved, "%s.away", path);
    unlink(regfile);
    assert_int_equal(rename(path, moved), 0);
    job = ingest_register_begin(st);
    assert_int_equal(ingest_register_end(job, &beside, st), 0);
    assert_int_equal(beside.ids.n, 2012);
    ingest_register_free(&beside);
    assert_int_equal(ingest_register_end(NULL, &beside, st), 0); /* no job (out of memory): the core reads */
    assert_int_equal(beside.ids.n, 2012);
    ingest_register_free(&beside);
    state_close(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/regjob.db*", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* The core takes the id as the worker read it (the same day's reading, sent
 * with the fact): it is not read again; a fact nobody read (as an adapter
 * feeding the core directly hands it over) is read by the core. */
static void test_ingest_takes_worker_id(void **stp) {
    (void)stp;
    char path[128], err[300];
    snprintf(path, sizeof path, "%s/ing.db", tmpdir);
    state *st = state_open(path, err, sizeof err);
    assert_non_null(st);
    gg_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.st = st;
    ctx.today = 20250630;
    seen_set seen = {0};
    ingest_stream p;
    ingest_stream_begin(&p, &ctx, NULL, "hr", FK_PAYMENT, 1, 0, NULL, NULL, &seen);
    const char *A = "11010519491231002X", *B = "110105195001010020";
    /* not read: the core reads it */
    fact f = row("R1", A, NULL, 0);
    f.id_status = ID_EMPTY;
    f.id_norm[0] = f.id_clean[0] = '\0';
    f.raw_json = strdup("{}");
    assert_int_equal(ingest_fact(&p, "s", &f), 0);
    assert_int_equal(f.id_status, ID_OK);
    assert_string_equal(f.id_norm, A);
    fact_clear(&f);
    /* read by the worker: taken as sent (here a reading the core would not
     * make, to tell the two apart) */
    f = row("R2", B, NULL, 0);
    f.id_status = ID_BAD_CHECK;
    f.id_norm[0] = '\0';
    f.raw_json = strdup("{}");
    assert_int_equal(ingest_fact(&p, "s", &f), 0);
    assert_int_equal(f.id_status, ID_BAD_CHECK);
    assert_int_equal(p.invalid, 1);
    fact_clear(&f);
    /* no id at all */
    fact_init(&f, FK_PAYMENT);
    f.source = strdup("hr");
    f.ref = strdup("R3");
    f.raw_json = strdup("{}");
    assert_int_equal(ingest_fact(&p, "s", &f), 0);
    assert_int_equal(f.id_status, ID_EMPTY);
    assert_int_equal(p.invalid, 1);
    fact_clear(&f);
    assert_int_equal(p.failed, 0);
    ingest_stream_end(&p, 1);
    seen_free(&seen);
    state_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(ref || ':' || id_norm, ',') FROM"
                                            " (SELECT ref, id_norm FROM facts ORDER BY ref)", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "R1:11010519491231002X,R2:,R3:");
    sqlite3_finalize(q);
    sqlite3_close(db);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/ing.db*", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* A SQL source read twice by a worker: the second time a row whose raw value
 * changed in a column no field maps is sent again (its raw hash differs) with
 * its new raw values, and stored anew; the rows found unchanged go as ref
 * hashes, and the worker builds the raw JSON of none of them. With the row
 * memo (app/pull.h): the first read notes every row; the second takes every
 * row by its row hash, unmapped, and says the memo stands; the third maps
 * the two changed rows and a row whose stored fact changed behind the memo's
 * back (its content hash no longer the entry's), and takes the rest. */
static void test_raw_value_change(void **stp) {
    (void)stp;
    char err[1024], dbpath[128], statepath[128], spec[256];
    snprintf(dbpath, sizeof dbpath, "%s/rows.db", tmpdir);
    snprintf(statepath, sizeof statepath, "%s/rows-state.db", tmpdir);
    sql_exec(dbpath, "CREATE TABLE t (bh TEXT, sfzh TEXT, xm TEXT, swrq TEXT, bz TEXT);"
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)"
                     " INSERT INTO t SELECT 'R' || i, '11010519491231002X', '张三', '2024-01-01',"
                     " CASE WHEN i % 2 THEN 'x' ELSE NULL END FROM n;");
    const char *ap = write_file("rows.lua", "return { streams = { deaths = { kind = 'death', conn = 'db',\n"
                                            "  sql = [[SELECT bh, sfzh, xm, swrq, bz FROM t]], key = 'bh',\n"
                                            "  map = { id_no = 'sfzh', name = 'xm', death_date = date 'swrq',\n"
                                            "          basis = const 'cremation' } } } }\n");
    snprintf(spec, sizeof spec, "odbc:Driver=SQLite3;Database=%s", dbpath);
    gg_source_conf src;
    memset(&src, 0, sizeof src);
    src.name = "a";
    src.encoding = "UTF-8";
    src.enabled = 1;
    src.deadline_ms = 60000;
    src.memory_mb = 128;
    src.conns[0] = (gg_conn_conf){.name = "db", .spec = spec};
    src.nconns = 1;
    adapter *ad = adapter_load(&src, ap, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    state *st = state_open(statepath, err, sizeof err);
    assert_non_null(st);
    size_t stream = 0;
    char *wm = NULL;
    long mark = -1;
    uint64_t salt = 0x7e57, token = 0, *memo = NULL;
    size_t nmemo = 0;
    pull_job job = {.name = "a", .ad = ad, .nstreams = 1, .streams = &stream, .wm_in = &wm, .lookup_mark = &mark,
                    .memo_salt = &salt, .memo_token = &token, .memo = &memo, .nmemo = &nmemo};
    job.lim.deadline_s = 60;
    job.read_paths[0] = tmpdir;
#if defined(__SANITIZE_ADDRESS__)
    usleep(300 * 1000); /* as in run_case */
#endif
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    for (int round = 0; round < 3; round++) {
        /* round 1: nothing changed; round 2: R7's unmapped bz, R8's from NULL
         * to "", and R9's stored fact changed behind the memo */
        if (round == 2) {
            sql_exec(dbpath, "UPDATE t SET bz = 'y' WHERE bh = 'R7'; UPDATE t SET bz = '' WHERE bh = 'R8'");
            sql_exec(statepath, "UPDATE facts SET content_hash = content_hash + 1 WHERE ref = 'R9'");
        }
        if (round > 0) assert_int_equal(pull_known_load(&job.known[FK_DEATH], st, "a", FK_DEATH), 0);
        seen s;
        memset(&s, 0, sizeof s);
        s.open_job = -1;
        s.st = st;
        pull_apply pa = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .seen = c_seen,
                         .memo = c_memo, .ud = &s};
        assert_int_equal(pull_run(&job, 1, &flt, 1, tmpdir, 0, &pa, err, sizeof err), 0);
        if (!s.ok[0][0]) fail_msg("round %d: %s", round, s.error[0][0]);
        /* 10000 rows: the first read's memo goes in batches of 8192 entries */
        long want = round == 0 ? 10000 : round == 1 ? 0 : 3, taken = round == 0 ? 0 : 10000 - want;
        if (s.facts[0][0] != want || s.nseen[0] != 10000 - want || s.raw_built[0][0] != want || s.taken[0] != taken)
            fail_msg("round %d: %ld facts, %ld seen, %ld raw JSON built, %ld taken by row hash; want %ld facts, %ld taken",
                     round, s.facts[0][0], s.nseen[0], s.raw_built[0][0], s.taken[0], want, taken);
        /* (row hash, ref hash, content hash) a row; the memo stands when all were met */
        assert_int_equal(s.memo_stands, round == 1);
        assert_int_equal(s.nmemo, round == 1 ? 0 : 10000 * 3);
        if (!s.memo_stands) {
            free(memo);
            memo = s.memo;
            nmemo = s.nmemo;
            token = s.memo_token;
        } else {
            assert_int_equal(s.memo_token, token);
            free(s.memo);
        }
        pull_known_free(&job.known[FK_DEATH]);
    }
    free(memo);
    /* the raw values stored are the new row's, in the JSON the worker always built */
    char *raw = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(statepath, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT raw_json FROM facts WHERE ref = ?1", -1, &q, NULL), SQLITE_OK);
    const char *want[][2] = {{"R7", "{\"bh\":\"R7\",\"sfzh\":\"11010519491231002X\",\"xm\":\"张三\",\"swrq\":\"2024-01-01\",\"bz\":\"y\"}"},
                             {"R8", "{\"bh\":\"R8\",\"sfzh\":\"11010519491231002X\",\"xm\":\"张三\",\"swrq\":\"2024-01-01\",\"bz\":\"\"}"},
                             {"R6", "{\"bh\":\"R6\",\"sfzh\":\"11010519491231002X\",\"xm\":\"张三\",\"swrq\":\"2024-01-01\",\"bz\":null}"}};
    for (int i = 0; i < 3; i++) {
        sqlite3_bind_text(q, 1, want[i][0], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        raw = (char *)sqlite3_column_text(q, 0);
        assert_non_null(raw);
        assert_string_equal(raw, want[i][1]);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    state_close(st);
    adapter_free(ad);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/rows.db* %s/rows-state.db* %s/rows.lua", tmpdir, tmpdir, tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Rows passed over (app/pull.h): what one pull of a payment stream sent and
 * counted, as the core would keep it. */
typedef struct passed_seen {
    uint64_t token;
    int stands, frames, ended_ok;
    uint64_t *h;
    size_t n, cap;
    long facts, skipped, passed, rows;
} passed_seen;

static void p_begin(void *ud, size_t job, size_t stream) { (void)ud, (void)job, (void)stream; }
static void p_fact(void *ud, size_t job, size_t stream, fact *f) {
    (void)job, (void)stream, (void)f;
    ((passed_seen *)ud)->facts++;
}
static void p_passed(void *ud, size_t job, size_t stream, uint64_t token, int stands, const uint64_t *h, size_t n) {
    (void)job, (void)stream;
    passed_seen *p = ud;
    p->token = token;
    p->stands |= stands;
    p->frames++;
    if (p->n + n > p->cap) {
        p->cap = (p->n + n) * 2;
        p->h = realloc(p->h, p->cap * sizeof *p->h);
        assert_non_null(p->h);
    }
    if (n) memcpy(p->h + p->n, h, n * sizeof *h);
    p->n += n;
}
static void p_end(void *ud, size_t job, size_t stream, const pull_stream_end *e) {
    (void)job, (void)stream;
    passed_seen *p = ud;
    if (!e->ok) fail_msg("stream failed: %s", e->error ? e->error : "?");
    p->ended_ok = 1;
    p->skipped = e->skipped;
    p->passed = e->passed;
    p->rows = e->rows;
}

/* A payment stream read through ODBC (SQLite), 300 rows: ids 0..99 are of
 * interest (kept), the others not, and agree with the register (the
 * person facts of ids 0..299). Pull 1 passes nothing over and sends the 200
 * rows it dropped; pull 2 with that set passes all 200 over, unmapped, and
 * says the set stands; a changed row (an unmapped column), a row whose name
 * now disagrees with the register and a new row are mapped (the first and
 * the new one noted again, the second sent to the core), the rest passed
 * over; rows in another order are still found; another interest set or
 * register (another token) passes nothing over. */
static void test_rows_passed_over(void **stp) {
    (void)stp;
    char err[1024], dbpath[128], regpath[128], spec[256];
    snprintf(dbpath, sizeof dbpath, "%s/pay.db", tmpdir);
    snprintf(regpath, sizeof regpath, "%s/pay-state.db", tmpdir);
    sql_exec(dbpath, "CREATE TABLE p (lsh TEXT, sfzhm TEXT, xm TEXT, ffny TEXT, ffje TEXT, bz TEXT)");
    state *st = state_open(regpath, err, sizeof err);
    assert_non_null(st);
    strmap ids, ids2, cases;
    assert_int_equal(strmap_init(&ids, 128), 0);
    assert_int_equal(strmap_init(&ids2, 128), 0);
    assert_int_equal(strmap_init(&cases, 16), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(state_begin(st), 0);
    for (int i = 0; i < 300; i++) {
        char id[19], nm[32], sql[300];
        make_id(i, id);
        snprintf(nm, sizeof nm, "王%d", i);
        snprintf(sql, sizeof sql, "INSERT INTO p VALUES('L%d', '%s', '%s', '202401', '1200.00', 'x')", i, id, nm);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        fact person = row(nm, id, nm, 0); /* ref: the name, distinct */
        person.kind = FK_PERSON;
        assert_int_equal(state_fact_put(st, &person, 1), 0);
        if (i < 100) assert_int_equal(strmap_add(&ids, person.id_norm) >= 0, 1);
        if (i < 101) assert_int_equal(strmap_add(&ids2, person.id_norm) >= 0, 1);
        fact_clear(&person);
    }
    assert_int_equal(state_commit(st), 0);
    ingest_register reg;
    assert_int_equal(ingest_register_load(&reg, st), 0);
    const char *ap = write_file("pay.lua", "return { streams = { pay = { kind = 'payment', conn = 'db',\n"
                                           "  sql = [[SELECT lsh, sfzhm, xm, ffny, ffje, bz FROM p]], key = 'lsh',\n"
                                           "  map = { id_no = 'sfzhm', name = 'xm', period = month 'ffny',\n"
                                           "          amount = yuan 'ffje', program = const 'pension' } } } }\n");
    snprintf(spec, sizeof spec, "odbc:Driver=SQLite3;Database=%s", dbpath);
    gg_source_conf src;
    memset(&src, 0, sizeof src);
    src.name = "hr";
    src.encoding = "UTF-8";
    src.enabled = 1;
    src.deadline_ms = 60000;
    src.memory_mb = 128;
    src.conns[0] = (gg_conn_conf){.name = "db", .spec = spec};
    src.nconns = 1;
    adapter *ad = adapter_load(&src, ap, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    assert_true(adapter_stream(ad, 0)->pure);
    size_t stream = 0;
    char *wm = NULL;
    long mark = -1;
    uint64_t salt = 0x5a17, token = 0, *stored = NULL;
    size_t nstored = 0;
    pull_job job = {.name = "hr", .ad = ad, .nstreams = 1, .streams = &stream, .wm_in = &wm, .lookup_mark = &mark,
                    .memo_salt = &salt, .memo_token = &token, .memo = &stored, .nmemo = &nstored};
    job.lim.deadline_s = 60;
    job.read_paths[0] = tmpdir;
#if defined(__SANITIZE_ADDRESS__)
    usleep(300 * 1000); /* as in run_case */
#endif
    pull_filter flt = {.phase_stream = 1, .ids = &ids, .cases = &cases, .reg = &reg, .today = 20250630};
    /* each round: the change before it, then what the pull must show */
    struct {
        const char *sql;      /* change at the source before the pull */
        strmap *interest;
        long facts, passed, added; /* added: row hashes sent beside the stored ones met */
        int stands;
    } rounds[] = {
        {NULL, &ids, 100, 0, 200, 0},
        {NULL, &ids, 100, 200, 0, 1},
        {"UPDATE p SET bz = 'y' WHERE lsh = 'L150'; UPDATE p SET xm = '李四' WHERE lsh = 'L151';"
         "INSERT INTO p VALUES('L300', (SELECT sfzhm FROM p WHERE lsh = 'L299'), '王299', '202402', '1200.00', 'x')",
         &ids, 101, 198, 2, 0},
        /* the same rows, inserted in the reverse order */
        {"CREATE TABLE q AS SELECT * FROM p ORDER BY rowid DESC; DELETE FROM p; INSERT INTO p SELECT * FROM q;"
         "DROP TABLE q", &ids, 101, 200, 0, 1},
        {NULL, &ids2, 102, 0, 199, 0},
    };
    for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
        if (rounds[r].sql) assert_int_equal(sqlite3_exec(db, rounds[r].sql, NULL, NULL, NULL), SQLITE_OK);
        flt.ids = rounds[r].interest;
        passed_seen ps;
        memset(&ps, 0, sizeof ps);
        pull_apply pa = {.begin = p_begin, .fact = p_fact, .reject = c_reject, .end = p_end, .memo = p_passed,
                         .ud = &ps};
        assert_int_equal(pull_run(&job, 1, &flt, 1, tmpdir, 0, &pa, err, sizeof err), 0);
        assert_true(ps.ended_ok);
        long met = rounds[r].stands ? 0 : rounds[r].passed;
        if (ps.facts != rounds[r].facts || ps.passed != rounds[r].passed || ps.stands != rounds[r].stands ||
            (long)ps.n != met + rounds[r].added)
            fail_msg("round %zu: %ld facts, %ld passed over, stands %d, %zu row hashes sent; want %ld, %ld, %d, %ld", r,
                     ps.facts, ps.passed, ps.stands, ps.n, rounds[r].facts, rounds[r].passed, rounds[r].stands,
                     met + rounds[r].added);
        assert_int_equal(ps.rows, ps.facts + ps.skipped); /* every row counted read */
        if (r == 0) assert_int_not_equal(ps.token, 0);
        if (r == 4) assert_int_not_equal(ps.token, token); /* another interest set: another token */
        /* as the core keeps it: what was sent, or the stored set when it stands */
        if (!ps.stands) {
            free(stored);
            stored = ps.h;
            nstored = ps.n;
            token = ps.token;
        } else {
            assert_int_equal(ps.token, token);
            free(ps.h);
        }
    }
    free(stored);
    ingest_register_free(&reg);
    strmap_free(&ids);
    strmap_free(&ids2);
    strmap_free(&cases);
    sqlite3_close(db);
    state_close(st);
    adapter_free(ad);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -f %s/pay.db* %s/pay-state.db* %s/pay.lua", tmpdir, tmpdir, tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Gated jobs (app/cycle.c's early phase 2): job 0 runs free, job 1 is gated.
 * gate(ud, 0) is asked before the run and after job 0's stream (answers in
 * `early`: 2 starts job 1's worker, 1 waits, 0 drops). Job 1's stream reaches
 * the consumer only after job 0's has ended and gate(ud, 1) said yes (its
 * worker started then if it was not); a no then, or a 0 from gate(ud, 0),
 * drops job 1 whole: none of its streams is reported and its worker, endless
 * here (emitting, or silent as a query blocked at the source), is stopped,
 * or never started. */
static void gated_case(size_t mem_bound, const char *early, int final, int endless) {
    char err[1024];
    gg_source_conf src[2];
    memset(src, 0, sizeof src);
    const char *names[2] = {"a", "b"};
    const char *paths[2];
    paths[0] = write_file("ga.lua", "return { streams = {\n  one = {" EMITTER(3000) "} }\n");
    paths[1] = write_file("gb.lua", endless == 2 ? "return { streams = {\n" /* silent: as a query blocked at the source */
                                                    "  one = { kind = 'death', pull = function(ctx)\n"
                                                    "    while true do end\n"
                                                    "  end } } }\n"
                                    : endless ? "return { streams = {\n"
                                               "  one = { kind = 'death', pull = function(ctx)\n"
                                               "    local i = 0\n"
                                               "    while true do i = i + 1\n"
                                               "      ctx.emit{ ref = 'e' .. i, id_no = '420502195001010011', name = '李四',\n"
                                               "        death_date = '2024-01-01', basis = 'cremation' } end\n"
                                               "  end } } }\n"
                                             : "return { streams = {\n  one = {" EMITTER(5000) "} }\n");
    adapter *ad[2];
    pull_job jobs[2];
    size_t streams[2][1] = {{0}, {0}};
    char *wm[2][1] = {{NULL}, {NULL}};
    long marks[2][1] = {{-1}, {-1}};
    memset(jobs, 0, sizeof jobs);
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    pull_filter flt_gated = {.phase_stream = 0, .today = 19000101}; /* c_prepare sets the day */
    for (int i = 0; i < 2; i++) {
        src[i].name = (char *)names[i];
        src[i].encoding = "UTF-8";
        src[i].enabled = 1;
        src[i].deadline_ms = 60000;
        src[i].memory_mb = 128;
        ad[i] = adapter_load(&src[i], paths[i], err, sizeof err);
        assert_non_null(ad[i]);
        jobs[i] = (pull_job){.name = names[i], .ad = ad[i], .nstreams = 1, .streams = streams[i], .wm_in = wm[i],
                             .lookup_mark = marks[i], .gated = i == 1, .flt = i == 1 ? &flt_gated : NULL};
        jobs[i].lim.deadline_s = 60;
    }
#if defined(__SANITIZE_ADDRESS__)
    usleep(300 * 1000); /* see run_case */
#endif
    seen s;
    memset(&s, 0, sizeof s);
    s.open_job = -1;
    s.gate_early = early;
    s.gate_final = final;
    s.prep_flt = &flt_gated;
    pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .gate = c_gate,
                     .prepare = c_prepare, .ud = &s};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pull_run(jobs, 2, &flt, 2, tmpdir, mem_bound, &ap, err, sizeof err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(s.overlaps, 0);
    assert_int_equal(s.wrong_stream, 0);
    /* the free job: whole, and before the gate was asked */
    assert_int_equal(s.ended[0][0], 1);
    assert_true(s.ok[0][0]);
    assert_int_equal(s.facts[0][0], 3000);
    assert_int_equal(s.gate_before_ungated_end, 0);
    assert_int_equal(s.gated_begun_early, 0);
    int dropped_early = early[0] == '0' || early[1] == '0';
    assert_int_equal(s.gate_calls[0], early[0] == '0' ? 1 : 2); /* before the run, after job 0's stream */
    assert_int_equal(s.gate_calls[1], dropped_early ? 0 : 1);
    if (!dropped_early && final) {
        assert_int_equal(s.ended[1][0], 1);
        assert_true(s.ok[1][0]);
        assert_int_equal(s.facts[1][0], 5000);
    } else {
        assert_int_equal(s.ended[1][0], 0);
        assert_int_equal(s.facts[1][0], 0);
    }
    /* prepared once before its fork, before any frame was read; the gated
     * job as soon as the run reached it (before job 0 ended, also when held
     * until the end), and never when dropped before the run */
    assert_int_equal(s.prepared[0], 1);
    assert_int_equal(s.prepared[1], early[0] == '0' ? 0 : 1);
    assert_int_equal(s.prepared_with_stream_open[0] + s.prepared_with_stream_open[1], 0);
    assert_int_equal(s.prepared_with_job0_ended[0] + s.prepared_with_job0_ended[1], 0);
    /* an endless gated worker was stopped, not left to its 60 s deadline */
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    for (int i = 0; i < 2; i++) adapter_free(ad[i]);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | grep -vc '\\.lua$') -eq 0", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* The gate is asked again when a stream's end comes while its frames wait
 * for the writer (pull_apply.arrived): job 0 holds the writer (its consumer is
 * slow; it sends more than PULL_WRITER_BACKLOG at once, dense, so it takes
 * the writer before its end), job 1's stream ends with no fact (clean), job 2's
 * with facts (not clean), both queued (they spend a second of CPU first,
 * so that job 0 has the writer by then); the gate heard of them before job 0
 * ended, and its yes then started the gated job 3, applied after all. */
static void test_gate_asked_on_arrival(void **state) {
    (void)state;
    char err[1024];
    gg_source_conf src[4];
    memset(src, 0, sizeof src);
    const char *names[4] = {"a", "b", "c", "d"};
    const char *texts[4] = {
        /* dense beyond doubt, also on a busy machine or under ASan: 60000 facts
         * with long refs (~70 MB at once), against a dense rate of 1 MB/s */
        "return { streams = {\n  one = { kind = 'death', pull = function(ctx)\n"
        "    local pad = string.rep('r', 1000)\n"
        "    for i = 1, 60000 do\n"
        "      ctx.emit{ ref = pad .. i, id_no = '42050219500101' .. string.format('%04d', i % 10000),\n"
        "        name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n    end\n  end } } }\n",
        "return { streams = {\n  one = { kind = 'death', pull = function(ctx)\n"
        "    local t = os.clock()\n    while os.clock() - t < 1.0 do end\n  end } } }\n",
        "return { streams = {\n  one = { kind = 'death', pull = function(ctx)\n"
        "    local t = os.clock()\n    while os.clock() - t < 1.0 do end\n"
        "    ctx.emit{ ref = 'c1', id_no = '420502195001010011', name = '李四', death_date = '2024-01-01',\n"
        "      basis = 'cremation' }\n  end } } }\n",
        "return { streams = {\n  one = {" EMITTER(50) "} }\n",
    };
    adapter *ad[4];
    pull_job jobs[4];
    size_t streams[4][1] = {{0}, {0}, {0}, {0}};
    char *wm[4][1] = {{NULL}, {NULL}, {NULL}, {NULL}};
    long marks[4][1] = {{-1}, {-1}, {-1}, {-1}};
    memset(jobs, 0, sizeof jobs);
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    for (int i = 0; i < 4; i++) {
        char fname[16];
        snprintf(fname, sizeof fname, "ar%d.lua", i);
        const char *path = write_file(fname, texts[i]);
        src[i].name = (char *)names[i];
        src[i].encoding = "UTF-8";
        src[i].enabled = 1;
        src[i].deadline_ms = 60000;
        src[i].memory_mb = 128;
        ad[i] = adapter_load(&src[i], path, err, sizeof err);
        if (!ad[i]) fail_msg("%s", err);
        jobs[i] = (pull_job){.name = names[i], .ad = ad[i], .nstreams = 1, .streams = streams[i], .wm_in = wm[i],
                             .lookup_mark = marks[i], .gated = i == 3};
        jobs[i].lim.deadline_s = 60;
        /* room for ASan's quarantine of freed blocks (256 MiB by default,
         * counted by the workers' RLIMIT_DATA): job 0 allocates ~70 MB */
        jobs[i].lim.mem_bytes = (size_t)1 << 30;
    }
    seen s;
    memset(&s, 0, sizeof s);
    s.open_job = -1;
    s.source = NULL;
    s.gate_early = "12"; /* wait before the run, start at the next question */
    s.gate_final = 1;
    s.slow_fact_us = 50; /* job 0 holds the writer for 3 s; the core reads the others' frames meanwhile */
    pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .gate = c_gate,
                     .arrived = c_arrived, .ud = &s, .dense_rate = 1e6};
    assert_int_equal(pull_run(jobs, 4, &flt, 4, tmpdir, 0, &ap, err, sizeof err), 0);
    assert_int_equal(s.overlaps, 0);
    assert_int_equal(s.wrong_stream, 0);
    for (int i = 0; i < 4; i++) assert_true(s.ok[i][0]);
    assert_int_equal(s.facts[0][0], 60000);
    assert_int_equal(s.facts[2][0], 1);
    assert_int_equal(s.facts[3][0], 50);
    assert_int_equal(s.arrived[1], 1);
    assert_int_equal(s.arrived_clean[1], 1);
    assert_int_equal(s.arrived[2], 1);
    assert_int_equal(s.arrived_clean[2], 0);
    assert_int_equal(s.arrived[0], 0); /* it held the writer: its end was applied, not queued */
    assert_int_equal(s.arrived[3], 0); /* gated jobs are not reported */
    assert_int_equal(s.arrived_while_job0_open, 2);
    if (s.gate_calls_at_job0_end < 2) fail_msg("the gate was asked %d times before job 0 ended", s.gate_calls_at_job0_end);
    assert_int_equal(s.gate_calls[1], 1);
    for (int i = 0; i < 4; i++) adapter_free(ad[i]);
}

/* Runs njobs one-stream jobs with the given adapters (a, b, ...); what the
 * consumer saw, every stream ended well (the caller frees it). */
static seen *run_texts(const char *const *texts, size_t njobs) {
    seen *s = malloc(sizeof *s);
    assert_non_null(s);
    char err[1024];
    gg_source_conf src[4];
    memset(src, 0, sizeof src);
    const char *names[4] = {"a", "b", "c", "d"};
    adapter *ad[4];
    pull_job jobs[4];
    size_t streams[4][1] = {{0}, {0}, {0}, {0}};
    char *wm[4][1] = {{NULL}, {NULL}, {NULL}, {NULL}};
    long marks[4][1] = {{-1}, {-1}, {-1}, {-1}};
    memset(jobs, 0, sizeof jobs);
    pull_filter flt = {.phase_stream = 0, .today = 20250630};
    for (size_t i = 0; i < njobs; i++) {
        char fname[32];
        snprintf(fname, sizeof fname, "rt%zu.lua", i);
        const char *path = write_file(fname, texts[i]);
        src[i].name = (char *)names[i];
        src[i].encoding = "UTF-8";
        src[i].enabled = 1;
        src[i].deadline_ms = 60000;
        src[i].memory_mb = 128;
        ad[i] = adapter_load(&src[i], path, err, sizeof err);
        if (!ad[i]) fail_msg("%s", err);
        jobs[i] = (pull_job){.name = names[i], .ad = ad[i], .nstreams = 1, .streams = streams[i], .wm_in = wm[i],
                             .lookup_mark = marks[i]};
        jobs[i].lim.deadline_s = 60;
    }
    memset(s, 0, sizeof *s);
    s->open_job = -1;
    pull_apply ap = {.begin = c_begin, .fact = c_fact, .reject = c_reject, .end = c_end, .ud = s};
    assert_int_equal(pull_run(jobs, njobs, &flt, njobs, tmpdir, 0, &ap, err, sizeof err), 0);
    assert_int_equal(s->overlaps, 0);
    assert_int_equal(s->wrong_stream, 0);
    for (size_t i = 0; i < njobs; i++) {
        assert_true(s->ok[i][0]);
        adapter_free(ad[i]);
    }
    return s;
}

/* Lua of a stream that emits `per` facts `batches` times, spending `spin`
 * seconds of CPU before each batch (the ids and refs differ by batch). */
#define PACED(tag, batches, per, spin)                                                                        \
    "return { streams = {\n  one = { kind = 'death', pull = function(ctx)\n"                                  \
    "    for b = 1, " #batches " do\n"                                                                        \
    "      local t = os.clock()\n      while os.clock() - t < " #spin " do end\n"                             \
    "      for i = 1, " #per " do\n"                                                                          \
    "        ctx.emit{ ref = '" tag "' .. b .. '-' .. i, id_no = '42050219500101' .. string.format('%04d', i),\n" \
    "          name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n"                               \
    "      end\n    end\n  end } } }\n"

/* The writer goes to a stream whose frames hold its end, or a dense backlog
 * (pull.h): a sparse stream (job 0: 1500 facts, more than the channel
 * buffers, then a second of work, then 1 more) does not hold it idle while
 * a dense one that has arrived whole (job 1: 3000 facts, begun after job
 * 0's first) waits for its end. */
static void test_sparse_stream_leaves_the_writer(void **state) {
    (void)state;
    const char *texts[2] = {"return { streams = {\n  one = { kind = 'death', pull = function(ctx)\n"
                            "    for i = 1, 1500 do\n"
                            "      ctx.emit{ ref = 'a' .. i, id_no = '42050219500101' .. string.format('%04d', i),\n"
                            "        name = '张三', death_date = '2024-01-01', basis = 'cremation' }\n    end\n"
                            "    local t = os.clock()\n    while os.clock() - t < 1.0 do end\n"
                            "    ctx.emit{ ref = 'z', id_no = '420502195001010011', name = '李四',\n"
                            "      death_date = '2024-01-01', basis = 'cremation' }\n  end } } }\n",
                            PACED("b", 1, 3000, 0.3)};
    seen *s = run_texts(texts, 2);
    assert_int_equal(s->facts[0][0], 1501);
    assert_int_equal(s->facts[1][0], 3000);
    if (s->end_seq[1][0] > s->end_seq[0][0]) fail_msg("the dense stream ended after the sparse one: it waited for it");
    free(s);
}

/* Sparse by rate: job 0 sends more than PULL_WRITER_BACKLOG, but over three
 * seconds (30 batches of 1000 facts, 0.1 s apart), and does not take the
 * writer before job 1 (3000 facts after 2 s) has ended. */
static void test_slow_backlog_is_sparse(void **state) {
    (void)state;
    const char *texts[2] = {PACED("a", 30, 1000, 0.1), PACED("b", 1, 3000, 2.0)};
    seen *s = run_texts(texts, 2);
    assert_int_equal(s->facts[0][0], 30000);
    assert_int_equal(s->facts[1][0], 3000);
    if (s->end_seq[1][0] > s->end_seq[0][0]) fail_msg("the slow stream took the writer and held it while job 1 waited");
    free(s);
}

/* A sparse stream with no other worker left takes the writer before its
 * end: its facts are applied as they come, not all replayed at the end. */
static void test_sparse_stream_alone_takes_the_writer(void **state) {
    (void)state;
    const char *texts[1] = {PACED("a", 3, 1500, 0.5)};
    seen *s = run_texts(texts, 1);
    assert_int_equal(s->facts[0][0], 4500);
    if (s->t_end[0] - s->t_begin[0] < 0.5)
        fail_msg("the stream was applied only at its end (%.2f s from begin to end)", s->t_end[0] - s->t_begin[0]);
    free(s);
}

static void test_gated_applied_after_the_others(void **state) {
    (void)state;
    gated_case(0, "22", 1, 0);
}

static void test_gated_applied_after_the_others_spooled(void **state) {
    (void)state;
    gated_case(1, "22", 1, 0);
}

static void test_gated_dropped_at_the_gate(void **state) {
    (void)state;
    gated_case(0, "22", 0, 0);
}

static void test_gated_dropped_early_and_stopped(void **state) {
    (void)state;
    gated_case(0, "20", 0, 1);
}

static void test_gated_dropped_early_silent_worker_killed(void **state) {
    (void)state;
    gated_case(0, "20", 0, 2);
}

static void test_gated_held_until_the_gate(void **state) {
    (void)state;
    gated_case(0, "11", 1, 0); /* started only when gate(ud, 1) applies it */
}

static void test_gated_dropped_before_it_started(void **state) {
    (void)state;
    gated_case(0, "0", 0, 1); /* endless, but never started */
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gg-test-pull.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_one_at_a_time_in_memory),
        cmocka_unit_test(test_streams_one_at_a_time_spooled),
        cmocka_unit_test(test_one_source_two_workers),
        cmocka_unit_test(test_one_source_two_workers_spooled),
        cmocka_unit_test(test_unchanged_stop_at_the_worker),
        cmocka_unit_test(test_unchanged_stop_at_the_worker_spooled),
        cmocka_unit_test(test_register_precheck),
        cmocka_unit_test(test_register_read_beside_the_core),
        cmocka_unit_test(test_raw_value_change),
        cmocka_unit_test(test_rows_passed_over),
        cmocka_unit_test(test_gated_applied_after_the_others),
        cmocka_unit_test(test_gated_applied_after_the_others_spooled),
        cmocka_unit_test(test_gated_dropped_at_the_gate),
        cmocka_unit_test(test_gated_dropped_early_and_stopped),
        cmocka_unit_test(test_gated_dropped_early_silent_worker_killed),
        cmocka_unit_test(test_gated_held_until_the_gate),
        cmocka_unit_test(test_gated_dropped_before_it_started),
        cmocka_unit_test(test_gate_asked_on_arrival),
        cmocka_unit_test(test_sparse_stream_leaves_the_writer),
        cmocka_unit_test(test_slow_backlog_is_sparse),
        cmocka_unit_test(test_sparse_stream_alone_takes_the_writer),
        cmocka_unit_test(test_ingest_takes_worker_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
