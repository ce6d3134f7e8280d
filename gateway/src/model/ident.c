/* ident.c - resident identity numbers (GB 11643-1999), names, masking, UTF-8.
 *
 * ident_normalize() cleans an id number as a department system holds it (spaces,
 * hyphens and dashes, full-width digits, lowercase x), upgrades legacy 15-digit
 * numbers to 18 digits and validates region prefix, birth date and the ISO 7064
 * MOD 11-2 check character, in that order (docs/record-model.md "Identity").
 *
 * name_normalize() folds a name for comparison: trim, full-width ASCII forms to
 * ASCII, middle-dot variants to U+00B7, spaces only between Latin words, then
 * traditional to simplified with OpenCC (t2s); the normalizer remembers the
 * results of recent names (a bounded cache), so each distinct name is folded
 * once.
 *
 * ident_mask()/name_mask() are the only forms of ids and names allowed in logs. */
#include "model/ident.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <opencc/opencc.h>

#include "model/fact.h" /* date_is_valid(), date_today() */
#include "core/log.h"
#include "core/utf8.h"
#include "core/hash.h"

#include "t2s_keys.h" /* generated at build time (gateway/tools/gen_t2s_keys.c) */

/* ---- identity numbers ---------------------------------------------------- */

static const char *const ident_status_text[] = {
    [ID_OK] = "valid",
    [ID_EMPTY] = "no id number",
    [ID_BAD_CHAR] = "invalid character in id number",
    [ID_BAD_LENGTH] = "id number is not 15 or 18 characters long",
    [ID_BAD_REGION] = "region prefix is not a province-level code",
    [ID_BAD_DATE] = "embedded birth date is not a calendar date",
    [ID_FUTURE_DATE] = "embedded birth date is in the future",
    [ID_BAD_CHECK] = "bad check character",
    [ID_BAD_ENCODING] = "id number is not valid UTF-8",
};

static const char *const ident_status_codes[] = {
    [ID_OK] = "ok",
    [ID_EMPTY] = "empty",
    [ID_BAD_CHAR] = "bad_char",
    [ID_BAD_LENGTH] = "bad_length",
    [ID_BAD_REGION] = "bad_region",
    [ID_BAD_DATE] = "bad_date",
    [ID_FUTURE_DATE] = "future_date",
    [ID_BAD_CHECK] = "bad_check",
    [ID_BAD_ENCODING] = "bad_encoding",
};

const char *ident_status_str(ident_status st) {
    if ((unsigned)st >= sizeof ident_status_text / sizeof ident_status_text[0]) return "unknown id status";
    return ident_status_text[st];
}

const char *ident_status_code(ident_status st) {
    if ((unsigned)st >= sizeof ident_status_codes / sizeof ident_status_codes[0]) return "unknown";
    return ident_status_codes[st];
}

/* Characters dropped while cleaning an id number: ASCII blanks, no-break and
 * ideographic spaces, ASCII hyphen, full-width hyphen-minus, the Unicode
 * hyphens and dashes U+2010..U+2015 (en/em dash among them) and minus sign. */
static int ident_is_separator(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == '\v' || cp == '\f' ||
           cp == 0x00A0 || cp == 0x3000 || cp == '-' || cp == 0xFF0D ||
           (cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212;
}

/* The ASCII character an id-number code point stands for ('0'-'9', 'X'), or 0. */
static char ident_char_of(uint32_t cp) {
    if (cp >= '0' && cp <= '9') return (char)cp;
    if (cp >= 0xFF10 && cp <= 0xFF19) return (char)('0' + (cp - 0xFF10)); /* full-width digits */
    if (cp == 'X' || cp == 'x' || cp == 0xFF38 || cp == 0xFF58) return 'X';
    return 0;
}

/* Province-level prefixes of GB/T 2260 (docs/record-model.md "Identity"). */
static int ident_region_ok(int p) {
    return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) || (p >= 31 && p <= 37) ||
           (p >= 41 && p <= 46) || (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 ||
           (p >= 81 && p <= 83);
}

/* Returns the check character, or '\0' when first17 is NULL or is not 17
 * ASCII digits (an addition to the header's contract, which assumes digits). */
char ident_check_char(const char *first17) {
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char check_chars[] = "10X98765432";
    if (first17 == NULL) return '\0';
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (first17[i] < '0' || first17[i] > '9') return '\0';
        sum += (first17[i] - '0') * weights[i];
    }
    return check_chars[sum % 11];
}

