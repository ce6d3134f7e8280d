/* metrics.c - the metrics registry and its Prometheus text rendering
 * (metrics.h).
 *
 * Families live in an array in declaration order; each holds its series in an
 * array in first-use order, keyed by the series' rendered label text
 * ({a="x",b="y"}, escaped), which is also what the renderer prints. The
 * registries are small (tens of families, hundreds of series), so lookups are
 * linear scans. */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/sbuf.h"

const double metrics_default_seconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
const size_t metrics_default_seconds_count = sizeof metrics_default_seconds / sizeof metrics_default_seconds[0];

typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } metric_type;

typedef struct series {
    char *labels;      /* rendered: "" or {a="x",b="y"} */
    double value;      /* counter/gauge value; histogram sum */
    unsigned long long *buckets; /* histogram: count per bound, cumulative at render; [nbounds] = +Inf */
    unsigned long long count;
} series;

typedef struct family {
    char *name, *help;
    metric_type type;
    double *bounds;
    size_t nbounds;
    series *s;
    size_t ns, caps;
} family;

struct gg_metrics {
    pthread_mutex_t mu;
    family *f;
    size_t nf, capf;
};

/* Shortest of %.15g/%.17g that reads back exactly; +Inf, -Inf, NaN as Prometheus spells them. */
static void fmt_value(double v, char *out, size_t outsz) {
    if (isnan(v)) snprintf(out, outsz, "NaN");
    else if (isinf(v)) snprintf(out, outsz, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(out, outsz, "%.15g", v);
        if (strtod(out, NULL) != v) snprintf(out, outsz, "%.17g", v);
    }
}

static int valid_name(const char *s, int allow_colon) {
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (allow_colon && *p == ':') ||
                 (p != s && *p >= '0' && *p <= '9');
        if (!ok) return 0;
    }
    return 1;
}

/* Renders the label set as {a="x",b="y"} into a malloc'd string ("" when
 * none). NULL on a bad label name (logged) or out of memory. */
static char *render_labels(const char *metric, const char *const *labels) {
    sbuf b = {0};
    sb_putn(&b, "", 0);
    for (size_t i = 0; labels && labels[i]; i += 2) {
        const char *k = labels[i], *v = labels[i + 1];
        if (!valid_name(k, 0) || !strncmp(k, "__", 2) || !strcmp(k, "le") || !v) {
            gg_error("metrics", "metric %s: bad label name '%s' or missing value", metric, k);
            free(b.s);
            return NULL;
        }
        sb_puts(&b, i ? "," : "{");
        sb_puts(&b, k);
        sb_puts(&b, "=\"");
        for (const char *p = v; *p; p++) {
            if (*p == '\\') sb_puts(&b, "\\\\");
            else if (*p == '"') sb_puts(&b, "\\\"");
            else if (*p == '\n') sb_puts(&b, "\\n");
            else sb_putn(&b, p, 1);
        }
        sb_puts(&b, "\"");
        if (labels[i + 2] == NULL) sb_puts(&b, "}");
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

gg_metrics *metrics_new(void) {
    gg_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&m->mu, &at);
    pthread_mutexattr_destroy(&at);
    if (rc) {
        free(m);
        return NULL;
    }
    return m;
}

static void family_clear_series(family *f) {
    for (size_t i = 0; i < f->ns; i++) {
        free(f->s[i].labels);
        free(f->s[i].buckets);
    }
    f->ns = 0;
}

void metrics_free(gg_metrics *m) {
    if (!m) return;
    for (size_t i = 0; i < m->nf; i++) {
        family *f = &m->f[i];
        family_clear_series(f);
        free(f->s);
        free(f->name);
        free(f->help);
        free(f->bounds);
    }
    free(m->f);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_lock(gg_metrics *m) { pthread_mutex_lock(&m->mu); }
void metrics_unlock(gg_metrics *m) { pthread_mutex_unlock(&m->mu); }

static const char *type_name(metric_type t) {
    return t == MT_COUNTER ? "counter" : t == MT_GAUGE ? "gauge" : "histogram";
}

/* Finds or declares a family. Called with the mutex held. */
static family *family_get(gg_metrics *m, const char *name, const char *help, metric_type t, const double *bounds,
                          size_t nbounds) {
    for (size_t i = 0; i < m->nf; i++) {
        family *f = &m->f[i];
        if (strcmp(f->name, name)) continue;
        if (f->type != t) {
            gg_error("metrics", "metric %s is a %s, not a %s", name, type_name(f->type), type_name(t));
            return NULL;
        }
        if (t == MT_HISTOGRAM &&
            (f->nbounds != nbounds || memcmp(f->bounds, bounds, nbounds * sizeof *bounds) != 0)) {
            gg_error("metrics", "histogram %s used with other buckets", name);
            return NULL;
        }
        return f;
    }
    if (!valid_name(name, 1)) {
        gg_error("metrics", "bad metric name '%s'", name ? name : "(null)");
        return NULL;
    }
    size_t len = strlen(name);
    if (t == MT_COUNTER && len > 6 && !strcmp(name + len - 6, "_total")) {
        gg_error("metrics", "counter %s: give the name without _total (it is added on output)", name);
        return NULL;
    }
    if (t == MT_HISTOGRAM) {
        if (len < 8 || strcmp(name + len - 8, "_seconds")) {
            gg_error("metrics", "histogram %s: durations are named ..._seconds", name);
            return NULL;
        }
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1])) {
                gg_error("metrics", "histogram %s: bucket bounds must be finite and strictly increasing", name);
                return NULL;
            }
        }
    }
    if (m->nf == m->capf) {
        size_t cap = m->capf ? m->capf * 2 : 16;
        family *g = realloc(m->f, cap * sizeof *g);
        if (!g) return NULL;
        m->f = g;
        m->capf = cap;
    }
    family *f = &m->f[m->nf];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->type = t;
    if (t == MT_HISTOGRAM && nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        if (f->bounds) memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    }
    f->nbounds = nbounds;
    if (!f->name || !f->help || (t == MT_HISTOGRAM && nbounds && !f->bounds)) {
        free(f->name);
        free(f->help);
        free(f->bounds);
        return NULL;
    }
    m->nf++;
    return f;
}

