/* gen_channel_corpus.c - writes the seed corpus of fuzz_channel: channel
 * streams made by the real encoder (every fact kind with its fields, rejects,
 * logs, SEEN ref hashes, MEMO words, watermarks, errors, DONE), one file per seed, into the directory given.
 * Built with the fuzz targets; run: build-fuzz/gen_channel_corpus tests/fuzz/corpus/channel */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/channel.h"

static void fill(fact *f, fact_kind k) {
    char err[200];
    fact_init(f, k);
    f->ref = strdup("R-1");
    for (int i = 0; i < FF__COUNT; i++) {
        fact_field ff = (fact_field)i;
        if (!fact_field_allowed(k, ff)) continue;
        switch (fact_field_type(ff)) {
        case FT_TEXT: fact_set_text(f, ff, ff == FF_REGION ? "420501" : "张三", err, sizeof err); break;
        case FT_ENUM: fact_set_text(f, ff, fact_enum_values(k, ff)[0], err, sizeof err); break;
        case FT_DATE: fact_set_int(f, ff, 20240229, err, sizeof err); break;
        case FT_MONTH: fact_set_int(f, ff, 202403, err, sizeof err); break;
        case FT_MONEY: fact_set_int(f, ff, -123456, err, sizeof err); break;
        case FT_INT: fact_set_int(f, ff, 3, err, sizeof err); break;
        case FT_BOOL: fact_set_int(f, ff, 1, err, sizeof err); break;
        }
    }
    f->raw_json = strdup("{\"XM\":\"张三\"}");
    f->id_status = ID_BAD_CHECK;
    strcpy(f->id_clean, "420501195003121234");
    f->name_norm = strdup("张三");
    f->raw_hash = 0x0123456789abcdefULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (int k = 0; k <= FK__COUNT; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%s", argv[1], k < FK__COUNT ? fact_kind_name((fact_kind)k) : "mixed");
        FILE *out = fopen(path, "wb");
        if (out == NULL) {
            perror(path);
            return 1;
        }
        ch_writer *w = ch_writer_new(fileno(out));
        ch_stream_begin(w, 0, "stream");
        for (int j = (k < FK__COUNT ? k : 0); j <= (k < FK__COUNT ? k : FK__COUNT - 1); j++) {
            fact f;
            fill(&f, (fact_kind)j);
            if (ch_fact(w, 0, &f)) fprintf(stderr, "%s: %s\n", path, ch_writer_error(w));
            fact_clear(&f);
        }
        if (k == FK__COUNT) {
            ch_reject(w, 0, "R-2", "missing required field 'amount'", "{\"JE\":\"\"}");
            for (uint64_t h = 2; h < 5; h++) ch_seen(w, 0, h * 0x9e3779b97f4a7c15ULL); /* a SEEN frame */
            uint64_t memo[3] = {7, 0x9e3779b97f4a7c15ULL, 42};
            ch_memo(w, 0, 0x5eed, 0, memo, 3); /* a MEMO frame with words, then one that stands */
            ch_memo(w, 0, 0x5eed, 1, NULL, 0);
            ch_log(w, 1, "page 2");
        }
        if (k == FK__COUNT) {
            ch_stream_stats st = {.skipped = 1, .passed = 1, .raw_built = 1};
            ch_stream_end_ex(w, 0, 2, NULL, &st, NULL);
        } else {
            ch_stream_end(w, 0, 1, k % 2 ? "2024-03-01" : NULL);
        }
        if (k == FK__COUNT) ch_error(w, CH_ERR_NOMEM, 1, 0, "allocation refused");
        ch_done(w);
        if (ch_flush(w)) fprintf(stderr, "%s: %s\n", path, ch_writer_error(w));
        ch_writer_free(w);
        fclose(out);
    }
    return 0;
}
