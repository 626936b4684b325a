/* console.h: the SQL console on the UART (internal interfaces between the console files).
 *
 *   console.c        the loop: reads lines (with editing in interactive mode), dispatches
 *                    dot-commands and SQL, owns the named connections
 *   console_sql.c    runs SQL with bound parameters on one connection, into a sink
 *   console_frame.c  machine mode, its whole grammar: request parsing and validation, the
 *                    value codec, the framed reply sink
 *   console_table.c  interactive mode: results as aligned columns
 *
 * Every result, from SQL or from a dot-command (.stats, .ls, .help), is a table followed by a
 * status, delivered to a sink: so each command is written once and both modes present it.
 * docs/console.md is the user-facing description, including the machine-mode grammar.
 */
#ifndef WALKIT_CONSOLE_H
#define WALKIT_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include "fs_mount.h"

/* Longest input line in bytes (in machine mode: encoded, so a BLOB parameter may be about half
 * of it).  Longer lines are answered with an error and discarded up to their line end. */
#define CONSOLE_LINE_MAX 65536
#define CONSOLE_MAX_CONNS 8
#define CONSOLE_NAME_MAX 15 /* connection names: [A-Za-z0-9_-], 1..15 characters */

/* One value of a row or a parameter.  `type` is SQLite's (SQLITE_INTEGER, SQLITE_FLOAT,
 * SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL); text and blob point at `n` bytes owned by the
 * producer and valid only during the sink call (text is not NUL-terminated for the sink). */
typedef struct con_value {
    int type;
    int64_t i;
    double d;
    const uint8_t *p;
    size_t n;
} con_value;

typedef struct con_sink con_sink;
struct con_sink {
    /* A result set begins (also for statements that return no rows but have columns). */
    void (*columns)(con_sink *s, int n, const char *const *names);
    void (*row)(con_sink *s, int n, const con_value *v);
    /* Exactly one of done/error ends every request. */
    void (*done)(con_sink *s, int64_t changes, int64_t last_rowid);
    void (*error)(con_sink *s, int code, const char *msg);
};

/* Machine mode: the sink for request `id`; replies go straight to the UART. */
typedef struct frame_sink {
    con_sink base;
    uint32_t id;
} frame_sink;
void frame_sink_init(frame_sink *s, uint32_t id);

/* Decodes one value token in place (see docs/console.md): *tok is advanced past the token and
 * its separator.  Text and blob bytes are decoded into the token's own storage.  Returns 0, or
 * -1 with a message in *err. */
int frame_decode_value(char **tok, con_value *out, const char **err);

#define FRAME_MAX_ARGS 64 /* values in one request: dot-command arguments, or SQL parameters + 2 */

/* One machine-mode request line as console.c read it: `line` holds `len` bytes and a NUL, the
 * first of them read from the UART.  `overflow` bytes past CONSOLE_LINE_MAX were dropped;
 * bad_byte is the first byte outside 0x20-0x7E (at offset bad_at), or -1. */
typedef struct frame_line {
    char *line;
    size_t len, overflow;
    int bad_byte;
    size_t bad_at;
} frame_line;

/* A valid request, decoded in place in its line (which must outlive it).
 *   sql:     conn (NUL-terminated, at most CONSOLE_NAME_MAX characters), sql (NUL-terminated,
 *            no NUL inside), and nparams values to bind;
 *   command: argc strings (argv[0] the verb, e.g. ".open"), each NUL-terminated, no NUL inside.
 * Which connection or command exists is not the grammar's business: console.c checks that. */
typedef struct frame_request {
    int is_sql;
    char conn[CONSOLE_NAME_MAX + 1];
    const char *sql;
    int nparams;
    const con_value *params;
    int argc;
    char **argv;
    con_value values[FRAME_MAX_ARGS]; /* storage behind params */
    char *strings[FRAME_MAX_ARGS];    /* storage behind argv */
} frame_request;

/* Parses and validates one request (the grammar in docs/console.md) and initialises *sink for
 * its id (0 when the line has none).  Returns 0 with *req filled, or -1 after answering the
 * request with its error through *sink. */
int frame_parse_request(const frame_line *in, frame_request *req, frame_sink *sink);

/* Interactive mode: buffers up to a bounded number of rows to size the columns, then prints. */
typedef struct table_sink {
    con_sink base;
    int ncols;
    int *width;          /* per column, in characters */
    char **cells;        /* buffered rendered cells, row-major */
    int nrows;           /* buffered rows */
    int flushed;         /* header printed; later rows print as they come */
    int64_t total_rows;
    int quiet_done;      /* 1: print nothing on success without rows (dot-commands) */
    int mode;            /* SHOW_* of console_shell.h (.mode) */
    int headers;         /* .headers on|off (box, table and markdown always show them) */
    int errors;          /* error() calls so far: the console counts failed requests */
    char **names;        /* line-oriented modes: the column names of the current set */
    int name_width;      /* line mode: the widest name, in characters */
} table_sink;
/* A sink in column mode with headers; the console then sets mode and headers. */
void table_sink_init(table_sink *s);
void table_sink_free(table_sink *s);

/* Runs `sql` (one or more statements) on db.  The parameters bind the last statement, whose
 * parameter count must match.  Every statement's result set goes to the sink; the request ends
 * with one done() or error(). */
struct sqlite3;
void console_run_sql(struct sqlite3 *db, const char *sql, int nparams, const con_value *params,
                     con_sink *sink);

/* One (name, value) row of a two-column counter table (.stats, .fault status, .stress): the
 * name as TEXT, the value as INTEGER or TEXT (console.c). */
void stat_row(con_sink *sink, const char *name, int64_t value);
void stat_row_text(con_sink *sink, const char *name, const char *value);

/* Output helpers (console_frame.c): bytes to the UART. */
void out_putc(uint8_t c);
void out_str(const char *s);
void out_bytes(const void *p, size_t n);
void out_i64(int64_t v);
void out_crlf(void);

/* The console loop.  Returns only when the console can never receive another byte (host-sim:
 * the other end closed), after closing every connection; the caller then exits. */
void console_main(fs_mount *fs);

#endif
