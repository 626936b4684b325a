/* test_vfs.c: the walkit VFS's registration API and what several VFS names on one storage share
 * (file locks, the WAL-index; conflicts within one task; the default VFS across
 * sqlite3_shutdown).  The file layer on each backend: tests/vfs/storage/test_<backend>.c.
 * Driven by tests/vfs/test_vfs.py.  Prints "ok <check>" or "FAIL <check>: why"; exit status =
 * failures; --list prints the checks. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#define CHECKS_MAIN
#include "checks.h"
#include "sqlite3.h"
#include "vfs_helpers.h"
#include "walkit.h"

static void test_register_misuse(void)
{
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

/* Several VFS names on one storage, as firmware/main.c registers "walkit" (heap) and
 * "walkit-noshm" on one littlefs: a file has one lock state and one WAL-index, whichever name
 * reaches it. */
static void test_names_share_storage(void)
{
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
        FAIL_REPORT("names_share_file_locks", "open failed");
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
    static const char m[] = "FAIL same_task_conflict: hung (alarm)\n";
    if (write(1, m, sizeof m - 1) < 0) { }
    _exit(3);
}

/* Two connections driven by this one thread: with a busy timeout, even an infinite one, a
 * WAL-index lock held by the other connection is SQLITE_BUSY at once (it cannot be released
 * while this thread waits). */
static void test_same_task_conflict(void)
{
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

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines out even if the alarm ends the run */
    if (walkit_init() != SQLITE_OK) return 2;
    test_register_misuse(); /* first: it needs a walkit with no storage registered yet */
    test_names_share_storage();
    test_same_task_conflict();
    test_default_survives_reinit(); /* last: it shuts SQLite down and starts it again */
    return checks_done();
}