int ident_birth_date(const char *id18) {
    if (id18 == NULL || strlen(id18) != IDENT_LEN) return 0;
    int d = date_digits(id18 + 6, 8);
    return (d > 0 && date_is_valid(d)) ? d : 0;
}

char ident_sex(const char *id18) {
    if (id18 == NULL || strlen(id18) != IDENT_LEN) return '\0';
    char c = id18[16];
    if (c < '0' || c > '9') return '\0';
    return ((c - '0') % 2 == 1) ? 'M' : 'F';
}

/* The checks after cleaning, on out (18 characters, NUL-terminated) and n,
 * the number of characters the raw id held (15 or 18). */
static ident_status ident_validate(const char *out, size_t n, int today) {
    if (!ident_region_ok(date_digits(out, 2))) return ID_BAD_REGION;
    int birth = date_digits(out + 6, 8);
    if (birth < 18500101 || !date_is_valid(birth)) return ID_BAD_DATE;
    if (today <= 0) today = date_today();
    if (birth > today) return ID_FUTURE_DATE;
    if (n == IDENT_LEN && out[17] != ident_check_char(out)) return ID_BAD_CHECK;
    return ID_OK;
}

/* Most ids a source holds are already clean: exactly 18 ASCII characters,
 * 17 digits and a digit or X (x). Such an id is its own cleaned form, as
 * the loop of ident_normalize would make it (nothing dropped, x upper-cased),
 * copied to out without that loop. 1 when raw is one, else 0 (out unset). */
static int ident_plain18(const char *raw, char out[IDENT_LEN + 1]) {
    for (int i = 0; i < IDENT_LEN - 1; i++)
        if ((unsigned)(raw[i] - '0') > 9) return 0; /* also the NUL of a shorter id */
    char c = raw[IDENT_LEN - 1] == 'x' ? 'X' : raw[IDENT_LEN - 1];
    if (((unsigned)(c - '0') > 9 && c != 'X') || raw[IDENT_LEN] != '\0') return 0;
    memcpy(out, raw, IDENT_LEN - 1);
    out[IDENT_LEN - 1] = c;
    out[IDENT_LEN] = '\0';
    return 1;
}

ident_status ident_normalize(const char *raw, int today, char out[IDENT_LEN + 1]) {
    out[0] = '\0';
    if (raw == NULL) return ID_EMPTY;
    if (ident_plain18(raw, out)) return ident_validate(out, IDENT_LEN, today);
    /* Most ids are plain ASCII: their length and that fact in one pass, and
     * then no UTF-8 check or decoding (ASCII is valid UTF-8, one byte a code
     * point). The same steps follow either way. */
    size_t len = 0;
    unsigned char high = 0;
    for (; raw[len]; len++) high |= (unsigned char)raw[len];
    int ascii = high < 0x80;
    if (!ascii && !utf8_valid(raw, len)) return ID_BAD_ENCODING;

    /* Clean up: keep digits and X, drop separators, reject anything else. Only
     * the first 18 kept characters are stored; n counts all of them. */
    char buf[IDENT_LEN];
    size_t n = 0;
    int saw_x = 0;
    const unsigned char *p = (const unsigned char *)raw;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (ascii)
            cp = p[i++];
        else
            i += utf8_decode(p + i, len - i, &cp); /* cannot fail: validated above */
        if (ident_is_separator(cp)) continue;
        char c = ident_char_of(cp);
        if (c == 0) return ID_BAD_CHAR;
        if (saw_x) return ID_BAD_CHAR; /* X is only allowed as the last character */
        if (c == 'X') saw_x = 1;
        if (n < IDENT_LEN) buf[n] = c;
        n++;
    }
    if (n == 0) return ID_EMPTY;
    if (n != 15 && n != IDENT_LEN) return ID_BAD_LENGTH;
    if (n == 15 && saw_x) return ID_BAD_CHAR; /* legacy numbers have no check character */

    if (n == 15) { /* legacy: region(6) yymmdd(6) seq(3) -> insert "19", add check char */
        memcpy(out, buf, 6);
        out[6] = '1';
        out[7] = '9';
        memcpy(out + 8, buf + 6, 9);
        out[17] = ident_check_char(out);
    } else {
        memcpy(out, buf, IDENT_LEN);
    }
    out[IDENT_LEN] = '\0';
    return ident_validate(out, n, today);
}

/* ---- masking ------------------------------------------------------------- */

/* ---- names --------------------------------------------------------------- */

/* The folded names already computed, so OpenCC (most of a name's cost) runs
 * once per distinct name: a city's names repeat a lot. A bounded cache of
 * NAME_CACHE_SETS sets of two entries each, found by the raw name's hash;
 * an entry holds the raw name and its result exactly (both short: longer
 * names are not cached), so a hit returns what the computation would. A new
 * entry goes first in its set and the older first moves second (LRU of two). */
