/* conn/sqlguard.h - refuses SQL that would let an adapter reach beyond its own
 * SQLite database through the SQLite3 ODBC driver.
 *
 * Debian's libsqlite3odbc (0.9998) has no option that disables ATTACH, and it
 * turns extension loading on for every connection (its LoadExt code calls
 * sqlite3_enable_load_extension(db, 1) even when LoadExt= is empty), so the
 * connector checks each statement before it reaches the driver. The check
 * works on SQLite's own token rules: -- and C comments and string literals are
 * skipped, keywords are compared without regard to case, and quoted
 * identifiers ("x", [x], `x`) are unquoted before comparing, so comments,
 * case, whitespace or quoting do not hide a word.
 *
 * Refused: ATTACH, DETACH, VACUUM (in place or INTO a file), any use of the
 * name load_extension or fts3_tokenizer, and PRAGMA with an argument
 * (PRAGMA x = v, PRAGMA x(v)) - a plain PRAGMA x only reads.
 *
 * Residual risk: the check is a deny-list over SQLite's grammar as of 3.40; a
 * future SQLite feature that writes files under a new keyword would pass.
 * Reads and writes of the configured database itself are not restricted. */
#ifndef GG_CONN_SQLGUARD_H
#define GG_CONN_SQLGUARD_H

#include <stddef.h>

/* 0 when `sql` may run; -1 with a one-line reason in why (e.g. "ATTACH is not
 * allowed on a SQLite connection") otherwise. */
int conn_sqlite_guard(const char *sql, char *why, size_t whysz);

#endif
