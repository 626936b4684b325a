/* console_table.c: interactive mode, results as aligned columns for a person.
 *
 * Four aligned modes share the layout: column (the default: "--" rules under the names and a
 * "(N rows)" line), box (Unicode box drawing), table (ASCII +--+ borders) and markdown
 * (| a | b | with a |---| rule); the line-oriented modes are console_list.c's.
 *
 * Column widths come from the header and the first TABLE_BUFFER_ROWS rows, which are held back
 * until the result set ends or that many have arrived; later rows print at once with the same
 * widths (a wider value just pushes its line out).  The display is for reading, not for
 * round-tripping: control characters in TEXT show as \n, \t, \xHH, BLOBs as x'...' (cut after
 * 32 bytes), NULL as NULL.  Column names and error messages are escaped as TEXT is: every byte
 * this file prints to the terminal from SQL (data, schema or messages) passes through
 * escape_byte(), so no value can move the cursor or clear the screen.  Machine mode
 * (console_frame.c) carries exact values.
 */
#include <stdlib.h>
#include <string.h>
#include "console.h"
#include "console_shell.h"
#include "sqlite3.h"

#define TABLE_BUFFER_ROWS 100
#define BLOB_SHOW_MAX 32

/* One byte of TEXT for the terminal, into out (not terminated); returns its length.  Control
 * characters become \n, \t, \xHH, a backslash is doubled, every other byte (UTF-8 included)
 * stays as it is. */
int show_escape_byte(uint8_t c, char out[4])
{
    static const char hex[] = "0123456789abcdef";
    if (c == '\n' || c == '\t' || c == '\\') {
        out[0] = '\\';
        out[1] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
        return 2;
    }
    if (c < 0x20 || c == 0x7F) {
        out[0] = '\\'; out[1] = 'x'; out[2] = hex[c >> 4]; out[3] = hex[c & 15u];
        return 4;
    }
    out[0] = (char)c;
    return 1;
}

#define escape_byte show_escape_byte

/* Escaped TEXT as a heap string, NULL only when out of memory. */
static char *escape_text(const uint8_t *p, size_t n)
{
    sqlite3_str *s = sqlite3_str_new(NULL);
    char e[4];
    for (size_t i = 0; i < n; i++) sqlite3_str_append(s, e, escape_byte(p[i], e));
    if (sqlite3_str_errcode(s) == SQLITE_OK && sqlite3_str_length(s) == 0) {
        sqlite3_free(sqlite3_str_finish(s)); /* an empty sqlite3_str finishes as NULL */
        return sqlite3_mprintf("");
    }
    return sqlite3_str_finish(s);
}

/* Escaped straight to the UART: needs no memory (error messages, which may be about memory). */
static void out_escaped(const char *s)
{
    char e[4];
    for (; *s; s++) out_bytes(e, (size_t)escape_byte((uint8_t)*s, e));
}

/* A rendered cell: a heap string, with its kind for alignment (numbers right-aligned). */
static char *render(const con_value *v)
{
    switch (v->type) {
    case SQLITE_INTEGER: return sqlite3_mprintf("%lld", (long long)v->i);
    case SQLITE_FLOAT: return sqlite3_mprintf("%!.15g", v->d);
    case SQLITE_NULL: return sqlite3_mprintf("NULL");
    case SQLITE_BLOB: {
        sqlite3_str *s = sqlite3_str_new(NULL);
        size_t n = v->n < BLOB_SHOW_MAX ? v->n : BLOB_SHOW_MAX;
        sqlite3_str_appendall(s, "x'");
        for (size_t i = 0; i < n; i++) sqlite3_str_appendf(s, "%02x", v->p[i]);
        sqlite3_str_appendall(s, "'");
        if (n < v->n) sqlite3_str_appendf(s, "...(%lld bytes)", (long long)v->n);
        return sqlite3_str_finish(s);
    }
    default: return escape_text(v->p, v->n);
    }
}

/* Display width: UTF-8 code points (continuation bytes take no column). */
static int width_of(const char *s)
{
    int w = 0;
    for (; *s; s++) if (((uint8_t)*s & 0xC0u) != 0x80u) w++;
    return w;
}

