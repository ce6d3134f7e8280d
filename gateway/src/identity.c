/* identity.c - identity resolution across departments (see identity.h and
 * record-model.md "Identity" and "Precise readings").
 *
 * One person per distinct valid normalized id among all facts. Facts carrying
 * a valid id link to it with high confidence; facts without one (absent or
 * invalid) that carry a normalized name and a birth date link with low
 * confidence to the single person with that name and id-embedded birth date
 * (and region, when the fact states one). Persons are kept sorted by id so
 * identity_find() is a binary search; each person's facts are listed in
 * (source, ref) order. Everything here is O(n log n) in the number of facts. */
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strmap.h"

static int fact_has_valid_id(const fact *f) { return f->id_status == ID_OK && f->id_norm[0] != '\0'; }

static const char *fact_text(const fact *f, fact_field ff) {
    return (f->f[ff].set && f->f[ff].s && f->f[ff].s[0]) ? f->f[ff].s : NULL;
}

static void identity_clear(factset *fs) {
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

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Key of the name + birth-date index: "<name>|<yyyymmdd>". Returns a malloc'd
 * string or NULL on out of memory. */
static char *name_birth_key(const char *name, int birth) {
    size_t len = strlen(name) + 16;
    char *k = malloc(len);
    if (k) snprintf(k, len, "%s|%d", name, birth);
    return k;
}

/* Creates the persons (sorted by id) and maps each id to its index in ids. */
static int identity_build_persons(factset *fs, const int *order, strmap *ids) {
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (fact_has_valid_id(f) && strmap_add(ids, f->id_norm) < 0) return -1;
    }
    size_t np = strmap_count(ids);
    const char **keys = malloc((np ? np : 1) * sizeof *keys);
    fs->persons = calloc(np ? np : 1, sizeof *fs->persons);
    const char **first_name = calloc(np ? np : 1, sizeof *first_name);
    const char **person_name = calloc(np ? np : 1, sizeof *person_name);
    if (!keys || !fs->persons || !first_name || !person_name) goto oom;
    size_t it = 0, k = 0;
    const char *key;
    while (strmap_next(ids, &it, &key, NULL)) keys[k++] = key;
    qsort(keys, np, sizeof *keys, cmp_str_ptr);
    for (size_t p = 0; p < np; p++) {
        person *ps = &fs->persons[p];
        memcpy(ps->id_no, keys[p], IDENT_LEN);
        ps->id_no[IDENT_LEN] = '\0';
        ps->birth_date = ident_birth_date(ps->id_no);
        memcpy(ps->region, ps->id_no, 6);
        ps->region[6] = '\0';
        if (strmap_put(ids, keys[p], (int)p) != 0) goto oom; /* existing key: no growth */
    }
    fs->npersons = np;
    free(keys);
    keys = NULL;

    /* Fill names, region, grid and address in (source, ref) order. */
    for (size_t oi = 0; oi < fs->nfacts; oi++) {
        const fact *f = &fs->facts[order[oi]];
        int p;
        if (!fact_has_valid_id(f) || !strmap_get(ids, f->id_norm, &p)) continue;
        person *ps = &fs->persons[p];
        if (f->name_norm) {
            if (!first_name[p])
                first_name[p] = f->name_norm;
            else if (strcmp(first_name[p], f->name_norm) != 0)
                ps->name_conflict = 1;
        }
        if (f->kind != FK_PERSON) continue;
        if (f->name_norm && !person_name[p]) person_name[p] = f->name_norm;
        if (ps->has_person_fact) continue;
        ps->has_person_fact = 1;
        const char *region = fact_text(f, FF_REGION);
        if (region) {
            snprintf(ps->region, sizeof ps->region, "%s", region);
        }
        ps->grid = fact_text(f, FF_GRID);
        ps->address = fact_text(f, FF_ADDRESS);
    }
    for (size_t p = 0; p < np; p++)
        fs->persons[p].name = person_name[p] ? person_name[p] : first_name[p];
    free(first_name);
    free(person_name);
    return 0;
oom:
    gg_error("identity", "out of memory building %zu persons", np);
    free(keys);
    free(first_name);
    free(person_name);
    return -1;
}

