/* authoring.c - `gridgate adapter new` and `gridgate adapter test`, the tools a
 * data officer uses to write an adapter (see authoring.h and adapters/README.md).
 *
 * adapter new writes a commented skeleton that passes `gridgate check` as it is
 * and prints the matching [source NAME] stanza; it never overwrites a file.
 *
 * adapter test loads an adapter file with the connections of one configured
 * source, runs every stream through its own sink (no state store is opened),
 * and prints per stream a table of the facts (identity fields masked), every
 * rejected record with its key and reason, and warnings: the runtime's load
 * and mapping warnings, invalid id numbers, unit suspicions, future dates and
 * birth dates that disagree with the id. Exit 0 when every stream ran (even
 * with rejects), 1 when one failed or the adapter did not load, 2 on usage.
 *
 * Ownership: every buffer made here is freed here; facts handed to the sink
 * stay owned by the runtime, the sink copies only the formatted cells. */
#include "app/authoring.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "adapter/adapter.h"
#include "app/config.h"
#include "conn/registry.h"
#include "model/ident.h"

/* Facts shown in a stream's table; the rest are counted and checked. */
#define TABLE_MAX_ROWS 1000
/* Widest text cell in the table (display columns) before it is cut. */
#define CELL_MAX_WIDTH 32

/* ------------------------------------------------------------- skeletons */

/* The skeleton and stanza texts live with each connector (conn/registry.h). */

/* Writes `tmpl` to out with @NAME@, @UNAME@ (upper case) and @PATH@ replaced.
 * Returns 0, or -1 when a write failed (errno set). */
static int write_template(FILE *out, const char *tmpl, const char *name, const char *path) {
    for (const char *p = tmpl; *p;) {
        if (*p == '@') {
            if (!strncmp(p, "@NAME@", 6)) {
                if (fputs(name, out) == EOF) return -1;
                p += 6;
                continue;
            }
            if (!strncmp(p, "@UNAME@", 7)) {
                for (const char *q = name; *q; q++)
                    if (fputc(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q, out) == EOF) return -1;
                p += 7;
                continue;
            }
            if (!strncmp(p, "@PATH@", 6)) {
                if (fputs(path, out) == EOF) return -1;
                p += 6;
                continue;
            }
        }
        if (fputc(*p++, out) == EOF) return -1;
    }
    return 0;
}

/* Source names follow config.c: lowercase letters, digits and '_'. */
static int valid_adapter_name(const char *name) {
    size_t n = strlen(name);
    return n > 0 && n <= 60 && name[0] >= 'a' && name[0] <= 'z' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static int cmd_new(int argc, char **argv) {
    const char *kind = NULL, *dir = "adapters";
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},
                                          {"dir", required_argument, 0, 'd'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "k:d:", opts, NULL)) != -1) {
        switch (c) {
        case 'k': kind = optarg; break;
        case 'd': dir = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || !kind) {
        char kinds[160];
        conn_registry_list(kinds, sizeof kinds, "", "", "|", "|");
        fprintf(stderr, "usage: gridgate adapter new NAME --kind %s [--dir DIR]\n", kinds);
        return 2;
    }
    const char *name = argv[optind];
    if (!valid_adapter_name(name)) {
        fprintf(stderr, "gridgate adapter new: name '%s': use lowercase letters, digits and _ "
                        "(it becomes the [source NAME] section too)\n", name);
        return 2;
    }
    const conn_kind *ck = conn_registry_find(kind);
    if (!ck || !ck->skeleton || !ck->stanza) {
        char list[160];
        conn_registry_list(list, sizeof list, "", "", ", ", " or ");
        fprintf(stderr, "gridgate adapter new: --kind '%s': use %s\n", kind, list);
        return 2;
    }
    const char *skel = ck->skeleton, *stanza = ck->stanza;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gridgate adapter new: cannot create directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t plen = strlen(dir) + strlen(name) + 6;
    char *path = malloc(plen);
    if (!path) {
        fprintf(stderr, "gridgate adapter new: out of memory\n");
        return 1;
    }
    snprintf(path, plen, "%s%s%s.lua", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr, "gridgate adapter new: %s already exists; not overwriting it "
                            "(choose another NAME or --dir, or remove the file)\n", path);
        else
            fprintf(stderr, "gridgate adapter new: cannot create %s: %s\n", path, strerror(errno));
        free(path);
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        fprintf(stderr, "gridgate adapter new: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        unlink(path);
        free(path);
        return 1;
    }
    int wrc = write_template(f, skel, name, path);
    int werr = errno;
    if (fclose(f) != 0 && wrc == 0) {
        wrc = -1;
        werr = errno;
    }
    if (wrc) {
        fprintf(stderr, "gridgate adapter new: writing %s failed: %s\n", path, strerror(werr));
        unlink(path);
        free(path);
        return 1;
    }
    fprintf(stderr, "gridgate adapter new: wrote %s; add this section to your configuration:\n", path);
    int src = write_template(stdout, stanza, name, path);
    if (src || fflush(stdout) != 0) {
        fprintf(stderr, "gridgate adapter new: cannot print the config stanza: %s\n", strerror(errno));
        free(path);
        return 1;
    }
    free(path);
    return 0;
}

