/* console.c: the SQL console loop, its two modes, the dot-commands and the named connections.
 *
 * Interactive mode (at boot) is for a person on a terminal: a prompt naming the current
 * connection, echo, backspace, Ctrl-C to drop the current input, SQL over several lines until
 * it is a complete statement, results as aligned columns (console_table.c).
 * Machine mode (`.mode machine`) is for the host harness: no echo, no prompt, one request per
 * line of printable ASCII, replies framed as described in console_frame.c and docs/console.md.
 * In both modes CR, LF and CR LF end a line.
 *
 * Both modes run the same commands on the same connections into a con_sink; only the reading
 * of a line and the presentation of results differ.  The console is the only task that touches
 * the connection table, so it needs no lock.
 */
#include <stdlib.h>
#include <string.h>
#include "board.h"
#include "console.h"
#include "flash.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"
#include "tasks.h"

typedef struct conn {
    char name[CONSOLE_NAME_MAX + 1]; /* "" = free slot */
    sqlite3 *db;
} conn;

typedef struct console {
    fs_mount *fs;
    int machine;
    int current; /* index into conns of the connection SQL goes to (interactive), or -1 */
    conn conns[CONSOLE_MAX_CONNS];
    /* The line being read: CONSOLE_LINE_MAX bytes and a NUL.  `overflow` counts bytes dropped. */
    char line[CONSOLE_LINE_MAX + 1];
    size_t len;
    size_t overflow;
    /* Machine mode: the first byte of the line outside 0x20-0x7E and its offset, or -1.  Such
     * a line is refused whole: it is kept as read (a NUL included), never run. */
    int bad_byte;
    size_t bad_at;
    /* The last byte read was a CR: a LF right after it is the same line end (terminals send
     * CR LF).  It outlives read_line() and a mode switch: the CR of ".mode machine\r\n" ends
     * that line in interactive mode and its LF is read in machine mode. */
    int last_was_cr;
    /* Interactive SQL accumulates here until sqlite3_complete() says it is a statement. */
    char sql[CONSOLE_LINE_MAX + 1];
    size_t sqllen;
} console;

static console con;

typedef struct command {
    const char *name;
    int min_args, max_args;
    const char *usage;
    const char *help;
    void (*run)(console *c, int argc, char **argv, con_sink *sink);
} command;

static const command commands[];

/* ---- connections --------------------------------------------------------------------------- */

static conn *find_conn(console *c, const char *name)
{
    for (int i = 0; i < CONSOLE_MAX_CONNS; i++)
        if (c->conns[i].name[0] && strcmp(c->conns[i].name, name) == 0) return &c->conns[i];
    return NULL;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONSOLE_NAME_MAX) return 0;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void close_all(console *c)
{
    for (int i = 0; i < CONSOLE_MAX_CONNS; i++) {
        if (!c->conns[i].name[0]) continue;
        int rc = sqlite3_close(c->conns[i].db);
        if (rc != SQLITE_OK) fw_log("closing %s: %s", c->conns[i].name, sqlite3_errstr(rc));
        c->conns[i].name[0] = 0;
        c->conns[i].db = NULL;
    }
    c->current = -1;
}

/* ---- dot-commands ---------------------------------------------------------------------------- */

static void cmd_help(console *c, int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "command", "description" };
    (void)c; (void)argc; (void)argv;
    sink->columns(sink, 2, names);
    for (const command *k = commands; k->name; k++) {
        con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_TEXT } };
        v[0].p = (const uint8_t *)k->usage;
        v[0].n = strlen(k->usage);
        v[1].p = (const uint8_t *)k->help;
        v[1].n = strlen(k->help);
        sink->row(sink, 2, v);
    }
    sink->done(sink, 0, 0);
}

