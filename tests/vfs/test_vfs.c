/* test_vfs_file.c: the walkit file layer (vfs/vfs.c) called directly through sqlite3_vfs and
 * sqlite3_io_methods, on each storage backend: ram, littlefs (on a RAM block device) and
 * hostfile.  Driven by tests/test_vfs_file.py:  test_vfs_file HOST_ROOT_DIR
 * Prints "ok <backend>.<check>" or "FAIL ..."; exit status = failures. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "lfs.h"
#include "sqlite3.h"
#include "walkit.h"

static int failures;
static const char *backend = "";
/* Makes (make = 1) or removes (0) a directory in the backend under test; NULL: none (ram). */
static int (*backend_dir)(const char *path, int make);

#define CHECK(name, cond, ...)                                                                  \
    do {                                                                                        \
        if (cond) {                                                                             \
            printf("ok %s.%s\n", backend, name);                                                \
        } else {                                                                                \
            printf("FAIL %s.%s: ", backend, name);                                              \
            printf(__VA_ARGS__);                                                                \
            printf("\n");                                                                       \
            failures++;                                                                         \
        }                                                                                       \
    } while (0)

/* ---- a littlefs RAM block device */

#define LFS_BLOCK 4096
#define LFS_BLOCKS 40
static unsigned char flash[LFS_BLOCKS * LFS_BLOCK];

static int bd_read(const struct lfs_config *c, lfs_block_t b, lfs_off_t off, void *buf, lfs_size_t n)
{
    memcpy(buf, flash + b * c->block_size + off, n);
    return 0;
}
static int prog_fails; /* nonzero: every program fails, as on worn-out flash (littlefs sees bad blocks) */

static int bd_prog(const struct lfs_config *c, lfs_block_t b, lfs_off_t off, const void *buf,
                   lfs_size_t n)
{
    if (prog_fails) return LFS_ERR_CORRUPT;
    memcpy(flash + b * c->block_size + off, buf, n);
    return 0;
}
static int bd_erase(const struct lfs_config *c, lfs_block_t b)
{
    memset(flash + b * c->block_size, 0xff, c->block_size);
    return 0;
}
static int bd_sync(const struct lfs_config *c) { (void)c; return 0; }

static const struct lfs_config lfs_cfg = {
    .read = bd_read, .prog = bd_prog, .erase = bd_erase, .sync = bd_sync,
    .read_size = 16, .prog_size = 16, .block_size = LFS_BLOCK, .block_count = LFS_BLOCKS,
    .cache_size = 256, .lookahead_size = 16, .block_cycles = 500,
};

/* ---- helpers over the VFS */

static sqlite3_file *open_file(sqlite3_vfs *v, const char *path, int flags, int *rc)
{
    sqlite3_file *f = calloc(1, (size_t)v->szOsFile);
    int out = 0;
    *rc = v->xOpen(v, path, f, flags, &out);
    if (*rc != SQLITE_OK) {
        free(f);
        return NULL;
    }
    return f;
}

static void close_file(sqlite3_file *f)
{
    if (!f) return;
    f->pMethods->xClose(f);
    free(f);
}

static int lockstate(sqlite3_file *f)
{
    int s = -1;
    f->pMethods->xFileControl(f, SQLITE_FCNTL_LOCKSTATE, &s);
    return s;
}

#define MAIN_DB (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)

static void test_paths(sqlite3_vfs *v)
{
    char out[256];
    int rc = v->xFullPathname(v, "a/./b/../c.db", sizeof out, out);
    CHECK("fullpath_relative", rc == SQLITE_OK && strcmp(out, "/a/c.db") == 0, "%d %s", rc, out);
    rc = v->xFullPathname(v, "//x///y.db", sizeof out, out);
    CHECK("fullpath_slashes", rc == SQLITE_OK && strcmp(out, "/x/y.db") == 0, "%d %s", rc, out);
    rc = v->xFullPathname(v, "/../etc/passwd", sizeof out, out);
    CHECK("fullpath_above_root", rc == SQLITE_CANTOPEN, "%d %s", rc, out);
    rc = v->xFullPathname(v, "/a/b.db", 5, out);
    CHECK("fullpath_too_long", rc == SQLITE_CANTOPEN, "%d", rc);
}

