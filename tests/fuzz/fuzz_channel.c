/* fuzz_channel.c - libFuzzer target for the fact channel's reader
 * (worker/channel.c): arbitrary bytes, fed whole and then in two pieces split
 * at a point the input chooses, must decode or be refused with a message,
 * never crash, read out of bounds or leak. Seeds: tests/fuzz/corpus/channel/,
 * written by the encoder (tests/fuzz/gen_channel_corpus.c).
 * Build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DGG_FUZZ=ON
 * Run:   build-fuzz/fuzz_channel -max_total_time=60 tests/fuzz/corpus/channel */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "worker/channel.h"

static void run(const uint8_t *data, size_t size, size_t split) {
    ch_reader *r = ch_reader_new("fuzz", 1 << 20);
    if (r == NULL) return;
    char err[300];
    ch_frame fr;
    int rc = 0;
    size_t parts[2][2] = {{0, split}, {split, size}};
    for (int k = 0; k < 2 && rc >= 0; k++) {
        if (ch_reader_feed(r, data + parts[k][0], parts[k][1] - parts[k][0]) != 0) break;
        while ((rc = ch_reader_next(r, &fr, err, sizeof err)) == 1) {
            if (fr.type == CH_FACT) {
                /* Touch what a consumer reads. */
                volatile size_t n = strlen(fr.fact->source);
                if (fr.fact->ref) n += strlen(fr.fact->ref);
                if (fr.fact->raw_json) n += strlen(fr.fact->raw_json);
                (void)n;
            } else if (fr.text) {
                volatile size_t n = strlen(fr.text);
                (void)n;
            }
        }
    }
    if (rc == 0) (void)ch_reader_eof(r, err, sizeof err);
    ch_reader_free(r);

    /* The bare fact decoder on the same bytes. */
    fact f;
    fact_init(&f, FK_PERSON);
    uint32_t stream;
    if (ch_decode_fact(data, size, "fuzz", &stream, &f, err, sizeof err) == 0) fact_clear(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size, size);
    if (size > 1) run(data, size, data[0] % size);
    return 0;
}
