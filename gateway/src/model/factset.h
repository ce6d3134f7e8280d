/* factset.h - the facts of one matching cycle, held in memory, and the persons
 * identity resolution builds from them.
 *
 * The factset holds the small side (persons, deaths, members, custody, assets,
 * verdicts) and only those payment/income facts that concern a subject of
 * interest, so memory grows with deaths and cases, not with payment rows.
 *
 * Ownership: factset_add() moves a fact's contents in (the caller's struct is
 * reset to empty); factset_free() frees everything. */
#ifndef GG_FACTSET_H
#define GG_FACTSET_H

#include <stddef.h>

#include "model/fact.h"

typedef struct person {
    char id_no[IDENT_LEN + 1];
    const char *name;    /* normalized name, borrowed from a fact (person kind preferred) */
    int birth_date;      /* embedded in the id, yyyymmdd */
    char region[7];      /* person fact's region, else the id's first six characters */
    const char *grid;    /* grid cell from the person fact, may be NULL */
    const char *address; /* may be NULL */
    int name_conflict;   /* facts with this id carry 2+ distinct normalized names */
    int has_person_fact;
} person;

typedef struct factset {
    fact *facts;
    size_t nfacts, cap;
    /* Filled by identity_resolve(): */
    int *person_of;        /* per fact: person index or -1 */
    unsigned char *link;   /* per fact: link_conf */
    person *persons;
    size_t npersons;
    int *by_person;        /* fact indices grouped by person ... */
    size_t *by_person_off; /* ... person p owns by_person[off[p] .. off[p+1]) */
    /* One copy of each source's name, owned; the facts point at it
     * (fact.source_shared): a source's name is not held once per fact. */
    char **sources;
    size_t nsources;
} factset;

/* Moves f into the set (f is left empty); its source's name is then the set's
 * copy. 0 ok, -1 out of memory (f is left as it was). */
int factset_add(factset *fs, fact *f);
/* Drops what identity_resolve() built (persons, links, per-person lists). */
void factset_clear_resolution(factset *fs);
void factset_free(factset *fs);

/* Added by the identity/rules module (not part of the original contract):
 *
 * Fact indices sorted by (source, ref), ties by insertion order: the
 * deterministic "source,ref order" identity and rules use. *out is malloc'd
 * (caller frees; NULL when the set is empty). 0 ok, -1 out of memory.
 *
 * Note: persons borrow name/grid/address pointers from facts, so facts must not
 * be added after identity_resolve() without resolving again. */
int factset_order(const factset *fs, int **out);
/* Sorts the n fact indices in idx the same way, in place. 0 ok, -1 out of memory. */
int factset_sort_indices(const factset *fs, int *idx, size_t n);

/* Asks the kernel to back the facts array with huge pages now
 * (madvise MADV_COLLAPSE, Linux 6.1 and later), before the set is walked in
 * sort order and by person. The array grows by realloc, which moves the pages
 * of each earlier size as they were (4 KiB ones, mostly): at 1.4M facts (4M
 * residents) a quarter of the 464 MB was in huge pages, and sorting the set
 * in place took 2.5-2.9 s against 0.25 s on a fresh copy; after the collapse
 * (38 ms) 0.27 s, and identity and rules 2-10x less (BENCHMARKS.md). A hint:
 * nothing moves, contents stay; 0 done, -1 not (a kernel without it, no huge
 * page to be had, a set smaller than one 2 MiB page; logged at debug). */
int factset_collapse_pages(factset *fs);

#endif
