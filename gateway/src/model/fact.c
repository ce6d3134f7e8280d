/* fact.c - the fact registry of docs/record-model.md, typed field setters, and the
 * exact value conversions (money, dates, months, integers) used by mappings.
 *
 * The registry below is the single place that encodes which fields each fact
 * kind allows and requires, the type of every field, and the values of enum
 * fields. fact_set_text() and conv_* run once per row on millions of rows: the
 * conversions never allocate and never use floating point; fact_set_text only
 * allocates the copy of a TEXT value the fact then owns (an ENUM value points at
 * the registry's spelling). */
#include "model/fact.h"
#include "core/hash.h"
#include "core/jsontext.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "model/money.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>


/* ---- registry ------------------------------------------------------------ */

static const char *const fact_kind_names[FK__COUNT] = {
    [FK_PERSON] = "person",   [FK_DEATH] = "death",   [FK_PAYMENT] = "payment",
    [FK_ASSISTANCE_MEMBER] = "assistance_member",     [FK_INCOME] = "income",
    [FK_ASSET] = "asset",     [FK_CUSTODY] = "custody", [FK_VERDICT] = "verdict",
};

static const struct {
    const char *name;
    field_type type;
} fact_fields[FF__COUNT] = {
    [FF_ID_NO] = {"id_no", FT_TEXT},
    [FF_NAME] = {"name", FT_TEXT},
    [FF_SEX] = {"sex", FT_ENUM},
    [FF_BIRTH_DATE] = {"birth_date", FT_DATE},
    [FF_REGION] = {"region", FT_TEXT},
    [FF_ADDRESS] = {"address", FT_TEXT},
    [FF_GRID] = {"grid", FT_TEXT},
    [FF_HOUSEHOLD] = {"household", FT_TEXT},
    [FF_DEATH_DATE] = {"death_date", FT_DATE},
    [FF_BASIS] = {"basis", FT_ENUM},
    [FF_REVOKED] = {"revoked", FT_BOOL},
    [FF_PROGRAM] = {"program", FT_TEXT},
    [FF_PERIOD] = {"period", FT_MONTH},
    [FF_AMOUNT] = {"amount", FT_MONEY},
    [FF_CASE] = {"case", FT_TEXT},
    [FF_PAYER] = {"payer", FT_TEXT},
    [FF_PAID_ON] = {"paid_on", FT_DATE},
    [FF_FROM] = {"from", FT_DATE},
    [FF_TO] = {"to", FT_DATE},
    [FF_RELATION] = {"relation", FT_TEXT},
    [FF_HOUSEHOLD_SIZE] = {"household_size", FT_INT},
    [FF_KIND] = {"kind", FT_ENUM},
    [FF_SUBKIND] = {"subkind", FT_TEXT},
    [FF_DESCRIPTION] = {"description", FT_TEXT},
    [FF_VALUE] = {"value", FT_MONEY},
    [FF_ALERT] = {"alert", FT_TEXT},
    [FF_VERDICT] = {"verdict", FT_ENUM},
    [FF_BY] = {"by", FT_TEXT},
    [FF_AT] = {"at", FT_TEXT},
    [FF_NOTE] = {"note", FT_TEXT},
};

#define BIT(f) (UINT64_C(1) << (f))

/* Allowed and required fields per kind: the "Fact kinds" table of
 * docs/record-model.md. Every kind that names a person accepts the name and
 * birth date the source states next to the id (evidence, and compared across
 * sources by identity resolution). A payment's id_no is required except on a
 * dibao/tekun payment that names its household case: see fact_check(). */
#define PERSON_BITS (BIT(FF_ID_NO) | BIT(FF_NAME) | BIT(FF_BIRTH_DATE))
static const struct {
    uint64_t allowed;
    uint64_t required;
} fact_kind_fields[FK__COUNT] = {
    [FK_PERSON] = {PERSON_BITS | BIT(FF_SEX) | BIT(FF_REGION) | BIT(FF_ADDRESS) | BIT(FF_GRID) | BIT(FF_HOUSEHOLD),
                   BIT(FF_ID_NO) | BIT(FF_NAME)},
    [FK_DEATH] = {PERSON_BITS | BIT(FF_DEATH_DATE) | BIT(FF_BASIS) | BIT(FF_REGION) | BIT(FF_ADDRESS) |
                      BIT(FF_REVOKED),
                  BIT(FF_NAME) | BIT(FF_DEATH_DATE) | BIT(FF_BASIS)},
    [FK_PAYMENT] = {PERSON_BITS | BIT(FF_PROGRAM) | BIT(FF_PERIOD) | BIT(FF_AMOUNT) | BIT(FF_CASE) |
                        BIT(FF_PAYER) | BIT(FF_PAID_ON),
                    BIT(FF_ID_NO) | BIT(FF_PROGRAM) | BIT(FF_PERIOD) | BIT(FF_AMOUNT)},
    [FK_ASSISTANCE_MEMBER] = {PERSON_BITS | BIT(FF_CASE) | BIT(FF_PROGRAM) | BIT(FF_FROM) | BIT(FF_TO) |
                                  BIT(FF_RELATION) | BIT(FF_REGION) | BIT(FF_HOUSEHOLD_SIZE),
                              BIT(FF_CASE) | BIT(FF_PROGRAM) | BIT(FF_ID_NO) | BIT(FF_NAME) |
                                  BIT(FF_FROM)},
    [FK_INCOME] = {PERSON_BITS | BIT(FF_PERIOD) | BIT(FF_AMOUNT) | BIT(FF_KIND) | BIT(FF_PAYER),
                   BIT(FF_ID_NO) | BIT(FF_PERIOD) | BIT(FF_AMOUNT)},
    [FK_ASSET] = {PERSON_BITS | BIT(FF_KIND) | BIT(FF_FROM) | BIT(FF_TO) | BIT(FF_SUBKIND) |
                      BIT(FF_DESCRIPTION) | BIT(FF_VALUE),
                  BIT(FF_ID_NO) | BIT(FF_KIND) | BIT(FF_FROM)},
    [FK_CUSTODY] = {PERSON_BITS | BIT(FF_FROM) | BIT(FF_TO) | BIT(FF_KIND),
                    BIT(FF_ID_NO) | BIT(FF_FROM)},
    [FK_VERDICT] = {BIT(FF_ALERT) | BIT(FF_VERDICT) | BIT(FF_BY) | BIT(FF_AT) | BIT(FF_NOTE),
                    BIT(FF_ALERT) | BIT(FF_VERDICT)},
};

