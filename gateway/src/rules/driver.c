/* driver.c - runs the rules of the registry over a resolved factset (see
 * rules.h) and holds what they share (rules_internal.h): the run context,
 * the case index, member spans, deaths, and the helpers that open and finish
 * alerts. The rules themselves, each with its readings of docs/record-model.md
 * ("Precise readings"), are one file each (rules/<name>.c).
 *
 * Facts are reached through indexes built once per run: the per-person fact
 * lists identity_resolve() made (CSR) and per-case lists of member facts and of
 * dibao/tekun payment facts (a strmap from case key to case index, CSR lists in
 * (source, ref) order). Months are handled as month indices (year * 12 + month
 * - 1) and per-case or per-person month bitmaps, so no rule scans all facts more
 * than once per subject. Alerts are sorted by (rule, subject) at the end.
 *
 * Ownership: rules_run() appends alerts it owns to `out`; on failure it frees
 * the alerts it added and leaves `out` as it was. */
#include "rules/rules_internal.h"

/* ---- run context ----------------------------------------------------------- */



void rules_mark_reset(rules_ctx *cx) {
    if (++cx->mark_gen == 0) { /* wrapped: clear */
        memset(cx->mark, 0, cx->fs->nfacts * sizeof *cx->mark);
        cx->mark_gen = 1;
    }
}
/* 1 when fact i was not marked yet in this generation (and marks it). */
int rules_mark_once(rules_ctx *cx, int i) {
    if (cx->mark[i] == cx->mark_gen) return 0;
    cx->mark[i] = cx->mark_gen;
    return 1;
}

/* An assistance payment read by its case. Assistance is paid to a household
 * case: the payment may name a member (id_no) or only the case, and both are
 * read here by `case` alone, never through the member's identity. */
static int is_case_payment(const fact *f) {
    return f->kind == FK_PAYMENT && fact_str(f, FF_CASE) && fact_has(f, FF_PERIOD) &&
           is_assistance_program(fact_str(f, FF_PROGRAM));
}

typedef struct case_sort_key {
    const char *key;
    int idx;
} case_sort_key;

static int cmp_case_sort_key(const void *a, const void *b) {
    return strcmp(((const case_sort_key *)a)->key, ((const case_sort_key *)b)->key);
}

