/* console_edit.c: the interactive console's line editor and history.
 *
 * Keys: printable bytes insert at the cursor (UTF-8 passes through; the cursor moves by whole
 * characters); Left/Right (and Ctrl-B/Ctrl-F), Home/End (and Ctrl-A/Ctrl-E); Backspace (DEL or
 * Ctrl-H) and Delete (ESC [ 3 ~); Ctrl-K and Ctrl-U delete to the end and to the start; Up/Down
 * (and Ctrl-P/Ctrl-N) walk the history; Ctrl-C drops the line; Ctrl-D deletes the character
 * under the cursor, or on an empty line ends the session; Tab is a space; CR, LF or CR LF
 * (one line end) is Enter.
 *
 * Escape sequences are parsed whole (ECMA-48: ESC [ parameters intermediates final, ESC O
 * final, ESC <byte>) and those without a meaning here are ignored.  A control byte inside a
 * sequence (CR, LF, Ctrl-C, ...) ends the sequence and then acts as itself: a stray ESC never
 * swallows Enter or Ctrl-C.
 *
 * Display: typing at the end of the line echoes the byte and Backspace there prints "\b \b",
 * so a plain typed line reads back as typed; any other change redraws the line (CR, prompt,
 * text, erase to end of line, cursor back), which needs only a VT100-compatible terminal.
 */
#include <stdlib.h>
#include <string.h>
#include "board.h"
#include "console_shell.h"

/* History: hist[0] is the oldest of hist_n lines; hist_bytes is the sum of their lengths.
 * Invariant: hist_n <= EDIT_HISTORY_LINES and hist_bytes <= EDIT_HISTORY_BYTES. */
static char *hist[EDIT_HISTORY_LINES];
static size_t hist_len[EDIT_HISTORY_LINES];
static int hist_n;
static size_t hist_bytes;

static void hist_drop_oldest(void)
{
    free(hist[0]);
    hist_bytes -= hist_len[0];
    memmove(hist, hist + 1, (size_t)(hist_n - 1) * sizeof *hist);
    memmove(hist_len, hist_len + 1, (size_t)(hist_n - 1) * sizeof *hist_len);
    hist_n--;
}

void edit_history_add(const char *line, size_t n)
{
    char *copy;
    if (n == 0 || n > EDIT_HISTORY_BYTES) return;
    if (hist_n && hist_len[hist_n - 1] == n && memcmp(hist[hist_n - 1], line, n) == 0) return;
    while (hist_n && (hist_n == EDIT_HISTORY_LINES || hist_bytes + n > EDIT_HISTORY_BYTES))
        hist_drop_oldest();
    copy = malloc(n);
    if (!copy) return; /* history is a convenience: without memory the line is just not kept */
    memcpy(copy, line, n);
    hist[hist_n] = copy;
    hist_len[hist_n] = n;
    hist_n++;
    hist_bytes += n;
}

/* The line being edited. */
typedef struct ed {
    const char *prompt;
    char *buf;
    size_t cap, len, pos; /* pos: the cursor, a byte offset at a character boundary */
    size_t overflow;
    int hpos;             /* history entry shown, or hist_n for the line being typed */
    char *stash;          /* the line being typed while the history is shown (malloc) */
    size_t stash_len;
} ed;

static int is_cont(uint8_t b) { return (b & 0xC0u) == 0x80u; }

/* Terminal columns of buf[a..b): one per UTF-8 character. */
static size_t cols(const char *buf, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++) n += !is_cont((uint8_t)buf[i]);
    return n;
}

static void cursor_left(size_t n)
{
    if (n == 0) return;
    out_str("\x1b[");
    out_i64((int64_t)n);
    out_putc('D');
}

/* Redraws prompt and line, then puts the cursor back at e->pos. */
static void refresh(ed *e)
{
    out_putc('\r');
    out_str(e->prompt);
    out_bytes(e->buf, e->len);
    out_str("\x1b[K");
    cursor_left(cols(e->buf, e->pos, e->len));
}

static size_t prev_char(const ed *e, size_t p)
{
    if (p == 0) return 0;
    p--;
    while (p > 0 && is_cont((uint8_t)e->buf[p])) p--;
    return p;
}

static size_t next_char(const ed *e, size_t p)
{
    if (p >= e->len) return e->len;
    p++;
    while (p < e->len && is_cont((uint8_t)e->buf[p])) p++;
    return p;
}

static void insert(ed *e, int ch)
{
    if (e->len >= e->cap) { e->overflow++; return; } /* refused whole at Enter */
    memmove(e->buf + e->pos + 1, e->buf + e->pos, e->len - e->pos);
    e->buf[e->pos++] = (char)ch;
    e->len++;
    if (e->pos == e->len) out_putc((uint8_t)ch);
    else refresh(e);
}

/* Deletes buf[a..b) and redraws (or "\b \b" for one character at the end). */
static void delete_range(ed *e, size_t a, size_t b)
{
    int at_end = b == e->len && e->pos == e->len && cols(e->buf, a, b) == 1;
    if (a >= b) return;
    memmove(e->buf + a, e->buf + b, e->len - b);
    e->len -= b - a;
    if (e->pos > b) e->pos -= b - a;
    else if (e->pos > a) e->pos = a;
    if (at_end) out_str("\b \b");
    else refresh(e);
}

static void backspace(ed *e)
{
    if (e->overflow) { e->overflow--; return; }
    if (e->pos == 0) return;
    delete_range(e, prev_char(e, e->pos), e->pos);
}