static const char *const enum_sex[] = {"M", "F", NULL};
static const char *const enum_basis[] = {"household_deregistration", "cremation",
                                         "death_certificate", "grid_report", NULL};
static const char *const enum_income_kind[] = {"wage", "business", "pension", "unemployment",
                                               "other", NULL};
static const char *const enum_asset_kind[] = {"vehicle", "real_estate", "business", NULL};
static const char *const enum_custody_kind[] = {"imprisonment", "detention", NULL};
static const char *const enum_verdict[] = {"confirmed", "dismissed", NULL};

static int kind_ok(fact_kind k) { return (unsigned)k < FK__COUNT; }
static int field_ok(fact_field f) { return (unsigned)f < FF__COUNT; }

const char *fact_kind_name(fact_kind k) { return kind_ok(k) ? fact_kind_names[k] : "unknown"; }

int fact_kind_parse(const char *s, fact_kind *out) {
    if (s == NULL) return -1;
    for (int k = 0; k < FK__COUNT; k++)
        if (strcmp(s, fact_kind_names[k]) == 0) {
            *out = (fact_kind)k;
            return 0;
        }
    return -1;
}

const char *fact_field_name(fact_field f) { return field_ok(f) ? fact_fields[f].name : "unknown"; }

int fact_field_parse(const char *s, fact_field *out) {
    if (s == NULL) return -1;
    for (int f = 0; f < FF__COUNT; f++)
        if (strcmp(s, fact_fields[f].name) == 0) {
            *out = (fact_field)f;
            return 0;
        }
    return -1;
}

field_type fact_field_type(fact_field f) { return field_ok(f) ? fact_fields[f].type : FT_TEXT; }

int fact_field_is_text(fact_field f) {
    field_type t = fact_field_type(f);
    return t == FT_TEXT || t == FT_ENUM;
}

int fact_field_allowed(fact_kind k, fact_field f) {
    return kind_ok(k) && field_ok(f) && (fact_kind_fields[k].allowed & BIT(f)) != 0;
}

int fact_field_required(fact_kind k, fact_field f) {
    return kind_ok(k) && field_ok(f) && (fact_kind_fields[k].required & BIT(f)) != 0;
}

const char *const *fact_enum_values(fact_kind k, fact_field f) {
    if (!fact_field_allowed(k, f)) return NULL;
    switch (f) {
    case FF_SEX: return enum_sex;
    case FF_BASIS: return enum_basis;
    case FF_VERDICT: return enum_verdict;
    case FF_KIND:
        switch (k) {
        case FK_INCOME: return enum_income_kind;
        case FK_ASSET: return enum_asset_kind;
        case FK_CUSTODY: return enum_custody_kind;
        default: return NULL;
        }
    default: return NULL;
    }
}

fact_field fact_field_alternative(fact_kind k, fact_field f) {
    return k == FK_PAYMENT && f == FF_ID_NO ? FF_CASE : FF__COUNT;
}

int fact_kind_is_stream(fact_kind k) { return k == FK_PAYMENT || k == FK_INCOME; }

/* ---- lifecycle ----------------------------------------------------------- */

void fact_init(fact *ft, fact_kind k) {
    memset(ft, 0, sizeof *ft);
    ft->kind = k;
    ft->id_status = ID_EMPTY;
}

/* Clears what was set and nothing else (called for every row a pull maps):
 * an unset field is all zero already (model/fact.h), so only the set fields'
 * values are freed (owned text) and zeroed. The result equals fact_init(k). */
