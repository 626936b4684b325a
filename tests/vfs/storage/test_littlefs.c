/* test_littlefs.c: the littlefs storage backend (vfs/storage/littlefs.c) on a RAM block device:
 * the file layer's checks (tests/support/vfs_file_checks.c), one backend per lfs_t, ENOSPC
 * surfacing as SQLITE_FULL with the database intact (WAL and rollback journal, also after a
 * remount), and close after a failed write.  Driven by tests/vfs/storage/test_littlefs.py.
 * Prints "ok <check>" or "FAIL <check>: why"; exit status = failures; --list prints the checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKS_MAIN
#include "checks.h"
#include "lfs.h"
#include "sqlite3.h"
#include "vfs_file_checks.h"
#include "vfs_helpers.h"
#include "walkit.h"

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

/* SQLite on a full littlefs: the error is SQLITE_FULL and the database stays usable. */
static void test_littlefs_full(lfs_t *lfs)
{
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
            FAIL_REPORT("close_after_failed_write_open", "%d", rc);
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
    lfs_unmount(lfs);
    if (lfs_format(lfs, &lfs_cfg) != 0 || lfs_mount(lfs, &lfs_cfg) != 0) {
        FAIL_REPORT("rollback_full_format", "format or mount");
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

static lfs_t *dir_lfs;

static int lfs_dir_op(const char *path, int make)
{
    return make ? lfs_mkdir(dir_lfs, path) : lfs_remove(dir_lfs, path);
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (walkit_init() != SQLITE_OK) return 2;
    lfs_t lfs;
    if (lfs_format(&lfs, &lfs_cfg) != 0 || lfs_mount(&lfs, &lfs_cfg) != 0) return 2;
    const walkit_storage *one = walkit_storage_littlefs(&lfs);
    const walkit_storage *two = walkit_storage_littlefs(&lfs);
    CHECK("second_backend_on_one_lfs_refused", one && !two, "%p %p", (void *)one, (void *)two);
    walkit_storage_destroy(one);
    dir_lfs = &lfs;
    backend_dir = lfs_dir_op;
    file_layer_checks("littlefs", walkit_storage_littlefs(&lfs), 16,
                      SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_SAFE_APPEND);
    backend_dir = NULL;
    test_littlefs_full(&lfs);
    test_littlefs_close_after_failed_write(&lfs);
    test_littlefs_full_rollback_journal(&lfs);
    lfs_unmount(&lfs);
    return checks_done();
}