/* Builds the case index and its member and payment lists. */
static int ctx_build_cases(rules_ctx *cx) {
    const factset *fs = cx->fs;
    size_t nsel = 0;
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = F(cx, (int)i);
        nsel += (f->kind == FK_ASSISTANCE_MEMBER && fact_str(f, FF_CASE)) || is_case_payment(f);
    }
    cx->order = malloc((nsel ? nsel : 1) * sizeof *cx->order);
    if (!cx->order) {
        gg_error("rules", "out of memory selecting %zu case facts", nsel);
        return -1;
    }
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = F(cx, (int)i);
        if ((f->kind == FK_ASSISTANCE_MEMBER && fact_str(f, FF_CASE)) || is_case_payment(f))
            cx->order[cx->norder++] = (int)i;
    }
    if (factset_sort_indices(fs, cx->order, cx->norder) != 0) return -1;
    if (strmap_init(&cx->cases, 64) != 0) return -1;
    for (size_t oi = 0; oi < cx->norder; oi++) {
        const fact *f = F(cx, cx->order[oi]);
        const char *ck = fact_str(f, FF_CASE);
        if (f->kind == FK_ASSISTANCE_MEMBER && ck &&
            strmap_intern(&cx->cases, ck, (int)strmap_count(&cx->cases), NULL) < 0)
            return -1;
    }
    size_t nc = cx->ncases = strmap_count(&cx->cases);
    cx->case_key = calloc(nc + 1, sizeof *cx->case_key);
    cx->case_sorted = malloc((nc + 1) * sizeof *cx->case_sorted);
    cx->mem_off = calloc(nc + 1, sizeof *cx->mem_off);
    cx->pay_off = calloc(nc + 1, sizeof *cx->pay_off);
    if (!cx->case_key || !cx->case_sorted || !cx->mem_off || !cx->pay_off) goto oom;
    size_t it = 0;
    const char *key;
    int ci;
    while (strmap_next(&cx->cases, &it, &key, &ci)) cx->case_key[ci] = key;
    case_sort_key *sk = malloc((nc + 1) * sizeof *sk);
    if (!sk) goto oom;
    for (size_t c = 0; c < nc; c++) {
        sk[c].key = cx->case_key[c];
        sk[c].idx = (int)c;
    }
    qsort(sk, nc, sizeof *sk, cmp_case_sort_key);
    for (size_t c = 0; c < nc; c++) cx->case_sorted[c] = sk[c].idx;
    free(sk);

    for (int pass = 0; pass < 2; pass++) {
        size_t *mfill = NULL, *pfill = NULL;
        if (pass == 1) {
            for (size_t c = 0; c < nc; c++) {
                cx->mem_off[c + 1] += cx->mem_off[c];
                cx->pay_off[c + 1] += cx->pay_off[c];
            }
            cx->mem = malloc((cx->mem_off[nc] + 1) * sizeof *cx->mem);
            cx->pay = malloc((cx->pay_off[nc] + 1) * sizeof *cx->pay);
            mfill = malloc((nc + 1) * sizeof *mfill);
            pfill = malloc((nc + 1) * sizeof *pfill);
            if (!cx->mem || !cx->pay || !mfill || !pfill) {
                free(mfill);
                free(pfill);
                goto oom;
            }
            memcpy(mfill, cx->mem_off, (nc + 1) * sizeof *mfill);
            memcpy(pfill, cx->pay_off, (nc + 1) * sizeof *pfill);
        }
        for (size_t oi = 0; oi < cx->norder; oi++) {
            int i = cx->order[oi];
            const fact *f = F(cx, i);
            int c;
            if (f->kind == FK_ASSISTANCE_MEMBER) {
                if (!strmap_get(&cx->cases, fact_str(f, FF_CASE), &c)) continue;
                if (pass == 0) cx->mem_off[c + 1]++;
                else cx->mem[mfill[c]++] = i;
            } else if (is_case_payment(f)) {
                if (!strmap_get(&cx->cases, fact_str(f, FF_CASE), &c)) continue;
                if (pass == 0) cx->pay_off[c + 1]++;
                else cx->pay[pfill[c]++] = i;
            }
        }
        free(mfill);
        free(pfill);
    }
    return 0;
oom:
    gg_error("rules", "out of memory indexing %zu cases", nc);
    return -1;
}

static void ctx_free(rules_ctx *cx) {
    free(cx->order);
    strmap_free(&cx->cases);
    free(cx->case_key);
    free(cx->case_sorted);
    free(cx->mem_off);
    free(cx->mem);
    free(cx->pay_off);
    free(cx->pay);
    free(cx->mark);
}

/* Enrollment of a member fact as a day interval [from, to] (to = OPEN_END when
 * ongoing) and as month indices [mlo, mhi]; 0 when it covers no month. */
int rules_member_span(const rules_ctx *cx, const fact *f, int *from, int *to, int *mlo, int *mhi) {
    if (!fact_has(f, FF_FROM)) return 0;
    *from = (int)fact_i(f, FF_FROM);
    *to = fact_has(f, FF_TO) ? (int)fact_i(f, FF_TO) : OPEN_END;
    *mlo = month_index(date_month(*from));
    *mhi = month_index(*to == OPEN_END ? cx->today_month : date_month(*to));
    return *mlo <= *mhi;
}

/* Months of the day interval [lo, hi] (hi may be OPEN_END = through today's month). */
int rules_day_span_months(const rules_ctx *cx, int lo, int hi, int *mlo, int *mhi) {
    if (lo > hi) return 0;
    *mlo = month_index(date_month(lo));
    *mhi = month_index(hi == OPEN_END ? cx->today_month : date_month(hi));
    return *mlo <= *mhi;
}

/* ---- alerts ----------------------------------------------------------------- */

/* Opens an alert for `subject`. name/region/grid come from person p (when >= 0);
 * id_no is set when person_subject. Returns NULL on out of memory. */
alert *rules_open_alert(rules_ctx *cx, alert_list *out, rule_id r, const char *subject, int p,
                         int person_subject, const char *case_key) {
    alert *a = alert_list_push(out);
    if (!a) return NULL;
    alert_init(a, r, subject);
    if (!a->subject) return NULL;
    if (p >= 0) {
        const person *ps = &cx->fs->persons[p];
        if (person_subject) memcpy(a->id_no, ps->id_no, sizeof a->id_no);
        if ((ps->name && !(a->name = strdup(ps->name))) || !(a->region = strdup(ps->region)) ||
            (ps->grid && !(a->grid = strdup(ps->grid))))
            return NULL;
    }
    if (case_key && !(a->case_key = strdup(case_key))) return NULL;
    return a;
}

