/* register.c - the register cache: the persons' id hashes and (id, name)
 * pair hashes (app/ingest.h's register, which workers check the names of
 * rows of no interest against), kept between cycles in a file beside the
 * state store, under the generation of the persons they were built from.
 *
 * Building the register walks every person of the city (0.6 s of the core's
 * time at 1M residents, every night the payment and income streams run). The
 * generation (`person_gen`, one row, started at a random number when the
 * store is created, so two stores never share one) counts every write that
 * may change the register, in the writing transaction: the writer
 * (store/facts.c, fact_store) adds one in a transaction that inserts a
 * person fact or changes a person's id, folded name or name hash (a first
 * load of persons, at its end), a TEMP trigger (state.c, fact_changes_sql)
 * one per delete of a person fact. A cache written under
 * the current generation is thus the register as a walk would build it; any
 * other is rebuilt.
 *
 * The file, "<state>.register" (0600: hashes of ids and names), holds a
 * header (magic, generation, counts) and the two sets sorted and distinct,
 * host byte order; it is written to a temporary file, synced and renamed
 * over, and read by mapping it, so a reader shares its pages with the page
 * cache and the workers it forks. */
#include "store/state_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct reg_header {
    char magic[8]; /* REG_MAGIC */
    int64_t gen;
    uint64_t nids, npairs;
} reg_header;

static const char REG_MAGIC[8] = {'G', 'G', 'R', 'E', 'G', 0, 0, 1};

long state_person_gen(state *st) {
    return st_query_long(st, "person generation", "SELECT n FROM person_gen WHERE id = 1");
}

/* "<state file>.register" into out; 0, or -1 for a store without a file. */
static int reg_path(state *st, const char *suffix, char *out, size_t outsz) {
    const char *db = sqlite3_db_filename(st->db, "main");
    if (!db || !db[0]) return -1;
    int n = snprintf(out, outsz, "%s.register%s", db, suffix);
    return n > 0 && (size_t)n < outsz ? 0 : -1;
}

int state_register_cache_get(state *st, long gen, state_register_map *m) {
    memset(m, 0, sizeof *m);
    char path[4096];
    if (reg_path(st, "", path, sizeof path)) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0; /* none yet */
    struct stat sb;
    void *map = MAP_FAILED;
    if (fstat(fd, &sb) == 0 && (size_t)sb.st_size >= sizeof(reg_header))
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return 0;
    const reg_header *h = map;
    size_t len = (size_t)sb.st_size, words = (len - sizeof *h) / sizeof(uint64_t);
    int ok = !memcmp(h->magic, REG_MAGIC, sizeof REG_MAGIC) && (len - sizeof *h) % sizeof(uint64_t) == 0 &&
             h->nids <= words && h->npairs == words - h->nids;
    if (!ok) {
        gg_warn("state", "%s is not a register cache; it is rebuilt", path);
        munmap(map, len);
        return 0;
    }
    if (h->gen != gen) { /* stale: the persons changed since */
        munmap(map, len);
        return 0;
    }
    const uint64_t *w = (const uint64_t *)(h + 1);
    m->map = map;
    m->len = len;
    m->ids = w;
    m->nids = (size_t)h->nids;
    m->pairs = w + h->nids;
    m->npairs = (size_t)h->npairs;
    return 1;
}

void state_register_map_release(state_register_map *m) {
    if (m->map) munmap(m->map, m->len);
    memset(m, 0, sizeof *m);
}

/* Writes all of buf to fd; 0 or -1 (errno set). */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int state_register_cache_put(state *st, long gen, const uint64_t *ids, size_t nids, const uint64_t *pairs,
                             size_t npairs) {
    char path[4096], tmp[4096];
    if (reg_path(st, "", path, sizeof path) || reg_path(st, ".tmp", tmp, sizeof tmp)) return 0;
    reg_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, REG_MAGIC, sizeof REG_MAGIC);
    h.gen = gen;
    h.nids = nids;
    h.npairs = npairs;
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        gg_warn("state", "register cache %s: %s; it is rebuilt next cycle", tmp, strerror(errno));
        return -1;
    }
    int ok = write_all(fd, &h, sizeof h) == 0 && write_all(fd, ids, nids * sizeof *ids) == 0 &&
             write_all(fd, pairs, npairs * sizeof *pairs) == 0 && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) ok = 0, err = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
    if (!ok) {
        gg_warn("state", "register cache %s: %s; it is rebuilt next cycle", path, strerror(err));
        (void)unlink(tmp);
        return -1;
    }
    return 0;
}
