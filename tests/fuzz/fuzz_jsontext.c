/* fuzz_jsontext.c - libFuzzer target for JSON text written and checked
 * directly (core/jsontext.c) against jansson, which it stands in for. Any
 * bytes: when jt_flat_object_canonical takes them, jansson must parse them
 * and write them back byte for byte (else the evidence of an alert would
 * differ from what jansson wrote, or not be JSON); as a string, jt_sb_string
 * must write exactly what json_dumps writes for json_string, and refuse
 * exactly what json_string refuses. Never crash, overrun or leak.
 * Seeds: tests/fuzz/corpus/jsontext/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jsontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (jt_flat_object_canonical(s)) {
        json_t *v = json_loads(s, 0, NULL);
        if (!v || !json_is_object(v)) abort();
        char *back = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        if (!back || strcmp(back, s) != 0) abort();
        free(back);
    }

    json_t *js = json_string(s);
    sbuf b = {0};
    int rc = jt_sb_string(&b, s);
    char *got = sb_take(&b);
    if (!got) abort();
    if (!js) {
        if (rc != -1 || jt_string_len(s) != 0) abort();
    } else {
        char *want = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!want || rc != 0 || strcmp(got, want) != 0 || jt_string_len(s) != strlen(want)) abort();
        free(want);
        json_decref(js);
    }
    free(got);
    free(s);
    return 0;
}