static void move_to(ed *e, size_t p)
{
    size_t from = e->pos;
    if (p == from) return;
    e->pos = p;
    if (p < from) cursor_left(cols(e->buf, p, from));
    else out_bytes(e->buf + from, p - from); /* reprinting the characters moves right */
}

/* Shows history entry h (hist_n: the line being typed). */
static void show_history(ed *e, int h)
{
    const char *src;
    size_t n;
    if (h < 0 || h > hist_n || h == e->hpos) return;
    if (e->hpos == hist_n) { /* leaving the line being typed: keep it */
        free(e->stash);
        e->stash = malloc(e->len ? e->len : 1);
        e->stash_len = e->stash ? e->len : 0;
        if (e->stash) memcpy(e->stash, e->buf, e->len);
    }
    e->hpos = h;
    src = h == hist_n ? e->stash : hist[h];
    n = h == hist_n ? e->stash_len : hist_len[h];
    if (n > e->cap) n = e->cap;
    if (n) memcpy(e->buf, src, n);
    e->len = e->pos = n;
    e->overflow = 0;
    refresh(e);
}

/* A complete escape sequence: final byte `fin`, first numeric parameter `p0` (CSI), `csi`
 * says ESC [ (else ESC O or ESC <byte>). */
static void escape_key(ed *e, int csi, int fin, int p0)
{
    if (csi && fin == '~') {
        if (p0 == 1 || p0 == 7) move_to(e, 0);
        else if (p0 == 4 || p0 == 8) move_to(e, e->len);
        else if (p0 == 3 && e->pos < e->len) delete_range(e, e->pos, next_char(e, e->pos));
        return;
    }
    switch (fin) {
    case 'A': show_history(e, e->hpos - 1); break;
    case 'B': show_history(e, e->hpos + 1); break;
    case 'C': move_to(e, next_char(e, e->pos)); break;
    case 'D': move_to(e, prev_char(e, e->pos)); break;
    case 'H': move_to(e, 0); break;
    case 'F': move_to(e, e->len); break;
    default: break; /* a key without a meaning here */
    }
}

int edit_read(const char *prompt, char *buf, size_t cap, size_t *len, size_t *overflow,
              int *last_was_cr)
{
    ed e = { .prompt = prompt, .buf = buf, .cap = cap, .hpos = hist_n };
    /* Escape parser: 0 none, 1 after ESC, 2 in ESC [ ... (CSI), 3 after ESC O. */
    int esc = 0, p0 = 0, p0_done = 0;
    int result;
    out_str(prompt);
    for (;;) {
        int ch = console_getc();
        if (ch < 0) { result = EDIT_GONE; break; }
        if (esc && (ch < 0x20 || ch == 0x7F) && ch != 0x1B) esc = 0; /* acts as itself */
        if (esc == 1) {
            if (ch == '[') { esc = 2; p0 = 0; p0_done = 0; continue; }
            if (ch == 'O') { esc = 3; continue; }
            if (ch != 0x1B) { esc = 0; continue; } /* Alt-<key>: ignored */
        } else if (esc == 2) {
            if (ch >= '0' && ch <= '9' && !p0_done) { if (p0 < 10000) p0 = p0 * 10 + (ch - '0'); continue; }
            if (ch >= 0x20 && ch <= 0x3F) { p0_done = 1; continue; } /* ; < = > ? and intermediates */
            esc = 0;
            if (ch >= 0x40 && ch <= 0x7E) escape_key(&e, 1, ch, p0);
            /* a byte above 0x7E ends a malformed sequence and is dropped with it */
            continue;
        } else if (esc == 3) {
            esc = 0;
            if (ch >= 0x40 && ch <= 0x7E) escape_key(&e, 0, ch, 0);
            continue;
        }
        if (ch == '\n' && *last_was_cr) { *last_was_cr = 0; continue; }
        *last_was_cr = ch == '\r';
        if (ch == '\r' || ch == '\n') {
            move_to(&e, e.len);
            out_crlf();
            result = EDIT_LINE;
            break;
        }
        switch (ch) {
        case 0x1B: esc = 1; continue;
        case 0x03: /* Ctrl-C */
            move_to(&e, e.len);
            out_str("^C");
            out_crlf();
            result = EDIT_CANCEL;
            goto out;
        case 0x04: /* Ctrl-D */
            if (e.len == 0 && e.overflow == 0) { out_crlf(); result = EDIT_EOF; goto out; }
            if (e.pos < e.len) delete_range(&e, e.pos, next_char(&e, e.pos));
            continue;
        case 0x7F: case 0x08: backspace(&e); continue;
        case 0x01: move_to(&e, 0); continue;            /* Ctrl-A */
        case 0x05: move_to(&e, e.len); continue;        /* Ctrl-E */
        case 0x02: move_to(&e, prev_char(&e, e.pos)); continue; /* Ctrl-B */
        case 0x06: move_to(&e, next_char(&e, e.pos)); continue; /* Ctrl-F */
        case 0x0B: if (e.pos < e.len) delete_range(&e, e.pos, e.len); continue; /* Ctrl-K */
        case 0x15: if (e.pos) delete_range(&e, 0, e.pos); continue;             /* Ctrl-U */
        case 0x10: show_history(&e, e.hpos - 1); continue; /* Ctrl-P */
        case 0x0E: show_history(&e, e.hpos + 1); continue; /* Ctrl-N */
        case '\t': ch = ' '; break;
        default: break;
        }
        if (ch < 0x20) continue;
        insert(&e, ch);
    }
out:
    free(e.stash);
    buf[e.len] = 0;
    *len = e.len;
    *overflow = e.overflow;
    return result;
}