void fact_clear(fact *ft) {
    if (ft == NULL) return;
    if (!ft->source_shared && !(ft->borrowed & FACT_SOURCE_BORROWED)) free(ft->source);
    if (!(ft->borrowed & FACT_REF_BORROWED)) free(ft->ref);
    if (!(ft->more_borrowed & FACT_RAW_BORROWED)) free(ft->raw_json);
    if (ft->name_norm != ft->f[FF_NAME].s && !(ft->more_borrowed & FACT_NAME_NORM_BORROWED))
        free(ft->name_norm); /* else the name's, freed below, or the frame's */
    for (uint32_t set = ft->set; set; set &= set - 1) {
        unsigned f = (unsigned)__builtin_ctz(set);
        /* ENUM: static; borrowed text: the row's */
        if (fact_fields[f].type == FT_TEXT && !(ft->borrowed >> f & 1u)) free(ft->f[f].s);
        ft->f[f].i = 0;
        ft->f[f].s = NULL;
    }
    ft->set = 0;
    ft->source = ft->ref = ft->raw_json = ft->name_norm = NULL;
    ft->raw_hash = 0;
    ft->id_status = ID_EMPTY;
    memset(ft->id_norm, 0, sizeof ft->id_norm);
    memset(ft->id_clean, 0, sizeof ft->id_clean);
    ft->source_shared = 0;
    ft->more_borrowed = 0;
    ft->borrowed = 0;
}

/* dst is treated as uninitialized storage (its previous contents, if any, are
 * not freed: fact_clear() it first). On failure dst is left cleared. */
int fact_copy(fact *dst, const fact *src) {
    fact_init(dst, src->kind);
    dst->id_status = src->id_status;
    memcpy(dst->id_norm, src->id_norm, sizeof dst->id_norm);
    memcpy(dst->id_clean, src->id_clean, sizeof dst->id_clean);
    /* Small copies: they abort on out-of-memory (core/util.h). */
    dst->source = xstrdup(src->source); /* owned even when src's is shared */
    dst->ref = xstrdup(src->ref);
    dst->raw_json = xstrdup(src->raw_json);
    dst->raw_hash = src->raw_hash;
    dst->set = src->set;
    for (int f = 0; f < FF__COUNT; f++) {
        if (fact_fields[f].type == FT_TEXT) dst->f[f].s = xstrdup(src->f[f].s);
        else dst->f[f] = src->f[f]; /* an integer, or an ENUM's static spelling */
    }
    dst->name_norm = src->name_norm && src->name_norm == src->f[FF_NAME].s ? dst->f[FF_NAME].s
                                                                            : xstrdup(src->name_norm);
    return 0;
}

/* ---- the record's raw hash ----------------------------------------------- */

static uint64_t raw_hash_nonzero(uint64_t h) { return h ? h : 1; }

uint64_t fact_raw_hash_row(int ncols, const char *const *names, const char *const *vals) {
    uint64_t h = GG_HASH64_SEED;
    for (int i = 0; i < ncols; i++) {
        const char *n = names[i] ? names[i] : "";
        h = gg_hash64_update(h, n, strlen(n) + 1);
        /* a value's call starts from the state marked 1, SQL NULL's (no
         * bytes) from the state marked 2: "" (one NUL byte) is not NULL */
        h = vals[i] ? gg_hash64_update(h ^ 1, vals[i], strlen(vals[i]) + 1) : gg_hash64_update(h ^ 2, NULL, 0);
    }
    return raw_hash_nonzero(h);
}

uint64_t fact_raw_hash_text(const char *raw_json) {
    if (!raw_json) return raw_hash_nonzero(gg_hash64_update(GG_HASH64_SEED ^ 2, NULL, 0));
    return raw_hash_nonzero(gg_hash64_update(GG_HASH64_SEED ^ 1, raw_json, strlen(raw_json) + 1));
}

uint64_t fact_raw_hash(const fact *f) { return f->raw_hash ? f->raw_hash : fact_raw_hash_text(f->raw_json); }

/* ---- setting fields ------------------------------------------------------ */

/* Fields whose values must never appear in messages (docs/record-model.md: ids and
 * names are only logged masked). */
static int field_is_identity(fact_field f) { return f == FF_ID_NO || f == FF_NAME; }