static void test_io(sqlite3_vfs *v, unsigned sector, unsigned iocap)
{
    int rc;
    sqlite3_file *f = open_file(v, "/io.db", SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE, &rc);
    CHECK("open_missing_without_create", f == NULL && rc == SQLITE_CANTOPEN, "%d", rc);
    f = open_file(v, "/io.db", MAIN_DB, &rc);
    CHECK("open_create", f && rc == SQLITE_OK, "%d", rc);
    if (!f) return;
    sqlite3_file *excl = open_file(v, "/io.db", MAIN_DB | SQLITE_OPEN_EXCLUSIVE, &rc);
    CHECK("open_exclusive_existing", excl == NULL && rc == SQLITE_CANTOPEN, "%d", rc);
    close_file(excl);

    const sqlite3_io_methods *m = f->pMethods;
    CHECK("sector_size", m->xSectorSize(f) == (int)sector, "%d", m->xSectorSize(f));
    CHECK("device_characteristics", m->xDeviceCharacteristics(f) == (int)iocap, "0x%x",
          m->xDeviceCharacteristics(f));

    char data[100], buf[300];
    for (int i = 0; i < 100; i++) data[i] = (char)(i + 1);
    rc = m->xWrite(f, data, 100, 1000);
    sqlite3_int64 size = -1;
    m->xFileSize(f, &size);
    CHECK("write_past_end", rc == SQLITE_OK && size == 1100, "rc %d size %lld", rc, size);
    memset(buf, 0xAA, sizeof buf);
    rc = m->xRead(f, buf, 100, 900);
    int zeros = 1;
    for (int i = 0; i < 100; i++) zeros &= buf[i] == 0;
    CHECK("gap_reads_zero", rc == SQLITE_OK && zeros, "rc %d", rc);
    memset(buf, 0xAA, sizeof buf);
    rc = m->xRead(f, buf, 200, 1050);
    int tail_zero = 1;
    for (int i = 50; i < 200; i++) tail_zero &= buf[i] == 0;
    CHECK("short_read", rc == SQLITE_IOERR_SHORT_READ && memcmp(buf, data + 50, 50) == 0 && tail_zero,
          "rc %d", rc);
    memset(buf, 0xAA, sizeof buf);
    rc = m->xRead(f, buf, 10, 5000);
    CHECK("read_beyond_end", rc == SQLITE_IOERR_SHORT_READ && buf[0] == 0 && buf[9] == 0, "rc %d", rc);

    /* Another handle on the same path sees the bytes at once, before any sync. */
    sqlite3_file *g = open_file(v, "/io.db", MAIN_DB, &rc);
    memset(buf, 0, sizeof buf);
    rc = g ? g->pMethods->xRead(g, buf, 100, 1000) : rc;
    CHECK("second_handle_sees_unsynced_writes", g && rc == SQLITE_OK && memcmp(buf, data, 100) == 0,
          "rc %d", rc);
    rc = m->xSync(f, SQLITE_SYNC_NORMAL);
    CHECK("sync", rc == SQLITE_OK, "%d", rc);
    rc = m->xTruncate(f, 10);
    size = -1;
    if (g) g->pMethods->xFileSize(g, &size);
    CHECK("truncate_seen_by_other_handle", rc == SQLITE_OK && size == 10, "rc %d size %lld", rc,
          size);
    close_file(g);
    close_file(f);

    /* A read-only handle refuses writes as SQLITE_READONLY on every backend. */
    f = open_file(v, "/io.db", SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READONLY, &rc);
    int wr = f ? f->pMethods->xWrite(f, data, 10, 0) : rc;
    int tr = f ? f->pMethods->xTruncate(f, 0) : rc;
    CHECK("readonly_handle_write_is_readonly", f && wr == SQLITE_READONLY && tr == SQLITE_READONLY,
          "open %d, write %d, truncate %d", rc, wr, tr);
    close_file(f);

    int exists = -1;
    v->xAccess(v, "/io.db", SQLITE_ACCESS_EXISTS, &exists);
    CHECK("access_exists", exists == 1, "%d", exists);
    CHECK("delete", v->xDelete(v, "/io.db", 0) == SQLITE_OK, "");
    v->xAccess(v, "/io.db", SQLITE_ACCESS_EXISTS, &exists);
    CHECK("access_after_delete", exists == 0, "%d", exists);
    rc = v->xDelete(v, "/io.db", 0);
    CHECK("delete_missing", rc == SQLITE_IOERR_DELETE_NOENT, "%d", rc);

    /* Delete-on-close, named and anonymous. */
    f = open_file(v, "/tmp.j", SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_READWRITE |
                                   SQLITE_OPEN_CREATE | SQLITE_OPEN_DELETEONCLOSE, &rc);
    if (f) f->pMethods->xWrite(f, data, 10, 0);
    close_file(f);
    v->xAccess(v, "/tmp.j", SQLITE_ACCESS_EXISTS, &exists);
    CHECK("delete_on_close", rc == SQLITE_OK && exists == 0, "rc %d exists %d", rc, exists);
    f = open_file(v, NULL, SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &rc);
    rc = f ? f->pMethods->xWrite(f, data, 10, 0) : rc;
    CHECK("anonymous_temp_file", f && rc == SQLITE_OK, "%d", rc);
    close_file(f);

    /* A directory is not a file: xAccess(EXISTS) says 0 (SQLite would take a directory named
     * like a journal for a hot journal). */
    exists = -1;
    if (backend_dir && backend_dir("/adir", 1) == 0) {
        v->xAccess(v, "/adir", SQLITE_ACCESS_EXISTS, &exists);
        backend_dir("/adir", 0);
    } else if (!backend_dir) {
        v->xAccess(v, "/adir", SQLITE_ACCESS_EXISTS, &exists); /* ram has no directories */
    }
    CHECK("access_directory_is_not_a_file", exists == 0, "%d", exists);
}

