/* alert_internal.h - what the alert modules share and nobody else sees.
 *
 *   alert.c       names, ids, the alert, fingerprints, lists, money/month text
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
#include "core/date.h"
#include "core/mask.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "core/log.h"

#define LOG_TAG "alert"

/* ---------------------------------------------------------------- alert.c */

int alert_confidence_parse(const char *s, confidence *out); /* 0 ok, -1 unknown */
const char *alert_link_name(link_conf l);                   /* "high", "low", "none" */
int alert_link_parse(const char *s, link_conf *out);        /* 0 ok, -1 unknown */
/* "18600.00": yuan without thousands separators (for machines). */
void alert_fen_plain(int64_t fen, char *out, size_t outsz);

/* ----------------------------------------------------------------- json.c */

/* alert_jstr, alert_jint, alert_jdate, alert_parse_obj: alerts/explain.h */

#endif