/* --------------------------------------------------------- fact checking */

size_t authoring_display_width(const char *s) {
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            n = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 3;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            n = 4;
        } else { /* stray byte: one column */
            w++;
            p++;
            continue;
        }
        int k;
        for (k = 1; k < n && (p[k] & 0xC0) == 0x80; k++) cp = (cp << 6) | (p[k] & 0x3F);
        p += k;
        int wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
                   (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                   (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                   (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
        w += wide ? 2 : 1;
    }
    return w;
}

/* Money in fen as plain yuan with two decimals ("-1234.50"). */
static void yuan_text(int64_t fen, char *out, size_t outsz) {
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(out, outsz, "%s%" PRIu64 ".%02" PRIu64, fen < 0 ? "-" : "", mag / 100, mag % 100);
}

void authoring_format_field(const fact *f, fact_field ff, char *out, size_t outsz) {
    if (!outsz) return;
    out[0] = '\0';
    const fact_val *v = &f->f[ff];
    if (!FACT_HAS(f, ff)) return;
    switch (fact_field_type(ff)) {
    case FT_TEXT:
    case FT_ENUM:
        if (!v->s) return;
        if (ff == FF_ID_NO)
            ident_mask(f->id_status == ID_OK && f->id_norm[0] ? f->id_norm : v->s, out, outsz);
        else if (ff == FF_NAME)
            name_mask(v->s, out, outsz);
        else
            snprintf(out, outsz, "%s", v->s);
        return;
    case FT_DATE: date_text((int)v->i, out, outsz); return;
    case FT_MONTH: month_text((int)v->i, out, outsz); return;
    case FT_MONEY: yuan_text(v->i, out, outsz); return;
    case FT_INT: snprintf(out, outsz, "%" PRId64, v->i); return;
    case FT_BOOL: snprintf(out, outsz, "%s", v->i ? "true" : "false"); return;
    }
}

static int warnf(authoring_warn_fn fn, void *ud, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int warnf(authoring_warn_fn fn, void *ud, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(ud, msg);
    return 1;
}

int authoring_fact_warnings(fact *f, int today, authoring_warn_fn fn, void *ud) {
    if (today <= 0) today = date_today();
    fact_normalize_identity(f, NULL, today);
    int n = 0;
    char buf[64];
    if (f->id_status != ID_OK && f->id_status != ID_EMPTY) {
        ident_mask(f->f[FF_ID_NO].s ? f->f[FF_ID_NO].s : "", buf, sizeof buf);
        n += warnf(fn, ud, "id_no %s is not a valid id number: %s", buf, ident_status_str(f->id_status));
    }
    if ((f->kind == FK_PAYMENT || f->kind == FK_INCOME) && FACT_HAS(f, FF_AMOUNT)) {
        int64_t a = f->f[FF_AMOUNT].i;
        yuan_text(a, buf, sizeof buf);
        if (a < 0)
            n += warnf(fn, ud, "amount %" PRId64 " fen (%s yuan) is negative: a reversal? rules add amounts as they are",
                       a, buf);
        else if (a < AUTHORING_AMOUNT_MIN_FEN)
            n += warnf(fn, ud, "amount %" PRId64 " fen (%s yuan) for one month is implausibly small: "
                               "is the column in yuan? map it with yuan()", a, buf);
        else if (a > AUTHORING_AMOUNT_MAX_FEN)
            n += warnf(fn, ud, "amount %" PRId64 " fen (%s yuan) for one month is implausibly large: "
                               "is the column in fen? map it with fen()", a, buf);
    }
    for (int i = 0; i < FF__COUNT; i++) {
        fact_field ff = (fact_field)i;
        const fact_val *v = &f->f[ff];
        if (!FACT_HAS(f, ff)) continue;
        field_type t = fact_field_type(ff);
        if (t == FT_DATE && ff != FF_TO && v->i > today) {
            date_text((int)v->i, buf, sizeof buf);
            n += warnf(fn, ud, "%s %s is in the future", fact_field_name(ff), buf);
        } else if (t == FT_MONTH && v->i > date_month(today)) {
            month_text((int)v->i, buf, sizeof buf);
            n += warnf(fn, ud, "%s %s is in the future", fact_field_name(ff), buf);
        }
    }
    if (f->id_status == ID_OK && FACT_HAS(f, FF_BIRTH_DATE) && ident_birth_date(f->id_norm) != (int)f->f[FF_BIRTH_DATE].i) {
        date_text((int)f->f[FF_BIRTH_DATE].i, buf, sizeof buf);
        n += warnf(fn, ud, "birth_date %s disagrees with the birth date in the id number", buf);
    }
    return n;
}

/* ------------------------------------------------------------ adapter test */

/* A growable list of malloc'd strings. */
typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **grown = realloc(l->v, cap * sizeof *grown);
        if (!grown) return -1;
        l->v = grown;
        l->cap = cap;
    }
    char *d = strdup(s);
    if (!d) return -1;
    l->v[l->n++] = d;
    return 0;
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* One stream's results, collected by the sink. cells holds, per shown fact,
 * FF__COUNT + 1 malloc'd strings (ref first, then every field, "" when unset). */
typedef struct stream_run {
    const char *stream;
    int today;
    long facts;
    char ***cells;
    size_t nrows;
    int used[FF__COUNT]; /* fields set in at least one fact */
    strlist rejects;     /* "REF: reason" */
    strlist warnings;    /* "REF: message" or runtime messages */
    const char *ref;     /* the fact being checked, for warning lines */
    adapter *ad;
    size_t index;        /* the stream's index in ad */
    int http;            /* the stream reads an HTTP connection: items, not rows */
    strlist unmapped;    /* columns / item keys seen that the stream does not read */
    long sampled;        /* records whose columns were looked at */
    int oom;
} stream_run;

/* Records looked at for unmapped columns: SQL rows all have the same columns;
 * HTTP items may differ, so a few are sampled. */
#define UNMAPPED_SAMPLE 50

/* Notes the current record's columns (or top-level item keys) that the
 * stream does not read. Only names are looked at, never values. */
static void note_unmapped(stream_run *r) {
    if (r->sampled >= UNMAPPED_SAMPLE) return;
    r->sampled++;
    char *raw = adapter_raw_json(r->ad);
    if (!raw) return;
    json_error_t je;
    json_t *o = json_loads(raw, 0, &je);
    free(raw);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (adapter_stream_reads(r->ad, r->index, k) != 0) continue;
        int seen = 0;
        for (size_t i = 0; i < r->unmapped.n && !seen; i++) seen = !strcmp(r->unmapped.v[i], k);
        if (!seen && strlist_add(&r->unmapped, k)) r->oom = 1;
    }
    json_decref(o);
}