static void cmd_open(console *c, int argc, char **argv, con_sink *sink)
{
    const char *name = argc == 3 ? argv[1] : "main";
    const char *file = argv[argc - 1];
    conn *slot = NULL;
    sqlite3 *db = NULL;
    int rc;
    if (!valid_name(name)) {
        sink->error(sink, SQLITE_MISUSE, "a connection name is 1 to 15 of A-Z a-z 0-9 _ -");
        return;
    }
    if (find_conn(c, name)) {
        sink->error(sink, SQLITE_MISUSE, "a connection of that name is open (.close it first)");
        return;
    }
    if (!fs_mount_lfs(c->fs)) {
        char *m = sqlite3_mprintf("no filesystem: %s", fs_mount_why_not(c->fs));
        sink->error(sink, SQLITE_CANTOPEN, m ? m : "no filesystem");
        sqlite3_free(m);
        return;
    }
    for (int i = 0; i < CONSOLE_MAX_CONNS && !slot; i++)
        if (!c->conns[i].name[0]) slot = &c->conns[i];
    if (!slot) {
        sink->error(sink, SQLITE_MISUSE, "too many open connections (8)");
        return;
    }
    /* URI filenames allowed: file:/x.db?vfs=walkit-noshm picks the VFS without xShm methods. */
    rc = sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                         NULL);
    if (rc != SQLITE_OK) {
        int code = db ? sqlite3_extended_errcode(db) : rc;
        char *m = sqlite3_mprintf("%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        sink->error(sink, code, m ? m : "cannot open");
        sqlite3_free(m);
        return;
    }
    sqlite3_extended_result_codes(db, 1);
    strcpy(slot->name, name);
    slot->db = db;
    c->current = (int)(slot - c->conns);
    sink->done(sink, 0, 0);
}

static void cmd_use(console *c, int argc, char **argv, con_sink *sink)
{
    conn *k = find_conn(c, argv[1]);
    (void)argc;
    if (!k) { sink->error(sink, SQLITE_MISUSE, "no open connection of that name"); return; }
    c->current = (int)(k - c->conns);
    sink->done(sink, 0, 0);
}

static void cmd_close(console *c, int argc, char **argv, con_sink *sink)
{
    conn *k = argc == 2 ? find_conn(c, argv[1]) : (c->current >= 0 ? &c->conns[c->current] : NULL);
    int rc;
    if (!k) { sink->error(sink, SQLITE_MISUSE, "no open connection of that name"); return; }
    rc = sqlite3_close(k->db);
    if (rc != SQLITE_OK) {
        sink->error(sink, rc, sqlite3_errmsg(k->db));
        return;
    }
    if (c->current == (int)(k - c->conns)) c->current = -1;
    k->name[0] = 0;
    k->db = NULL;
    sink->done(sink, 0, 0);
}

static void row_text_text_int(con_sink *sink, const char *a, const char *b, int64_t n)
{
    con_value v[3] = { { .type = SQLITE_TEXT }, { .type = SQLITE_TEXT }, { .type = SQLITE_INTEGER } };
    v[0].p = (const uint8_t *)a; v[0].n = strlen(a);
    v[1].p = (const uint8_t *)b; v[1].n = strlen(b);
    v[2].i = n;
    sink->row(sink, 3, v);
}

