/* factset.c - the in-memory facts of one matching cycle (see factset.h):
 * adding facts by move, the deterministic (source, ref) order, and freeing. */
#include "factset.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Drops what identity_resolve() built: persons borrow pointers into facts, and
 * growing the fact array may move them, so a resolution never outlives an add. */
static void factset_clear_resolution(factset *fs) {
    free(fs->person_of);
    free(fs->link);
    free(fs->persons);
    free(fs->by_person);
    free(fs->by_person_off);
    fs->person_of = NULL;
    fs->link = NULL;
    fs->persons = NULL;
    fs->npersons = 0;
    fs->by_person = NULL;
    fs->by_person_off = NULL;
}

int factset_add(factset *fs, fact *f) {
    if (fs->nfacts == fs->cap) {
        size_t ncap = fs->cap ? fs->cap * 2 : 256;
        fact *nf = realloc(fs->facts, ncap * sizeof *nf);
        if (!nf) {
            gg_error("factset", "out of memory growing the fact set to %zu facts", ncap);
            return -1;
        }
        fs->facts = nf;
        fs->cap = ncap;
    }
    if (fs->person_of) factset_clear_resolution(fs);
    /* Move: the set takes every owned pointer; the caller's struct is reset. */
    fs->facts[fs->nfacts++] = *f;
    fact_kind k = f->kind;
    memset(f, 0, sizeof *f);
    fact_init(f, k);
    return 0;
}

void factset_free(factset *fs) {
    if (!fs) return;
    for (size_t i = 0; i < fs->nfacts; i++) fact_clear(&fs->facts[i]);
    free(fs->facts);
    factset_clear_resolution(fs);
    memset(fs, 0, sizeof *fs);
}

typedef struct order_key {
    const char *source, *ref;
    int idx;
} order_key;

static int order_key_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    int c = strcmp(x->source ? x->source : "", y->source ? y->source : "");
    if (c) return c;
    c = strcmp(x->ref ? x->ref : "", y->ref ? y->ref : "");
    if (c) return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int factset_order(const factset *fs, int **out) {
    *out = NULL;
    if (fs->nfacts == 0) return 0;
    order_key *keys = malloc(fs->nfacts * sizeof *keys);
    int *order = malloc(fs->nfacts * sizeof *order);
    if (!keys || !order) {
        gg_error("factset", "out of memory sorting %zu facts by source and ref", fs->nfacts);
        free(keys);
        free(order);
        return -1;
    }
    for (size_t i = 0; i < fs->nfacts; i++) {
        keys[i].source = fs->facts[i].source;
        keys[i].ref = fs->facts[i].ref;
        keys[i].idx = (int)i;
    }
    qsort(keys, fs->nfacts, sizeof *keys, order_key_cmp);
    for (size_t i = 0; i < fs->nfacts; i++) order[i] = keys[i].idx;
    free(keys);
    *out = order;
    return 0;
}
