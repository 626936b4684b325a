/* console_shell.h: the interactive console's sqlite3-shell parts (internal to the console).
 *
 *   console_edit.c   the line editor: cursor keys, Home/End, Backspace/Delete, Ctrl-A/E/K/U,
 *                    history (Up/Down), escape sequences parsed whole
 *   console_dot.c    the sqlite3-shell dot-commands that read a database: .tables, .schema
 *   console_list.c   the line-oriented output modes: list, tabs, csv, json, line, quote
 *
 * console.c dispatches; console_table.c draws the aligned modes (column, box, table,
 * markdown).  docs/console.md describes what the user sees.
 */
#ifndef WALKIT_CONSOLE_SHELL_H
#define WALKIT_CONSOLE_SHELL_H

#include <stddef.h>
#include "console.h"

/* ---- the line editor ---- */

/* What edit_read() ended with. */
enum {
    EDIT_LINE = 0,   /* Enter: the line is in buf */
    EDIT_CANCEL = 1, /* Ctrl-C: the line is dropped ("^C" was echoed) */
    EDIT_EOF = 2,    /* Ctrl-D on an empty line: the person is done */
    EDIT_GONE = 3,   /* the UART can never deliver another byte */
};

/* Bounds of the history: at most this many lines and this many bytes in all (a line longer
 * than the byte budget is not kept).  Memory comes from malloc and is given back as old lines
 * fall out. */
#define EDIT_HISTORY_LINES 50
#define EDIT_HISTORY_BYTES 16384

/* One line in buf (cap bytes and a NUL), echoed and editable, after printing `prompt`.
 * *len receives its length; *overflow counts printable bytes that did not fit (the line is
 * then refused by the caller).  *last_was_cr is shared with the machine-mode reader: a LF
 * right after a CR is the same line end, also across a mode switch. */
int edit_read(const char *prompt, char *buf, size_t cap, size_t *len, size_t *overflow,
              int *last_was_cr);

/* Adds a line to the history (not empty, not a repeat of the newest). */
void edit_history_add(const char *line, size_t n);

/* ---- display options (.mode, .headers) ---- */

enum {
    SHOW_COLUMN = 0, /* aligned, '-' rules, "(N rows)": the console's default */
    SHOW_BOX,        /* aligned, Unicode box drawing */
    SHOW_TABLE,      /* aligned, ASCII +---+ borders */
    SHOW_MARKDOWN,   /* aligned, | a | b | with a |---| rule */
    SHOW_LIST,       /* values separated by | */
    SHOW_TABS,       /* values separated by tabs */
    SHOW_CSV,        /* RFC 4180 */
    SHOW_JSON,       /* an array of objects per result set */
    SHOW_LINE,       /* one "name = value" per line, a blank line between rows */
    SHOW_QUOTE,      /* SQL literals separated by , */
    SHOW_MODES
};

/* The name of a mode as .mode takes it, or NULL; show_mode_by_name returns -1 if unknown. */
const char *show_mode_name(int mode);
int show_mode_by_name(const char *name);

/* One byte of TEXT for the terminal (console_table.c): control characters as \n, \t, \xHH,
 * a backslash doubled; returns the length written to out (not terminated). */
int show_escape_byte(uint8_t c, char out[4]);

/* Line-oriented modes (console_list.c), called by the table sink for modes >= SHOW_LIST. */
void list_columns(table_sink *s, int n, const char *const *names);
void list_row(table_sink *s, int n, const con_value *v);
void list_end(table_sink *s);

/* ---- dot-commands on the current connection (console_dot.c) ---- */

/* .tables [PATTERN]: table and view names (LIKE pattern).  `terminal`: printed laid out in
 * columns like sqlite3, then done(); otherwise a result set of one column `name`. */
void dot_tables(struct sqlite3 *db, const char *pattern, con_sink *sink, int terminal);
/* .schema [PATTERN]: the CREATE statements of the matching objects, each ending in ';'
 * (`terminal` as above; the result column is `sql`). */
void dot_schema(struct sqlite3 *db, const char *pattern, con_sink *sink, int terminal);

/* ---- input while a statement runs (console_watch.c) ---- */

/* SQLite's progress handler calls console_watch every this many VM steps. */
#define CONSOLE_WATCH_OPS 10000

/* The console's next input byte: what console_watch() read ahead first, then the UART (as
 * board_uart_getc: -1 when no byte can ever come). */
int console_getc(void);

/* The progress handler; `machine_mode` points at the console's mode flag.  Non-zero stops the
 * running statement with SQLITE_INTERRUPT: Ctrl-C (interactive), a line `<id> .interrupt`
 * (machine mode). */
int console_watch(void *machine_mode);

/* Prints a duration in microseconds as seconds with 6 decimals (no floating point). */
void out_seconds(uint64_t us);

#endif
