/* vfs_file_checks.c: the walkit file layer (vfs/vfs.c) called directly through sqlite3_vfs and
 * sqlite3_io_methods on one storage backend: the checks every backend must pass, run by each
 * backend's check program (tests/vfs/storage/test_<backend>.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "checks.h"
#include "sqlite3.h"
#include "vfs_file_checks.h"
#include "vfs_helpers.h"
#include "walkit.h"

int (*backend_dir)(const char *path, int make);

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
        FAIL_REPORT("lock_open", "open failed");
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

void file_layer_checks(const char *name, const walkit_storage *st, unsigned sector, unsigned iocap)
{
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