/* Low-confidence links for facts without a valid id. */
static int identity_link_low(factset *fs, identity_stats *st) {
    size_t np = fs->npersons;
    strmap by_nb = {0};
    int *next_same = malloc((np ? np : 1) * sizeof *next_same);
    char *key = NULL;
    if (!next_same || strmap_init(&by_nb, np) != 0) goto oom;
    /* Chains of persons sharing a name and birth date, in ascending index order. */
    for (size_t q = np; q-- > 0;) {
        const person *ps = &fs->persons[q];
        next_same[q] = -1;
        if (!ps->name) continue;
        key = name_birth_key(ps->name, ps->birth_date);
        if (!key) goto oom;
        int head;
        int r = strmap_intern(&by_nb, key, (int)q, &head);
        if (r < 0) goto oom;
        if (r == 0) {
            next_same[q] = head;
            if (strmap_put(&by_nb, key, (int)q) != 0) goto oom;
        }
        free(key);
        key = NULL;
    }
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = &fs->facts[i];
        if (fact_has_valid_id(f)) continue;
        fs->person_of[i] = -1;
        fs->link[i] = LINK_NONE;
        if (!f->name_norm || !f->f[FF_BIRTH_DATE].set) {
            st->unlinked++;
            continue;
        }
        key = name_birth_key(f->name_norm, (int)f->f[FF_BIRTH_DATE].i);
        if (!key) goto oom;
        int q, found = strmap_get(&by_nb, key, &q);
        free(key);
        key = NULL;
        const char *region = fact_text(f, FF_REGION);
        int cand = -1, ncand = 0;
        for (; found && q >= 0; q = next_same[q]) {
            if (region && strcmp(region, fs->persons[q].region) != 0) continue;
            cand = q;
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
    free(next_same);
    strmap_free(&by_nb);
    return 0;
oom:
    gg_error("identity", "out of memory linking facts by name and birth date");
    free(key);
    free(next_same);
    strmap_free(&by_nb);
    return -1;
}

/* Per-person fact lists (CSR) in (source, ref) order. */
static int identity_build_csr(factset *fs, const int *order) {
    size_t np = fs->npersons;
    fs->by_person_off = calloc(np + 1, sizeof *fs->by_person_off);
    if (!fs->by_person_off) goto oom;
    for (size_t i = 0; i < fs->nfacts; i++)
        if (fs->person_of[i] >= 0) fs->by_person_off[fs->person_of[i] + 1]++;
    for (size_t p = 0; p < np; p++) fs->by_person_off[p + 1] += fs->by_person_off[p];
    size_t total = fs->by_person_off[np];
    fs->by_person = malloc((total ? total : 1) * sizeof *fs->by_person);
    size_t *fill = malloc((np ? np : 1) * sizeof *fill);
    if (!fs->by_person || !fill) {
        free(fill);
        goto oom;
    }
    memcpy(fill, fs->by_person_off, np * sizeof *fill);
    for (size_t oi = 0; oi < fs->nfacts; oi++) {
        int i = order[oi];
        int p = fs->person_of[i];
        if (p >= 0) fs->by_person[fill[p]++] = i;
    }
    free(fill);
    return 0;
oom:
    gg_error("identity", "out of memory building per-person fact lists");
    return -1;
}

int identity_resolve(factset *fs, identity_stats *st) {
    identity_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    identity_clear(fs);

    int *order = NULL;
    strmap ids = {0};
    size_t n = fs->nfacts;
    fs->person_of = malloc((n ? n : 1) * sizeof *fs->person_of);
    fs->link = calloc(n ? n : 1, 1);
    if (!fs->person_of || !fs->link) {
        gg_error("identity", "out of memory allocating links for %zu facts", n);
        goto fail;
    }
    if (factset_order(fs, &order) != 0 || strmap_init(&ids, n / 4) != 0) goto fail;
    if (identity_build_persons(fs, order, &ids) != 0) goto fail;

    for (size_t i = 0; i < n; i++) {
        const fact *f = &fs->facts[i];
        int p;
        if (fact_has_valid_id(f) && strmap_get(&ids, f->id_norm, &p)) {
            fs->person_of[i] = p;
            fs->link[i] = LINK_HIGH;
            st->linked_high++;
        } else {
            fs->person_of[i] = -1;
        }
    }
    strmap_free(&ids);
    if (identity_link_low(fs, st) != 0) goto fail;
    if (identity_build_csr(fs, order) != 0) goto fail;
    free(order);

    st->persons = fs->npersons;
    for (size_t p = 0; p < fs->npersons; p++)
        if (fs->persons[p].name_conflict) st->name_conflicts++;
    gg_debug("identity", "%zu facts: %zu persons, %zu high links, %zu low, %zu ambiguous, %zu unlinked, %zu name conflicts",
             n, st->persons, st->linked_high, st->linked_low, st->ambiguous, st->unlinked, st->name_conflicts);
    return 0;
fail:
    free(order);
    strmap_free(&ids);
    identity_clear(fs);
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
