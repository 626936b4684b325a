/* console_dot.c: the sqlite3-shell dot-commands that read the current database.
 *
 * .tables and .schema answer like the sqlite3 shell in interactive mode (names laid out in
 * columns; CREATE statements each ending in ';'), straight to the terminal with the same
 * escaping as every other output.  Given a sink that is not interactive (machine mode) they
 * answer as a result set instead, one row per name or statement, so a program reads the same
 * facts.  Patterns are LIKE patterns, as in sqlite3.
 */
#include <stdlib.h>
#include <string.h>
#include "console_shell.h"
#include "sqlite3.h"

/* The names of tables and views (without sqlite_ internals), or the schema SQL, matching the
 * pattern: in every attached database, as sqlite3 lists them. */
static const char tables_sql[] =
    "SELECT name FROM sqlite_schema WHERE type IN ('table','view') "
    "AND name NOT LIKE 'sqlite_%' AND name LIKE ?1 ORDER BY 1";
static const char schema_sql[] =
    "SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
    "AND (name LIKE ?1 OR tbl_name LIKE ?1) "
    "ORDER BY tbl_name, type DESC, name";

/* Collects column 0 of the statement's rows as heap strings; returns the count, or -1 after
 * reporting an error to the sink. */
static int collect(sqlite3 *db, const char *sql, const char *pattern, char ***out, con_sink *sink)
{
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    int n = 0, cap = 0, rc;
    *out = NULL;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, pattern ? pattern : "%", -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (n == cap) {
            char **nv = realloc(v, (size_t)(cap = cap ? cap * 2 : 16) * sizeof *v);
            if (!nv) { rc = SQLITE_NOMEM; break; }
            v = nv;
        }
        v[n] = sqlite3_mprintf("%s", t ? t : "");
        if (!v[n]) { rc = SQLITE_NOMEM; break; }
        n++;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        int code = rc == SQLITE_NOMEM ? SQLITE_NOMEM : sqlite3_extended_errcode(db);
        char *m = sqlite3_mprintf("%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        for (int i = 0; i < n; i++) sqlite3_free(v[i]);
        free(v);
        sink->error(sink, code, m ? m : "out of memory");
        sqlite3_free(m);
        return -1;
    }
    sqlite3_finalize(st);
    *out = v;
    return n;
}

static void free_all(char **v, int n)
{
    for (int i = 0; i < n; i++) sqlite3_free(v[i]);
    free(v);
}

/* As a result set of one TEXT column (machine mode). */
static void as_rows(const char *column, char **v, int n, con_sink *sink)
{
    const char *names[1] = { column };
    sink->columns(sink, 1, names);
    for (int i = 0; i < n; i++) {
        con_value x = { .type = SQLITE_TEXT, .p = (const uint8_t *)v[i], .n = strlen(v[i]) };
        sink->row(sink, 1, &x);
    }
    sink->done(sink, 0, 0);
}

static int width_of(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((uint8_t)*s & 0xC0u) != 0x80u;
    return w;
}

static void out_text(const char *s, int newline_as_crlf)
{
    char e[4];
    for (; *s; s++) {
        if (*s == '\n' && newline_as_crlf) out_crlf();
        else out_bytes(e, (size_t)show_escape_byte((uint8_t)*s, e));
    }
}

void dot_tables(sqlite3 *db, const char *pattern, con_sink *sink, int terminal)
{
    char **v;
    int n = collect(db, tables_sql, pattern, &v, sink);
    int w = 0, per_line, lines;
    if (n < 0) return;
    if (!terminal) { as_rows("name", v, n, sink); free_all(v, n); return; }
    /* sqlite3's layout: columns of the widest name + 2, 80 characters wide, filled down. */
    for (int i = 0; i < n; i++) if (width_of(v[i]) > w) w = width_of(v[i]);
    per_line = 80 / (w + 2);
    if (per_line < 1) per_line = 1;
    lines = (n + per_line - 1) / per_line;
    for (int r = 0; r < lines; r++) {
        for (int c = 0; c < per_line; c++) {
            int i = c * lines + r;
            if (i >= n) break;
            if (c) for (int k = width_of(v[i - lines]); k < w + 2; k++) out_putc(' ');
            out_text(v[i], 0);
        }
        out_crlf();
    }
    free_all(v, n);
    sink->done(sink, 0, 0);
}

void dot_schema(sqlite3 *db, const char *pattern, con_sink *sink, int terminal)
{
    char **v;
    int n = collect(db, schema_sql, pattern, &v, sink);
    if (n < 0) return;
    if (!terminal) { as_rows("sql", v, n, sink); free_all(v, n); return; }
    for (int i = 0; i < n; i++) {
        out_text(v[i], 1);
        out_crlf();
    }
    free_all(v, n);
    sink->done(sink, 0, 0);
}

void out_seconds(uint64_t us)
{
    char frac[7];
    uint64_t f = us % 1000000u;
    for (int i = 5; i >= 0; i--) { frac[i] = (char)('0' + f % 10u); f /= 10u; }
    frac[6] = 0;
    out_i64((int64_t)(us / 1000000u));
    out_putc('.');
    out_str(frac);
}