static void cmd_ls(console *c, int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "name", "type", "size" };
    const char *path = argc == 2 ? argv[1] : "/";
    lfs_t *lfs = fs_mount_lfs(c->fs);
    struct lfs_info info;
    lfs_dir_t dir;
    int rc;
    if (!lfs) {
        char *m = sqlite3_mprintf("no filesystem: %s", fs_mount_why_not(c->fs));
        sink->error(sink, SQLITE_CANTOPEN, m ? m : "no filesystem");
        sqlite3_free(m);
        return;
    }
    rc = lfs_stat(lfs, path, &info);
    if (rc < 0) {
        char *m = sqlite3_mprintf("%s: %s", path, rc == LFS_ERR_NOENT ? "no such file or directory"
                                                                      : "cannot stat");
        sink->error(sink, rc == LFS_ERR_NOENT ? SQLITE_NOTFOUND : SQLITE_IOERR, m ? m : path);
        sqlite3_free(m);
        return;
    }
    sink->columns(sink, 3, names);
    if (info.type == LFS_TYPE_REG) {
        row_text_text_int(sink, info.name, "file", (int64_t)info.size);
        sink->done(sink, 0, 0);
        return;
    }
    rc = lfs_dir_open(lfs, &dir, path);
    if (rc < 0) { /* nothing to close: dir is only valid after a successful open */
        sink->error(sink, SQLITE_IOERR, "opening the directory failed");
        return;
    }
    while ((rc = lfs_dir_read(lfs, &dir, &info)) > 0) {
        if (strcmp(info.name, ".") == 0 || strcmp(info.name, "..") == 0) continue;
        row_text_text_int(sink, info.name, info.type == LFS_TYPE_DIR ? "dir" : "file",
                          info.type == LFS_TYPE_DIR ? 0 : (int64_t)info.size);
    }
    lfs_dir_close(lfs, &dir);
    if (rc < 0) sink->error(sink, SQLITE_IOERR, "reading the directory failed");
    else sink->done(sink, 0, 0);
}

static void stat_row(con_sink *sink, const char *name, int64_t value)
{
    con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_INTEGER } };
    v[0].p = (const uint8_t *)name;
    v[0].n = strlen(name);
    v[1].i = value;
    sink->row(sink, 2, v);
}

static void stat_row_text(con_sink *sink, const char *name, const char *value)
{
    con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_TEXT } };
    v[0].p = (const uint8_t *)name;
    v[0].n = strlen(name);
    v[1].p = (const uint8_t *)value;
    v[1].n = strlen(value);
    sink->row(sink, 2, v);
}

static void cmd_stats(console *c, int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "counter", "value" };
    sqlite3_int64 cur = 0, high = 0;
    int reset = argc == 2;
    int nconn = 0;
    flash_dev *f = c->fs->flash;
    lfs_t *lfs = fs_mount_lfs(c->fs);
    walkit_stats ws;
    if (reset && strcmp(argv[1], "reset") != 0) {
        sink->error(sink, SQLITE_MISUSE, "usage: .stats [reset]");
        return;
    }
    sink->columns(sink, 2, names);
    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &high, reset);
    stat_row(sink, "sqlite.memory_used", cur);
    stat_row(sink, "sqlite.memory_highwater", high);
    sqlite3_status64(SQLITE_STATUS_MALLOC_COUNT, &cur, &high, reset);
    stat_row(sink, "sqlite.malloc_count", cur);
    sqlite3_status64(SQLITE_STATUS_MALLOC_SIZE, &cur, &high, reset);
    stat_row(sink, "sqlite.largest_malloc", high);
    stat_row(sink, "heap.used", (int64_t)board_heap_used());
    stat_row(sink, "heap.size", (int64_t)board_heap_size());
    stat_row(sink, "stack.used_max", (int64_t)board_stack_used_max());
    stat_row(sink, "stack.size", (int64_t)board_stack_size());
    for (int i = 0; i < CONSOLE_MAX_CONNS; i++) nconn += c->conns[i].name[0] != 0;
    stat_row(sink, "console.connections", nconn);
    stat_row(sink, "uptime_us", (int64_t)board_time_us());
    if (f) {
        stat_row_text(sink, "flash.driver", f->name);
        stat_row(sink, "flash.size", f->size);
        stat_row(sink, "flash.erase_block", f->erase_block);
        stat_row(sink, "flash.read_ops", (int64_t)f->counters.read_ops);
        stat_row(sink, "flash.read_bytes", (int64_t)f->counters.read_bytes);
        stat_row(sink, "flash.prog_ops", (int64_t)f->counters.prog_ops);
        stat_row(sink, "flash.prog_bytes", (int64_t)f->counters.prog_bytes);
        stat_row(sink, "flash.erase_ops", (int64_t)f->counters.erase_ops);
        stat_row(sink, "flash.erase_bytes", (int64_t)f->counters.erase_bytes);
        stat_row(sink, "flash.refused", (int64_t)f->counters.refused);
        stat_row(sink, "flash.device_errors", (int64_t)f->counters.device_errors);
    }
    stat_row_text(sink, "fs.state", fs_state_name(c->fs->state));
    if (lfs) {
        /* Distinct blocks: lfs_fs_size() counts the prefix an open, unsynced file shares with
         * its committed version twice (more blocks used than exist). */
        long used = walkit_littlefs_blocks_used(lfs);
        stat_row(sink, "fs.block_size", c->fs->cfg.block_size);
        stat_row(sink, "fs.block_count", c->fs->cfg.block_count);
        stat_row(sink, "fs.blocks_used", used);
    }
    walkit_get_stats(&ws);
    stat_row(sink, "vfs.shm_map_calls", (int64_t)ws.shm_map_calls);
    stat_row(sink, "vfs.shm_lock_calls", (int64_t)ws.shm_lock_calls);
    stat_row(sink, "vfs.shm_lock_busy", (int64_t)ws.shm_lock_busy);
    stat_row(sink, "vfs.shm_lock_waits", (int64_t)ws.shm_lock_waits);
    stat_row(sink, "vfs.shm_nodes", ws.shm_nodes);
    stat_row(sink, "vfs.shm_regions", ws.shm_regions);
    stat_row(sink, "vfs.file_lock_busy", (int64_t)ws.file_lock_busy);
    stat_row(sink, "vfs.cksum_pages", (int64_t)ws.cksum_pages);
    stat_row(sink, "vfs.cksum_errors", (int64_t)ws.cksum_errors);
    stat_row(sink, "vfs.wal_damage", (int64_t)ws.wal_damage);
    sink->done(sink, 0, 0);
}