/* Finds or adds the series with these labels. Called with the mutex held. */
static series *series_get(family *f, const char *const *labels) {
    char *key = render_labels(f->name, labels);
    if (!key) return NULL;
    for (size_t i = 0; i < f->ns; i++) {
        if (!strcmp(f->s[i].labels, key)) {
            free(key);
            return &f->s[i];
        }
    }
    if (f->ns == f->caps) {
        size_t cap = f->caps ? f->caps * 2 : 8;
        series *g = realloc(f->s, cap * sizeof *g);
        if (!g) {
            free(key);
            return NULL;
        }
        f->s = g;
        f->caps = cap;
    }
    series *s = &f->s[f->ns];
    memset(s, 0, sizeof *s);
    s->labels = key;
    if (f->type == MT_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
        if (!s->buckets) {
            free(key);
            return NULL;
        }
    }
    f->ns++;
    return s;
}

int metrics_counter_add(gg_metrics *m, const char *name, const char *help, const char *const *labels, double v) {
    if (!(v >= 0)) {
        gg_error("metrics", "counter %s: cannot add %g", name, v);
        return -1;
    }
    pthread_mutex_lock(&m->mu);
    family *f = family_get(m, name, help, MT_COUNTER, NULL, 0);
    series *s = f ? series_get(f, labels) : NULL;
    if (s) s->value += v;
    pthread_mutex_unlock(&m->mu);
    return s ? 0 : -1;
}

int metrics_gauge_set(gg_metrics *m, const char *name, const char *help, const char *const *labels, double v) {
    pthread_mutex_lock(&m->mu);
    family *f = family_get(m, name, help, MT_GAUGE, NULL, 0);
    series *s = f ? series_get(f, labels) : NULL;
    if (s) s->value = v;
    pthread_mutex_unlock(&m->mu);
    return s ? 0 : -1;
}

int metrics_gauge_clear(gg_metrics *m, const char *name) {
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nf; i++) {
        if (!strcmp(m->f[i].name, name) && m->f[i].type == MT_GAUGE) {
            family_clear_series(&m->f[i]);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int metrics_histogram_observe(gg_metrics *m, const char *name, const char *help, const double *bounds,
                              size_t nbounds, const char *const *labels, double v) {
    if (isnan(v)) return -1;
    pthread_mutex_lock(&m->mu);
    family *f = family_get(m, name, help, MT_HISTOGRAM, bounds, nbounds);
    series *s = f ? series_get(f, labels) : NULL;
    if (s) {
        size_t i = 0;
        while (i < f->nbounds && v > f->bounds[i]) i++;
        s->buckets[i]++;
        s->count++;
        s->value += v;
    }
    pthread_mutex_unlock(&m->mu);
    return s ? 0 : -1;
}

/* The label text of a bucket: the series' labels with le="bound" added last. */
static void bucket_labels(sbuf *b, const char *labels, const char *le) {
    size_t n = strlen(labels);
    if (n) {
        sb_putn(b, labels, n - 1); /* without the closing } */
        sb_puts(b, ",le=\"");
    } else {
        sb_puts(b, "{le=\"");
    }
    sb_puts(b, le);
    sb_puts(b, "\"}");
}

char *metrics_render(gg_metrics *m) {
    sbuf b = {0};
    sb_putn(&b, "", 0);
    char v[64];
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nf; i++) {
        family *f = &m->f[i];
        const char *suffix = f->type == MT_COUNTER ? "_total" : "";
        sb_printf(&b, "# HELP %s%s ", f->name, suffix);
        for (const char *p = f->help; *p; p++) {
            if (*p == '\\') sb_puts(&b, "\\\\");
            else if (*p == '\n') sb_puts(&b, "\\n");
            else sb_putn(&b, p, 1);
        }
        sb_printf(&b, "\n# TYPE %s%s %s\n", f->name, suffix, type_name(f->type));
        for (size_t k = 0; k < f->ns; k++) {
            series *s = &f->s[k];
            if (f->type != MT_HISTOGRAM) {
                fmt_value(s->value, v, sizeof v);
                sb_printf(&b, "%s%s", f->name, suffix);
                sb_puts(&b, s->labels);
                sb_printf(&b, " %s\n", v);
                continue;
            }
            unsigned long long cum = 0;
            for (size_t j = 0; j <= f->nbounds; j++) {
                cum += s->buckets[j];
                if (j < f->nbounds) fmt_value(f->bounds[j], v, sizeof v);
                else snprintf(v, sizeof v, "+Inf");
                sb_printf(&b, "%s_bucket", f->name);
                bucket_labels(&b, s->labels, v);
                sb_printf(&b, " %llu\n", cum);
            }
            fmt_value(s->value, v, sizeof v);
            sb_printf(&b, "%s_sum", f->name);
            sb_puts(&b, s->labels);
            sb_printf(&b, " %s\n", v);
            sb_printf(&b, "%s_count", f->name);
            sb_puts(&b, s->labels);
            sb_printf(&b, " %llu\n", s->count);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
