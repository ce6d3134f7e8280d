/* factset.c - the in-memory facts of one matching cycle (see factset.h):
 * adding facts by move, the deterministic (source, ref) order, the facts
 * array's pages, and freeing. */
#include "model/factset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/log.h"

/* Drops what identity_resolve() built: persons borrow pointers into facts, and
 * growing the fact array may move them, so a resolution never outlives an add. */
void factset_clear_resolution(factset *fs) {
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
    fact_own(f); /* a fact from a mapping call may point into its row */
    /* The set's copy of the source's name (sources are few: a linear search). */
    if (f->source && !f->source_shared) {
        size_t j = 0;
        while (j < fs->nsources && strcmp(fs->sources[j], f->source) != 0) j++;
        if (j == fs->nsources) {
            char **ns = realloc(fs->sources, (fs->nsources + 1) * sizeof *ns);
            if (!ns) {
                gg_error("factset", "out of memory adding a source name");
                return -1;
            }
            fs->sources = ns;
            fs->sources[fs->nsources++] = f->source; /* taken over */
        } else {
            free(f->source);
        }
        f->source = fs->sources[j];
        f->source_shared = 1;
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
    for (size_t j = 0; j < fs->nsources; j++) free(fs->sources[j]);
    free(fs->sources);
    factset_clear_resolution(fs);
    memset(fs, 0, sizeof *fs);
}

/* Sort key: the first 8 bytes of source and ref as big-endian integers decide
 * most comparisons without touching the strings (which are scattered over the
 * heap); equal prefixes fall back to strcmp. Same order as strcmp. */
typedef struct order_key {
    uint64_t src8, ref8;
    const char *source, *ref;
    int idx;
} order_key;

static uint64_t prefix8(const char *s) {
    uint64_t v = 0;
    int i = 0;
    if (s)
        for (; i < 8 && s[i]; i++) v = (v << 8) | (unsigned char)s[i];
    for (; i < 8; i++) v <<= 8;
    return v;
}

static int order_key_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    int c;
    if (x->src8 != y->src8) return x->src8 < y->src8 ? -1 : 1;
    if ((c = strcmp(x->source ? x->source : "", y->source ? y->source : "")) != 0) return c;
    if (x->ref8 != y->ref8) return x->ref8 < y->ref8 ? -1 : 1;
    if ((c = strcmp(x->ref ? x->ref : "", y->ref ? y->ref : "")) != 0) return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int factset_sort_indices(const factset *fs, int *idx, size_t n) {
    if (n < 2) return 0;
    order_key *keys = malloc(n * sizeof *keys);
    if (!keys) {
        gg_error("factset", "out of memory sorting %zu facts by source and ref", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const fact *f = &fs->facts[idx[i]];
        keys[i].source = f->source;
        keys[i].ref = f->ref;
        keys[i].src8 = prefix8(f->source);
        keys[i].ref8 = prefix8(f->ref);
        keys[i].idx = idx[i];
    }
    qsort(keys, n, sizeof *keys, order_key_cmp);
    for (size_t i = 0; i < n; i++) idx[i] = keys[i].idx;
    free(keys);
    return 0;
}

int factset_order(const factset *fs, int **out) {
    *out = NULL;
    if (fs->nfacts == 0) return 0;
    int *order = malloc(fs->nfacts * sizeof *order);
    if (!order) {
        gg_error("factset", "out of memory sorting %zu facts by source and ref", fs->nfacts);
        return -1;
    }
    for (size_t i = 0; i < fs->nfacts; i++) order[i] = (int)i;
    if (factset_sort_indices(fs, order, fs->nfacts) != 0) {
        free(order);
        return -1;
    }
    *out = order;
    return 0;
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; Debian 12's headers predate it */
#endif
#define HUGE_PAGE ((uintptr_t)2 << 20)

int factset_collapse_pages(factset *fs) {
    if (!fs->facts || fs->nfacts == 0) return -1;
    /* the whole 2 MiB pages inside the facts in use */
    uintptr_t lo = ((uintptr_t)fs->facts + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t hi = (uintptr_t)(fs->facts + fs->nfacts) & ~(HUGE_PAGE - 1);
    if (hi <= lo) return -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = madvise((void *)lo, hi - lo, MADV_COLLAPSE), err = errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* synchronous: on a fragmented machine the kernel may compact first */
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (rc == 0) {
        gg_debug("factset", "the facts' %zu MiB collapsed into huge pages in %.0f ms", (size_t)((hi - lo) >> 20), ms);
        return 0;
    }
    /* EINVAL: a kernel without it; EAGAIN/ENOMEM: no huge page to be had
     * now; either way the facts stay as they are */
    gg_debug("factset", "the facts' pages stay as they are (madvise MADV_COLLAPSE: %s)", strerror(err));
    return -1;
}