static void run_warn(void *ud, const char *msg) {
    stream_run *r = ud;
    char line[700];
    snprintf(line, sizeof line, "%s: %s", r->ref ? r->ref : "?", msg);
    if (strlist_add(&r->warnings, line)) r->oom = 1;
}

static int sink_fact(void *ud, const char *stream, fact *f) {
    (void)stream;
    stream_run *r = ud;
    r->facts++;
    note_unmapped(r);
    r->ref = f->ref;
    authoring_fact_warnings(f, r->today, run_warn, r);
    r->ref = NULL;
    if (r->nrows < TABLE_MAX_ROWS) {
        char **row = calloc(FF__COUNT + 1, sizeof *row);
        char ***grown = realloc(r->cells, (r->nrows + 1) * sizeof *grown);
        if (!row || !grown) {
            free(row);
            if (grown) r->cells = grown;
            r->oom = 1;
            return 1;
        }
        r->cells = grown;
        r->cells[r->nrows++] = row;
        row[0] = strdup(f->ref ? f->ref : "");
        if (!row[0]) r->oom = 1;
        for (int i = 0; i < FF__COUNT; i++) {
            char cell[256];
            authoring_format_field(f, (fact_field)i, cell, sizeof cell);
            if (cell[0]) r->used[i] = 1;
            row[i + 1] = strdup(cell);
            if (!row[i + 1]) r->oom = 1;
        }
    }
    return r->oom;
}

