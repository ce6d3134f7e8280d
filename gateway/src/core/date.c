/* date.c - integer dates and months, their text form (see date.h). */
#include "core/date.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void date_text(int yyyymmdd, char *out, size_t outsz) {
    snprintf(out, outsz, "%04d-%02d-%02d", yyyymmdd / 10000 % 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
}

void month_text(int yyyymm, char *out, size_t outsz) {
    snprintf(out, outsz, "%04d-%02d", yyyymm / 100 % 10000, yyyymm % 100);
}

int date_digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int month_parse(const char *s, int *out) {
    int y, m;
    char tail;
    if (!s || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2) return -1;
    if (strlen(s) != 7) return -1;
    *out = y * 100 + m;
    return month_valid(*out) ? 0 : -1;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int month_valid(int yyyymm) {
    int y = yyyymm / 100, m = yyyymm % 100;
    return y >= 1000 && y <= 9999 && m >= 1 && m <= 12;
}

int month_days(int yyyymm) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = yyyymm / 100, m = yyyymm % 100;
    if (m < 1 || m > 12) return 31;
    return dim[m - 1] + (m == 2 && is_leap(y));
}

int date_is_valid(int yyyymmdd) {
    if (yyyymmdd <= 0) return 0;
    int y = yyyymmdd / 10000, m = yyyymmdd / 100 % 100, d = yyyymmdd % 100;
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return 0;
    return d <= month_days(yyyymmdd / 100);
}

int month_add(int yyyymm, int months) {
    long idx = (long)(yyyymm / 100) * 12 + (yyyymm % 100 - 1) + months;
    long y = idx >= 0 ? idx / 12 : -((-idx + 11) / 12);
    long m = idx - y * 12;
    return (int)(y * 100 + m + 1);
}

int month_next(int yyyymm) { return month_add(yyyymm, 1); }

int month_index(int yyyymm) { return (yyyymm / 100) * 12 + (yyyymm % 100) - 1; }

int month_of_index(int mi) { return (mi / 12) * 100 + mi % 12 + 1; }

int date_month(int yyyymmdd) { return yyyymmdd / 100; }

int date_today(void) {
    time_t now = time(NULL) + 8 * 3600; /* China Standard Time, UTC+8, no DST */
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL) return 0;
    return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}
