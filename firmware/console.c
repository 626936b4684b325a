/* console.c: the SQL console loop, its two modes, the dot-commands and the named connections.
 *
 * Interactive mode (at boot) is for a person on a terminal and follows the sqlite3 shell: a
 * prompt naming the current connection, a line editor with history (console_edit.c), SQL over
 * several lines until it is a complete statement, results in the .mode chosen (aligned:
 * console_table.c; line-oriented: console_list.c), .tables/.schema (console_dot.c), .read,
 * .timer, and .quit/.exit/Ctrl-D ending the session with a clean shutdown whose exit status
 * says whether any command failed (the board cannot tell a terminal from a script, so a
 * script's errors show in the status as in sqlite3 reading a pipe).
 * Machine mode (`.mode machine`) is for the host harness: no echo, no prompt, one request per
 * line of printable ASCII, replies framed as described in console_frame.c and docs/console.md.
 * In both modes CR, LF and CR LF end a line.
 *
 * Both modes run the same commands on the same connections into a con_sink; only the reading
 * of a line and the presentation of results differ.  The console is the only task that touches
 * the connection table, so it needs no lock.  A connection bound to another core (.core) has
 * its SQL run there while the console waits (tasks.h): the hand-over orders every access.
 */
#include <stdlib.h>
#include <string.h>
#include "board.h"
#include "console.h"
#include "console_shell.h"
#include "fault.h"
#include "flash.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"
#include "workload.h"
#include "tasks.h"