static void pad(int n)
{
    while (n-- > 0) out_putc(' ');
}

/* How an aligned mode draws: the text before, between and after the cells of a row, and its
 * rules (left, fill, between, right).  An empty `l` of a rule means the mode has no such rule. */
typedef struct style {
    const char *l, *m, *r;                       /* a row */
    const char *top[4], *mid[4], *bot[4];        /* rules above, under the names, below */
    int pad_last;
} style;

static const style styles[] = {
    [SHOW_COLUMN] = { "", "  ", "", { 0 }, { "", "-", "  ", "" }, { 0 }, 0 },
    [SHOW_BOX] = { "\xe2\x94\x82 ", " \xe2\x94\x82 ", " \xe2\x94\x82",
                   { "\xe2\x94\x8c\xe2\x94\x80", "\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\xac\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\x90" },
                   { "\xe2\x94\x9c\xe2\x94\x80", "\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\xbc\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\xa4" },
                   { "\xe2\x94\x94\xe2\x94\x80", "\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\xb4\xe2\x94\x80", "\xe2\x94\x80\xe2\x94\x98" }, 1 },
    [SHOW_TABLE] = { "| ", " | ", " |", { "+-", "-", "-+-", "-+" }, { "+-", "-", "-+-", "-+" },
                     { "+-", "-", "-+-", "-+" }, 1 },
    [SHOW_MARKDOWN] = { "| ", " | ", " |", { 0 }, { "|-", "-", "-|-", "-|" }, { 0 }, 1 },
};

static const style *style_of(const table_sink *s)
{
    return &styles[s->mode <= SHOW_MARKDOWN ? s->mode : SHOW_COLUMN];
}

static void rule(const table_sink *s, const char *const r[4])
{
    if (!r[0]) return;
    out_str(r[0]);
    for (int c = 0; c < s->ncols; c++) {
        if (c) out_str(r[2]);
        for (int i = 0; i < s->width[c]; i++) out_str(r[1]);
    }
    out_str(r[3]);
    out_crlf();
}

/* Whether the names are shown: always in box, table and markdown (as in sqlite3). */
static int show_names(const table_sink *s)
{
    return s->headers || s->mode != SHOW_COLUMN;
}

/* Cells are stored as "<kind><text>": kind 'r' = right-align (numbers), 'l' = left. */
static void print_cell(const char *cell, int width, int last, int pad_last)
{
    int w;
    if (!cell) cell = "l?"; /* rendering ran out of memory */
    w = width_of(cell + 1);
    if (cell[0] == 'r') { pad(width - w); out_str(cell + 1); }
    else { out_str(cell + 1); if (!last || pad_last) pad(width - w); }
}

static void print_row(table_sink *s, char **cells)
{
    const style *st = style_of(s);
    out_str(st->l);
    for (int c = 0; c < s->ncols; c++) {
        if (c) out_str(st->m);
        print_cell(cells[c], s->width[c], c == s->ncols - 1, st->pad_last);
    }
    out_str(st->r);
    out_crlf();
}

static void free_cells(table_sink *s)
{
    if (s->cells) {
        for (int i = 0; i < s->nrows * s->ncols; i++) sqlite3_free(s->cells[i]);
        free(s->cells);
    }
    s->cells = NULL;
    s->nrows = 0;
}

/* Prints the header and the held-back rows; from now on rows print as they come. */
static void flush(table_sink *s)
{
    int first = 0;
    if (s->flushed || s->ncols == 0) return;
    s->flushed = 1;
    if (show_names(s)) {
        rule(s, style_of(s)->top);
        if (s->cells && s->nrows > 0) print_row(s, s->cells); /* the header */
        rule(s, style_of(s)->mid);
    }
    if (s->cells && s->nrows > 0) first = 1;
    for (int r = first; r < s->nrows; r++) print_row(s, s->cells + r * s->ncols);
    free_cells(s);
}

