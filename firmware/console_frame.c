/* console_frame.c: machine mode, the framed side of the console: its whole grammar, requests
 * (frame_parse_request: parsed and validated here, dispatched by console.c) and replies.
 *
 * Every reply line starts with '@' and the request id, and carries values as tokens that never
 * contain a space, a control character or a byte above 0x7E:
 *     N            NULL
 *     I<decimal>   64-bit integer
 *     F<16 hex>    IEEE-754 double, its 64 bits in hex (exact, and no printf floats needed)
 *     T<text>      bytes 0x21..0x7E except '%' as themselves, every other byte as %XX
 *     B<hex>       blob, two lower-case hex digits per byte
 * so any byte of a TEXT or BLOB value survives the trip, and a line break always ends a frame.
 * Requests carry values as the same tokens, so a request line is bytes 0x20-0x7E only: a line
 * holding any other byte is refused before it is decoded (console.c notes the first such byte
 * as it reads the line).
 * Lines that do not start with '@' are log lines (see log.h), never part of a reply.
 *
 *     @<id> C <ncols> T<name>...      a result set begins
 *     @<id> R <value>...              one row
 *     @<id> K I<changes> I<rowid>     the request succeeded (last one for this id)
 *     @<id> E <code> T<message>       the request failed: SQLite's extended result code
 */
#include <string.h>
#include "board.h"
#include "console.h"
#include "sqlite3.h"

static const char hexdig[] = "0123456789abcdef";

void out_putc(uint8_t c) { board_uart_putc(c); }

void out_str(const char *s)
{
    while (*s) board_uart_putc((uint8_t)*s++);
}

void out_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) board_uart_putc(b[i]);
}

/* Decimal without printf: newlib-nano's printf has no 64-bit conversions. */
void out_i64(int64_t v)
{
    char b[21];
    int i = 20;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    b[i] = 0;
    do { b[--i] = (char)('0' + u % 10u); u /= 10u; } while (u);
    if (v < 0) b[--i] = '-';
    out_str(b + i);
}

void out_crlf(void)
{
    board_uart_putc('\r');
    board_uart_putc('\n');
}

static void out_text_token(const uint8_t *p, size_t n)
{
    out_putc('T');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c > 0x20 && c < 0x7F && c != '%') {
            out_putc(c);
        } else {
            out_putc('%');
            out_putc((uint8_t)"0123456789ABCDEF"[c >> 4]);
            out_putc((uint8_t)"0123456789ABCDEF"[c & 15u]);
        }
    }
}

static void out_value(const con_value *v)
{
    switch (v->type) {
    case SQLITE_INTEGER:
        out_putc('I');
        out_i64(v->i);
        break;
    case SQLITE_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->d, sizeof bits);
        out_putc('F');
        for (int s = 60; s >= 0; s -= 4) out_putc((uint8_t)hexdig[(bits >> s) & 15u]);
        break;
    }
    case SQLITE_TEXT:
        out_text_token(v->p, v->n);
        break;
    case SQLITE_BLOB:
        out_putc('B');
        for (size_t i = 0; i < v->n; i++) {
            out_putc((uint8_t)hexdig[v->p[i] >> 4]);
            out_putc((uint8_t)hexdig[v->p[i] & 15u]);
        }
        break;
    default:
        out_putc('N');
        break;
    }
}

static void frame_head(frame_sink *s, char kind)
{
    out_putc('@');
    out_i64(s->id);
    out_putc(' ');
    out_putc((uint8_t)kind);
}

static void f_columns(con_sink *base, int n, const char *const *names)
{
    frame_sink *s = (frame_sink *)base;
    frame_head(s, 'C');
    out_putc(' ');
    out_i64(n);
    for (int i = 0; i < n; i++) {
        out_putc(' ');
        out_text_token((const uint8_t *)names[i], strlen(names[i]));
    }
    out_crlf();
}

static void f_row(con_sink *base, int n, const con_value *v)
{
    frame_sink *s = (frame_sink *)base;
    frame_head(s, 'R');
    for (int i = 0; i < n; i++) {
        out_putc(' ');
        out_value(&v[i]);
    }
    out_crlf();
}

static void f_done(con_sink *base, int64_t changes, int64_t rowid)
{
    frame_sink *s = (frame_sink *)base;
    frame_head(s, 'K');
    out_str(" I");
    out_i64(changes);
    out_str(" I");
    out_i64(rowid);
    out_crlf();
}