/* Both end the run cleanly: connections closed (SQLite checkpoints the WAL), littlefs
 * unmounted, then the board's exit.  The reply goes out first: after it the host sees the
 * target stop. */
static void shut_down(console *c, con_sink *sink, int status, const char *what)
{
    sink->done(sink, 0, 0);
    close_all(c);
    fs_mount_unmount(c->fs);
    fw_log("%s", what);
    board_exit(status);
}

static void cmd_reboot(console *c, int argc, char **argv, con_sink *sink)
{
    (void)argc; (void)argv;
    shut_down(c, sink, BOARD_EXIT_REBOOT, "rebooting (exit status 126: power me up again)");
}

static void cmd_shutdown(console *c, int argc, char **argv, con_sink *sink)
{
    (void)argc; (void)argv;
    shut_down(c, sink, 0, "shut down");
}

static void cmd_mode(console *c, int argc, char **argv, con_sink *sink)
{
    (void)argc;
    if (strcmp(argv[1], "machine") == 0) {
        if (c->machine) { /* already: an ordinary request, answered under its own id */
            sink->done(sink, 0, 0);
            return;
        }
        c->machine = 1;
        /* From interactive mode the line had no id: the acknowledgement is the first frame,
         * id 0, already in the new mode. */
        frame_sink ack;
        frame_sink_init(&ack, 0);
        ack.base.done(&ack.base, 0, 0);
    } else if (strcmp(argv[1], "interactive") == 0) {
        sink->done(sink, 0, 0);
        c->machine = 0;
    } else {
        sink->error(sink, SQLITE_MISUSE, "usage: .mode machine|interactive");
    }
}

static void cmd_ping(console *c, int argc, char **argv, con_sink *sink)
{
    (void)c; (void)argc; (void)argv;
    sink->done(sink, 0, 0);
}

static void cmd_stress(console *c, int argc, char **argv, con_sink *sink)
{
    (void)c;
    tasks_stress(argc, argv, sink);
}