/* alert_add_period() refuses months outside 1000-01..9999-12 with -1, like an
 * out-of-memory failure; such a period is left out here instead of failing the run. */
int rules_add_period(alert *a, int yyyymm) {
    int y = yyyymm / 100, m = yyyymm % 100;
    if (y < 1000 || y > 9999 || m < 1 || m > 12) return 0;
    return alert_add_period(a, yyyymm);
}

int rules_add_ev(rules_ctx *cx, alert *a, const char *role, int fi) {
    return alert_add_evidence(a, role, F(cx, fi), (link_conf)cx->fs->link[fi]) == 0 ? 0 : -1;
}

/* Evidence "person": the first person fact tied to p by id, if any. */
int rules_add_person_ev(rules_ctx *cx, alert *a, int p) {
    const factset *fs = cx->fs;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (F(cx, fi)->kind == FK_PERSON && fs->link[fi] == LINK_HIGH) return rules_add_ev(cx, a, "person", fi);
    }
    return 0;
}

static confidence conf_of(int all_low, int name_conflict) {
    if (all_low) return CONF_LOW;
    return name_conflict ? CONF_MEDIUM : CONF_HIGH;
}

/* Sets a->conf and stores the detail (stolen) as compact JSON text, adding
 * "name_conflict": true when the name conflict lowered the confidence. */
int rules_finish_alert(alert *a, int all_low, int name_conflict, json_t *detail) {
    if (!detail) return -1;
    a->conf = conf_of(all_low, name_conflict);
    if (a->conf == CONF_MEDIUM && json_object_set_new(detail, "name_conflict", json_true()) != 0) {
        json_decref(detail);
        return -1;
    }
    a->detail_json = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(detail);
    return a->detail_json ? 0 : -1;
}

/* Adds the case's dibao/tekun payments whose period is marked in bm (month
 * indices lo .. lo+n-1) as evidence and to *amount. */
int rules_add_case_payments(rules_ctx *cx, alert *a, int ci, const unsigned char *bm, int lo, int n,
                             int64_t *amount) {
    for (size_t k = cx->pay_off[ci]; k < cx->pay_off[ci + 1]; k++) {
        int fi = cx->pay[k];
        const fact *f = F(cx, fi);
        int mi = month_index((int)fact_i(f, FF_PERIOD));
        if (mi < lo || mi >= lo + n || !bm[mi - lo]) continue;
        *amount += fact_i(f, FF_AMOUNT);
        if (rules_add_ev(cx, a, "case_payment", fi) != 0) return -1;
    }
    return 0;
}

int rules_add_periods(alert *a, const unsigned char *bm, int lo, int n) {
    for (int m = 0; m < n; m++)
        if (bm[m] && rules_add_period(a, month_of_index(lo + m)) != 0) return -1;
    return 0;
}

/* ---- deaths -------------------------------------------------------------------- */



static int death_gives_d(const rules_ctx *cx, int fi, const death_found *d);

/* D for person p: the earliest authoritative, non-revoked death; when
 * authoritative_only is 0 and there is none, the earliest non-revoked grid
 * report. 1 found, 0 none. */
int rules_person_death(const rules_ctx *cx, int p, int authoritative_only, death_found *d) {
    const factset *fs = cx->fs;
    int d_auth = 0, d_grid = 0;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        const fact *f = F(cx, fs->by_person[k]);
        if (f->kind != FK_DEATH || !fact_has(f, FF_DEATH_DATE)) continue;
        if (fact_has(f, FF_REVOKED) && fact_i(f, FF_REVOKED)) continue;
        int dd = (int)fact_i(f, FF_DEATH_DATE);
        if (is_authoritative_basis(fact_str(f, FF_BASIS))) {
            if (!d_auth || dd < d_auth) d_auth = dd;
        } else if (!d_grid || dd < d_grid) {
            d_grid = dd;
        }
    }
    if (!d_auth && (authoritative_only || !d_grid)) return 0;
    d->grid_only = !d_auth;
    d->date = d_auth ? d_auth : d_grid;
    d->all_low = 1;
    d->first = -1;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (!death_gives_d(cx, fi, d)) continue;
        if (d->first < 0) d->first = fi;
        if (fs->link[fi] != LINK_LOW) d->all_low = 0;
    }
    return 1;
}

