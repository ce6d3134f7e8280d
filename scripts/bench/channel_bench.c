/* channel_bench.c - throughput of the worker fact channel (worker/channel.c):
 * encode and decode N payment-like facts (id, name, program, period, amount,
 * payer, paid_on, ref; with and without the raw source values kept for
 * evidence), in one process and across a pipe between two processes.
 * Prints ns/fact and bytes/fact. Build and run: scripts/bench/channel_bench.sh [N] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "worker/channel.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* In-process figures use this process's CPU time, so that other load on a
 * shared machine does not count. */
static double cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make(fact *f, int raw) {
    char err[200];
    fact_init(f, FK_PAYMENT);
    f->source = strdup("hr");
    f->ref = malloc(32);
    strcpy(f->ref, "PAY-000000000");
    fact_set_text(f, FF_ID_NO, "420501195003121233", err, sizeof err);
    fact_set_text(f, FF_NAME, "张建国", err, sizeof err);
    fact_set_text(f, FF_PROGRAM, "城乡居民养老保险", err, sizeof err);
    fact_set_text(f, FF_PAYER, "宜昌市社会保险事业局", err, sizeof err);
    fact_set_int(f, FF_PERIOD, 202403, err, sizeof err);
    fact_set_int(f, FF_AMOUNT, 185000, err, sizeof err);
    fact_set_int(f, FF_PAID_ON, 20240315, err, sizeof err);
    if (raw) {
        f->raw_json = malloc(256);
        strcpy(f->raw_json, "{\"SFZH\":\"420501195003121233\",\"XM\":\"张建国\",\"XMMC\":\"城乡居民养老保险\","
                            "\"FFYF\":\"2024-03\",\"JE\":\"1850.00\",\"FFRQ\":\"2024-03-15\"}");
    }
}

static void vary(fact *f, int i) {
    snprintf(f->ref, 32, "PAY-%09d", i);
    char six[16];
    snprintf(six, sizeof six, "%06d", i % 1000000);
    memcpy(f->f[FF_ID_NO].s + 12, six, 6);
    f->f[FF_AMOUNT].i = 100000 + i % 90000;
    f->f[FF_PERIOD].i = 202301 + (i % 12);
}

static size_t decode_fd(int fd, long n) {
    ch_reader *r = ch_reader_new("hr", 0);
    static unsigned char buf[1 << 16];
    char err[300];
    ch_frame fr;
    long facts = 0;
    ssize_t k;
    size_t total = 0;
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        total += (size_t)k;
        ch_reader_feed(r, buf, (size_t)k);
        int rc;
        while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1)
            if (fr.type == CH_FACT) facts++;
        if (rc < 0) {
            fprintf(stderr, "decode: %s\n", err);
            exit(1);
        }
    }
    if (facts != n || !ch_reader_done(r)) {
        fprintf(stderr, "decoded %ld of %ld facts\n", facts, n);
        exit(1);
    }
    ch_reader_free(r);
    return total;
}

static void encode(int fd, long n, int raw) {
    ch_writer *w = ch_writer_new(fd);
    fact f;
    make(&f, raw);
    ch_stream_begin(w, 0, "pay");
    for (long i = 0; i < n; i++) {
        vary(&f, (int)i);
        if (ch_fact(w, 0, &f)) {
            fprintf(stderr, "encode: %s\n", ch_writer_error(w));
            exit(1);
        }
    }
    ch_stream_end(w, 0, (uint64_t)n, NULL);
    ch_done(w);
    ch_flush(w);
    ch_writer_free(w);
    fact_clear(&f);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    printf("channel bench: %ld payment facts\n", n);
    /* Reference on this machine: a deep copy and free of the same fact, the
     * least any handover of a fact between owners costs. */
    {
        fact f, g;
        make(&f, 0);
        double t0 = cpu();
        for (long i = 0; i < n; i++) {
            vary(&f, (int)i);
            fact_copy(&g, &f);
            fact_clear(&g);
        }
        double t1 = cpu();
        printf("  reference: fact_copy+fact_clear %5.1f ns/fact (CPU)\n", (t1 - t0) * 1e9 / n);
        fact_clear(&f);
    }
    for (int raw = 0; raw <= 1; raw++) {
        /* In one process: encode into a memfd, decode from it. */
        int mfd = memfd_create("chan", 0);
        double t0 = cpu();
        encode(mfd, n, raw);
        double t1 = cpu();
        lseek(mfd, 0, SEEK_SET);
        size_t bytes = decode_fd(mfd, n);
        double t2 = cpu();
        close(mfd);
        printf("  %-13s %6.1f bytes/fact  CPU: encode %5.1f ns/fact  decode %5.1f ns/fact  sum %5.1f ns/fact\n",
               raw ? "with raw:" : "without raw:", (double)bytes / n, (t1 - t0) * 1e9 / n, (t2 - t1) * 1e9 / n,
               (t2 - t0) * 1e9 / n);
        /* Across a pipe: a child encodes, this process decodes, concurrently. */
        int p[2];
        if (pipe(p)) return 1;
        fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
        double t3 = now();
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            encode(p[1], n, raw);
            _exit(0);
        }
        close(p[1]);
        decode_fd(p[0], n);
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        double t4 = now();
        printf("  %-13s pipe between two processes: %5.1f ns/fact wall (%.2f s)\n", "", (t4 - t3) * 1e9 / n, t4 - t3);
    }
    return 0;
}