static const command commands[] = {
    { ".help", 1, 1, ".help", "this list", cmd_help },
    { ".open", 2, 3, ".open [NAME] FILE", "open a connection (default name: main) and use it", cmd_open },
    { ".use", 2, 2, ".use NAME", "send SQL to connection NAME", cmd_use },
    { ".close", 1, 2, ".close [NAME]", "close a connection (default: the current one)", cmd_close },
    { ".ls", 1, 2, ".ls [PATH]", "list a directory of the flash filesystem", cmd_ls },
    { ".stats", 1, 2, ".stats [reset]", "memory, heap, flash and VFS counters", cmd_stats },
    { ".reboot", 1, 1, ".reboot", "close everything and restart on the same flash", cmd_reboot },
    { ".shutdown", 1, 1, ".shutdown", "close everything and stop", cmd_shutdown },
    { ".mode", 2, 2, ".mode machine|interactive", "switch between the console's two modes", cmd_mode },
    { ".ping", 1, 1, ".ping", "answer ok (machine mode: resynchronise)", cmd_ping },
    { ".stress", 3, 5, ".stress WRITERS TXNS [READERS [CHECKPOINT_MS]]",
      "run the stress workload, one task per core (multi-core boards)", cmd_stress },
    { NULL, 0, 0, NULL, NULL, NULL },
};

static void run_command(console *c, int argc, char **argv, con_sink *sink)
{
    for (const command *k = commands; k->name; k++) {
        if (strcmp(k->name, argv[0]) != 0) continue;
        if (argc < k->min_args || argc > k->max_args) {
            char *m = sqlite3_mprintf("usage: %s", k->usage);
            sink->error(sink, SQLITE_MISUSE, m ? m : "wrong number of arguments");
            sqlite3_free(m);
            return;
        }
        k->run(c, argc, argv, sink);
        return;
    }
    {
        char *m = sqlite3_mprintf("unknown command %.40s (try .help)", argv[0]);
        sink->error(sink, SQLITE_ERROR, m ? m : "unknown command");
        sqlite3_free(m);
    }
}

/* ---- machine mode ------------------------------------------------------------------------- */

/* One machine-mode request: console_frame.c parses and validates it (or answers its error);
 * this only dispatches it.  Static: 64 values would be 2.5 KiB of a small stack. */
static void machine_request(console *c)
{
    static frame_request req;
    frame_sink fs;
    frame_line in = { c->line, c->len, c->overflow, c->bad_byte, c->bad_at };
    if (frame_parse_request(&in, &req, &fs) != 0) return;
    if (req.is_sql) {
        conn *k = find_conn(c, req.conn);
        if (k) console_run_sql(k->db, req.sql, req.nparams, req.params, &fs.base);
        else fs.base.error(&fs.base, SQLITE_MISUSE, "no open connection of that name");
        return;
    }
    run_command(c, req.argc, req.argv, &fs.base);
}

/* ---- interactive mode ----------------------------------------------------------------------- */

#define MAX_ARGS FRAME_MAX_ARGS /* dot-command words */
static char *args_s[MAX_ARGS];

static void prompt(console *c)
{
    if (c->machine) return;
    if (c->sqllen) out_str("   ...> ");
    else {
        out_str(c->current >= 0 ? c->conns[c->current].name : "walkit");
        out_str("> ");
    }
}

static void run_interactive_sql(console *c)
{
    table_sink ts;
    table_sink_init(&ts);
    if (c->current < 0) {
        ts.base.error(&ts.base, SQLITE_MISUSE, "no connection: .open [NAME] FILE first");
    } else {
        console_run_sql(c->conns[c->current].db, c->sql, 0, NULL, &ts.base);
    }
    table_sink_free(&ts);
    c->sqllen = 0;
    c->sql[0] = 0;
}