/* 1 when fact fi is one of the death facts giving d->date. */
static int death_gives_d(const rules_ctx *cx, int fi, const death_found *d) {
    const fact *f = F(cx, fi);
    if (f->kind != FK_DEATH || !fact_has(f, FF_DEATH_DATE) || fact_i(f, FF_DEATH_DATE) != d->date) return 0;
    if (fact_has(f, FF_REVOKED) && fact_i(f, FF_REVOKED)) return 0;
    return is_authoritative_basis(fact_str(f, FF_BASIS)) != d->grid_only;
}

int rules_add_death_ev(rules_ctx *cx, alert *a, int p, const death_found *d) {
    const factset *fs = cx->fs;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (death_gives_d(cx, fi, d) && rules_add_ev(cx, a, "death", fi) != 0) return -1;
    }
    return 0;
}

/* ---- scratch vectors and member grouping --------------------------------------- */


int rules_ivec_push(ivec *x, int val) {
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 16;
        int *nv = realloc(x->v, ncap * sizeof *nv);
        if (!nv) {
            gg_error("rules", "out of memory growing a scratch list to %zu entries", ncap);
            return -1;
        }
        x->v = nv;
        x->cap = ncap;
    }
    x->v[x->n++] = val;
    return 0;
}


static int cmp_member_ref(const void *a, const void *b) {
    const member_ref *x = a, *y = b;
    if (x->person != y->person) return (x->person > y->person) - (x->person < y->person);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The case's member facts grouped by person (unlinked ones, person -1, sort
 * first), each group in (source, ref) order. *out is malloc'd, *n entries. */
int rules_case_member_refs(const rules_ctx *cx, int ci, member_ref **out, size_t *n) {
    size_t m0 = cx->mem_off[ci], nm = cx->mem_off[ci + 1] - m0;
    member_ref *r = malloc((nm ? nm : 1) * sizeof *r);
    if (!r) {
        gg_error("rules", "out of memory grouping %zu members of a case", nm);
        return -1;
    }
    for (size_t k = 0; k < nm; k++) {
        r[k].fi = cx->mem[m0 + k];
        r[k].person = cx->fs->person_of[r[k].fi];
        r[k].pos = (int)k;
    }
    qsort(r, nm, sizeof *r, cmp_member_ref);
    *out = r;
    *n = nm;
    return 0;
}

/* Month span [lo, hi] (month indices) of a case's enrollment; 0 when none. */
int rules_case_span(const rules_ctx *cx, int ci, int *lo, int *hi) {
    int any = 0;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int from, to, mlo, mhi;
        if (!rules_member_span(cx, F(cx, cx->mem[k]), &from, &to, &mlo, &mhi)) continue;
        if (!any || mlo < *lo) *lo = mlo;
        if (!any || mhi > *hi) *hi = mhi;
        any = 1;
    }
    return any;
}

/* Marks in bm (month indices lo .. lo+n-1) the months member fact fi is enrolled. */
void rules_mark_member_months(const rules_ctx *cx, int fi, unsigned char *bm, int lo, int n) {
    int from, to, mlo, mhi;
    if (!rules_member_span(cx, F(cx, fi), &from, &to, &mlo, &mhi)) return;
    for (int m = mlo; m <= mhi; m++)
        if (m >= lo && m < lo + n) bm[m - lo] = 1;
}

/* 1 when member fact fi is enrolled in a month marked in bm. */
int rules_member_in_months(const rules_ctx *cx, int fi, const unsigned char *bm, int lo, int n) {
    int from, to, mlo, mhi;
    if (!rules_member_span(cx, F(cx, fi), &from, &to, &mlo, &mhi)) return 0;
    for (int m = mlo; m <= mhi; m++)
        if (m >= lo && m < lo + n && bm[m - lo]) return 1;
    return 0;
}

/* Case facts shared by the case rules: program and region from the member
 * facts (first non-empty in (source, ref) order), first member's person. */