static int sink_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw_json) {
    (void)stream;
    (void)raw_json; /* holds raw ids and names: never printed */
    stream_run *r = ud;
    note_unmapped(r);
    char raw[900], line[900]; /* the key may be an id number: masked with the reason */
    snprintf(raw, sizeof raw, "%s: %s", ref ? ref : "(no key)", reason ? reason : "(no reason)");
    mask_text_buf(raw, MASK_ESCAPE, line, sizeof line);
    if (strlist_add(&r->rejects, line)) r->oom = 1;
    return r->oom;
}

static void stream_run_free(stream_run *r) {
    for (size_t i = 0; i < r->nrows; i++) {
        for (int k = 0; k <= FF__COUNT; k++) free(r->cells[i][k]);
        free(r->cells[i]);
    }
    free(r->cells);
    strlist_free(&r->rejects);
    strlist_free(&r->warnings);
    strlist_free(&r->unmapped);
}

/* Column names that look like a person's name or birth date (pinyin
 * initials as departments write them, or English): left unmapped, they hide
 * identity conflicts. */
static int names_person(const char *col) {
    static const char *const hints[] = {"xm", "name", "csrq", "birth", "csny", NULL};
    char low[128];
    size_t n = 0;
    for (; col[n] && n < sizeof low - 1; n++) low[n] = (char)tolower((unsigned char)col[n]);
    low[n] = '\0';
    for (const char *const *h = hints; *h; h++)
        if (strstr(low, *h)) return 1;
    return 0;
}

/* "unmapped columns: a, b (…)": what the stream selects but does not map. */
static void print_unmapped(const stream_run *r, const adapter_stream_info *si) {
    if (!r->unmapped.n) return;
    int person = 0;
    printf("  unmapped %s: ", r->http ? "item keys" : "columns");
    for (size_t k = 0; k < r->unmapped.n; k++) {
        printf("%s%s", k ? ", " : "", r->unmapped.v[k]);
        person |= names_person(r->unmapped.v[k]);
    }
    if (person && fact_field_allowed(si->kind, FF_NAME))
        printf(" (a name or birth-date column left unmapped hides identity conflicts)");
    printf("\n");
}

/* Prints `s` cut to `max` display columns and padded to `width`. */
static void print_cell(const char *s, size_t width, int right, int last) {
    char cut[CELL_MAX_WIDTH * 4 + 8];
    size_t w = authoring_display_width(s);
    if (w > CELL_MAX_WIDTH) {
        /* keep whole UTF-8 characters up to CELL_MAX_WIDTH - 1 columns, then "~" */
        size_t n = 0, cw = 0;
        while (s[n]) {
            size_t len = 1;
            while (s[n + len] && ((unsigned char)s[n + len] & 0xC0) == 0x80) len++;
            char ch[8] = {0};
            memcpy(ch, s + n, len < sizeof ch ? len : sizeof ch - 1);
            size_t chw = authoring_display_width(ch);
            if (cw + chw > CELL_MAX_WIDTH - 1 || n + len >= sizeof cut - 2) break;
            cw += chw;
            n += len;
        }
        memcpy(cut, s, n);
        cut[n] = '~';
        cut[n + 1] = '\0';
        s = cut;
        w = cw + 1;
    }
    size_t pad = width > w ? width - w : 0;
    if (right) printf("%*s%s", (int)pad, "", s);
    else printf("%s%*s", s, last ? 0 : (int)pad, "");
}

