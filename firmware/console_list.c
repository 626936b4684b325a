/* console_list.c: interactive mode, the line-oriented output modes of the sqlite3 shell.
 *
 *   list   a|b|c          NULL as nothing      tabs  the same with tab separators
 *   csv    RFC 4180: a field with , " CR or LF is quoted, " doubled; rows end in CR LF
 *   json   [{"a":1,"b":"x"},\n{...}]: one array per result set; BLOBs as hex strings
 *   line   one "name = value" per column, names right-aligned, a blank line between rows
 *   quote  SQL literals: NULL, 'it''s', X'00ff', numbers; separated by ,
 *
 * Column names print first (list, tabs, csv, quote) when .headers is on.  As in every
 * interactive mode, no byte from a database can drive the terminal: control characters other
 * than tab and newline are shown as \xHH in csv, as \u00XX in json (which JSON reads back),
 * and list, tabs and line escape as the aligned modes do (console_table.c).  Every line ends
 * in CR LF.
 */
#include <stdlib.h>
#include <string.h>
#include "console_shell.h"
#include "sqlite3.h"

static const char *const mode_names[SHOW_MODES] = {
    [SHOW_COLUMN] = "column", [SHOW_BOX] = "box", [SHOW_TABLE] = "table",
    [SHOW_MARKDOWN] = "markdown", [SHOW_LIST] = "list", [SHOW_TABS] = "tabs",
    [SHOW_CSV] = "csv", [SHOW_JSON] = "json", [SHOW_LINE] = "line", [SHOW_QUOTE] = "quote",
};

const char *show_mode_name(int mode)
{
    return mode >= 0 && mode < SHOW_MODES ? mode_names[mode] : NULL;
}

int show_mode_by_name(const char *name)
{
    for (int m = 0; m < SHOW_MODES; m++)
        if (strcmp(mode_names[m], name) == 0) return m;
    return -1;
}

static const char hexd[] = "0123456789abcdef";

static void out_hex_byte(uint8_t b)
{
    out_putc((uint8_t)hexd[b >> 4]);
    out_putc((uint8_t)hexd[b & 15u]);
}

/* A number as the aligned modes show it. */
static void out_number(const con_value *v)
{
    char buf[40];
    if (v->type == SQLITE_INTEGER) sqlite3_snprintf(sizeof buf, buf, "%lld", (long long)v->i);
    else sqlite3_snprintf(sizeof buf, buf, "%!.15g", v->d);
    out_str(buf);
}

/* Text for list, tabs and line: escaped as the aligned modes escape it. */
static void out_plain(const uint8_t *p, size_t n)
{
    char e[4];
    for (size_t i = 0; i < n; i++) out_bytes(e, (size_t)show_escape_byte(p[i], e));
}

static void out_csv(const uint8_t *p, size_t n)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n') quote = 1;
    if (quote) out_putc('"');
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b == '"') out_str("\"\"");
        else if (b == '\n') out_crlf();
        else if (b == '\r' && i + 1 < n && p[i + 1] == '\n') continue; /* CR LF: one line end */
        else if ((b < 0x20 && b != '\t') || b == 0x7F) { out_str("\\x"); out_hex_byte(b); }
        else out_putc(b);
    }
    if (quote) out_putc('"');
}

static void out_json_string(const uint8_t *p, size_t n)
{
    out_putc('"');
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        switch (b) {
        case '"': out_str("\\\""); break;
        case '\\': out_str("\\\\"); break;
        case '\n': out_str("\\n"); break;
        case '\r': out_str("\\r"); break;
        case '\t': out_str("\\t"); break;
        case '\b': out_str("\\b"); break;
        case '\f': out_str("\\f"); break;
        default:
            if (b < 0x20 || b == 0x7F) { out_str("\\u00"); out_hex_byte(b); }
            else out_putc(b);
        }
    }
    out_putc('"');
}

static void out_quoted(const uint8_t *p, size_t n)
{
    out_putc('\'');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\'') out_str("''");
        else out_plain(p + i, 1);
    }
    out_putc('\'');
}