/* Bounds [*b, *e) of s without ASCII whitespace and U+3000 at either end. */
static void trim_bounds(const char *s, const char **b, const char **e) {
    const char *p = s, *q = s + strlen(s);
    for (;;) {
        if (p < q && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
        else if (q - p >= 3 && (unsigned char)p[0] == 0xE3 && (unsigned char)p[1] == 0x80 &&
                 (unsigned char)p[2] == 0x80)
            p += 3;
        else break;
    }
    for (;;) {
        if (q > p && (q[-1] == ' ' || (q[-1] >= '\t' && q[-1] <= '\r'))) q--;
        else if (q - p >= 3 && (unsigned char)q[-3] == 0xE3 && (unsigned char)q[-2] == 0x80 &&
                 (unsigned char)q[-1] == 0x80)
            q -= 3;
        else break;
    }
    *b = p;
    *e = q;
}

/* Copies at most n bytes of a value for an error message, cut back to a UTF-8
 * character boundary, with "..." when cut. out >= 64 bytes. */
static void quote_value(const char *v, size_t vlen, char *out, size_t outsz) {
    size_t max = outsz > 4 ? outsz - 4 : 0;
    size_t n = vlen < max ? vlen : max;
    while (n > 0 && n < vlen && ((unsigned char)v[n] & 0xC0) == 0x80) n--;
    memcpy(out, v, n);
    strcpy(out + n, n < vlen ? "..." : "");
}

static int check_field(const fact *ft, fact_field f, char *err, size_t errsz) {
    if (!field_ok(f)) return gg_set_err(err, errsz, "unknown field number %d", (int)f);
    if (!fact_field_allowed(ft->kind, f))
        return gg_set_err(err, errsz, "field '%s' is not allowed for kind '%s'", fact_fields[f].name,
                       fact_kind_name(ft->kind));
    return 0;
}

/* Bools as sources write them (PostgreSQL text form included: t/f). */
static int parse_bool(const char *s, size_t n, int *out) {
    static const char *const yes[] = {"1", "true", "t", "yes", "y", "是", NULL};
    static const char *const no[] = {"0", "false", "f", "no", "n", "否", NULL};
    for (int i = 0; yes[i]; i++)
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) return *out = 1, 0;
    for (int i = 0; no[i]; i++)
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) return *out = 0, 0;
    return -1;
}

void fact_own(fact *ft) {
    if (!ft->borrowed && !ft->more_borrowed) return;
    /* Small copies: they abort on out-of-memory (core/util.h). */
    if (ft->borrowed & FACT_SOURCE_BORROWED) ft->source = xstrdup(ft->source);
    if (ft->borrowed & FACT_REF_BORROWED) ft->ref = xstrdup(ft->ref);
    if (ft->more_borrowed & FACT_RAW_BORROWED) ft->raw_json = xstrdup(ft->raw_json);
    if (ft->more_borrowed & FACT_NAME_NORM_BORROWED) ft->name_norm = xstrdup(ft->name_norm);
    for (int f = 0; f < FF__COUNT; f++) {
        if (!(ft->borrowed >> f & 1u)) continue;
        char *copy = xstrdup(ft->f[f].s);
        if (f == FF_NAME && ft->name_norm == ft->f[f].s) ft->name_norm = copy; /* shared with the name */
        ft->f[f].s = copy;
    }
    ft->borrowed = 0;
    ft->more_borrowed = 0;
}

static int set_text(fact *ft, fact_field f, const char *text, int borrow, char *err, size_t errsz);

int fact_set_text(fact *ft, fact_field f, const char *text, char *err, size_t errsz) {
    return set_text(ft, f, text, 0, err, errsz);
}

int fact_set_text_borrowed(fact *ft, fact_field f, const char *text, char *err, size_t errsz) {
    return set_text(ft, f, text, 1, err, errsz);
}

