/* identity/resolve.c - identity resolution across departments (see resolve.h and
 * docs/record-model.md "Identity" and "Precise readings").
 *
 * Every kind that names a person (person, death, payment, assistance_member,
 * income, asset, custody) may carry the name and birth date its source states;
 * all of them count alike here: any normalized name joins the name-conflict
 * comparison, and any fact without a valid id but with a name and birth date
 * may link at low confidence. The person fact's name is preferred as the
 * person's name. A case payment without id_no names no person: it is read by
 * case in the rules and links to nobody here.
 *
 * One person per distinct valid normalized id among all facts. Facts carrying
 * a valid id link to it with high confidence; facts without one (absent or
 * invalid) that carry a normalized name and a birth date link with low
 * confidence to the single person with that name and id-embedded birth date
 * (and region, when the fact states one). Persons are kept sorted by id so
 * identity_find() is a binary search; each person's facts are listed in
 * (source, ref) order. Everything here is O(n log n) in the number of facts:
 * persons come from sorting (id, fact) pairs, and the name + birth-date index
 * only holds the keys that facts without a valid id ask for. */
#include "identity/resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/strmap.h"

static int fact_has_valid_id(const fact *f) { return f->id_status == ID_OK && f->id_norm[0] != '\0'; }

static const char *fact_text(const fact *f, fact_field ff) {
    return (FACT_HAS(f, ff) && f->f[ff].s && f->f[ff].s[0]) ? f->f[ff].s : NULL;
}

/* 1 when fact a comes before fact b (b < 0: none yet) in (source, ref) order,
 * ties by index. */
static int fact_before(const factset *fs, int a, int b) {
    if (b < 0) return 1;
    const fact *x = &fs->facts[a], *y = &fs->facts[b];
    int c = strcmp(x->source ? x->source : "", y->source ? y->source : "");
    if (!c) c = strcmp(x->ref ? x->ref : "", y->ref ? y->ref : "");
    return c ? c < 0 : a < b;
}

/* A fact's valid id, for grouping by sort. */
typedef struct id_rec {
    char id[IDENT_LEN];
    int fi;
} id_rec;

static int cmp_id_rec(const void *a, const void *b) {
    const id_rec *x = a, *y = b;
    int c = memcmp(x->id, y->id, IDENT_LEN);
    if (c) return c;
    return (x->fi > y->fi) - (x->fi < y->fi);
}

/* Creates the persons, sorted by id, and the high-confidence links. Sorting
 * (id, fact) pairs keeps this cache-friendly at millions of facts. */
