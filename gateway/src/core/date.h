/* date.h - calendar helpers on the gateway's integer dates: yyyymmdd (a day)
 * and yyyymm (a month), and their one text form, "YYYY-MM-DD" / "YYYY-MM".
 * Parsing source text into these integers is model/fact.h's conv_date /
 * conv_month. Dates are China Standard Time (UTC+8, no DST). */
#ifndef GG_DATE_H
#define GG_DATE_H

#include <stddef.h>

/* "YYYY-MM-DD" / "YYYY-MM" into out (>= 11 / >= 8 bytes). */
void date_text(int yyyymmdd, char *out, size_t outsz);
void month_text(int yyyymm, char *out, size_t outsz);
/* The value of the n ASCII digits at s (a year, month or day, yyyymmdd, or
 * an id's region digits), or -1 when one of them is not a digit. */
int date_digits(const char *s, int n);
/* "YYYY-MM" (exactly) to yyyymm; 0 ok, -1 bad text or month. */
int month_parse(const char *s, int *out);

int date_is_valid(int yyyymmdd);  /* a real calendar day, year 1..9999 */
int date_month(int yyyymmdd);     /* yyyymmdd -> yyyymm */
int date_today(void);             /* today's date from the clock, yyyymmdd (UTC+8) */
int month_valid(int yyyymm);      /* month 1..12 of a four-digit year */
int month_add(int yyyymm, int months);
int month_next(int yyyymm);       /* month_add(yyyymm, 1) */
int month_index(int yyyymm);      /* months since year 0: consecutive months differ by 1 */
int month_of_index(int mi);       /* inverse of month_index */
int month_days(int yyyymm);       /* days in the month (31 for a bad month) */

#endif