typedef struct conn {
    char name[CONSOLE_NAME_MAX + 1]; /* "" = free slot */
    sqlite3 *db;
    int core; /* the core its SQL requests run on (.core; tasks.h): 0, the console's, or a worker */
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
    /* Interactive presentation: .mode (SHOW_*), .headers, .timer. */
    int show_mode;
    int headers;
    int timer;
    /* Interactive requests that ended in an error since boot: the exit status of .quit,
     * .exit without a code and Ctrl-D is 1 when this is not 0. */
    int64_t errors;
    int read_depth; /* nested .read files being run */
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

/* An interactive sink with the console's display settings. */
static void shell_sink_init(console *c, table_sink *ts)
{
    table_sink_init(ts);
    ts->mode = c->show_mode;
    ts->headers = c->headers;
}

/* Frees it and counts its errors. */
static void shell_sink_free(console *c, table_sink *ts)
{
    c->errors += ts->errors;
    table_sink_free(ts);
}

static void shell_error(console *c, const char *msg)
{
    out_str("Error: ");
    out_str(msg);
    out_crlf();
    c->errors++;
}

/* ---- connections --------------------------------------------------------------------------- */

static conn *find_conn(console *c, const char *name)
{
    for (int i = 0; i < CONSOLE_MAX_CONNS; i++)
        if (c->conns[i].name[0] && strcmp(c->conns[i].name, name) == 0) return &c->conns[i];
    return NULL;
}

/* One request's SQL on connection k, on k's core (tasks.h): the console waits, and the reply
 * goes out through the sink from that core. */
typedef struct sql_job {
    sqlite3 *db;
    const char *sql;
    int nparams;
    const con_value *params;
    con_sink *sink;
} sql_job;

static void sql_job_run(void *arg)
{
    sql_job *j = arg;
    console_run_sql(j->db, j->sql, j->nparams, j->params, j->sink);
}

static void run_sql(conn *k, const char *sql, int nparams, const con_value *params, con_sink *sink)
{
    sql_job j = { k->db, sql, nparams, params, sink };
    if (tasks_run_on(k->core, sql_job_run, &j) != 0) {
        char m[128]; /* not allocated: that core's task may hold the allocator's lock */
        sqlite3_snprintf(sizeof m, m, "core %d is still running a task (a stress run the "
                         "watchdog stopped): reboot, or .core %s 0", k->core, k->name);
        sink->error(sink, SQLITE_BUSY, m);
    }
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
    sqlite3_progress_handler(db, CONSOLE_WATCH_OPS, console_watch, &c->machine);
    strcpy(slot->name, name);
    slot->db = db;
    slot->core = 0;
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

/* .core NAME K: connection NAME's SQL requests run on core K from now on (0: the console's). */
static void cmd_core(console *c, int argc, char **argv, con_sink *sink)
{
    conn *k = find_conn(c, argv[1]);
    char *end;
    long core = strtol(argv[2], &end, 10);
    int n = tasks_cores();
    (void)argc;
    if (!k) { sink->error(sink, SQLITE_MISUSE, "no open connection of that name"); return; }
    if (!*argv[2] || *end || core < 0 || core >= n) {
        char *m = sqlite3_mprintf("usage: .core NAME K (K a core, 0 to %d on this board)", n - 1);
        sink->error(sink, SQLITE_MISUSE, m ? m : "usage: .core NAME K");
        sqlite3_free(m);
        return;
    }
    k->core = (int)core;
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

/* How long a console command waits for the littlefs backend's lock (held by a task: a
 * statement on another core, or a stress task that never returned) before it answers BUSY. */
#define FS_LOCK_WAIT_MS 2000

/* .ls's listing, with the littlefs backend's lock held: littlefs is not re-entrant, and a
 * task on another core may be running SQL on it. */
static void ls_locked(lfs_t *lfs, const char *path, con_sink *sink)
{
    static const char *const names[] = { "name", "type", "size" };
    struct lfs_info info;
    lfs_dir_t dir;
    int rc = lfs_stat(lfs, path, &info);
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

static void cmd_ls(console *c, int argc, char **argv, con_sink *sink)
{
    lfs_t *lfs = fs_mount_lfs(c->fs);
    if (!lfs) {
        char *m = sqlite3_mprintf("no filesystem: %s", fs_mount_why_not(c->fs));
        sink->error(sink, SQLITE_CANTOPEN, m ? m : "no filesystem");
        sqlite3_free(m);
        return;
    }
    if (walkit_littlefs_lock(lfs, FS_LOCK_WAIT_MS) != 0) {
        sink->error(sink, SQLITE_BUSY, "the filesystem stayed locked by a task for 2 s");
        return;
    }
    ls_locked(lfs, argc == 2 ? argv[1] : "/", sink);
    walkit_littlefs_unlock(lfs);
}

void stat_row(con_sink *sink, const char *name, int64_t value)
{
    con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_INTEGER } };
    v[0].p = (const uint8_t *)name;
    v[0].n = strlen(name);
    v[1].i = value;
    sink->row(sink, 2, v);
}

void stat_row_text(con_sink *sink, const char *name, const char *value)
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
        /* -1 when a task held the backend's lock for FS_LOCK_WAIT_MS (a stress task that
         * never returned): .stats answers rather than wait for it.  A task that takes the lock
         * after the probe is making progress and releases it. */
        long used = -1;
        if (walkit_littlefs_lock(lfs, FS_LOCK_WAIT_MS) == 0) {
            walkit_littlefs_unlock(lfs);
            used = walkit_littlefs_blocks_used(lfs);
        }
        stat_row(sink, "fs.block_size", c->fs->cfg.block_size);
        stat_row(sink, "fs.block_count", c->fs->cfg.block_count);
        stat_row(sink, "fs.blocks_used", used);
    }
    stat_row_text(sink, "pool.state", pool_state_name(c->fs->pool.state));
    if (c->fs->pool.storage) {
        walkit_flashpool_info pi;
        walkit_flashpool_info_get(c->fs->pool.storage, &pi);
        stat_row(sink, "pool.data_blocks", pi.data_blocks);
        stat_row(sink, "pool.free_blocks", pi.free_blocks);
        stat_row(sink, "pool.erase_min", pi.erase_min);
        stat_row(sink, "pool.erase_max", pi.erase_max);
        stat_row(sink, "pool.erase_total", (int64_t)pi.erase_total);
        stat_row(sink, "pool.gc_bytes", (int64_t)pi.gc_bytes);
        stat_row(sink, "pool.compactions", (int64_t)pi.compactions);
        stat_row(sink, "pool.files", pi.files);
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

/* The end of an interactive session (.quit, .exit, `exit`, Ctrl-D): a clean shutdown, status
 * 1 when a request failed since boot (sqlite3's status for a script with errors), else 0. */
static void end_session(console *c, con_sink *sink, int status)
{
    if (status < 0) status = c->errors ? 1 : 0;
    shut_down(c, sink, status, status ? "session ended (exit status 1: a command failed)"
                                      : "session ended");
}

static void cmd_quit(console *c, int argc, char **argv, con_sink *sink)
{
    int status = -1;
    if (argc == 2) { /* .exit CODE, as in sqlite3 */
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || end == argv[1] || v < 0 || v > 125) {
            sink->error(sink, SQLITE_MISUSE, "usage: .exit [CODE] (CODE 0 to 125)");
            return;
        }
        status = (int)v;
    }
    end_session(c, sink, status);
}

static int on_off(const char *s)
{
    if (strcmp(s, "on") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0) return 1;
    if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0) return 0;
    return -1;
}