static int identity_build_persons(factset *fs, identity_stats *st) {
    size_t n = fs->nfacts, nv = 0;
    id_rec *recs = malloc((n ? n : 1) * sizeof *recs);
    if (!recs) goto oom;
    for (size_t i = 0; i < n; i++) {
        const fact *f = &fs->facts[i];
        fs->person_of[i] = -1;
        fs->link[i] = LINK_NONE;
        if (!fact_has_valid_id(f)) continue;
        memcpy(recs[nv].id, f->id_norm, IDENT_LEN);
        recs[nv].fi = (int)i;
        nv++;
    }
    qsort(recs, nv, sizeof *recs, cmp_id_rec);
    size_t np = 0;
    for (size_t r = 0; r < nv; r++)
        if (r == 0 || memcmp(recs[r].id, recs[r - 1].id, IDENT_LEN) != 0) np++;
    fs->persons = calloc(np ? np : 1, sizeof *fs->persons);
    if (!fs->persons) goto oom;
    int p = -1;
    for (size_t r = 0; r < nv; r++) {
        if (r == 0 || memcmp(recs[r].id, recs[r - 1].id, IDENT_LEN) != 0) {
            person *ps = &fs->persons[++p];
            memcpy(ps->id_no, recs[r].id, IDENT_LEN);
            ps->id_no[IDENT_LEN] = '\0';
            ps->birth_date = ident_birth_date(ps->id_no);
            memcpy(ps->region, ps->id_no, 6);
            ps->region[6] = '\0';
        }
        fs->person_of[recs[r].fi] = p;
        fs->link[recs[r].fi] = LINK_HIGH;
    }
    fs->npersons = np;
    st->linked_high = nv;
    free(recs);
    recs = NULL;

    /* Names, region, grid and address: the first fact in (source, ref) order
     * that has them, found as a minimum rather than by sorting all facts. */
    int *best_named = malloc((np ? np : 1) * sizeof *best_named);
    int *best_person = malloc((np ? np : 1) * sizeof *best_person);
    int *best_person_named = malloc((np ? np : 1) * sizeof *best_person_named);
    const char **seen_name = calloc(np ? np : 1, sizeof *seen_name);
    if (!best_named || !best_person || !best_person_named || !seen_name) {
        free(best_named);
        free(best_person);
        free(best_person_named);
        free(seen_name);
        goto oom;
    }
    for (size_t q = 0; q < np; q++) best_named[q] = best_person[q] = best_person_named[q] = -1;
    for (size_t i = 0; i < n; i++) {
        const fact *f = &fs->facts[i];
        int q = fs->person_of[i];
        if (q < 0) continue;
        if (f->name_norm) {
            if (!seen_name[q])
                seen_name[q] = f->name_norm;
            else if (strcmp(seen_name[q], f->name_norm) != 0)
                fs->persons[q].name_conflict = 1;
            if (fact_before(fs, (int)i, best_named[q])) best_named[q] = (int)i;
        }
        if (f->kind != FK_PERSON) continue;
        if (fact_before(fs, (int)i, best_person[q])) best_person[q] = (int)i;
        if (f->name_norm && fact_before(fs, (int)i, best_person_named[q])) best_person_named[q] = (int)i;
    }
    for (size_t q = 0; q < np; q++) {
        person *ps = &fs->persons[q];
        int nf = best_person_named[q] >= 0 ? best_person_named[q] : best_named[q];
        ps->name = nf >= 0 ? fs->facts[nf].name_norm : NULL;
        if (best_person[q] < 0) continue;
        const fact *f = &fs->facts[best_person[q]];
        ps->has_person_fact = 1;
        const char *region = fact_text(f, FF_REGION);
        if (region) snprintf(ps->region, sizeof ps->region, "%s", region);
        ps->grid = fact_text(f, FF_GRID);
        ps->address = fact_text(f, FF_ADDRESS);
    }
    free(best_named);
    free(best_person);
    free(best_person_named);
    free(seen_name);
    return 0;
oom:
    gg_error("identity", "out of memory building persons from %zu facts", n);
    free(recs);
    return -1;
}

/* Key of the name + birth-date index, "<name>|<yyyymmdd>", in buf when it fits,
 * else malloc'd. Returns NULL on out of memory; free it when != buf. */
static char *name_birth_key(const char *name, int birth, char *buf, size_t bufsz) {
    size_t len = strlen(name) + 16;
    char *k = len <= bufsz ? buf : malloc(len);
    if (k) snprintf(k, len, "%s|%d", name, birth);
    return k;
}

static int needs_low_link(const fact *f) {
    return !fact_has_valid_id(f) && f->name_norm && FACT_HAS(f, FF_BIRTH_DATE);
}

/* Low-confidence links for facts without a valid id. The index is keyed by the
 * (name, birth) pairs those facts ask for, usually few, and filled by one pass
 * over the persons, so its size does not grow with the population. */
static int identity_link_low(factset *fs, identity_stats *st) {
    strmap wanted = {0};
    int *head = NULL;
    struct cand {
        int person, next;
    } *cands = NULL;
    size_t ncands = 0, capcands = 0;
    char buf[256], *key = NULL;
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (!needs_low_link(f)) continue;
        key = name_birth_key(f->name_norm, (int)f->f[FF_BIRTH_DATE].i, buf, sizeof buf);
        if (!key || strmap_intern(&wanted, key, (int)strmap_count(&wanted), NULL) < 0) goto oom;
        if (key != buf) free(key);
        key = NULL;
    }
    size_t nkeys = strmap_count(&wanted);
    if (nkeys) {
        head = malloc(nkeys * sizeof *head);
        if (!head) goto oom;
        for (size_t k = 0; k < nkeys; k++) head[k] = -1;
        /* Persons fitting each wanted key; walking persons downwards leaves each
         * list in ascending person order. */
        for (size_t q = fs->npersons; q-- > 0;) {
            const person *ps = &fs->persons[q];
            int k;
            if (!ps->name) continue;
            key = name_birth_key(ps->name, ps->birth_date, buf, sizeof buf);
            if (!key) goto oom;
            int found = strmap_get(&wanted, key, &k);
            if (key != buf) free(key);
            key = NULL;
            if (!found) continue;
            if (ncands == capcands) {
                size_t ncap = capcands ? capcands * 2 : 16;
                struct cand *nc = realloc(cands, ncap * sizeof *nc);
                if (!nc) goto oom;
                cands = nc;
                capcands = ncap;
            }
            cands[ncands].person = (int)q;
            cands[ncands].next = head[k];
            head[k] = (int)ncands++;
        }
    }
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (fact_has_valid_id(f)) continue;
        if (!needs_low_link(f)) {
            st->unlinked++;
            continue;
        }
        int k = -1;
        key = name_birth_key(f->name_norm, (int)f->f[FF_BIRTH_DATE].i, buf, sizeof buf);
        if (!key) goto oom;
        strmap_get(&wanted, key, &k);
        if (key != buf) free(key);
        key = NULL;
        const char *region = fact_text(f, FF_REGION);
        int cand = -1, ncand = 0;
        for (int c = k >= 0 ? head[k] : -1; c >= 0; c = cands[c].next) {
            if (region && strcmp(region, fs->persons[cands[c].person].region) != 0) continue;
            cand = cands[c].person;
            ncand++;
        }
        if (ncand == 1) {
            fs->person_of[i] = cand;
            fs->link[i] = LINK_LOW;
            st->linked_low++;
        } else if (ncand >= 2) {
            st->ambiguous++;
        } else {
            st->unlinked++;
        }
    }
    free(head);
    free(cands);
    strmap_free(&wanted);
    return 0;
