/* conn/sqlguard.c - the SQLite statement check (see sqlguard.h): a tokenizer
 * that follows SQLite's rules for whitespace, comments, literals and quoted
 * identifiers, and a deny-list of words. No state; no allocation. */
#include "conn/sqlguard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* SQLite's identifier characters: letters, digits, '_', '$' and every byte
 * >= 0x80 (UTF-8 continuation and lead bytes). */
static int idchar(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '$' || ch >= 0x80;
}

typedef enum { TOK_END, TOK_WORD, TOK_STRING, TOK_PUNCT } tok_type;

typedef struct token {
    tok_type type;
    char word[64]; /* TOK_WORD: the name, unquoted (cut at 63 bytes; longer names never match) */
    char punct;    /* TOK_PUNCT: the character */
} token;

/* Reads the next token from *pp, skipping whitespace and comments. */
static void next_token(const char **pp, token *t) {
    const unsigned char *p = (const unsigned char *)*pp;
    t->type = TOK_END;
    t->word[0] = '\0';
    t->punct = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r') p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            p += 2;
            while (*p && !(p[0] == '*' && p[1] == '/')) p++;
            if (*p) p += 2;
            continue;
        }
        break;
    }
    if (!*p) {
        *pp = (const char *)p;
        return;
    }
    unsigned char close = 0;
    if (*p == '\'') close = '\'';
    else if (*p == '"') close = '"';
    else if (*p == '`') close = '`';
    else if (*p == '[') close = ']';
    if (close) {
        /* A literal or a quoted identifier; a doubled closing quote is one
         * character of the content (not for [..], which has no escape). An
         * unterminated one runs to the end, as SQLite's tokenizer reads it. */
        size_t n = 0;
        int toolong = 0;
        p++;
        while (*p) {
            unsigned char ch = *p;
            if (ch == close) {
                if (close != ']' && p[1] == close) {
                    p++; /* a doubled quote is one character of the content */
                } else {
                    p++;
                    break;
                }
            }
            if (n < sizeof t->word - 1) t->word[n++] = (char)ch;
            else toolong = 1;
            p++;
        }
        t->word[toolong ? 0 : n] = '\0';
        t->type = close == '\'' ? TOK_STRING : TOK_WORD;
        *pp = (const char *)p;
        return;
    }
    if (idchar(*p)) {
        size_t n = 0;
        int toolong = 0;
        while (idchar(*p)) {
            if (n < sizeof t->word - 1) t->word[n++] = (char)*p;
            else toolong = 1;
            p++;
        }
        t->word[toolong ? 0 : n] = '\0';
        t->type = TOK_WORD;
        *pp = (const char *)p;
        return;
    }
    t->type = TOK_PUNCT;
    t->punct = (char)*p++;
    *pp = (const char *)p;
}

static int fail(char *why, size_t whysz, const char *what) {
    if (why && whysz) snprintf(why, whysz, "%s is not allowed on a SQLite connection (it reaches outside the source's database)", what);
    return -1;
}

int conn_sqlite_guard(const char *sql, char *why, size_t whysz) {
    if (why && whysz) why[0] = '\0';
    if (!sql) return 0;
    const char *p = sql;
    token t;
    int in_pragma = 0; /* inside a PRAGMA statement (until ';') */
    for (next_token(&p, &t); t.type != TOK_END; next_token(&p, &t)) {
        if (t.type == TOK_PUNCT) {
            if (t.punct == ';') in_pragma = 0;
            else if (in_pragma && (t.punct == '=' || t.punct == '('))
                return fail(why, whysz, "PRAGMA with a value");
            continue;
        }
        if (t.type != TOK_WORD) continue;
        if (!strcasecmp(t.word, "ATTACH")) return fail(why, whysz, "ATTACH");
        if (!strcasecmp(t.word, "DETACH")) return fail(why, whysz, "DETACH");
        if (!strcasecmp(t.word, "VACUUM")) return fail(why, whysz, "VACUUM");
        if (!strcasecmp(t.word, "load_extension")) return fail(why, whysz, "load_extension()");
        if (!strcasecmp(t.word, "fts3_tokenizer")) return fail(why, whysz, "fts3_tokenizer()");
        if (!strcasecmp(t.word, "PRAGMA")) in_pragma = 1;
    }
    return 0;
}