static void cmd_headers(console *c, int argc, char **argv, con_sink *sink)
{
    int v = on_off(argv[1]);
    (void)argc;
    if (v < 0) { sink->error(sink, SQLITE_MISUSE, "usage: .headers on|off"); return; }
    c->headers = v;
    sink->done(sink, 0, 0);
}

static void cmd_timer(console *c, int argc, char **argv, con_sink *sink)
{
    int v = on_off(argv[1]);
    (void)argc;
    if (v < 0) { sink->error(sink, SQLITE_MISUSE, "usage: .timer on|off"); return; }
    c->timer = v;
    sink->done(sink, 0, 0);
}

static sqlite3 *current_db(console *c, con_sink *sink)
{
    if (c->current >= 0) return c->conns[c->current].db;
    sink->error(sink, SQLITE_MISUSE, "no connection: .open [NAME] FILE first");
    return NULL;
}

static void cmd_tables(console *c, int argc, char **argv, con_sink *sink)
{
    sqlite3 *db = current_db(c, sink);
    if (db) dot_tables(db, argc == 2 ? argv[1] : NULL, sink, !c->machine);
}

static void cmd_schema(console *c, int argc, char **argv, con_sink *sink)
{
    sqlite3 *db = current_db(c, sink);
    if (db) dot_schema(db, argc == 2 ? argv[1] : NULL, sink, !c->machine);
}

static void interactive_line(console *c);

#define READ_DEPTH_MAX 8

/* .read FILE: the file's lines run as if typed (not echoed, not kept in the history).  The
 * console's line buffer is reused: the command's own arguments are not needed after the
 * path is copied.  Errors in the file count as the session's; the command itself fails when
 * the file cannot be read or a statement is left incomplete at its end. */
static void cmd_read(console *c, int argc, char **argv, con_sink *sink)
{
    lfs_t *lfs = fs_mount_lfs(c->fs);
    lfs_file_t f;
    char path[256];
    uint8_t chunk[128];
    lfs_ssize_t got;
    int rc, eof = 0;
    (void)argc;
    if (c->machine) { sink->error(sink, SQLITE_MISUSE, ".read is for interactive mode"); return; }
    if (!lfs) { sink->error(sink, SQLITE_CANTOPEN, "no filesystem"); return; }
    if (strlen(argv[1]) >= sizeof path) { sink->error(sink, SQLITE_CANTOPEN, "path too long"); return; }
    if (c->read_depth >= READ_DEPTH_MAX) {
        sink->error(sink, SQLITE_MISUSE, ".read nested too deeply (8 files)");
        return;
    }
    strcpy(path, argv[1]);
    rc = lfs_file_open(lfs, &f, path, LFS_O_RDONLY);
    if (rc < 0) {
        char *m = sqlite3_mprintf("cannot open \"%s\": %s", path,
                                  rc == LFS_ERR_NOENT ? "no such file" : "lfs error");
        sink->error(sink, SQLITE_CANTOPEN, m ? m : "cannot open");
        sqlite3_free(m);
        return;
    }
    c->read_depth++;
    c->len = 0;
    c->overflow = 0;
    while (!eof) {
        got = lfs_file_read(lfs, &f, chunk, sizeof chunk);
        if (got < 0) { shell_error(c, "reading the file failed"); break; }
        if (got == 0) eof = 1;
        for (lfs_ssize_t i = 0; i < got || (eof && (c->len || c->overflow)); i++) {
            int ch = i < got ? chunk[i] : '\n'; /* a last line without its line end */
            if (ch == '\r') continue;
            if (ch != '\n') {
                if (c->len < CONSOLE_LINE_MAX) c->line[c->len++] = (char)(ch == '\t' ? ' ' : ch);
                else c->overflow++;
                continue;
            }
            c->line[c->len] = 0;
            interactive_line(c);
            c->len = 0;
            c->overflow = 0;
            if (i >= got) break;
        }
    }
    lfs_file_close(lfs, &f);
    c->read_depth--;
    if (c->sqllen) {
        c->sqllen = 0;
        sink->error(sink, SQLITE_ERROR, "incomplete SQL at the end of the file");
        return;
    }
    sink->done(sink, 0, 0);
}