oom:
    gg_error("identity", "out of memory linking facts by name and birth date");
    if (key != buf) free(key);
    free(head);
    free(cands);
    strmap_free(&wanted);
    return -1;
}

/* Per-person fact lists (CSR), each sorted into (source, ref) order. */
static int identity_build_csr(factset *fs) {
    size_t np = fs->npersons;
    size_t *fill = NULL;
    fs->by_person_off = calloc(np + 1, sizeof *fs->by_person_off);
    if (!fs->by_person_off) goto oom;
    for (size_t i = 0; i < fs->nfacts; i++)
        if (fs->person_of[i] >= 0) fs->by_person_off[fs->person_of[i] + 1]++;
    for (size_t p = 0; p < np; p++) fs->by_person_off[p + 1] += fs->by_person_off[p];
    size_t total = fs->by_person_off[np];
    fs->by_person = malloc((total ? total : 1) * sizeof *fs->by_person);
    fill = malloc((np ? np : 1) * sizeof *fill);
    if (!fs->by_person || !fill) goto oom;
    memcpy(fill, fs->by_person_off, np * sizeof *fill);
    for (size_t i = 0; i < fs->nfacts; i++) {
        int p = fs->person_of[i];
        if (p >= 0) fs->by_person[fill[p]++] = (int)i;
    }
    free(fill);
    fill = NULL;
    for (size_t p = 0; p < np; p++) {
        size_t off = fs->by_person_off[p], len = fs->by_person_off[p + 1] - off;
        if (len > 1 && factset_sort_indices(fs, fs->by_person + off, len) != 0) goto oom;
    }
    return 0;
oom:
    gg_error("identity", "out of memory building per-person fact lists");
    free(fill);
    return -1;
}

int identity_resolve(factset *fs, identity_stats *st) {
    identity_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    factset_clear_resolution(fs);

    size_t n = fs->nfacts;
    fs->person_of = malloc((n ? n : 1) * sizeof *fs->person_of);
    fs->link = calloc(n ? n : 1, 1);
    if (!fs->person_of || !fs->link) {
        gg_error("identity", "out of memory allocating links for %zu facts", n);
        goto fail;
    }
    if (identity_build_persons(fs, st) != 0) goto fail;
    if (identity_link_low(fs, st) != 0) goto fail;
    if (identity_build_csr(fs) != 0) goto fail;

    st->persons = fs->npersons;
    for (size_t p = 0; p < fs->npersons; p++)
        if (fs->persons[p].name_conflict) st->name_conflicts++;
    gg_debug("identity", "%zu facts: %zu persons, %zu high links, %zu low, %zu ambiguous, %zu unlinked, %zu name conflicts",
             n, st->persons, st->linked_high, st->linked_low, st->ambiguous, st->unlinked, st->name_conflicts);
    return 0;
fail:
    factset_clear_resolution(fs);
    return -1;
}

int identity_find(const factset *fs, const char *id18) {
    if (!id18 || !fs->persons) return -1;
    size_t lo = 0, hi = fs->npersons;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fs->persons[mid].id_no, id18);
        if (c == 0) return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