static void print_table(const stream_run *r, fact_kind kind) {
    int cols[FF__COUNT + 1];
    int ncols = 0;
    cols[ncols++] = -1; /* ref */
    for (int i = 0; i < FF__COUNT; i++)
        if (r->used[i] && fact_field_allowed(kind, (fact_field)i)) cols[ncols++] = i;
    size_t width[FF__COUNT + 1];
    for (int c = 0; c < ncols; c++) {
        const char *h = cols[c] < 0 ? "ref" : fact_field_name((fact_field)cols[c]);
        width[c] = strlen(h);
        for (size_t k = 0; k < r->nrows; k++) {
            size_t w = authoring_display_width(r->cells[k][cols[c] + 1]);
            if (w > CELL_MAX_WIDTH) w = CELL_MAX_WIDTH;
            if (w > width[c]) width[c] = w;
        }
    }
    printf("  ");
    for (int c = 0; c < ncols; c++) {
        int money = cols[c] >= 0 && fact_field_type((fact_field)cols[c]) == FT_MONEY;
        print_cell(cols[c] < 0 ? "ref" : fact_field_name((fact_field)cols[c]), width[c], money, c + 1 == ncols);
        printf(c + 1 < ncols ? "  " : "\n");
    }
    for (size_t k = 0; k < r->nrows; k++) {
        printf("  ");
        for (int c = 0; c < ncols; c++) {
            int money = cols[c] >= 0 && fact_field_type((fact_field)cols[c]) == FT_MONEY;
            print_cell(r->cells[k][cols[c] + 1], width[c], money, c + 1 == ncols);
            printf(c + 1 < ncols ? "  " : "\n");
        }
    }
}

