/* console_sql.c: one request's SQL on one connection, into a sink (console.h). */
#include <stdio.h>
#include <string.h>
#include "console.h"
#include "sqlite3.h"

/* Whether s holds nothing but whitespace, ';' and comments: then the statement just prepared
 * is the last one, the one the parameters bind to. */
static int only_trivia(const char *s)
{
    while (*s) {
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\f' || *s == ';') {
            s++;
        } else if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n') s++;
        } else if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            if (!e) return 1; /* an unterminated comment runs to the end */
            s = e + 2;
        } else {
            return 0;
        }
    }
    return 1;
}

static int bind_all(sqlite3_stmt *st, int n, const con_value *p)
{
    int rc = SQLITE_OK;
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        switch (p[i].type) {
        case SQLITE_INTEGER: rc = sqlite3_bind_int64(st, i + 1, p[i].i); break;
        case SQLITE_FLOAT: rc = sqlite3_bind_double(st, i + 1, p[i].d); break;
        case SQLITE_TEXT:
            rc = sqlite3_bind_text64(st, i + 1, (const char *)p[i].p, p[i].n, SQLITE_TRANSIENT,
                                     SQLITE_UTF8);
            break;
        case SQLITE_BLOB:
            rc = sqlite3_bind_blob64(st, i + 1, p[i].p, p[i].n, SQLITE_TRANSIENT);
            break;
        default: rc = sqlite3_bind_null(st, i + 1); break;
        }
    }
    return rc;
}

/* Delivers the current row of st; values point into SQLite's column buffers, valid until the
 * next step, which is after the sink returns.  Returns SQLITE_OK, or SQLITE_NOMEM with nothing
 * delivered: the caller ends the request with an error, since a result with a row missing
 * must never end in success. */
static int emit_row(sqlite3_stmt *st, int ncols, con_sink *sink)
{
    con_value v[16];
    con_value *vals = ncols <= 16 ? v : sqlite3_malloc64(sizeof *vals * (sqlite3_uint64)ncols);
    if (!vals) return SQLITE_NOMEM;
    for (int c = 0; c < ncols; c++) {
        con_value *x = &vals[c];
        memset(x, 0, sizeof *x);
        x->type = sqlite3_column_type(st, c);
        switch (x->type) {
        case SQLITE_INTEGER: x->i = sqlite3_column_int64(st, c); break;
        case SQLITE_FLOAT: x->d = sqlite3_column_double(st, c); break;
        case SQLITE_TEXT:
            x->p = sqlite3_column_text(st, c);
            x->n = (size_t)sqlite3_column_bytes(st, c);
            break;
        case SQLITE_BLOB:
            x->p = sqlite3_column_blob(st, c);
            x->n = (size_t)sqlite3_column_bytes(st, c);
            break;
        default: break;
        }
    }
    sink->row(sink, ncols, vals);
    if (vals != v) sqlite3_free(vals);
    return SQLITE_OK;
}

/* Starts a result set; SQLITE_OK, or SQLITE_NOMEM with nothing delivered (as emit_row). */
static int emit_columns(sqlite3_stmt *st, int ncols, con_sink *sink)
{
    const char *names[16];
    const char **n = ncols <= 16 ? names : sqlite3_malloc64(sizeof *n * (sqlite3_uint64)ncols);
    if (!n) return SQLITE_NOMEM;
    for (int c = 0; c < ncols; c++) {
        n[c] = sqlite3_column_name(st, c);
        if (!n[c]) n[c] = "?";
    }
    sink->columns(sink, ncols, n);
    if (n != names) sqlite3_free((void *)n);
    return SQLITE_OK;
}

void console_run_sql(sqlite3 *db, const char *sql, int nparams, const con_value *params,
                     con_sink *sink)
{
    const char *tail = sql;
    int bound = 0;
    char msg[96];
    while (!only_trivia(tail)) {
        sqlite3_stmt *st = NULL;
        const char *next = NULL;
        int rc = sqlite3_prepare_v2(db, tail, -1, &st, &next);
        int ncols, last;
        if (rc != SQLITE_OK) {
            sink->error(sink, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
            return;
        }
        if (!st || next == tail) { /* nothing but trivia that only_trivia() did not know */
            sqlite3_finalize(st);
            if (next == tail) break;
            tail = next;
            continue;
        }
        tail = next;
        last = only_trivia(tail);
        if (last) {
            int want = sqlite3_bind_parameter_count(st);
            if (want != nparams) {
                snprintf(msg, sizeof msg, "the statement has %d parameters, %d were given", want,
                         nparams);
                sqlite3_finalize(st);
                sink->error(sink, SQLITE_RANGE, msg);
                return;
            }
            rc = bind_all(st, nparams, params);
            bound = 1;
            if (rc != SQLITE_OK) {
                sink->error(sink, sqlite3_extended_errcode(db), sqlite3_errmsg(db));
                sqlite3_finalize(st);
                return;
            }
        } else if (sqlite3_bind_parameter_count(st) > 0) {
            sqlite3_finalize(st);
            sink->error(sink, SQLITE_RANGE,
                        "only the last statement of a request may have parameters");
            return;
        }
        ncols = sqlite3_column_count(st);
        if (ncols > 0 && emit_columns(st, ncols, sink) != SQLITE_OK) {
            sqlite3_finalize(st);
            snprintf(msg, sizeof msg, "out of memory for the names of %d result columns", ncols);
            sink->error(sink, SQLITE_NOMEM, msg);
            return;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (emit_row(st, ncols, sink) != SQLITE_OK) {
                /* Finalizing before the end is a reset, not a rollback: an INSERT, UPDATE or
                 * DELETE ... RETURNING made all its changes at the first step and keeps them
                 * (outside a transaction they are committed); the error says the rows were
                 * not all delivered. */
                sqlite3_finalize(st);
                snprintf(msg, sizeof msg, "out of memory for a row of %d columns", ncols);
                sink->error(sink, SQLITE_NOMEM, msg);
                return;
            }
        }
        if (rc != SQLITE_DONE) {
            /* The statement's own error; finalize() would repeat it. */
            int code = sqlite3_extended_errcode(db);
            sqlite3_str *m = sqlite3_str_new(db);
            sqlite3_str_appendall(m, sqlite3_errmsg(db));
            sqlite3_finalize(st);
            {
                char *text = sqlite3_str_finish(m);
                sink->error(sink, code, text ? text : "out of memory");
                sqlite3_free(text);
            }
            return;
        }
        sqlite3_finalize(st);
    }
    if (!bound && nparams > 0) {
        snprintf(msg, sizeof msg, "%d parameters given to a request without a statement", nparams);
        sink->error(sink, SQLITE_RANGE, msg);
        return;
    }
    sink->done(sink, sqlite3_changes64(db), sqlite3_last_insert_rowid(db));
}
