/* alert_internal.h - what the alert modules share and nobody else sees.
 *
 *   alert.c       names, ids, the alert, fingerprints, lists, money/month text
 *   sbuf.c        growable string buffer for the texts
 *   mask.c        masking of ids, names and id-like runs
 *   json.c        alert_to_json / alert_from_json, tolerant JSON accessors
 *   explain_zh.c  zh-CN explanation and summary (per-rule findings: rules/<rule>.c,
 *                 written with alerts/explain.h) */
#ifndef GG_ALERT_INTERNAL_H
#define GG_ALERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alerts/alert.h"
#include "alerts/explain.h"
#include "core/log.h"

#define LOG_TAG "alert"

/* ---------------------------------------------------------------- alert.c */

int confidence_parse(const char *s, confidence *out); /* 0 ok, -1 unknown */
const char *link_name(link_conf l);                   /* "high", "low", "none" */
int link_parse(const char *s, link_conf *out);        /* 0 ok, -1 unknown */
int cmp_str0(const char *x, const char *y);           /* strcmp, NULL as "" */
/* "18600.00": yuan without thousands separators (for machines). */
void fen_plain(int64_t fen, char *out, size_t outsz);
void month_text(int yyyymm, char out[16]);            /* "2024-03" */
int month_next(int yyyymm);
int month_parse(const char *s, int *out);             /* "YYYY-MM"; 0 ok, -1 bad */

/* sbuf.c: the string buffer, declared in alerts/explain.h */

/* ----------------------------------------------------------------- mask.c */

/* Copy of `in` with every run of 15+ id characters masked; malloc'd, NULL on
 * OOM (or for NULL in). */
char *mask_id_runs(const char *in);
/* mask_id, mask_name: alerts/explain.h */
/* Masked subject key (ids and the name of "person:~<name>|<birth>"); malloc'd. */
char *mask_subject(const char *subject);

/* ----------------------------------------------------------------- json.c */

/* jstr, jint, jdate, parse_obj: alerts/explain.h */

#endif