static void cmd_mode_show(console *c, con_sink *sink);

static void cmd_mode(console *c, int argc, char **argv, con_sink *sink)
{
    if (argc == 1) { cmd_mode_show(c, sink); return; }
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
    } else if (show_mode_by_name(argv[1]) >= 0) { /* the interactive presentation */
        int m = show_mode_by_name(argv[1]);
        c->show_mode = m;
        if (m == SHOW_COLUMN) c->headers = 1; /* as sqlite3's .mode column */
        sink->done(sink, 0, 0);
    } else {
        sink->error(sink, SQLITE_MISUSE, "usage: .mode machine|interactive|column|box|table|"
                                         "markdown|list|tabs|csv|json|line|quote");
    }
}

static void cmd_mode_show(console *c, con_sink *sink)
{
    out_str("current output mode: ");
    out_str(show_mode_name(c->show_mode));
    out_crlf();
    sink->done(sink, 0, 0);
}

/* The statement it was sent to stop has already stopped (console_watch.c saw this line while
 * it ran); in its turn the request itself just succeeds. */
static void cmd_interrupt(console *c, int argc, char **argv, con_sink *sink)
{
    (void)c; (void)argc; (void)argv;
    sink->done(sink, 0, 0);
}

static void cmd_ping(console *c, int argc, char **argv, con_sink *sink)
{
    (void)c; (void)argc; (void)argv;
    sink->done(sink, 0, 0);
}

/* ---- power-cut campaigns (fault.c, workload.c) --------------------------------------------- */

/* A decimal unsigned 64-bit number, whole (no sign, no trailing text). */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void cmd_fault(console *c, int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "name", "value" };
    const char *usage = "usage: .fault arm N nor|torn|ooo SEED | .fault seed SEED | .fault off | .fault status";
    uint64_t n, seed;
    const char *err;
    if (strcmp(argv[1], "arm") == 0 && argc == 5) {
        int model = fault_model_parse(argv[3]);
        if (parse_u64(argv[2], &n) || parse_u64(argv[4], &seed) || model < 0) {
            sink->error(sink, SQLITE_MISUSE, usage);
            return;
        }
        if (fault_arm(c->fs->flash, n, (fault_model)model, seed, &err) != 0) {
            sink->error(sink, SQLITE_ERROR, err);
            return;
        }
        sink->done(sink, 0, 0);
    } else if (strcmp(argv[1], "seed") == 0 && argc == 3) {
        if (parse_u64(argv[2], &seed)) {
            sink->error(sink, SQLITE_MISUSE, usage);
            return;
        }
        fault_seed(seed);
        sink->done(sink, 0, 0);
    } else if (strcmp(argv[1], "off") == 0 && argc == 2) {
        fault_disarm(c->fs->flash);
        sink->done(sink, 0, 0);
    } else if (strcmp(argv[1], "status") == 0 && argc == 2) {
        const fault_state *f = fault_get();
        char hash[17];
        sqlite3_snprintf(sizeof hash, hash, "%016llx", (unsigned long long)f->hash);
        sink->columns(sink, 2, names);
        stat_row(sink, "armed", f->armed);
        stat_row(sink, "cut_at", (int64_t)f->cut_at);
        stat_row_text(sink, "model", fault_model_name(f->model));
        stat_row(sink, "seed", (int64_t)f->seed);
        stat_row(sink, "ops", (int64_t)f->ops);
        stat_row(sink, "prog_ops", (int64_t)f->prog_ops);
        stat_row(sink, "erase_ops", (int64_t)f->erase_ops);
        stat_row(sink, "syncs", (int64_t)f->syncs);
        stat_row_text(sink, "hash", hash);
        stat_row(sink, "undo_overflow", (int64_t)f->undo_overflow);
        sink->done(sink, 0, 0);
    } else {
        sink->error(sink, SQLITE_MISUSE, usage);
    }
}