static int set_text(fact *ft, fact_field f, const char *text, int borrow, char *err, size_t errsz) {
    if (check_field(ft, f, err, errsz) != 0) return -1;
    if (text == NULL) return 0;
    const char *b, *e;
    trim_bounds(text, &b, &e);
    size_t n = (size_t)(e - b);
    if (n == 0) return 0; /* empty or blank: not set */
    const char *fname = fact_fields[f].name;
    field_type t = fact_fields[f].type;
    fact_val *v = &ft->f[f];

    /* The value as quoted in errors, built only on an error path; never used
     * for identity fields. */
    char shown[64];
#define SHOWN() (quote_value(b, n, shown, sizeof shown), shown)

    if (t == FT_TEXT || t == FT_ENUM) {
        if (!utf8_valid(b, n)) return gg_set_err(err, errsz, "field '%s': not valid UTF-8", fname);
        if (t == FT_ENUM) {
            const char *const *vals = fact_enum_values(ft->kind, f);
            const char *match = NULL;
            for (int i = 0; vals && vals[i] && !match; i++)
                if (strlen(vals[i]) == n && strncasecmp(vals[i], b, n) == 0) match = vals[i];
            if (match == NULL) {
                char list[160] = "";
                for (int i = 0; vals && vals[i]; i++) {
                    if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
                    strncat(list, vals[i], sizeof list - strlen(list) - 1);
                }
                return gg_set_err(err, errsz, "field '%s': '%s' is not one of %s", fname, SHOWN(), list);
            }
            v->s = (char *)match; /* the canonical spelling, static: never freed */
            FACT_MARK(ft, f);
            return 0;
        } else if (f == FF_REGION) {
            int digits = (n == 6);
            for (size_t i = 0; digits && i < n; i++) digits = (b[i] >= '0' && b[i] <= '9');
            if (!digits)
                return gg_set_err(err, errsz, "field 'region': not a 6-digit region code: '%s'", SHOWN());
        }
        uint32_t bit = (uint32_t)1u << (unsigned)f;
        /* the old string is freed when owned and not the folded name's too */
        char *was = (ft->borrowed & bit) || v->s == ft->name_norm ? NULL : v->s;
        if ((ft->borrowed & bit) && v->s && v->s == ft->name_norm) ft->name_norm = xstrdup(v->s); /* outlives the row */
        if (borrow && b == text && b[n] == '\0') {
            v->s = (char *)b; /* the whole value, nothing trimmed: the row's own string */
            ft->borrowed |= bit;
        } else {
            char *copy = strndup(b, n);
            if (copy == NULL) return gg_set_err(err, errsz, "field '%s': out of memory", fname);
            v->s = copy;
            ft->borrowed &= ~bit;
        }
        free(was);
        FACT_MARK(ft, f);
        return 0;
    }

    /* Numeric kinds: the conversions take a NUL-terminated string; values that
     * do not fit the buffer are not numbers or dates anyway. */
    char buf[64];
    if (n >= sizeof buf) {
        if (field_is_identity(f)) return gg_set_err(err, errsz, "field '%s': value too long", fname);
        return gg_set_err(err, errsz, "field '%s': value too long: '%s'", fname, SHOWN());
    }
    memcpy(buf, b, n);
    buf[n] = '\0';
    int64_t i64 = 0;
    int iv = 0;
    switch (t) {
    case FT_DATE:
        if (conv_date(buf, &iv) != 0) return gg_set_err(err, errsz, "field '%s': not a date: '%s'", fname, SHOWN());
        i64 = iv;
        break;
    case FT_MONTH:
        if (conv_month(buf, &iv) != 0) return gg_set_err(err, errsz, "field '%s': not a month: '%s'", fname, SHOWN());
        i64 = iv;
        break;
    case FT_MONEY:
        if (conv_int(buf, &i64) != 0)
            return gg_set_err(err, errsz, "field '%s': not an amount in integer fen: '%s'", fname, SHOWN());
        break;
    case FT_INT:
        if (conv_int(buf, &i64) != 0) return gg_set_err(err, errsz, "field '%s': not an integer: '%s'", fname, SHOWN());
        break;
    case FT_BOOL:
        if (parse_bool(buf, n, &iv) != 0) return gg_set_err(err, errsz, "field '%s': not a boolean: '%s'", fname, SHOWN());
        i64 = iv;
        break;
    default:
        return gg_set_err(err, errsz, "field '%s': unsupported type", fname);
    }
    v->i = i64;
    FACT_MARK(ft, f);
    return 0;
#undef SHOWN
}

int fact_set_int(fact *ft, fact_field f, int64_t v, char *err, size_t errsz) {
    if (check_field(ft, f, err, errsz) != 0) return -1;
    const char *fname = fact_fields[f].name;
    switch (fact_fields[f].type) {
    case FT_DATE:
        if (v < INT_MIN || v > INT_MAX || !date_is_valid((int)v))
            return gg_set_err(err, errsz, "field '%s': not a date: %lld", fname, (long long)v);
        break;
    case FT_MONTH:
        if (v < 100001 || v > 999912 || v % 100 < 1 || v % 100 > 12)
            return gg_set_err(err, errsz, "field '%s': not a month: %lld", fname, (long long)v);
        break;
    case FT_BOOL:
        if (v != 0 && v != 1) return gg_set_err(err, errsz, "field '%s': not a boolean: %lld", fname, (long long)v);
        break;
    case FT_MONEY:
    case FT_INT: break;
    default: return gg_set_err(err, errsz, "field '%s' is text, not a number", fname);
    }
    ft->f[f].i = v;
    FACT_MARK(ft, f);
    return 0;
}

int fact_check(const fact *ft, char *err, size_t errsz) {
    if (!kind_ok(ft->kind)) return gg_set_err(err, errsz, "unknown fact kind %d", (int)ft->kind);
    /* the required fields not set, one bit each (most facts: none) */
    uint32_t missing = fact_kind_fields[ft->kind].required & ~ft->set;
    for (; missing; missing &= missing - 1) {
        int f = __builtin_ctz(missing);
        if (ft->kind == FK_PAYMENT && f == FF_ID_NO) {
            /* Assistance is paid to a household case: a dibao/tekun payment
             * may name its case instead of a person. */
            const char *prog = FACT_HAS(ft, FF_PROGRAM) ? ft->f[FF_PROGRAM].s : NULL;
            int assistance = prog && (!strcmp(prog, "dibao") || !strcmp(prog, "tekun"));
            if (assistance && FACT_HAS(ft, FF_CASE)) continue;
            if (assistance)
                return gg_set_err(err, errsz, "missing required field 'id_no' or 'case': a %s payment names the person "
                               "or the household case", prog);
            if (FACT_HAS(ft, FF_CASE))
                return gg_set_err(err, errsz, "missing required field 'id_no': only dibao/tekun payments may name "
                               "a case instead");
        }
        return gg_set_err(err, errsz, "missing required field '%s'", fact_fields[f].name);
    }
    return 0;
}

/* ---- plausibility -------------------------------------------------------- */

void fact_limits_init(fact_limits *l, int64_t max_amount, int today) {
    if (today <= 0) today = date_today();
    l->max_amount = max_amount > 0 ? max_amount : MONEY_DEFAULT_MAX_AMOUNT;
    l->min_date = FACT_MIN_DATE;
    l->max_date = today + 10000; /* a bound, not a calendar date (0229 may follow) */
}