#define NAME_CACHE_SETS 131072u /* 256 Ki entries, 16 MiB once all are used: 70% of
                                   the 1M dev city's names found (its 235k distinct
                                   names cover 76%; 64 Ki entries found 51%) */
#define NAME_CACHE_TEXT 54      /* raw name, NUL, result, NUL: an entry is 64 bytes */

typedef struct name_cache_entry {
    uint64_t hash;
    unsigned char rawlen; /* 0: an empty entry (a blank name is never cached) */
    unsigned char outlen;
    char text[NAME_CACHE_TEXT];
} name_cache_entry;
_Static_assert(sizeof(name_cache_entry) == 64, "a name cache entry is one cache line");

struct name_normalizer {
    opencc_t cc;             /* owned; closed by name_normalizer_free */
    name_cache_entry *cache; /* owned, 2 * nsets entries; allocated on first use (NULL: none yet) */
    size_t nsets;            /* a power of two; 0: no cache */
    unsigned long hits, misses;
    /* The characters of the t2s dictionaries' keys (t2s_keys.h): a bit per
     * code point below 0x10000, owned; NULL: OpenCC folds every name. */
    uint64_t *keys;
    int use_keys;            /* name_normalizer_use_key_chars (1 once keys are had) */
};

/* ---- the characters OpenCC's t2s can change -------------------------------- */

/* OpenCC's t2s conversion changes a string only where a key of its phrases or
 * characters dictionary matches, and a key matches only where each of its
 * characters is (gateway/tools/gen_t2s_keys.c): a name without any of them
 * comes out of OpenCC as it went in (1M residents: most names, and 2 us of
 * OpenCC each). The set is made at build time from the installed files and
 * used only when they are still the files OpenCC loads: the configuration
 * loaded is the one it was made from (the default t2s.json, found where it
 * was, or GG_OPENCC_CONFIG naming that file), and each file has the same size
 * and hash. Anything else: OpenCC for every name, as before. */
static int t2s_file_same(const char *path, uint64_t size, uint64_t hash) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[16384];
    size_t n;
    uint64_t got = 0, h = GG_FNV_OFFSET;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        got += n;
        h = fnv1a64_update(h, buf, n);
    }
    int ok = !ferror(f) && got == size && h == hash;
    fclose(f);
    return ok;
}

static uint64_t *t2s_keys_load(const char *config) {
#if T2S_KEYS_FILES > 0
    /* "t2s.json" is looked for in the working directory first by OpenCC */
    int same_config = strcmp(config, t2s_keys_file[0]) == 0 ||
                      (strcmp(config, "t2s.json") == 0 && access("t2s.json", F_OK) != 0);
    if (!same_config) return NULL;
    for (int i = 0; i < T2S_KEYS_FILES; i++)
        if (!t2s_file_same(t2s_keys_file[i], t2s_keys_size[i], t2s_keys_hash[i])) return NULL;
    uint64_t *bits = calloc(0x10000 / 64, sizeof *bits);
    if (bits == NULL) return NULL;
    for (size_t i = 0; i < T2S_KEYS_CHARS; i++) {
        uint32_t cp = t2s_keys_char[i];
        if (cp < 0x10000) bits[cp / 64] |= (uint64_t)1 << (cp % 64); /* astral ones: see t2s_may_change */
    }
    return bits;
#else
    (void)config;
    return NULL;
#endif
}

/* Whether the valid UTF-8 text s[0..n) may change under t2s: any character
 * outside the BMP is taken to (the set keeps bits for the BMP only). */
static int t2s_may_change(const uint64_t *keys, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(p + i, n - i, &cp);
        if (cp >= 0x10000 || (keys[cp / 64] >> (cp % 64) & 1)) return 1;
    }
    return 0;
}

int name_normalizer_use_key_chars(name_normalizer *nn, int on) {
    if (nn == NULL) return 0;
    nn->use_keys = on && nn->keys != NULL;
    return nn->use_keys;
}