static void cmd_workload(console *c, int argc, char **argv, con_sink *sink)
{
    const char *usage = "usage: .workload run FILE SEED TXNS full|normal | .workload check FILE SEED";
    uint64_t seed, txns;
    (void)c;
    if (strcmp(argv[1], "run") == 0 && argc == 6 && !parse_u64(argv[3], &seed) &&
        !parse_u64(argv[4], &txns) && txns < 1000000) {
        workload_run(argv[2], seed, (int64_t)txns, argv[5], sink);
    } else if (strcmp(argv[1], "check") == 0 && argc == 4 && !parse_u64(argv[3], &seed)) {
        workload_check(argv[2], seed, sink);
    } else {
        sink->error(sink, SQLITE_MISUSE, usage);
    }
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
    { ".core", 3, 3, ".core NAME K", "run connection NAME's SQL on core K (0: the console's; "
      "multi-core boards)", cmd_core },
    { ".ls", 1, 2, ".ls [PATH]", "list a directory of the flash filesystem", cmd_ls },
    { ".stats", 1, 2, ".stats [reset]", "memory, heap, flash and VFS counters", cmd_stats },
    { ".reboot", 1, 1, ".reboot", "close everything and restart on the same flash", cmd_reboot },
    { ".shutdown", 1, 1, ".shutdown", "close everything and stop", cmd_shutdown },
    { ".mode", 1, 2, ".mode machine|interactive|MODE",
      "switch the console's mode; or show results as MODE: column box table markdown list tabs "
      "csv json line quote", cmd_mode },
    { ".headers", 2, 2, ".headers on|off", "show column names (list, tabs, csv, quote, column)", cmd_headers },
    { ".timer", 2, 2, ".timer on|off", "print the time each SQL request took", cmd_timer },
    { ".tables", 1, 2, ".tables [PATTERN]", "names of tables and views (LIKE pattern)", cmd_tables },
    { ".schema", 1, 2, ".schema [PATTERN]", "CREATE statements of matching objects", cmd_schema },
    { ".read", 2, 2, ".read FILE", "run the lines of FILE (flash filesystem) as if typed", cmd_read },
    { ".quit", 1, 1, ".quit", "end the session: shut down (status 1 if a command failed)", cmd_quit },
    { ".exit", 1, 2, ".exit [CODE]", "the same, or with exit status CODE", cmd_quit },
    { ".interrupt", 1, 1, ".interrupt", "machine mode, sent while a request runs: stop its "
      "statement (SQLITE_INTERRUPT); answered after it", cmd_interrupt },
    { ".ping", 1, 1, ".ping", "answer ok (machine mode: resynchronise)", cmd_ping },
    { ".fault", 2, 5, ".fault arm N MODEL SEED|seed SEED|off|status",
      "power cut at the Nth flash program/erase (N=0: count only); campaign seeding", cmd_fault },
    { ".workload", 4, 6, ".workload run FILE SEED TXNS full|normal|check FILE SEED",
      "the built-in self-verifying campaign workload", cmd_workload },
    { ".stress", 3, 7, ".stress WRITERS TXNS [READERS [CHECKPOINT_MS]] [vfs=NAME] [sync=MODE]",
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
        if (k) run_sql(k, req.sql, req.nparams, req.params, &fs.base);
        else fs.base.error(&fs.base, SQLITE_MISUSE, "no open connection of that name");
        return;
    }
    run_command(c, req.argc, req.argv, &fs.base);
}

/* ---- interactive mode ----------------------------------------------------------------------- */

#define MAX_ARGS FRAME_MAX_ARGS /* dot-command words */
static char *args_s[MAX_ARGS];

/* The prompt for the next interactive line (a static buffer). */
static const char *prompt_text(console *c)
{
    static char p[CONSOLE_NAME_MAX + 3];
    if (c->sqllen) return "   ...> ";
    strcpy(p, c->current >= 0 ? c->conns[c->current].name : "walkit");
    strcat(p, "> ");
    return p;
}

