/* authoring.c - adapter new / adapter test (see authoring.h). */
#include "authoring.h"

#include <stdio.h>

int authoring_main(const char *config_path, int argc, char **argv) {
    (void)config_path;
    (void)argc;
    (void)argv;
    fprintf(stderr, "gridgate adapter: not implemented yet\n");
    return 2;
}