static void f_error(con_sink *base, int code, const char *msg)
{
    frame_sink *s = (frame_sink *)base;
    frame_head(s, 'E');
    out_putc(' ');
    out_i64(code);
    out_putc(' ');
    out_text_token((const uint8_t *)msg, strlen(msg));
    out_crlf();
}

void frame_sink_init(frame_sink *s, uint32_t id)
{
    s->base.columns = f_columns;
    s->base.row = f_row;
    s->base.done = f_done;
    s->base.error = f_error;
    s->id = id;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int frame_decode_value(char **tok, con_value *out, const char **err)
{
    char *t = *tok, *end = t, *w;
    size_t len;
    while (*end && *end != ' ') end++;
    len = (size_t)(end - t);
    *tok = *end ? end + 1 : end;
    memset(out, 0, sizeof *out);
    if (len == 0) { *err = "empty value token (two spaces in a row?)"; return -1; }
    switch (t[0]) {
    case 'N':
        if (len != 1) break;
        out->type = SQLITE_NULL;
        return 0;
    case 'I': {
        uint64_t u = 0;
        size_t i = 1;
        int neg = 0;
        if (i < len && t[i] == '-') { neg = 1; i++; }
        if (i == len) { *err = "bad integer token (I, an optional -, then digits)"; return -1; }
        for (; i < len; i++) {
            if (t[i] < '0' || t[i] > '9') { *err = "bad integer token"; return -1; }
            if (u > (UINT64_MAX - (uint64_t)(t[i] - '0')) / 10u) { *err = "integer out of range"; return -1; }
            u = u * 10u + (uint64_t)(t[i] - '0');
        }
        if (u > (uint64_t)INT64_MAX + (uint64_t)neg) { *err = "integer out of range"; return -1; }
        out->type = SQLITE_INTEGER;
        out->i = neg ? (int64_t)((uint64_t)0 - u) : (int64_t)u;
        return 0;
    }
    case 'F': {
        uint64_t bits = 0;
        if (len != 17) { *err = "a float token is F and 16 hex digits"; return -1; }
        for (size_t i = 1; i < len; i++) {
            int h = hexval(t[i]);
            if (h < 0) { *err = "bad float token"; return -1; }
            bits = bits << 4 | (uint64_t)h;
        }
        out->type = SQLITE_FLOAT;
        memcpy(&out->d, &bits, sizeof bits);
        return 0;
    }
    case 'T':
        w = t;
        for (size_t i = 1; i < len; i++) {
            unsigned char c = (unsigned char)t[i];
            if (c == '%') {
                int hi = i + 2 < len ? hexval(t[i + 1]) : -1;
                int lo = i + 2 < len ? hexval(t[i + 2]) : -1;
                if (hi < 0 || lo < 0) { *err = "bad or truncated %XX escape in a text token"; return -1; }
                *w++ = (char)(hi << 4 | lo);
                i += 2;
            } else if (c <= 0x20 || c >= 0x7F) {
                *err = "raw control or non-ASCII byte in a text token (escape it as %XX)";
                return -1;
            } else {
                *w++ = (char)c;
            }
        }
        out->type = SQLITE_TEXT;
        out->p = (const uint8_t *)t;
        out->n = (size_t)(w - t);
        return 0;
    case 'B':
        if ((len - 1) % 2u) { *err = "a blob token needs an even number of hex digits"; return -1; }
        w = t;
        for (size_t i = 1; i < len; i += 2) {
            int hi = hexval(t[i]), lo = hexval(t[i + 1]);
            if (hi < 0 || lo < 0) { *err = "bad hex digit in a blob token"; return -1; }
            *w++ = (char)(hi << 4 | lo);
        }
        out->type = SQLITE_BLOB;
        out->p = (const uint8_t *)t;
        out->n = (size_t)(w - t);
        return 0;
    default:
        break;
    }
    *err = "unknown value token (expected N, I, F, T or B)";
    return -1;
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Parses "<id> " at the start of a line; returns the id or 0 when there is none. */
static uint32_t parse_id(const char **p)
{
    uint64_t id = 0;
    const char *s = *p;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 10) { id = id * 10u + (uint64_t)(*s - '0'); s++; digits++; }
    if (digits == 0 || *s != ' ' || id == 0 || id > UINT32_MAX) return 0;
    *p = s + 1;
    return (uint32_t)id;
}

#define MALFORMED(what) "malformed request: " what

/* Answers the request with an SQLITE_ERROR reply; returns -1 for frame_parse_request. */
static int malformed(frame_sink *sink, const char *msg)
{
    sink->base.error(&sink->base, SQLITE_ERROR, msg);
    return -1;
}

int frame_parse_request(const frame_line *in, frame_request *req, frame_sink *sink)
{
    const char *p = in->line;
    const char *err = NULL;
    uint32_t id = parse_id(&p);
    char *verb, *rest;
    con_value *v = req->values;
    int n = 0;
    frame_sink_init(sink, id);
    if (in->overflow) {
        char *m = sqlite3_mprintf("line too long (%lld bytes; the limit is %d)",
                                  (long long)(in->len + in->overflow), CONSOLE_LINE_MAX);
        sink->base.error(&sink->base, SQLITE_TOOBIG, m ? m : "line too long");
        sqlite3_free(m);
        return -1;
    }
    if (in->bad_byte >= 0) {
        char *m = sqlite3_mprintf("malformed request: raw control or non-ASCII byte 0x%02X at "
                                  "offset %lld (a request is bytes 0x20-0x7E; in a T token "
                                  "escape others as %%XX)",
                                  in->bad_byte, (long long)in->bad_at);
        sink->base.error(&sink->base, SQLITE_ERROR, m ? m : "malformed request: raw control byte");
        sqlite3_free(m);
        return -1;
    }
    /* From here on the line is bytes 0x20-0x7E only: a C string of exactly in->len bytes, so no
     * NUL can cut a request short and leave its prefix to run. */
    if (id == 0)
        return malformed(sink, MALFORMED("expected \"<id> <verb> ...\" with an id from 1 to "
                                         "4294967295"));
    verb = (char *)p;
    rest = strchr(verb, ' ');
    if (rest) *rest++ = 0;
    else rest = verb + strlen(verb);
    while (*rest) {
        if (n == FRAME_MAX_ARGS) { err = "too many values in one request (64)"; break; }
        if (frame_decode_value(&rest, &v[n], &err) != 0) break;
        n++;
    }
    if (err) {
        char *m = sqlite3_mprintf(MALFORMED("%s"), err);
        malformed(sink, m ? m : err);
        sqlite3_free(m);
        return -1;
    }
    if (strcmp(verb, "sql") == 0) {
        if (n < 2 || v[0].type != SQLITE_TEXT || v[1].type != SQLITE_TEXT ||
            v[0].n > CONSOLE_NAME_MAX)
            return malformed(sink, MALFORMED("sql T<connection> T<sql> [values]"));
        /* Both are used as C strings (strcmp, sqlite3_prepare_v2 up to the NUL): a decoded
         * NUL would make "main%00x" find "main", or run only the SQL before it. */
        if (memchr(v[0].p, 0, v[0].n))
            return malformed(sink, MALFORMED("NUL byte in the connection name"));
        if (memchr(v[1].p, 0, v[1].n)) return malformed(sink, MALFORMED("NUL byte in the SQL text"));
        /* The decoded SQL lies inside the line buffer, before its token's old end: terminate it
         * in place (the byte after it belonged to the encoding, or is the separator). */
        ((char *)v[1].p)[v[1].n] = 0;
        memcpy(req->conn, v[0].p, v[0].n);
        req->conn[v[0].n] = 0;
        req->is_sql = 1;
        req->sql = (const char *)v[1].p;
        req->nparams = n - 2;
        req->params = v + 2;
        return 0;
    }
    if (verb[0] != '.') return malformed(sink, MALFORMED("the verb is sql or a .command"));
    req->strings[0] = verb;
    for (int i = 0; i < n; i++) {
        if (v[i].type != SQLITE_TEXT || memchr(v[i].p, 0, v[i].n) || i + 1 >= FRAME_MAX_ARGS)
            return malformed(sink, MALFORMED("command arguments are T tokens without NUL"));
        req->strings[i + 1] = (char *)v[i].p;
        req->strings[i + 1][v[i].n] = 0;
    }
    req->is_sql = 0;
    req->argc = n + 1;
    req->argv = req->strings;
    return 0;
}