static void interactive_line(console *c)
{
    char *s = c->line;
    table_sink ts;
    if (c->overflow) {
        out_str("Error: line too long (the limit is ");
        out_i64(CONSOLE_LINE_MAX);
        out_str(" bytes); input dropped");
        out_crlf();
        c->sqllen = 0;
        return;
    }
    while (*s == ' ') s++;
    if (c->sqllen == 0 && *s == '.') {
        int argc = 0;
        char *tok = strtok(s, " ");
        while (tok && argc < MAX_ARGS) { args_s[argc++] = tok; tok = strtok(NULL, " "); }
        if (tok) { out_str("Error: too many arguments"); out_crlf(); return; }
        table_sink_init(&ts);
        run_command(c, argc, args_s, &ts.base);
        table_sink_free(&ts);
        return;
    }
    if (c->sqllen == 0 && *s == 0) return;
    if (c->sqllen + c->len + 1 > CONSOLE_LINE_MAX) {
        out_str("Error: statement too long (the limit is ");
        out_i64(CONSOLE_LINE_MAX);
        out_str(" bytes); input dropped");
        out_crlf();
        c->sqllen = 0;
        return;
    }
    memcpy(c->sql + c->sqllen, c->line, c->len);
    c->sqllen += c->len;
    c->sql[c->sqllen++] = '\n';
    c->sql[c->sqllen] = 0;
    if (sqlite3_complete(c->sql)) run_interactive_sql(c);
}

/* ---- reading lines ------------------------------------------------------------------------- */

static void store(console *c, int ch)
{
    if (c->len < CONSOLE_LINE_MAX) {
        c->line[c->len++] = (char)ch;
        if (!c->machine) out_putc((uint8_t)ch);
    } else {
        c->overflow++;
    }
}

/* Reads one line into c->line (NUL-terminated, without its line end; in machine mode a NUL
 * read from the UART may sit inside it, and then c->bad_byte is set).  Returns 0 when the UART
 * can never deliver another byte. */
static int read_line(console *c)
{
    int esc = 0; /* interactive mode only */
    c->len = 0;
    c->overflow = 0;
    c->bad_byte = -1;
    for (;;) {
        int ch = board_uart_getc();
        if (ch < 0) return 0;
        if (esc) { /* swallow terminal escape sequences (arrow keys and the like) */
            if (esc == 1) esc = (ch == '[' || ch == 'O') ? 2 : 0;
            else if (ch >= 0x40 && ch <= 0x7E) esc = 0;
            continue;
        }
        /* In both modes CR, LF and CR LF each end one line (a CR-only terminal works too). */
        if (ch == '\n' && c->last_was_cr) { c->last_was_cr = 0; continue; }
        c->last_was_cr = ch == '\r';
        if (ch == '\r' || ch == '\n') {
            if (!c->machine) out_crlf();
            break;
        }
        if (c->machine) {
            /* A request is printable ASCII (tokens escape every other byte).  Anything else is
             * remembered and the whole line refused in machine_request(). */
            if ((ch < 0x20 || ch > 0x7E) && c->bad_byte < 0) {
                c->bad_byte = ch;
                c->bad_at = c->len + c->overflow;
            }
            store(c, ch);
            continue;
        }
        if (ch == 0x1B) { esc = 1; continue; }
        if (ch == 0x7F || ch == 0x08) { /* backspace: one UTF-8 character */
            if (c->overflow) { c->overflow--; continue; }
            if (c->len == 0) continue;
            while (c->len > 0 && ((uint8_t)c->line[c->len - 1] & 0xC0u) == 0x80u) c->len--;
            if (c->len > 0) c->len--;
            out_str("\b \b");
            continue;
        }
        if (ch == 0x03) { /* Ctrl-C: drop the line and any statement being typed */
            out_str("^C");
            out_crlf();
            c->len = 0;
            c->overflow = 0;
            c->sqllen = 0;
            prompt(c);
            continue;
        }
        if (ch == '\t') ch = ' ';
        if (ch < 0x20) continue;
        store(c, ch);
    }
    c->line[c->len] = 0;
    return 1;
}

void console_main(fs_mount *fs)
{
    con.fs = fs;
    con.current = -1;
    fw_log("ready (type .help)");
    for (;;) {
        prompt(&con);
        if (!read_line(&con)) break;
        if (con.machine) machine_request(&con);
        else interactive_line(&con);
    }
    close_all(&con);
    fs_mount_unmount(fs);
}
