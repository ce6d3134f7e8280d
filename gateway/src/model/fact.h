/* fact.h - the canonical facts of docs/record-model.md, and value conversions.
 *
 * A fact is one record of one kind from one source. Its fields are stored in a
 * fixed array indexed by fact_field; which fields a kind allows and requires is
 * the registry in fact.c, the single place that encodes the contract. Values are
 * typed: dates are yyyymmdd ints, months yyyymm ints, money integer fen.
 *
 * Ownership: a fact owns every string it points to (source, ref, raw_json,
 * name_norm, the value of a set TEXT field), except the value of an ENUM field:
 * that points at the registry's static spelling (fact_enum_values) and is never
 * freed, and `source` while source_shared is set: a factset keeps one copy of
 * each source's name for all its facts (factset_add), which outlives them. A
 * fact moved out of a factset must not outlive it; fact_copy() copies always.
 * name_norm may be the very string of the name field when the folded
 * name equals the name (fact_share_name_norm): it is then owned once, by the
 * name, and freed once. The mapping path's fact borrows instead of copying:
 * the source's name, the row's key and the row's text values (bits of
 * `borrowed`), valid while the row is, i.e. during the sink's call; a sink
 * that keeps facts gets them owned (adapter_sink.borrows, fact_own()), and
 * factset_add() owns what it takes. fact_clear() frees what the fact owns and
 * leaves it reusable (the streaming path reuses one fact per row). */
#ifndef GG_FACT_H
#define GG_FACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/date.h"
#include "model/ident.h"

typedef enum {
    FK_PERSON = 0,
    FK_DEATH,
    FK_PAYMENT,
    FK_ASSISTANCE_MEMBER,
    FK_INCOME,
    FK_ASSET,
    FK_CUSTODY,
    FK_VERDICT,
    FK__COUNT
} fact_kind;

typedef enum {
    FF_ID_NO = 0, FF_NAME, FF_SEX, FF_BIRTH_DATE, FF_REGION, FF_ADDRESS, FF_GRID,
    FF_HOUSEHOLD, FF_DEATH_DATE, FF_BASIS, FF_REVOKED, FF_PROGRAM, FF_PERIOD,
    FF_AMOUNT, FF_CASE, FF_PAYER, FF_PAID_ON, FF_FROM, FF_TO, FF_RELATION,
    FF_HOUSEHOLD_SIZE, FF_KIND, FF_SUBKIND, FF_DESCRIPTION, FF_VALUE, FF_ALERT,
    FF_VERDICT, FF_BY, FF_AT, FF_NOTE,
    FF__COUNT
} fact_field;

typedef enum {
    FT_TEXT = 0, /* UTF-8 string */
    FT_DATE,     /* i = yyyymmdd */
    FT_MONTH,    /* i = yyyymm */
    FT_MONEY,    /* i = fen */
    FT_INT,      /* i */
    FT_BOOL,     /* i = 0/1 */
    FT_ENUM,     /* s, one of the allowed values for (kind, field) */
} field_type;

/* A field's value: which member is live follows the field's type,
 * fact_field_type(): `s` for FT_TEXT and FT_ENUM, `i` for every other type;
 * never read the other one. Whether a field is set is a bit of the fact's `set`
 * mask (FACT_HAS); an unset field is all zero (s NULL, i 0). The union keeps a
 * value at 8 bytes: facts of interest are held in memory by the million. */
typedef union fact_val {
    int64_t i;
    char *s; /* TEXT: owned (may be NULL on a set field: see the channel);
              * ENUM: the registry's static string, not owned */
} fact_val;
_Static_assert(sizeof(fact_val) == 8, "a field value is 8 bytes");

/* How a fact is tied to a person (identity/resolve.c): by a valid id (high),
 * by name + birth date (low), or not at all. */
typedef enum { LINK_NONE = 0, LINK_LOW, LINK_HIGH } link_conf;