static void run_interactive_sql(console *c)
{
    table_sink ts;
    uint64_t t0 = board_time_us();
    shell_sink_init(c, &ts);
    if (c->current < 0) {
        ts.base.error(&ts.base, SQLITE_MISUSE, "no connection: .open [NAME] FILE first");
    } else {
        run_sql(&c->conns[c->current], c->sql, 0, NULL, &ts.base);
    }
    shell_sink_free(c, &ts);
    if (c->timer && c->current >= 0) {
        out_str("Run Time: real ");
        out_seconds(board_time_us() - t0);
        out_crlf();
    }
    c->sqllen = 0;
    c->sql[0] = 0;
}

/* Whether the line is `word` alone (spaces around it allowed). */
static int is_word_line(const char *s, const char *word)
{
    size_t n = strlen(word);
    while (*s == ' ') s++;
    if (strncmp(s, word, n) != 0) return 0;
    for (s += n; *s == ' '; s++) {}
    return *s == 0;
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
        c->errors++;
        c->sqllen = 0;
        return;
    }
    while (*s == ' ') s++;
    if (c->sqllen == 0 && (is_word_line(s, "exit") || is_word_line(s, "quit"))) {
        shell_sink_init(c, &ts);
        end_session(c, &ts.base, -1);
    }
    if (c->sqllen == 0 && *s == '.') {
        int argc = 0;
        char *tok = strtok(s, " ");
        while (tok && argc < MAX_ARGS) { args_s[argc++] = tok; tok = strtok(NULL, " "); }
        if (tok) { shell_error(c, "too many arguments"); return; }
        shell_sink_init(c, &ts);
        run_command(c, argc, args_s, &ts.base);
        shell_sink_free(c, &ts);
        return;
    }
    if (c->sqllen == 0 && *s == 0) return;
    if (c->sqllen + c->len + 1 > CONSOLE_LINE_MAX) {
        out_str("Error: statement too long (the limit is ");
        out_i64(CONSOLE_LINE_MAX);
        out_str(" bytes); input dropped");
        out_crlf();
        c->errors++;
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
    } else {
        c->overflow++;
    }
}

/* Reads one machine-mode line into c->line (NUL-terminated, without its line end; a NUL read
 * from the UART may sit inside it, and then c->bad_byte is set).  Returns 0 when the UART can
 * never deliver another byte. */
static int read_line(console *c)
{
    c->len = 0;
    c->overflow = 0;
    c->bad_byte = -1;
    for (;;) {
        int ch = console_getc();
        if (ch < 0) return 0;
        /* CR, LF and CR LF each end one line (a CR-only terminal works too). */
        if (ch == '\n' && c->last_was_cr) { c->last_was_cr = 0; continue; }
        c->last_was_cr = ch == '\r';
        if (ch == '\r' || ch == '\n') break;
        /* A request is printable ASCII (tokens escape every other byte).  Anything else is
         * remembered and the whole line refused in machine_request(). */
        if ((ch < 0x20 || ch > 0x7E) && c->bad_byte < 0) {
            c->bad_byte = ch;
            c->bad_at = c->len + c->overflow;
        }
        store(c, ch);
    }
    c->line[c->len] = 0;
    return 1;
}

/* One interactive line through the editor, then run.  Returns 0 when the UART can never
 * deliver another byte. */
static int interactive_turn(console *c)
{
    int r = edit_read(prompt_text(c), c->line, CONSOLE_LINE_MAX, &c->len, &c->overflow,
                      &c->last_was_cr);
    table_sink ts;
    switch (r) {
    case EDIT_GONE: return 0;
    case EDIT_CANCEL: c->sqllen = 0; return 1; /* the line and any statement being typed */
    case EDIT_EOF:
        if (c->sqllen) { /* as sqlite3 at the end of its input */
            c->sqllen = 0;
            shell_error(c, "incomplete SQL at the end of the input");
        }
        shell_sink_init(c, &ts);
        end_session(c, &ts.base, -1);
        return 0; /* not reached: end_session() exits */
    default:
        if (!c->overflow) edit_history_add(c->line, c->len);
        interactive_line(c);
        return 1;
    }
}

void console_main(fs_mount *fs)
{
    con.fs = fs;
    con.current = -1;
    con.show_mode = SHOW_COLUMN;
    con.headers = 1;
    fw_log("ready (type .help)");
    for (;;) {
        if (con.machine) {
            if (!read_line(&con)) break;
            machine_request(&con);
        } else if (!interactive_turn(&con)) {
            break;
        }
    }
    close_all(&con);
    fs_mount_unmount(fs);
}
