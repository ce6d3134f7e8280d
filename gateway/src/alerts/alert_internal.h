/* alert_internal.h - what the alert modules share and nobody else sees.
 *
 *   alert.c       names, ids, the alert, fingerprints, lists, money/month text
 *   sbuf.c        growable string buffer for the texts
 *   mask.c        masking of ids, names and id-like runs
 *   json.c        alert_to_json / alert_from_json, tolerant JSON accessors
 *   explain_zh.c  zh-CN explanation and summary */
#ifndef GG_ALERT_INTERNAL_H
#define GG_ALERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alerts/alert.h"
#include "core/date.h"
#include "core/log.h"

#define LOG_TAG "alert"

/* ---------------------------------------------------------------- alert.c */

int confidence_parse(const char *s, confidence *out); /* 0 ok, -1 unknown */
const char *link_name(link_conf l);                   /* "high", "low", "none" */
int link_parse(const char *s, link_conf *out);        /* 0 ok, -1 unknown */
int cmp_str0(const char *x, const char *y);           /* strcmp, NULL as "" */
/* "18600.00": yuan without thousands separators (for machines). */
void fen_plain(int64_t fen, char *out, size_t outsz);

/* ----------------------------------------------------------------- sbuf.c */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the text to the caller (malloc'd) or NULL on OOM. */
char *sb_take(sbuf *b);

/* ----------------------------------------------------------------- mask.c */

/* Copy of `in` with every run of 15+ id characters masked; malloc'd, NULL on
 * OOM (or for NULL in). */
char *mask_id_runs(const char *in);
/* Masked id / name into out (ids: >= 32); "" for NULL or empty. */
void mask_id(const char *id, char *out, size_t outsz);
void mask_name(const char *name, char *out, size_t outsz);
/* Masked subject key (ids and the name of "person:~<name>|<birth>"); malloc'd. */
char *mask_subject(const char *subject);

/* ----------------------------------------------------------------- json.c */

const char *jstr(const json_t *o, const char *k);     /* borrowed or NULL */
int jint(const json_t *o, const char *k, long long *out); /* integer or digit text */
/* Date or month member as "YYYY-MM-DD" / "YYYY-MM" text; 0 when present. */
int jdate(const json_t *o, const char *k, char *out, size_t outsz);
json_t *parse_obj(const char *text);                  /* new reference or NULL */

#endif