name_normalizer *name_normalizer_new(char *err, size_t errsz) {
    /* GG_OPENCC_CONFIG names the t2s config file explicitly (no fallback then);
     * otherwise OpenCC's own data directory, then the usual install paths. */
    static const char *const defaults[] = {"t2s.json", "/usr/share/opencc/t2s.json",
                                           "/usr/local/share/opencc/t2s.json"};
    const char *override = getenv("GG_OPENCC_CONFIG");
    const char *const *candidates = defaults;
    size_t ncandidates = sizeof defaults / sizeof defaults[0];
    if (override != NULL && override[0] != '\0') {
        candidates = &override;
        ncandidates = 1;
    }
    opencc_t cc = (opencc_t)-1;
    const char *why = "", *loaded = NULL;
    for (size_t i = 0; i < ncandidates && cc == (opencc_t)-1; i++) {
        cc = opencc_open(candidates[i]);
        if (cc == (opencc_t)-1) why = opencc_error();
        else loaded = candidates[i];
    }
    if (cc == (opencc_t)-1) {
        if (err && errsz)
            snprintf(err, errsz,
                     "name normalizer: cannot load OpenCC config %s: %s (install opencc data, "
                     "e.g. /usr/share/opencc/t2s.json, or set GG_OPENCC_CONFIG)",
                     override && override[0] ? override : "t2s.json", why ? why : "unknown error");
        return NULL;
    }
    name_normalizer *nn = malloc(sizeof *nn);
    if (nn == NULL) {
        opencc_close(cc);
        if (err && errsz) snprintf(err, errsz, "name normalizer: out of memory");
        return NULL;
    }
    nn->cc = cc;
    nn->cache = NULL;
    nn->nsets = NAME_CACHE_SETS;
    nn->hits = nn->misses = 0;
    nn->keys = t2s_keys_load(loaded);
    nn->use_keys = nn->keys != NULL;
    return nn;
}

void name_normalizer_free(name_normalizer *nn) {
    if (nn == NULL) return;
    opencc_close(nn->cc);
    free(nn->cache);
    free(nn->keys);
    free(nn);
}

void name_normalizer_set_cache(name_normalizer *nn, size_t nsets) {
    if (nn == NULL) return;
    size_t p = 1;
    while (p < nsets && p < ((size_t)1 << 24)) p <<= 1;
    free(nn->cache);
    nn->cache = NULL;
    nn->nsets = nsets ? p : 0;
    nn->hits = nn->misses = 0;
}

void name_normalizer_cache_stats(const name_normalizer *nn, unsigned long *hits, unsigned long *misses) {
    *hits = nn ? nn->hits : 0;
    *misses = nn ? nn->misses : 0;
}

/* The set of two entries for a raw name's hash; NULL when there is no cache
 * (or it cannot be allocated: the names are then folded every time). */
static name_cache_entry *name_cache_set(name_normalizer *nn, uint64_t h) {
    if (nn->nsets == 0) return NULL;
    if (nn->cache == NULL && (nn->cache = calloc(nn->nsets * 2, sizeof *nn->cache)) == NULL) {
        nn->nsets = 0;
        return NULL;
    }
    return &nn->cache[(h & (nn->nsets - 1)) * 2];
}

static uint64_t name_cache_hash(const char *raw, size_t len) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a: names are a few bytes */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)raw[i]) * 1099511628211ull;
    return h;
}

void name_normalizer_prefetch(const name_normalizer *nn, const char *raw) {
    if (nn == NULL || nn->cache == NULL || raw == NULL) return; /* no cache yet: nothing to fetch */
    size_t len = strlen(raw);
    if (len == 0 || len >= NAME_CACHE_TEXT - 1) return;
    const name_cache_entry *set = &nn->cache[(name_cache_hash(raw, len) & (nn->nsets - 1)) * 2];
    __builtin_prefetch(&set[0], 1); /* read, and written when the second entry is the one found */
    __builtin_prefetch(&set[1], 1);
}

/* A malloc'd copy of the cached result for raw, or NULL (*hit 0) on a miss. */
static char *name_cache_get(name_normalizer *nn, const char *raw, size_t len, int *hit) {
    *hit = 0;
    if (len == 0 || len >= NAME_CACHE_TEXT - 1) return NULL;
    uint64_t h = name_cache_hash(raw, len);
    name_cache_entry *set = name_cache_set(nn, h);
    if (set == NULL) return NULL;
    for (int w = 0; w < 2; w++) {
        name_cache_entry *e = &set[w];
        if (e->rawlen != len || e->hash != h || memcmp(e->text, raw, len) != 0) continue;
        char *out = malloc((size_t)e->outlen + 1);
        if (out == NULL) return NULL;
        memcpy(out, e->text + len + 1, (size_t)e->outlen + 1);
        if (w == 1) { /* most recently used first */
            name_cache_entry t = set[0];
            set[0] = set[1];
            set[1] = t;
        }
        nn->hits++;
        *hit = 1;
        return out;
    }
    nn->misses++;
    return NULL;
}