/* Members ordered so that no padding lies between them: held by the million. */
typedef struct fact {
    fact_kind kind;
    uint32_t set;   /* bit n: field n has a value (FACT_HAS, FACT_MARK) */
    char *source;   /* the source's name in the configuration: owned, unless source_shared */
    char *ref;      /* owned: the department's own record key */
    fact_val f[FF__COUNT];
    char *raw_json; /* owned, may be NULL: {"column":"value as the source held it",...} */
    char *name_norm;             /* owned, may be NULL; may be f[FF_NAME].s itself (see above):
                                  * replace it only through fact_normalize_name() */
    /* 64-bit hash of the record as read (adapter runtime: the row's column
     * names and values, or the canonical text of a JSON item), standing in for
     * raw_json in the content hash (state_fact_hash) so that an unchanged row
     * is recognized without building its JSON; 0 = none (the content hash then
     * covers raw_json's text). Never sent anywhere but the channel. */
    uint64_t raw_hash;
    /* Identity, filled by fact_normalize_identity(): */
    ident_status id_status;      /* ID_EMPTY when the fact has no id_no */
    char id_norm[IDENT_LEN + 1]; /* normalized id when valid, else "" */
    char id_clean[IDENT_LEN + 1];/* best-effort cleaned form (also when invalid), or "" */
    unsigned char source_shared; /* 1: source is its factset's copy, not freed with the fact */
    /* raw_json and name_norm pointing into a channel reader's frame
     * (FACT_RAW_BORROWED, FACT_NAME_NORM_BORROWED), as `borrowed` below */
    unsigned char more_borrowed;
    /* Text the fact points at but does not own (the mapping path's row being
     * read, the adapter's constants, the channel reader's frame): bit n for
     * field n's string, and FACT_SOURCE_BORROWED / FACT_REF_BORROWED. Valid
     * only while the row or frame is; fact_own() makes it owned. 0 for every
     * fact outside a mapping call or a channel reader. */
    uint32_t borrowed;
} fact;
#define FACT_SOURCE_BORROWED (1u << 30)
#define FACT_REF_BORROWED (1u << 31)
_Static_assert(FF__COUNT <= 30, "fact.borrowed keeps bits 30 and 31 for the source and the ref");
#define FACT_RAW_BORROWED 1u       /* in more_borrowed */
#define FACT_NAME_NORM_BORROWED 2u /* in more_borrowed */

/* Whether field fld of fact f (a pointer) has a value; marking it set. */
#define FACT_HAS(f, fld) ((((f)->set) >> (unsigned)(fld)) & 1u)
#define FACT_MARK(f, fld) ((f)->set |= (uint32_t)1u << (unsigned)(fld))
_Static_assert(FF__COUNT <= 32, "fact.set is a 32-bit mask of the fields");

const char *fact_kind_name(fact_kind k);               /* "payment" */
int fact_kind_parse(const char *s, fact_kind *out);     /* 0 ok, -1 unknown */
const char *fact_field_name(fact_field f);             /* "death_date" */
int fact_field_parse(const char *s, fact_field *out);   /* 0 ok, -1 unknown */
field_type fact_field_type(fact_field f);
/* 1 when the field's value is a string (`s`: FT_TEXT or FT_ENUM), 0 when `i`. */
int fact_field_is_text(fact_field f);
int fact_field_allowed(fact_kind k, fact_field f);
int fact_field_required(fact_kind k, fact_field f);
/* The field that may stand in for a required one (FF__COUNT: none): a payment's
 * `case` for its `id_no`, when the program is dibao/tekun (fact_check() decides
 * on the program; a mapping check only asks whether either is mapped). */
fact_field fact_field_alternative(fact_kind k, fact_field f);
/* Allowed values of an FT_ENUM field for a kind, NULL-terminated (or NULL). */
const char *const *fact_enum_values(fact_kind k, fact_field f);
/* Small-side kinds are indexed in memory; payment and income are streamed. */
int fact_kind_is_stream(fact_kind k);

void fact_init(fact *ft, fact_kind k);
void fact_clear(fact *ft); /* frees owned strings, keeps kind */
/* Deep copy (ENUM values share the static spelling); 0 ok, -1 out of memory. */
int fact_copy(fact *dst, const fact *src);

/* Set a field from text, converting to the field's type (dates and months in any
 * format conv_* accepts, money as integer fen, bools as 1/0/true/false/是/否).
 * Returns 0, or -1 with a reason in err (field not allowed for this kind, bad
 * value, value not in the enum). */
int fact_set_text(fact *ft, fact_field f, const char *text, char *err, size_t errsz);
/* The same, but a TEXT value with no blanks to trim is borrowed, not copied:
 * the fact points at `text`, which must outlive it or its fact_own() (the
 * mapping path: values in the row being read, which is valid during the
 * sink's call). Anything else converts and copies as fact_set_text. */
int fact_set_text_borrowed(fact *ft, fact_field f, const char *text, char *err, size_t errsz);
/* Copies whatever the fact borrows (source, ref, text fields) so it owns all
 * its strings; a no-op for a fact that borrows nothing. */