/* Ends the current result set: held rows, then the row count. */
static void finish_set(table_sink *s)
{
    if (s->ncols == 0) return;
    flush(s);
    rule(s, style_of(s)->bot);
    if (s->mode == SHOW_COLUMN) {
        out_str("(");
        out_i64(s->total_rows);
        out_str(s->total_rows == 1 ? " row)" : " rows)");
        out_crlf();
    }
    free(s->width);
    s->width = NULL;
    s->ncols = 0;
}

static void t_columns(con_sink *base, int n, const char *const *names)
{
    table_sink *s = (table_sink *)base;
    if (s->mode >= SHOW_LIST) { list_columns(s, n, names); return; }
    finish_set(s);
    s->ncols = n;
    s->flushed = 0;
    s->total_rows = 0;
    s->width = calloc((size_t)(n ? n : 1), sizeof *s->width);
    if (!s->width) { s->ncols = 0; out_str("(out of memory for the table)"); out_crlf(); return; }
    /* The names are the first held-back "row": they are printed padded once the widths are
     * known. */
    s->cells = calloc((size_t)n * (TABLE_BUFFER_ROWS + 1), sizeof *s->cells);
    for (int c = 0; c < n; c++) {
        char *name = escape_text((const uint8_t *)names[c], strlen(names[c]));
        s->width[c] = width_of(name ? name : "?");
        if (s->cells) s->cells[c] = sqlite3_mprintf("l%s", name ? name : "?");
        sqlite3_free(name);
    }
    s->nrows = s->cells ? 1 : 0;
    if (!s->cells) {
        /* No memory to hold rows back: print the names unpadded and stream. */
        for (int c = 0; c < n; c++) {
            if (c) out_str("  ");
            out_escaped(names[c]);
        }
        out_crlf();
        flush(s);
    }
}

static void t_row(con_sink *base, int n, const con_value *v)
{
    table_sink *s = (table_sink *)base;
    char *tmp[64];
    char **row;
    if (s->mode >= SHOW_LIST) { list_row(s, n, v); return; }
    if (s->ncols == 0 || n != s->ncols) return;
    s->total_rows++;
    row = (!s->flushed && s->cells) ? s->cells + s->nrows * s->ncols
                                    : (n <= 64 ? tmp : malloc((size_t)n * sizeof *row));
    if (!row) { out_str("(row not shown: out of memory)"); out_crlf(); return; }
    for (int c = 0; c < n; c++) {
        char *txt = render(&v[c]);
        int num = v[c].type == SQLITE_INTEGER || v[c].type == SQLITE_FLOAT;
        row[c] = sqlite3_mprintf("%c%s", num ? 'r' : 'l', txt ? txt : "?");
        sqlite3_free(txt);
        if (row[c] && !s->flushed) {
            int w = width_of(row[c] + 1); /* row[c] is "<kind><text>" */
            if (w > s->width[c]) s->width[c] = w;
        }
    }
    if (!s->flushed) {
        s->nrows++;
        if (s->nrows == TABLE_BUFFER_ROWS + 1) flush(s);
    } else {
        print_row(s, row);
        for (int c = 0; c < n; c++) sqlite3_free(row[c]);
        if (row != tmp) free(row);
    }
}

static void t_done(con_sink *base, int64_t changes, int64_t rowid)
{
    table_sink *s = (table_sink *)base;
    (void)changes;
    (void)rowid;
    if (s->mode >= SHOW_LIST) list_end(s);
    else finish_set(s);
}

static void t_error(con_sink *base, int code, const char *msg)
{
    table_sink *s = (table_sink *)base;
    if (s->mode >= SHOW_LIST) list_end(s);
    else finish_set(s);
    s->errors++;
    out_str("Error: ");
    out_escaped(msg);
    out_str(" (code ");
    out_i64(code);
    out_str(")");
    out_crlf();
}

void table_sink_init(table_sink *s)
{
    memset(s, 0, sizeof *s);
    s->mode = SHOW_COLUMN;
    s->headers = 1;
    s->base.columns = t_columns;
    s->base.row = t_row;
    s->base.done = t_done;
    s->base.error = t_error;
}

void table_sink_free(table_sink *s)
{
    if (s->mode >= SHOW_LIST) list_end(s);
    free_cells(s);
    free(s->width);
    s->width = NULL;
    s->ncols = 0;
}