/* Keeps raw -> out (a result computed in full) when both fit an entry. */
static void name_cache_put(name_normalizer *nn, const char *raw, size_t len, const char *out) {
    size_t outlen = strlen(out);
    if (len == 0 || len + 1 + outlen + 1 > NAME_CACHE_TEXT) return;
    uint64_t h = name_cache_hash(raw, len);
    name_cache_entry *set = name_cache_set(nn, h);
    if (set == NULL) return;
    set[1] = set[0];
    name_cache_entry *e = &set[0];
    e->hash = h;
    e->rawlen = (unsigned char)len;
    e->outlen = (unsigned char)outlen;
    memcpy(e->text, raw, len);
    e->text[len] = '\0';
    memcpy(e->text + len + 1, out, outlen + 1);
}

#define NAME_DOT 0x00B7u
#define NAME_SPACE 0x20u

/* Middle-dot variants used in minority names, all folded to U+00B7. */
static int name_is_dot(uint32_t cp) {
    return cp == '.' || cp == 0x00B7 || cp == 0x0387 || cp == 0x2022 || cp == 0x2027 ||
           cp == 0x2219 || cp == 0x22C5 || cp == 0x30FB || cp == 0xFF0E || cp == 0xFF65;
}

static int name_is_space(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == '\v' || cp == '\f' ||
           cp == 0x00A0 || cp == 0x3000;
}

/* A space survives only between two "word" characters of alphabetic scripts
 * ("Maimaiti Aili"); next to a CJK character or a middle dot it is dropped
 * (legacy systems pad two-character names: "张　三"). */
static int name_space_between(uint32_t prev, uint32_t next) {
    if (prev == NAME_DOT || next == NAME_DOT) return 0;
    return prev < 0x2E80 && next < 0x2E80;
}

char *name_normalize(name_normalizer *nn, const char *raw) {
    if (raw == NULL) return NULL;
    size_t len = strlen(raw);
    if (nn != NULL) {
        int hit;
        char *cached = name_cache_get(nn, raw, len, &hit);
        if (hit) return cached;
    }
    if (!utf8_valid(raw, len)) return NULL;

    /* Fold into code points: spaces marked as NAME_SPACE, dots as NAME_DOT,
     * full-width ASCII forms to ASCII. At most len code points. */
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    if (cps == NULL) return NULL;
    size_t ncp = 0, i = 0;
    const unsigned char *p = (const unsigned char *)raw;
    while (i < len) {
        uint32_t cp;
        i += utf8_decode(p + i, len - i, &cp);
        if (name_is_space(cp)) cp = NAME_SPACE;
        else if (name_is_dot(cp)) cp = NAME_DOT;
        else if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0; /* full-width ASCII forms */
        else if (cp < 0x20 || cp == 0x7F) cp = NAME_SPACE;    /* control characters */
        cps[ncp++] = cp;
    }

    /* Emit: drop leading/trailing spaces, collapse runs, keep a space only
     * between two alphabetic-script characters. */
    char *folded = malloc(ncp * 4 + 1);
    if (folded == NULL) {
        free(cps);
        return NULL;
    }
    size_t o = 0;
    uint32_t prev = 0; /* last emitted code point, 0 = none yet */
    int pending_space = 0;
    for (size_t k = 0; k < ncp; k++) {
        uint32_t cp = cps[k];
        if (cp == NAME_SPACE) {
            pending_space = 1;
            continue;
        }
        if (pending_space && prev != 0 && name_space_between(prev, cp)) folded[o++] = ' ';
        pending_space = 0;
        o += utf8_encode(cp, folded + o);
        prev = cp;
    }
    folded[o] = '\0';
    free(cps);
    if (o == 0) {
        free(folded);
        return NULL;
    }
    if (nn == NULL) return folded; /* no converter: folding only */
    if (nn->use_keys && !t2s_may_change(nn->keys, folded, o)) { /* OpenCC would leave it as it is */
        name_cache_put(nn, raw, len, folded);
        return folded;
    }

    char *simplified = opencc_convert_utf8(nn->cc, folded, o);
    if (simplified == NULL) {
        /* Keep the folded form rather than lose the name; say so once per call. */
        gg_warn("ident", "name normalizer: OpenCC t2s conversion failed (%s); using folded name",
                opencc_error());
        return folded;
    }
    char *result = strdup(simplified);
    opencc_convert_utf8_free(simplified);
    if (result == NULL) {
        free(folded);
        return NULL;
    }
    free(folded);
    name_cache_put(nn, raw, len, result);
    return result;
}