void fact_own(fact *ft);
/* Set a DATE/MONTH/MONEY/INT/BOOL field from an integer already in its unit. */
int fact_set_int(fact *ft, fact_field f, int64_t v, char *err, size_t errsz);
/* Check required fields; 0 ok, -1 with "missing required field 'x'" in err.
 * A dibao/tekun payment with `case` needs no id_no; one with neither gets
 * "missing required field 'id_no' or 'case': ...". */
int fact_check(const fact *ft, char *err, size_t errsz);
/* Canonical fields as a JSON object text (malloc'd): {"id_no":"...","amount":123}. */
char *fact_fields_json(const fact *ft);
/* A record's raw_hash (never 0; gg_hash64 of core/hash.h). Of a row as read:
 * its column names and values in order, each name and value NUL-terminated
 * and hashed on its own (the length is mixed in), a value marked apart from
 * SQL NULL (so NULL differs from "", and no shift of bytes between a name
 * and a value collides). Of a raw JSON text: the text's hash (NULL: a fixed
 * one); a fact with raw_hash 0 counts as this of its raw_json, so
 * a fact built from a JSON item or a Lua table (raw_json only) and the same
 * fact carrying the hash agree. */
uint64_t fact_raw_hash_row(int ncols, const char *const *names, const char *const *vals);
uint64_t fact_raw_hash_text(const char *raw_json);
/* f->raw_hash, or fact_raw_hash_text(f->raw_json) when it is 0. */
uint64_t fact_raw_hash(const fact *f);
/* Fill id_norm/id_clean/id_status and name_norm. `today` yyyymmdd (0 = clock). */
void fact_normalize_identity(fact *ft, name_normalizer *nn, int today);
/* Only id_norm/id_clean/id_status (name_norm is left as it is): for facts
 * reloaded with the folded name stored beside them. */
void fact_normalize_id(fact *ft, int today);
/* Only name_norm (replaced): for a fact whose id was normalized already. */
void fact_normalize_name(fact *ft, name_normalizer *nn);
/* When name_norm is a copy of the name's text, frees it and points name_norm
 * at the name's string (one allocation fewer per held fact). Idempotent. */
void fact_share_name_norm(fact *ft);

/* --- plausibility of a record's values (hostile or broken sources) -------- */
/* Per-source limits on input; the field and record sizes are applied by the
 * adapter runtime on the source's text, the rest by fact_plausible(). */
#define FACT_DEFAULT_MAX_FIELD 4096L    /* bytes of one value */
#define FACT_DEFAULT_MAX_RECORD 65536L  /* bytes of one record, all values */
#define FACT_MIN_DATE 19000101
typedef struct fact_limits {
    int64_t max_amount; /* ceiling of one `amount` (a monthly payment or income), fen */
    int min_date;       /* yyyymmdd: 19000101 */
    int max_date;       /* yyyymmdd: today + 1 year */
} fact_limits;
/* Fills the defaults: max_amount (fen; <= 0 = MONEY_DEFAULT_MAX_AMOUNT), dates
 * 1900-01-01 .. today + 1 year (today yyyymmdd, 0 = clock). */
void fact_limits_init(fact_limits *l, int64_t max_amount, int today);
/* 1 when a valid yyyymmdd lies in [min_date, max_date]. */
int fact_date_plausible(const fact_limits *l, int yyyymmdd);
/* 0 when every set value is plausible; -1 with the reason in err: a date or
 * month outside the range, a negative amount or value, an amount over the
 * ceiling. Never prints an id number or a name (those are not checked here). */
int fact_plausible(const fact *ft, const fact_limits *l, char *err, size_t errsz);

/* --- value conversions used by mappings (0 ok, -1 not parseable) ---------- */
/* Yuan with up to two decimals ("1234.5", "1,234.50", "¥12", "-3.00") to fen,
 * exactly (no floating point). */
int conv_yuan_to_fen(const char *s, int64_t *fen);
/* Dates: 20240312, 2024-03-12, 2024/3/12, 2024.3.12, 2024年3月12日, with an
 * optional time part ("2024-03-12 00:00:00", ODBC/Oracle DATE text). Calendar-checked. */
int conv_date(const char *s, int *yyyymmdd);
/* Months: 202403, 2024-03, 2024/3, 2024年3月, or any date conv_date accepts. */
int conv_month(const char *s, int *yyyymm);
/* Integer text ("42", "-7"), no trailing garbage. */
int conv_int(const char *s, int64_t *out);
/* yyyymmdd / yyyymm helpers (date_is_valid, month_add, date_month,
 * date_today, date_text...) are core/date.h's, included here. */

#endif