int fact_date_plausible(const fact_limits *l, int yyyymmdd) {
    return yyyymmdd >= l->min_date && yyyymmdd <= l->max_date;
}

/* "12.34" for a fen amount, sign included; buf >= 32. */
static const char *fen_text(int64_t fen, char *buf, size_t sz) {
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(buf, sz, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
    return buf;
}

int fact_plausible(const fact *ft, const fact_limits *l, char *err, size_t errsz) {
    char b1[32], b2[32];
    /* the set fields, in field order (a bit each) */
    for (uint32_t set = ft->set; set; set &= set - 1) {
        int f = __builtin_ctz(set);
        if (f >= FF__COUNT) break;
        const fact_val *v = &ft->f[f];
        const char *fname = fact_fields[f].name;
        switch (fact_fields[f].type) {
        case FT_DATE:
            if (v->i < l->min_date)
                return gg_set_err(err, errsz, "field '%s': implausible date %lld (before %d)", fname,
                               (long long)v->i, l->min_date);
            if (v->i > l->max_date)
                return gg_set_err(err, errsz, "field '%s': implausible date %lld (after %d, a year from today)",
                               fname, (long long)v->i, l->max_date);
            break;
        case FT_MONTH:
            if (v->i < l->min_date / 100 || v->i > l->max_date / 100)
                return gg_set_err(err, errsz, "field '%s': implausible month %lld (outside %d..%d)", fname,
                               (long long)v->i, l->min_date / 100, l->max_date / 100);
            break;
        case FT_MONEY:
            if (v->i < 0)
                return gg_set_err(err, errsz, "field '%s': negative amount %s yuan is not accepted", fname,
                               fen_text(v->i, b1, sizeof b1));
            if (f == FF_AMOUNT && v->i > l->max_amount)
                return gg_set_err(err, errsz, "field '%s': amount %s yuan is over the ceiling of %s yuan per record "
                               "(max_amount)", fname, fen_text(v->i, b1, sizeof b1),
                               fen_text(l->max_amount, b2, sizeof b2));
            break;
        default: break;
        }
    }
    return 0;
}

char *fact_fields_json(const fact *ft) {
    /* Written directly (core/jsontext.h), as json_dumps(JSON_COMPACT) writes
     * the object of these fields in table order: one per piece of evidence
     * of every alert. A text that is not valid UTF-8 (json_string refuses
     * it) makes it NULL, as before. */
    sbuf b = {0};
    sb_putn(&b, "{", 1);
    int first = 1;
    for (int f = 0; f < FF__COUNT; f++) {
        const fact_val *v = &ft->f[f];
        if (!FACT_HAS(ft, f)) continue;
        if (!first) sb_putn(&b, ",", 1);
        first = 0;
        (void)jt_sb_string(&b, fact_fields[f].name); /* ASCII names */
        sb_putn(&b, ":", 1);
        char buf[16];
        int bad = 0;
        switch (fact_fields[f].type) {
        case FT_TEXT:
        case FT_ENUM:
            if (v->s) bad = jt_sb_string(&b, v->s) != 0;
            else sb_puts(&b, "null");
            break;
        case FT_DATE:
            date_text((int)v->i, buf, sizeof buf);
            bad = jt_sb_string(&b, buf) != 0;
            break;
        case FT_MONTH:
            month_text((int)v->i, buf, sizeof buf);
            bad = jt_sb_string(&b, buf) != 0;
            break;
        case FT_MONEY:
        case FT_INT: sb_printf(&b, "%lld", (long long)v->i); break;
        case FT_BOOL: sb_puts(&b, v->i != 0 ? "true" : "false"); break;
        }
        if (bad) {
            free(sb_take(&b));
            return NULL;
        }
    }
    sb_putn(&b, "}", 1);
    return sb_take(&b);
}

void fact_normalize_id(fact *ft, int today) {
    ft->id_norm[0] = '\0';
    ft->id_clean[0] = '\0';
    ft->id_status = ID_EMPTY;
    if (FACT_HAS(ft, FF_ID_NO) && ft->f[FF_ID_NO].s) {
        ft->id_status = ident_normalize(ft->f[FF_ID_NO].s, today, ft->id_clean);
        if (ft->id_status == ID_OK) memcpy(ft->id_norm, ft->id_clean, sizeof ft->id_norm);
    }
}

void fact_normalize_identity(fact *ft, name_normalizer *nn, int today) {
    fact_normalize_id(ft, today);
    fact_normalize_name(ft, nn);
}

void fact_normalize_name(fact *ft, name_normalizer *nn) {
    if (ft->name_norm != ft->f[FF_NAME].s && !(ft->more_borrowed & FACT_NAME_NORM_BORROWED)) free(ft->name_norm);
    ft->name_norm = NULL;
    ft->more_borrowed &= ~FACT_NAME_NORM_BORROWED;
    const char *name = FACT_HAS(ft, FF_NAME) ? ft->f[FF_NAME].s : NULL;
    if (name == NULL) return;
    if (nn != NULL) {
        ft->name_norm = name_normalize(nn, name);
    } else { /* no normalizer: trimmed name only */
        const char *b, *e;
        trim_bounds(name, &b, &e);
        if (e > b) ft->name_norm = strndup(b, (size_t)(e - b));
    }
    fact_share_name_norm(ft);
}

void fact_share_name_norm(fact *ft) {
    char *name = FACT_HAS(ft, FF_NAME) ? ft->f[FF_NAME].s : NULL;
    if (ft->name_norm == NULL || name == NULL || ft->name_norm == name || strcmp(ft->name_norm, name) != 0) return;
    if (!(ft->more_borrowed & FACT_NAME_NORM_BORROWED)) free(ft->name_norm);
    ft->more_borrowed &= ~FACT_NAME_NORM_BORROWED;
    ft->name_norm = name;
}

/* ---- conversions --------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static const char *skip_blanks(const char *p) {
    while (is_blank(*p)) p++;
    return p;
}

int conv_int(const char *s, int64_t *out) {
    if (s == NULL) return -1;
    const char *p = skip_blanks(s);
    int neg = 0;
    if (*p == '-' || *p == '+') neg = (*p++ == '-');
    if (!is_digit(*p)) return -1;
    /* accumulate negatively so INT64_MIN fits */
    int64_t acc = 0;
    for (; is_digit(*p); p++) {
        int d = *p - '0';
        if (acc < (INT64_MIN + d) / 10) return -1;
        acc = acc * 10 - d;
    }
    if (*skip_blanks(p) != '\0') return -1;
    if (!neg) {
        if (acc == INT64_MIN) return -1;
        acc = -acc;
    }
    *out = acc;
    return 0;
}

