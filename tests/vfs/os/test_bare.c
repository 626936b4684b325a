/* test_bare.c: unit tests of vfs/os/bare.c (single task, no scheduler), run on the host with
 * the host's monotonic clock given as the port's clock hook; driven by tests/vfs/os/test_bare.py.
 * Prints "ok <name>" / "FAIL <name>: why"; exit status = failures. */
#include "os/bare.c"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"
#include "walkit.h"

static uint64_t host_time_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

#define CHECKS_MAIN
#include "checks.h"

static int rows_cb(void *out, int n, char **v, char **names)
{
    (void)n, (void)names;
    snprintf(out, 64, "%s|%s", v[0], v[1]);
    return 0;
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    walkit_os_mutex *m = walkit_os_mutex_create();
    CHECK("mutex_lock", walkit_os_mutex_lock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_relock_is_deadlock", walkit_os_mutex_lock(m) == WALKIT_OS_DEADLOCK,
          "one task can never see a held mutex released");
    CHECK("mutex_trylock_held_busy", walkit_os_mutex_trylock(m) == WALKIT_OS_BUSY, "");
    CHECK("mutex_unlock", walkit_os_mutex_unlock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_unlock_free_is_error", walkit_os_mutex_unlock(m) == WALKIT_OS_ERROR, "");
    walkit_os_mutex_destroy(m);

    walkit_os_sem *s = walkit_os_sem_create();
    CHECK("sem_forever_empty_is_deadlock", walkit_os_sem_take(s, WALKIT_OS_FOREVER) == WALKIT_OS_DEADLOCK, "");
    /* With one task nobody else can give it: a finite timeout is as hopeless as forever, and
     * must not be spun out. */
    uint64_t t0 = host_time_us();
    int rc = walkit_os_sem_take(s, 300);
    uint64_t dt = host_time_us() - t0;
    CHECK("sem_timeout_empty_is_deadlock_at_once", rc == WALKIT_OS_DEADLOCK && dt < 50000,
          "rc %d after %llu us", rc, (unsigned long long)dt);
    CHECK("sem_no_wait_empty_is_timeout", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_TIMEOUT, "");
    walkit_os_sem_give(s);
    CHECK("sem_give_then_take", walkit_os_sem_take(s, WALKIT_OS_FOREVER) == WALKIT_OS_OK, "");
    walkit_os_sem_destroy(s);

    /* Without a clock the port refuses to start: SQLite's own start-up fails, at once. */
    CHECK("walkit_init_without_clock_fails", walkit_init() != SQLITE_OK, "");
    walkit_os_bare_hooks hooks = { host_time_us, 0 };
    CHECK("clock_hook_required", walkit_os_bare_init(&(walkit_os_bare_hooks){ NULL, 0 }) != 0, "");
    CHECK("clock_hook", walkit_os_bare_init(&hooks) == 0, "");
    CHECK("walkit_init", walkit_init() == SQLITE_OK, "");
    /* A non-recursive SQLite mutex entered twice by the one task: a bug in the caller, which
     * the port reports (counted, logged) instead of hanging. */
    walkit_stats before, after;
    walkit_get_stats(&before);
    sqlite3_mutex *fast = sqlite3_mutex_alloc(SQLITE_MUTEX_FAST);
    sqlite3_mutex_enter(fast);
    sqlite3_mutex_enter(fast);
    walkit_get_stats(&after);
    CHECK("double_enter_reported", after.os_errors == before.os_errors + 1, "%llu -> %llu",
          (unsigned long long)before.os_errors, (unsigned long long)after.os_errors);
    sqlite3_mutex_leave(fast);
    sqlite3_mutex_free(fast);

    sqlite3_mutex *rec = sqlite3_mutex_alloc(SQLITE_MUTEX_RECURSIVE);
    sqlite3_mutex_enter(rec);
    sqlite3_mutex_enter(rec);
    CHECK("recursive_reenter_ok", sqlite3_mutex_try(rec) == SQLITE_OK, "");
    sqlite3_mutex_leave(rec);
    sqlite3_mutex_leave(rec);
    sqlite3_mutex_leave(rec);
    sqlite3_mutex_free(rec);

    /* WAL with two connections in the one task, heap WAL-index. */
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.storage = walkit_storage_ram();
    CHECK("register", walkit_register(&cfg) == SQLITE_OK, "");
    sqlite3 *a = NULL, *b = NULL;
    sqlite3_open("/bare.db", &a);
    sqlite3_open("/bare.db", &b);
    rc = sqlite3_exec(a, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);",
                      0, 0, 0);
    CHECK("wal_write", rc == SQLITE_OK, "%s", sqlite3_errmsg(a));
    char out[64] = "";
    rc = sqlite3_exec(b, "SELECT count(*), (SELECT * FROM pragma_integrity_check) FROM t", rows_cb,
                      out, 0);
    CHECK("wal_second_connection_reads", rc == SQLITE_OK && strcmp(out, "2|ok") == 0, "%d %s", rc, out);
    sqlite3_close(b);
    sqlite3_close(a);
    walkit_get_stats(&after);
    CHECK("no_other_os_errors", after.os_errors == before.os_errors + 1, "%llu",
          (unsigned long long)after.os_errors);
    return checks_done();
}
