/* fuzz_config.c - libFuzzer target for the INI configuration loader
 * (app/config.c, inih): any file text must load or be refused with a message
 * naming the line and key, never crash or leak. The text is written to a
 * scratch file (config_load reads a path); relative paths in it resolve
 * against the scratch directory. Environment variables named by ${VAR} are
 * read but none are set here beyond the process's own.
 * Seeds: tests/fuzz/corpus/config/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"

static char path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    if (path[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/gg-fuzz-config-%ld.ini", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    char err[1024];
    err[0] = '\0';
    gg_config *c = config_load(path, err, sizeof err);
    if (c != NULL) {
        for (size_t i = 0; i < c->nsources; i++) (void)config_source(c, c->sources[i].name);
        config_free(c);
    } else if (err[0] == '\0') {
        abort(); /* a refusal always says why */
    }
    unlink(path);
    return 0;
}