static void out_value(int mode, const con_value *v)
{
    switch (v->type) {
    case SQLITE_NULL:
        if (mode == SHOW_JSON) out_str("null");
        else if (mode == SHOW_QUOTE) out_str("NULL");
        return;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        out_number(v);
        return;
    case SQLITE_BLOB:
        if (mode == SHOW_JSON) out_putc('"');
        else if (mode == SHOW_QUOTE) out_str("X'");
        for (size_t i = 0; i < v->n; i++) out_hex_byte(v->p[i]);
        if (mode == SHOW_JSON) out_putc('"');
        else if (mode == SHOW_QUOTE) out_putc('\'');
        return;
    default:
        if (mode == SHOW_CSV) out_csv(v->p, v->n);
        else if (mode == SHOW_JSON) out_json_string(v->p, v->n);
        else if (mode == SHOW_QUOTE) out_quoted(v->p, v->n);
        else out_plain(v->p, v->n);
    }
}

static const char *separator(int mode)
{
    return mode == SHOW_TABS ? "\t" : mode == SHOW_CSV || mode == SHOW_QUOTE ? "," : "|";
}

void list_columns(table_sink *s, int n, const char *const *names)
{
    list_end(s);
    s->ncols = n;
    s->total_rows = 0;
    s->names = calloc((size_t)(n ? n : 1), sizeof *s->names);
    s->name_width = 0;
    for (int c = 0; c < n; c++) {
        size_t w = 0;
        if (s->names) s->names[c] = sqlite3_mprintf("%s", names[c]);
        for (const char *q = names[c]; *q; q++) w += ((uint8_t)*q & 0xC0u) != 0x80u;
        if ((int)w > s->name_width) s->name_width = (int)w;
    }
    if (s->headers && s->mode != SHOW_JSON && s->mode != SHOW_LINE) {
        for (int c = 0; c < n; c++) {
            const uint8_t *p = (const uint8_t *)names[c];
            if (c) out_str(separator(s->mode));
            if (s->mode == SHOW_CSV) out_csv(p, strlen(names[c]));
            else if (s->mode == SHOW_QUOTE) out_quoted(p, strlen(names[c]));
            else out_plain(p, strlen(names[c]));
        }
        out_crlf();
    }
}

void list_row(table_sink *s, int n, const con_value *v)
{
    if (n != s->ncols) return;
    if (s->mode == SHOW_JSON) {
        out_str(s->total_rows ? ",\r\n{" : "[{");
        for (int c = 0; c < n; c++) {
            const char *name = s->names && s->names[c] ? s->names[c] : "?";
            if (c) out_putc(',');
            out_json_string((const uint8_t *)name, strlen(name));
            out_putc(':');
            out_value(s->mode, &v[c]);
        }
        out_putc('}');
    } else if (s->mode == SHOW_LINE) {
        if (s->total_rows) out_crlf();
        for (int c = 0; c < n; c++) {
            const char *name = s->names && s->names[c] ? s->names[c] : "?";
            int w = 0;
            for (const char *q = name; *q; q++) w += ((uint8_t)*q & 0xC0u) != 0x80u;
            for (; w < s->name_width; w++) out_putc(' ');
            out_plain((const uint8_t *)name, strlen(name));
            out_str(" = ");
            out_value(s->mode, &v[c]);
            out_crlf();
        }
    } else {
        for (int c = 0; c < n; c++) {
            if (c) out_str(separator(s->mode));
            out_value(s->mode, &v[c]);
        }
        out_crlf();
    }
    s->total_rows++;
}

void list_end(table_sink *s)
{
    if (s->mode == SHOW_JSON && s->ncols && s->total_rows) {
        out_putc(']');
        out_crlf();
    }
    if (s->names) {
        for (int c = 0; c < s->ncols; c++) sqlite3_free(s->names[c]);
        free(s->names);
    }
    s->names = NULL;
    s->ncols = 0;
    s->total_rows = 0;
}