static void test_locks(sqlite3_vfs *v)
{
    int rc, res = -1;
    sqlite3_file *a = open_file(v, "/lock.db", MAIN_DB, &rc);
    sqlite3_file *b = open_file(v, "/lock.db", MAIN_DB, &rc);
    sqlite3_file *c = open_file(v, "/./lock.db", MAIN_DB, &rc);
    sqlite3_file *other = open_file(v, "/other.db", MAIN_DB, &rc);
    if (!a || !b || !c || !other) {
        CHECK("lock_open", 0, "open failed");
        return;
    }
    const sqlite3_io_methods *m = a->pMethods;
    CHECK("shared_shared", m->xLock(a, SQLITE_LOCK_SHARED) == SQLITE_OK &&
                               m->xLock(b, SQLITE_LOCK_SHARED) == SQLITE_OK, "");
    CHECK("reserved", m->xLock(a, SQLITE_LOCK_RESERVED) == SQLITE_OK, "");
    CHECK("second_reserved_busy", m->xLock(b, SQLITE_LOCK_RESERVED) == SQLITE_BUSY, "");
    m->xCheckReservedLock(b, &res);
    CHECK("check_reserved_seen_by_other", res == 1, "%d", res);
    CHECK("exclusive_with_reader_busy", m->xLock(a, SQLITE_LOCK_EXCLUSIVE) == SQLITE_BUSY, "");
    CHECK("pending_state", lockstate(a) == SQLITE_LOCK_PENDING, "%d", lockstate(a));
    CHECK("pending_blocks_new_reader", m->xLock(c, SQLITE_LOCK_SHARED) == SQLITE_BUSY,
          "paths are normalised, so /./lock.db is the same file");
    CHECK("other_file_independent", m->xLock(other, SQLITE_LOCK_SHARED) == SQLITE_OK &&
                                        m->xLock(other, SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK, "");
    m->xUnlock(b, SQLITE_LOCK_NONE);
    CHECK("exclusive_after_reader_left", m->xLock(a, SQLITE_LOCK_EXCLUSIVE) == SQLITE_OK &&
                                             lockstate(a) == SQLITE_LOCK_EXCLUSIVE, "");
    CHECK("exclusive_blocks_reader", m->xLock(b, SQLITE_LOCK_SHARED) == SQLITE_BUSY, "");
    m->xUnlock(a, SQLITE_LOCK_SHARED);
    CHECK("reader_after_downgrade", m->xLock(b, SQLITE_LOCK_SHARED) == SQLITE_OK &&
                                        m->xLock(c, SQLITE_LOCK_SHARED) == SQLITE_OK, "");
    m->xCheckReservedLock(c, &res);
    CHECK("no_reserved_after_downgrade", res == 0, "%d", res);
    CHECK("reserved_after_downgrade", m->xLock(b, SQLITE_LOCK_RESERVED) == SQLITE_OK, "");
    close_file(b); /* closing releases its locks */
    CHECK("close_releases_reserved", m->xLock(c, SQLITE_LOCK_RESERVED) == SQLITE_OK, "");
    close_file(a);
    close_file(c);
    close_file(other);
    v->xDelete(v, "/lock.db", 0);
    v->xDelete(v, "/other.db", 0);
}

static void test_misc(sqlite3_vfs *v)
{
    unsigned char r1[16], r2[16];
    v->xRandomness(v, 16, (char *)r1);
    v->xRandomness(v, 16, (char *)r2);
    CHECK("randomness_differs", memcmp(r1, r2, 16) != 0, "");
    sqlite3_int64 jd = 0;
    v->xCurrentTimeInt64(v, &jd);
    sqlite3_int64 now = 210866760000000LL + (sqlite3_int64)time(NULL) * 1000;
    CHECK("current_time", jd > now - 5000 && jd < now + 5000, "%lld vs %lld", jd, now);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    v->xSleep(v, 20000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    CHECK("sleep", us >= 20000, "%ld us", us);
}

static void test_backend(const char *name, const walkit_storage *st, unsigned sector, unsigned iocap)
{
    backend = name;
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = name;
    cfg.storage = st;
    cfg.make_default = 0;
    CHECK("register", st && walkit_register(&cfg) == SQLITE_OK, "");
    sqlite3_vfs *v = sqlite3_vfs_find(name);
    if (!v) return;
    test_paths(v);
    test_io(v, sector, iocap);
    test_locks(v);
    test_misc(v);

    /* Unregistering refuses while a file is open. */
    int rc;
    sqlite3_file *f = open_file(v, "/busy.db", MAIN_DB, &rc);
    CHECK("unregister_busy", walkit_unregister(name) == SQLITE_BUSY, "");
    close_file(f);
    v->xDelete(v, "/busy.db", 0);
    CHECK("unregister", walkit_unregister(name) == SQLITE_OK, "");
    walkit_storage_destroy(st);
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, 0, 0, 0); }

/* SQLite on a full littlefs: the error is SQLITE_FULL and the database stays usable. */
static void test_littlefs_full(lfs_t *lfs)
{
    backend = "littlefs";
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "lfs-full";
    cfg.make_default = 0;
    cfg.storage = walkit_storage_littlefs(lfs);
    walkit_register(&cfg);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2("/full.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "lfs-full");
    if (rc == SQLITE_OK) rc = exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(b BLOB)");
    CHECK("sqlite_setup", rc == SQLITE_OK, "%d %s", rc, sqlite3_errmsg(db));
    int inserted = 0;
    for (int i = 0; i < 1000 && rc == SQLITE_OK; i++) {
        rc = exec(db, "INSERT INTO t VALUES (randomblob(2000))");
        if (rc == SQLITE_OK) inserted++;
    }
    CHECK("enospc_is_sqlite_full", (rc & 0xff) == SQLITE_FULL, "rc %d after %d rows: %s", rc,
          inserted, sqlite3_errmsg(db));
    char out[64] = "";
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "SELECT count(*), (SELECT * FROM pragma_integrity_check) FROM t", -1,
                       &st, NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, sizeof out, "%d|%s", sqlite3_column_int(st, 0), sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    char want[64];
    snprintf(want, sizeof want, "%d|ok", inserted);
    CHECK("intact_after_full", strcmp(out, want) == 0, "got %s want %s", out, want);
    sqlite3_close(db);
    walkit_unregister("lfs-full");
    walkit_storage_destroy(cfg.storage);
}

static int query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    sqlite3_extended_result_codes(db, 1);
    return db;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Several VFS names on one storage, as firmware/main.c registers "walkit" (heap) and
 * "walkit-noshm" on one littlefs: a file has one lock state and one WAL-index, whichever name
 * reaches it. */
static void test_names_share_storage(void)
{
    backend = "api";
    const walkit_storage *st = walkit_storage_ram();
    walkit_config a = { "share-a", st, WALKIT_SHM_HEAP, 0 }, b = { "share-b", st, WALKIT_SHM_HEAP, 0 };
    walkit_config n = { "share-noshm", st, WALKIT_SHM_NONE, 0 };
    CHECK("names_on_one_storage_register", walkit_register(&a) == SQLITE_OK &&
              walkit_register(&b) == SQLITE_OK && walkit_register(&n) == SQLITE_OK, "");

    /* File locks, through the io methods. */
    int rc;
    sqlite3_vfs *va = sqlite3_vfs_find("share-a"), *vb = sqlite3_vfs_find("share-b");
    sqlite3_file *fa = va ? open_file(va, "/x.db", MAIN_DB, &rc) : NULL;
    sqlite3_file *fb = vb ? open_file(vb, "/x.db", MAIN_DB, &rc) : NULL;
    if (fa && fb) {
        fa->pMethods->xLock(fa, SQLITE_LOCK_SHARED);
        rc = fa->pMethods->xLock(fa, SQLITE_LOCK_EXCLUSIVE);
        int rb = fb->pMethods->xLock(fb, SQLITE_LOCK_SHARED);
        CHECK("names_share_file_locks", rc == SQLITE_OK && rb == SQLITE_BUSY,
              "EXCLUSIVE through one name %d, SHARED through the other %d", rc, rb);
    } else {
        CHECK("names_share_file_locks", 0, "open failed");
    }
    close_file(fa);
    close_file(fb);

    /* The same through SQL (rollback journal), then WAL: one WAL-index for both names. */
    sqlite3 *x = open_db("/x.db", "share-a"), *y = open_db("/x.db", "share-b");
    rc = exec(x, "CREATE TABLE t(a); BEGIN EXCLUSIVE");
    int ry = exec(y, "BEGIN EXCLUSIVE");
    CHECK("names_share_exclusive", rc == SQLITE_OK && ry == SQLITE_BUSY, "%d %d", rc, ry);
    exec(x, "COMMIT");
    rc = exec(x, "PRAGMA journal_mode=WAL; INSERT INTO t VALUES (1)");
    int n1 = query_int(y, "SELECT count(*) FROM t");
    exec(x, "INSERT INTO t VALUES (2)");
    int n2 = query_int(y, "SELECT count(*) FROM t");
    exec(y, "INSERT INTO t VALUES (3)");
    int n3 = query_int(x, "SELECT count(*) FROM t");
    CHECK("names_share_wal_index", rc == SQLITE_OK && n1 == 1 && n2 == 2 && n3 == 3,
          "rc %d counts %d %d %d", rc, n1, n2, n3);
    sqlite3_close(x);
    sqlite3_close(y);

    /* A WALKIT_SHM_NONE connection in exclusive locking mode excludes the heap name. */
    sqlite3 *z = open_db("/n.db", "share-noshm");
    rc = exec(z, "PRAGMA locking_mode=EXCLUSIVE; CREATE TABLE t(a); INSERT INTO t VALUES (1)");
    x = open_db("/n.db", "share-a");
    int rx = query_int(x, "SELECT count(*) FROM t");
    CHECK("noshm_exclusive_excludes_heap_name", rc == SQLITE_OK && rx == -1 &&
              (sqlite3_errcode(x) & 0xff) == SQLITE_BUSY, "%d %d %d", rc, rx, sqlite3_errcode(x));
    sqlite3_close(x);
    sqlite3_close(z);
    CHECK("names_on_one_storage_unregister", walkit_unregister("share-a") == SQLITE_OK &&
              walkit_unregister("share-noshm") == SQLITE_OK &&
              walkit_unregister("share-b") == SQLITE_OK, "");
    walkit_storage_destroy(st);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL api.same_task_conflict: hung (alarm)\n";
    if (write(1, m, sizeof m - 1) < 0) { }
    _exit(3);
}

/* Two connections driven by this one thread: with a busy timeout, even an infinite one, a
 * WAL-index lock held by the other connection is SQLITE_BUSY at once (it cannot be released
 * while this thread waits). */
static void test_same_task_conflict(void)
{
    backend = "api";
    const walkit_storage *st = walkit_storage_ram();
    walkit_config c = { "one-task", st, WALKIT_SHM_HEAP, 0 };
    walkit_register(&c);
    sqlite3 *y = open_db("/t.db", "one-task"), *x = open_db("/t.db", "one-task");
    int rc = exec(y, "PRAGMA journal_mode=WAL; CREATE TABLE t(a)");
    if (rc == SQLITE_OK) rc = query_int(x, "SELECT count(*) FROM t");
    if (rc == 0) rc = exec(y, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
    walkit_stats before, after;
    walkit_get_stats(&before);
    signal(SIGALRM, on_alarm);
    alarm(20);
    sqlite3_setlk_timeout(x, -1, 0);
    double t0 = seconds();
    int r1 = exec(x, "BEGIN IMMEDIATE");
    double d1 = seconds() - t0;
    sqlite3_busy_timeout(x, 10000);
    t0 = seconds();
    int r2 = exec(x, "BEGIN IMMEDIATE");
    double d2 = seconds() - t0;
    alarm(0);
    walkit_get_stats(&after);
    CHECK("same_task_setlk_forever_is_busy", rc == SQLITE_OK && r1 == SQLITE_BUSY && d1 < 1.0,
          "setup %d, rc %d after %.3f s", rc, r1, d1);
    CHECK("same_task_busy_timeout_is_busy_at_once", r2 == SQLITE_BUSY && d2 < 1.0,
          "rc %d after %.3f s", r2, d2);
    CHECK("same_task_never_waits", after.shm_lock_waits == before.shm_lock_waits, "%llu waits",
          (unsigned long long)(after.shm_lock_waits - before.shm_lock_waits));
    exec(y, "COMMIT");
    rc = exec(x, "BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT");
    CHECK("same_task_writes_after_release", rc == SQLITE_OK && query_int(y, "SELECT count(*) FROM t") == 2,
          "%d", rc);
    sqlite3_close(x);
    sqlite3_close(y);
    walkit_unregister("one-task");
    walkit_storage_destroy(st);
}

/* sqlite3_shutdown() keeps VFS registrations; a new walkit_init() must not replace the
 * application's default with walkit-nostorage. */
static void test_default_survives_reinit(void)
{
    backend = "api";
    const walkit_storage *st = walkit_storage_ram();
    walkit_config c = { "reinit", st, WALKIT_SHM_HEAP, 1 };
    int rc = walkit_register(&c);
    sqlite3_vfs *d0 = sqlite3_vfs_find(NULL);
    CHECK("register_default", rc == SQLITE_OK && d0 && strcmp(d0->zName, "reinit") == 0, "%d %s",
          rc, d0 ? d0->zName : "-");
    sqlite3_shutdown();
    rc = walkit_init();
    sqlite3_vfs *d1 = sqlite3_vfs_find(NULL);
    CHECK("default_survives_reinit", rc == SQLITE_OK && d1 && strcmp(d1->zName, "reinit") == 0,
          "%d %s", rc, d1 ? d1->zName : "-");
    CHECK("nostorage_after_reinit", sqlite3_vfs_find("walkit-nostorage") != NULL, "");
    sqlite3 *db = NULL;
    rc = sqlite3_open("/after.db", &db);
    if (rc == SQLITE_OK) rc = exec(db, "CREATE TABLE t(x)");
    CHECK("open_after_reinit", rc == SQLITE_OK, "%d %s", rc, sqlite3_errmsg(db));
    sqlite3_close(db);
    walkit_unregister("reinit");
    sqlite3_vfs *d2 = sqlite3_vfs_find(NULL);
    CHECK("nostorage_default_again", d2 && strcmp(d2->zName, "walkit-nostorage") == 0, "%s",
          d2 ? d2->zName : "-");
    walkit_storage_destroy(st);
}

/* What littlefs holds committed for path (all handles closed): up to n bytes into buf. */
static int lfs_committed(lfs_t *lfs, const char *path, char *buf, int n)
{
    lfs_file_t lf;
    if (lfs_file_open(lfs, &lf, path, LFS_O_RDONLY) < 0) return -1;
    int got = (int)lfs_file_read(lfs, &lf, buf, (lfs_size_t)n);
    lfs_file_close(lfs, &lf);
    return got;
}

/* Handles on one path share one lfs_file_t.  A failed write marks it errored, and littlefs's
 * close skips the final commit of an errored file: the close of the last handle must commit
 * the other handles' unsynced writes all the same, or report that it could not. */
static void test_littlefs_close_after_failed_write(lfs_t *lfs)
{
    backend = "littlefs";
    const walkit_storage *st = walkit_storage_littlefs(lfs);
    walkit_config cfg = { "lfs-close", st, WALKIT_SHM_HEAP, 0 };
    walkit_register(&cfg);
    sqlite3_vfs *v = sqlite3_vfs_find("lfs-close");
    static char big[16384];
    memset(big, 'B', sizeof big);
    for (int fail_at_close = 0; fail_at_close < 2; fail_at_close++) {
        int rc;
        sqlite3_file *a = open_file(v, "/c.bin", MAIN_DB, &rc);
        sqlite3_file *b = open_file(v, "/c.bin", MAIN_DB, &rc);
        if (!a || !b) {
            CHECK("close_after_failed_write_open", 0, "%d", rc);
            return;
        }
        a->pMethods->xWrite(a, "hello", 5, 0);
        a->pMethods->xSync(a, SQLITE_SYNC_NORMAL);
        int wa = a->pMethods->xWrite(a, "world", 5, 5); /* not synced */
        prog_fails = 1;
        int wb = b->pMethods->xWrite(b, big, sizeof big, 4096);
        prog_fails = fail_at_close;
        int ca = a->pMethods->xClose(a);
        int cb = b->pMethods->xClose(b); /* the last handle: littlefs closes the file */
        prog_fails = 0;
        free(a);
        free(b);
        char buf[16] = "";
        int got = lfs_committed(lfs, "/c.bin", buf, 10);
        if (!fail_at_close) {
            CHECK("close_after_failed_write_commits", wa == SQLITE_OK && wb != SQLITE_OK &&
                      ca == SQLITE_OK && cb == SQLITE_OK && got == 10 && memcmp(buf, "helloworld", 10) == 0,
                  "writes %d %d, closes %d %d, committed %d bytes '%.10s'", wa, wb, ca, cb, got, buf);
        } else {
            CHECK("close_reports_failed_commit", wb != SQLITE_OK && cb != SQLITE_OK &&
                      got == 5 && memcmp(buf, "hello", 5) == 0,
                  "write %d, closes %d %d, committed %d bytes '%.10s'", wb, ca, cb, got, buf);
        }
        v->xDelete(v, "/c.bin", 0);
    }
    walkit_unregister("lfs-close");
    walkit_storage_destroy(st);
}

/* A rollback-journal database filled to SQLITE_FULL on littlefs, by two connections: each
 * commit rewrites page 1, and rolling a transaction back rewrites the file from there, so a
 * littlefs with no blocks left could not roll back (the journal stayed hot and every open
 * failed).  The free-space reserve keeps rollback possible: the database stays readable and
 * intact, before and after a remount. */
static void test_littlefs_full_rollback_journal(lfs_t *lfs)
{
    backend = "littlefs";
    lfs_unmount(lfs);
    if (lfs_format(lfs, &lfs_cfg) != 0 || lfs_mount(lfs, &lfs_cfg) != 0) {
        CHECK("rollback_full_format", 0, "");
        return;
    }
    const walkit_storage *st = walkit_storage_littlefs(lfs);
    walkit_config cfg = { "lfs-rbj", st, WALKIT_SHM_HEAP, 0 };
    walkit_register(&cfg);
    sqlite3 *a = open_db("/j.db", "lfs-rbj"), *b = open_db("/j.db", "lfs-rbj");
    int rc = exec(a, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; CREATE TABLE t(x)");
    int ok = 0;
    for (int i = 0; i < 2000 && rc == SQLITE_OK; i++) {
        rc = exec(i % 2 ? a : b, "INSERT INTO t VALUES (randomblob(900))");
        if (rc == SQLITE_OK) ok++;
    }
    int na = query_int(a, "SELECT count(*) FROM t"), nb = query_int(b, "SELECT count(*) FROM t");
    CHECK("rollback_full_is_sqlite_full", (rc & 0xff) == SQLITE_FULL && ok > 10, "rc %d after %d rows",
          rc, ok);
    CHECK("rollback_full_still_readable", na == ok && nb == ok, "%d rows inserted, connections see %d and %d",
          ok, na, nb);
    /* A small row may still fit in a block the table has; either way the rows agree. */
    int more = exec(b, "INSERT INTO t VALUES (randomblob(100))");
    if (more == SQLITE_OK) ok++;
    CHECK("rollback_full_small_row", (more == SQLITE_OK || (more & 0xff) == SQLITE_FULL) &&
              query_int(a, "SELECT count(*) FROM t") == ok, "%d", more);
    sqlite3_close(a);
    sqlite3_close(b);
    walkit_unregister("lfs-rbj");
    walkit_storage_destroy(st);

    lfs_unmount(lfs);
    lfs_mount(lfs, &lfs_cfg);
    st = walkit_storage_littlefs(lfs);
    cfg.storage = st;
    walkit_register(&cfg);
    sqlite3 *d = open_db("/j.db", "lfs-rbj");
    char out[64] = "";
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(d, "SELECT count(*), (SELECT * FROM pragma_integrity_check) FROM t", -1, &q, NULL);
    if (sqlite3_step(q) == SQLITE_ROW)
        snprintf(out, sizeof out, "%d|%s", sqlite3_column_int(q, 0), sqlite3_column_text(q, 1));
    sqlite3_finalize(q);
    char want[64];
    snprintf(want, sizeof want, "%d|ok", ok);
    CHECK("rollback_full_intact_after_remount", strcmp(out, want) == 0, "got '%s' want '%s' (%s)", out,
          want, sqlite3_errmsg(d));
    sqlite3_close(d);
    walkit_unregister("lfs-rbj");
    walkit_storage_destroy(st);
}

static void test_register_misuse(void)
{
    backend = "api";
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    CHECK("register_without_storage", walkit_register(&cfg) == SQLITE_MISUSE, "");
    CHECK("register_null", walkit_register(NULL) == SQLITE_MISUSE, "");
    cfg.storage = walkit_storage_ram();
    cfg.vfs_name = "dup";
    cfg.make_default = 0;
    cfg.shm_mode = WALKIT_SHM_COPY;
    CHECK("register_copy_mode_not_yet", walkit_register(&cfg) == SQLITE_MISUSE, "");
    cfg.shm_mode = WALKIT_SHM_HEAP;
    CHECK("register_ok", walkit_register(&cfg) == SQLITE_OK, "");
    CHECK("register_duplicate_name", walkit_register(&cfg) == SQLITE_MISUSE, "");
    CHECK("unregister_unknown", walkit_unregister("no-such-vfs") == SQLITE_MISUSE, "");
    CHECK("unregister_not_walkit", walkit_unregister("walkit-nostorage") == SQLITE_MISUSE, "");
    walkit_unregister("dup");
    walkit_storage_destroy(cfg.storage);
    CHECK("hostfile_missing_root", walkit_storage_hostfile("/no/such/dir") == NULL, "");

    /* Before any walkit_register the default VFS has no storage: a clear CANTOPEN. */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2("/x.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "walkit-nostorage");
    CHECK("nostorage_vfs_cantopen", rc == SQLITE_CANTOPEN, "%d", rc);
    sqlite3_close(db);
    rc = sqlite3_open(":memory:", &db);
    if (rc == SQLITE_OK) rc = exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    CHECK("memory_db_without_storage", rc == SQLITE_OK, "%d", rc);
    sqlite3_close(db);
}

static lfs_t *dir_lfs;
static const char *dir_root;

static int lfs_dir_op(const char *path, int make)
{
    return make ? lfs_mkdir(dir_lfs, path) : lfs_remove(dir_lfs, path);
}

static int host_dir_op(const char *path, int make)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", dir_root, path);
    return make ? mkdir(full, 0755) : rmdir(full);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST_ROOT_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines out even if the alarm ends the run */
    if (walkit_init() != SQLITE_OK) return 2;
    test_register_misuse();
    test_backend("ram", walkit_storage_ram(), 512,
                 SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
                     SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    lfs_t lfs;
    if (lfs_format(&lfs, &lfs_cfg) != 0 || lfs_mount(&lfs, &lfs_cfg) != 0) return 2;
    backend = "littlefs";
    const walkit_storage *one = walkit_storage_littlefs(&lfs);
    const walkit_storage *two = walkit_storage_littlefs(&lfs);
    CHECK("second_backend_on_one_lfs_refused", one && !two, "%p %p", (void *)one, (void *)two);
    walkit_storage_destroy(one);
    dir_lfs = &lfs;
    backend_dir = lfs_dir_op;
    test_backend("littlefs", walkit_storage_littlefs(&lfs), 16,
                 SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_SAFE_APPEND);
    test_littlefs_full(&lfs);
    test_littlefs_close_after_failed_write(&lfs);
    test_littlefs_full_rollback_journal(&lfs);
    lfs_unmount(&lfs);
    dir_root = argv[1];
    backend_dir = host_dir_op;
    test_backend("hostfile", walkit_storage_hostfile(argv[1]), 4096,
                 SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    backend_dir = NULL;
    test_names_share_storage();
    test_same_task_conflict();
    test_default_survives_reinit(); /* last: it shuts SQLite down and starts it again */
    printf("%d failures\n", failures);
    return failures;
}