static int cmd_test(const char *config_path, int argc, char **argv) {
    const char *source = NULL;
    long limit = 0;
    static const struct option opts[] = {{"source", required_argument, 0, 's'},
                                          {"limit", required_argument, 0, 'n'},
                                          {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "s:n:", opts, NULL)) != -1) {
        switch (c) {
        case 's': source = optarg; break;
        case 'n': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || limit < 1) {
                fprintf(stderr, "gridgate adapter test: --limit '%s': give a positive number of facts\n", optarg);
                return 2;
            }
            break;
        }
        default: return 2;
        }
    }
    if (optind != argc - 1 || !source) {
        fprintf(stderr, "usage: gridgate adapter test FILE --source NAME [--limit N] [-c CONFIG]\n");
        return 2;
    }
    const char *file = argv[optind];
    char err[2048];
    gg_config *cfg = config_load(config_path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "gridgate adapter test: %s\n", err);
        return 1;
    }
    const gg_source_conf *src = config_source(cfg, source);
    if (!src) {
        fprintf(stderr, "gridgate adapter test: %s has no [source %s] (it has:", cfg->path, source);
        for (size_t i = 0; i < cfg->nsources; i++) fprintf(stderr, " %s", cfg->sources[i].name);
        fprintf(stderr, "%s); add one, `gridgate adapter new` prints a stanza\n", cfg->nsources ? "" : " none");
        config_free(cfg);
        return 1;
    }
    adapter *ad = adapter_load(src, file, err, sizeof err);
    if (!ad) {
        fprintf(stderr, "gridgate adapter test: source %s: %s\n", source, err);
        config_free(cfg);
        return 1;
    }
    int today = cfg->rules.today ? cfg->rules.today : date_today();
    size_t nstreams = adapter_stream_count(ad);
    printf("adapter %s, source %s (%s, encoding %s): %zu stream%s%s\n", file, source, src->label,
           src->encoding ? src->encoding : "UTF-8", nstreams, nstreams == 1 ? "" : "s",
           adapter_can_push(ad) ? ", push (not run)" : "");
    stream_run *runs = calloc(nstreams ? nstreams : 1, sizeof *runs);
    int *failed = calloc(nstreams ? nstreams : 1, sizeof *failed);
    if (!runs || !failed) {
        fprintf(stderr, "gridgate adapter test: out of memory\n");
        free(runs);
        free(failed);
        adapter_free(ad);
        config_free(cfg);
        return 1;
    }
    /* Load warnings about one stream ("stream 'x': ...") belong to it; the
     * rest concern the whole adapter. */
    const char *const *w = adapter_warnings(ad);
    size_t seen = 0;
    for (; w && w[seen]; seen++) {
        size_t owner = nstreams;
        for (size_t i = 0; i < nstreams && owner == nstreams; i++) {
            char tag[200];
            snprintf(tag, sizeof tag, "stream '%s'", adapter_stream(ad, i)->name);
            if (strstr(w[seen], tag)) owner = i;
        }
        if (owner < nstreams) {
            if (strlist_add(&runs[owner].warnings, w[seen])) runs[owner].oom = 1;
        } else {
            printf("warning: %s\n", w[seen]);
        }
    }
    int rc = 0;
    for (size_t i = 0; i < nstreams; i++) {
        const adapter_stream_info *si = adapter_stream(ad, i);
        stream_run *r = &runs[i];
        r->stream = si->name;
        r->today = today;
        r->ad = ad;
        r->index = i;
        for (int c = 0; si->conn && c < src->nconns; c++)
            if (!strcmp(src->conns[c].name, si->conn) && src->conns[c].spec && !strncmp(src->conns[c].spec, "http", 4))
                r->http = 1;
        adapter_sink sink = {.on_fact = sink_fact, .on_reject = sink_reject, .ud = r};
        long nrows = 0;
        char perr[2048] = "";
        int prc = adapter_pull(ad, i, &sink, limit, NULL, &nrows, NULL, perr, sizeof perr);
        /* warnings the runtime added while pulling (unknown fields ...) */
        w = adapter_warnings(ad);
        for (; w && w[seen]; seen++)
            if (strlist_add(&r->warnings, w[seen])) r->oom = 1;
        printf("\n== stream %s: %s facts from %s (%s)\n", si->name, fact_kind_name(si->kind),
               si->conn ? si->conn : "a Lua pull", si->declarative ? "declarative" : "lua pull");
        if (r->nrows) print_table(r, si->kind);
        if (r->facts > (long)r->nrows)
            printf("  (%zu of %ld facts shown; --limit N pulls fewer)\n", r->nrows, r->facts);
        if (!r->facts) printf("  (no facts)\n");
        for (size_t k = 0; k < r->rejects.n; k++) printf("  rejected %s\n", r->rejects.v[k]);
        for (size_t k = 0; k < r->warnings.n; k++) printf("  warning %s\n", r->warnings.v[k]);
        print_unmapped(r, si);
        if (r->oom) {
            printf("  ERROR out of memory while collecting the results\n");
            failed[i] = 1;
        }
        if (prc) {
            /* Every stream error should name the source; a few runtime
             * messages (columns missing from the result) name only file:line. */
            char tag[200], full[2600];
            snprintf(tag, sizeof tag, "source %s", source);
            if (strstr(perr, tag))
                snprintf(full, sizeof full, "%s", perr);
            else
                snprintf(full, sizeof full, "source %s, stream '%s': %s", source, si->name, perr);
            printf("  ERROR %s\n", full);
            fprintf(stderr, "gridgate adapter test: %s\n", full);
            failed[i] = 1;
        }
        if (failed[i]) rc = 1;
    }
    printf("\n");
    for (size_t i = 0; i < nstreams; i++)
        printf("stream %s: %ld facts, %zu rejected, %zu warnings%s\n", runs[i].stream, runs[i].facts,
               runs[i].rejects.n, runs[i].warnings.n, failed[i] ? ", FAILED" : "");
    if (nstreams == 0) printf("the adapter has no streams (push only)\n");
    for (size_t i = 0; i < nstreams; i++) stream_run_free(&runs[i]);
    free(runs);
    free(failed);
    adapter_free(ad);
    config_free(cfg);
    return rc;
}

/* ------------------------------------------------------------------- main */

int authoring_main(const char *config_path, int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "new")) return cmd_new(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "test")) return cmd_test(config_path, argc, argv);
    char kinds[160];
    conn_registry_list(kinds, sizeof kinds, "", "", "|", "|");
    fprintf(stderr, "usage: gridgate adapter new NAME --kind %s [--dir DIR]\n"
                    "       gridgate adapter test FILE --source NAME [--limit N] [-c CONFIG]\n", kinds);
    return 2;
}