/* Matches a UTF-8 literal at p; returns its length or 0. */
static size_t match_lit(const char *p, const char *lit) {
    size_t n = strlen(lit);
    return strncmp(p, lit, n) == 0 ? n : 0;
}

int conv_yuan_to_fen(const char *s, int64_t *fen) {
    if (s == NULL) return -1;
    const char *p = skip_blanks(s);
    int neg = 0, have_sign = 0;
    size_t k;
    if (*p == '-' || *p == '+') neg = (*p++ == '-'), have_sign = 1;
    if ((k = match_lit(p, "\xC2\xA5")) || (k = match_lit(p, "\xEF\xBF\xA5"))) { /* ¥ ￥ */
        p = skip_blanks(p + k);
        if (!have_sign && (*p == '-' || *p == '+')) neg = (*p++ == '-');
    }
    /* integer part, optionally grouped by commas in threes */
    int64_t yuan = 0;
    int int_digits = 0, group = 0, grouped = 0;
    for (;; p++) {
        if (is_digit(*p)) {
            int d = *p - '0';
            /* checked: a run of digits of any length must not wrap */
            if (__builtin_mul_overflow(yuan, 10, &yuan) || __builtin_add_overflow(yuan, d, &yuan)) return -1;
            int_digits++;
            group++;
        } else if (*p == ',') {
            if (group == 0 || (grouped && group != 3) || (!grouped && group > 3)) return -1;
            grouped = 1;
            group = 0;
        } else {
            break;
        }
    }
    if (grouped && group != 3) return -1;
    int64_t cents = 0;
    int frac_digits = 0;
    if (*p == '.') {
        p++;
        for (; is_digit(*p); p++, frac_digits++) {
            if (frac_digits < 2) cents = cents * 10 + (*p - '0');
            else if (*p != '0') return -1; /* sub-fen precision that is not zero */
        }
        if (frac_digits == 1) cents *= 10;
    }
    if (int_digits == 0 && frac_digits == 0) return -1;
    if (*skip_blanks(p) != '\0') return -1;
    int64_t v;
    if (__builtin_mul_overflow(yuan, 100, &v) || __builtin_add_overflow(v, cents, &v)) return -1;
    *fen = neg ? -v : v; /* -INT64_MAX fits */
    return 0;
}

/* Reads 1..maxd digits at *pp; returns the value or -1. */
static int read_num(const char **pp, int mind, int maxd) {
    const char *p = *pp;
    int v = 0, n = 0;
    while (is_digit(*p) && n < maxd) v = v * 10 + (*p++ - '0'), n++;
    if (n < mind || is_digit(*p)) return -1;
    *pp = p;
    return v;
}

/* Optional time-of-day after a date: [ ' ' | 'T' ] hh:mm[:ss[.fff]] [Z|±hh[:mm]],
 * or a bare fractional part ".000". Returns the rest of the string, or NULL. */