void rules_case_basics(const rules_ctx *cx, int ci, const char **program, const char **region, int *first_person) {
    *program = NULL;
    *region = NULL;
    *first_person = -1;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int fi = cx->mem[k];
        const fact *f = F(cx, fi);
        if (!*program) *program = fact_str(f, FF_PROGRAM);
        if (!*region) *region = fact_str(f, FF_REGION);
        if (*first_person < 0) *first_person = cx->fs->person_of[fi];
    }
    if (!*region && *first_person >= 0) *region = cx->fs->persons[*first_person].region;
}

char *rules_case_subject(const char *case_key, const char *id18) {
    size_t len = strlen(case_key) + 40;
    char *s = malloc(len);
    if (!s) {
        gg_error("rules", "out of memory building an alert subject");
        return NULL;
    }
    if (id18)
        snprintf(s, len, "case:%s/person:%s", case_key, id18);
    else
        snprintf(s, len, "case:%s", case_key);
    return s;
}

/* ---- configuration and entry point ------------------------------------------------- */

int rules_config_defaults(rules_config *rc) {
    char err[256];
    memset(rc, 0, sizeof *rc);
    rc->standard_default = -1; /* "unset": the standard keys have no default */
    for (size_t r = 0; r < rules_count() && r < RULES_MAX; r++) {
        const rule_desc *d = rules_get((rule_id)r);
        if (confkey_defaults(rules_common_keys, rules_ncommon_keys, &rc->enabled[r], err, sizeof err) != 0 ||
            confkey_defaults(d->keys, d->nkeys, rc, err, sizeof err) != 0) {
            gg_error("rules", "rule %s defaults: %s", d->info.name, err);
            return -1;
        }
    }
    return 0;
}

void rules_config_free(rules_config *rc) {
    if (!rc) return;
    free(rc->standards);
    for (size_t i = 0; i < rc->nexempt; i++) free(rc->exempt_subkinds[i]);
    free(rc->exempt_subkinds);
    rc->standards = NULL;
    rc->nstandards = 0;
    rc->exempt_subkinds = NULL;
    rc->nexempt = 0;
}

int64_t rules_standard_for(const rules_config *rc, const char *region) {
    size_t best_len = 0;
    int64_t best = rc->standard_default;
    if (!region) return best;
    for (size_t i = 0; i < rc->nstandards; i++) {
        const char *pre = rc->standards[i].prefix;
        size_t len = strlen(pre);
        if (len > best_len && strncmp(region, pre, len) == 0) {
            best_len = len;
            best = rc->standards[i].fen;
        }
    }
    return best;
}

static int cmp_alert(const void *a, const void *b) {
    const alert *x = a, *y = b;
    if (x->rule != y->rule) return (x->rule > y->rule) - (x->rule < y->rule);
    return strcmp(x->subject, y->subject);
}

int rules_run(const factset *fs, const rules_config *rc, alert_list *out) {
    if (fs->nfacts && (!fs->person_of || !fs->by_person_off)) {
        gg_error("rules", "rules_run called on a factset without identity_resolve()");
        return -1;
    }
    rules_ctx cx = {0};
    size_t n0 = out->n;
    cx.fs = fs;
    cx.rc = rc;
    cx.today_month = date_month(rc->today ? rc->today : date_today());
    cx.mark = calloc(fs->nfacts ? fs->nfacts : 1, sizeof *cx.mark);
    if (!cx.mark) {
        gg_error("rules", "out of memory allocating marks for %zu facts", fs->nfacts);
        goto fail;
    }
    if (ctx_build_cases(&cx) != 0) goto fail;
    for (size_t r = 0; r < rules_count() && r < RULES_MAX; r++) {
        const rule_desc *d = rules_get((rule_id)r);
        if (!rc->enabled[r]) continue;
        size_t before = out->n;
        if (d->evaluate(&cx, (rule_id)r, out) != 0) {
            gg_error("rules", "rule %s failed (out of memory)", rule_name((rule_id)r));
            goto fail;
        }
        gg_debug("rules", "%s: %zu alerts", rule_name((rule_id)r), out->n - before);
    }
    if (out->n > n0) qsort(out->items + n0, out->n - n0, sizeof *out->items, cmp_alert);
    for (size_t i = n0; i < out->n; i++) alert_fingerprint(&out->items[i]);
    ctx_free(&cx);
    return 0;
fail:
    for (size_t i = n0; i < out->n; i++) alert_free(&out->items[i]);
    out->n = n0;
    ctx_free(&cx);
    return -1;
}