static const char *skip_time(const char *p) {
    if (*p == '.') { /* "20240312.000" style fractional suffix */
        p++;
        if (!is_digit(*p)) return NULL;
        while (is_digit(*p)) p++;
        return p;
    }
    if (*p != ' ' && *p != 'T') return p;
    const char *q = p + 1;
    while (*q == ' ') q++;
    if (*q == '\0') return q; /* trailing blanks only */
    int hh = read_num(&q, 1, 2);
    if (hh < 0 || hh > 23 || *q != ':') return NULL;
    q++;
    int mm = read_num(&q, 2, 2);
    if (mm < 0 || mm > 59) return NULL;
    if (*q == ':') {
        q++;
        int ss = read_num(&q, 2, 2);
        if (ss < 0 || ss > 60) return NULL;
        if (*q == '.') {
            q++;
            if (!is_digit(*q)) return NULL;
            while (is_digit(*q)) q++;
        }
    }
    if (*q == 'Z') q++;
    else if (*q == '+' || *q == '-') {
        q++;
        if (read_num(&q, 2, 2) < 0) return NULL;
        if (*q == ':') q++;
        if (is_digit(*q) && read_num(&q, 2, 2) < 0) return NULL;
    }
    return q;
}

int conv_date(const char *s, int *yyyymmdd) {
    if (s == NULL) return -1;
    /* Most dates come as "YYYY-MM-DD" and nothing more: read at once, as the
     * general path below would read them. */
    if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-' && is_digit(s[5]) &&
        is_digit(s[6]) && s[7] == '-' && is_digit(s[8]) && is_digit(s[9]) && s[10] == '\0') {
        int v = date_digits(s, 4) * 10000 + date_digits(s + 5, 2) * 100 + date_digits(s + 8, 2);
        if (!date_is_valid(v)) return -1;
        *yyyymmdd = v;
        return 0;
    }
    const char *p = skip_blanks(s);
    int y, m, d;
    size_t k;
    if (is_digit(p[0]) && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3]) && is_digit(p[4])) {
        /* compact yyyymmdd, optionally followed by hhmmss */
        const char *q = p;
        int n = 0;
        while (is_digit(q[n])) n++;
        if (n != 8 && n != 14) return -1;
        y = (q[0] - '0') * 1000 + (q[1] - '0') * 100 + (q[2] - '0') * 10 + (q[3] - '0');
        m = (q[4] - '0') * 10 + (q[5] - '0');
        d = (q[6] - '0') * 10 + (q[7] - '0');
        p = q + 8;
        if (n == 14) {
            int hh = (q[8] - '0') * 10 + (q[9] - '0'), mi = (q[10] - '0') * 10 + (q[11] - '0'),
                ss = (q[12] - '0') * 10 + (q[13] - '0');
            if (hh > 23 || mi > 59 || ss > 60) return -1;
            p = q + 14;
        }
    } else {
        y = read_num(&p, 4, 4);
        if (y < 0) return -1;
        if (*p == '-' || *p == '/' || *p == '.') {
            char sep = *p++;
            if ((m = read_num(&p, 1, 2)) < 0 || *p != sep) return -1;
            p++;
            if ((d = read_num(&p, 1, 2)) < 0) return -1;
        } else if ((k = match_lit(p, "年"))) {
            p += k;
            if ((m = read_num(&p, 1, 2)) < 0 || !(k = match_lit(p, "月"))) return -1;
            p += k;
            if ((d = read_num(&p, 1, 2)) < 0) return -1;
            if ((k = match_lit(p, "日")) || (k = match_lit(p, "号"))) p += k;
            else return -1;
        } else {
            return -1;
        }
    }
    p = skip_time(p);
    if (p == NULL || *skip_blanks(p) != '\0') return -1;
    int v = y * 10000 + m * 100 + d;
    if (!date_is_valid(v)) return -1;
    *yyyymmdd = v;
    return 0;
}

int conv_month(const char *s, int *yyyymm) {
    if (s == NULL) return -1;
    /* "YYYYMM" and nothing more, the most common form: as the general path */
    if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && is_digit(s[4]) && is_digit(s[5]) &&
        s[6] == '\0') {
        int y = date_digits(s, 4), m = date_digits(s + 4, 2);
        if (y < 1 || m < 1 || m > 12) return -1;
        *yyyymm = y * 100 + m;
        return 0;
    }
    int date;
    if (conv_date(s, &date) == 0) {
        *yyyymm = date / 100;
        return 0;
    }
    const char *p = skip_blanks(s);
    int y, m;
    size_t k;
    const char *q = p;
    int n = 0;
    while (is_digit(q[n])) n++;
    if (n == 6) {
        y = (q[0] - '0') * 1000 + (q[1] - '0') * 100 + (q[2] - '0') * 10 + (q[3] - '0');
        m = (q[4] - '0') * 10 + (q[5] - '0');
        p = q + 6;
    } else if (n == 4) {
        y = read_num(&p, 4, 4);
        if (*p == '-' || *p == '/' || *p == '.') {
            p++;
            if ((m = read_num(&p, 1, 2)) < 0) return -1;
        } else if ((k = match_lit(p, "年"))) {
            p += k;
            if ((m = read_num(&p, 1, 2)) < 0 || !(k = match_lit(p, "月"))) return -1;
            p += k;
        } else {
            return -1;
        }
    } else {
        return -1;
    }
    if (*skip_blanks(p) != '\0') return -1;
    if (y < 1 || m < 1 || m > 12) return -1;
    *yyyymm = y * 100 + m;
    return 0;
}

