/* test_vxworks.c: unit tests of vfs/os/vxworks.c on the host VxWorks emulation
 * (tests/vfs/os/vxworks_emulation), driven by tests/vfs/os/test_vxworks.py.
 *
 * The port is included as source so the tests can reach the VxWorks objects behind an os.h
 * handle (to delete a semaphore under walkit's feet, as a buggy application would).  Each check
 * prints "ok <name>" or "FAIL <name>: <why>"; the exit status is the number of failures. */
#include "os/vxworks.c"

#include <stdio.h>
#include <string.h>

#include "sqlite3.h"
#include "vxemu.h"
#include "walkit.h"

#define CHECKS_MAIN
#include "checks.h"

static uint64_t ms_since(uint64_t t0_us) { return (walkit_os_monotonic_us() - t0_us) / 1000u; }

/* The host's clock, finer than a tick: what a wait really lasted (the port's monotonic clock
 * counts ticks, so it cannot see a wait end early within a tick). */
static uint64_t host_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* ---- tasks used by the tests (VxWorks entry points: up to ten integer arguments) */

static SEM_ID done; /* a helper task gives it when finished (one helper at a time: binary) */

static int task_trylock(_Vx_usr_arg_t m, _Vx_usr_arg_t out)
{
    *(int *)out = walkit_os_mutex_trylock((walkit_os_mutex *)m);
    if (*(int *)out == WALKIT_OS_OK) walkit_os_mutex_unlock((walkit_os_mutex *)m);
    semGive(done);
    return 0;
}

static int task_lock_and_time(_Vx_usr_arg_t m, _Vx_usr_arg_t waited_ms)
{
    uint64_t t0 = walkit_os_monotonic_us();
    int rc = walkit_os_mutex_lock((walkit_os_mutex *)m);
    *(int64_t *)waited_ms = rc == WALKIT_OS_OK ? (int64_t)ms_since(t0) : -1;
    if (rc == WALKIT_OS_OK) walkit_os_mutex_unlock((walkit_os_mutex *)m);
    semGive(done);
    return 0;
}

static int task_give_later(_Vx_usr_arg_t s, _Vx_usr_arg_t delay_ticks)
{
    taskDelay((_Vx_ticks_t)delay_ticks);
    walkit_os_sem_give((walkit_os_sem *)s);
    return 0;
}

static int task_take_forever(_Vx_usr_arg_t s, _Vx_usr_arg_t out)
{
    *(int *)out = walkit_os_sem_take((walkit_os_sem *)s, WALKIT_OS_FOREVER);
    *((int *)out + 1) = errnoGet();
    semGive(done);
    return 0;
}

static int task_sqlite_try(_Vx_usr_arg_t m, _Vx_usr_arg_t out)
{
    *(int *)out = sqlite3_mutex_try((sqlite3_mutex *)m);
    if (*(int *)out == SQLITE_OK) sqlite3_mutex_leave((sqlite3_mutex *)m);
    semGive(done);
    return 0;
}

static TASK_ID spawn(FUNCPTR f, _Vx_usr_arg_t a, _Vx_usr_arg_t b)
{
    return taskSpawn("tTest", 100, 0, 64 * 1024, f, a, b, 0, 0, 0, 0, 0, 0, 0, 0);
}

static void wait_done(void) { semTake(done, WAIT_FOREVER); }

/* ---- the tests */

static void test_mutex(void)
{
    walkit_os_mutex *m = walkit_os_mutex_create();
    CHECK("mutex_create", m != NULL, "semMCreate failed");
    CHECK("mutex_lock", walkit_os_mutex_lock(m) == WALKIT_OS_OK, "lock failed");
    CHECK("mutex_relock_by_owner_is_deadlock", walkit_os_mutex_lock(m) == WALKIT_OS_DEADLOCK,
          "a VxWorks mutex would silently recurse; os.h requires WALKIT_OS_DEADLOCK");
    CHECK("mutex_trylock_by_owner_is_busy", walkit_os_mutex_trylock(m) == WALKIT_OS_BUSY, "");

    int got = 99;
    spawn((FUNCPTR)task_trylock, (_Vx_usr_arg_t)m, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("mutex_trylock_other_task_busy", got == WALKIT_OS_BUSY, "got %d", got);

    int64_t waited = -2;
    spawn((FUNCPTR)task_lock_and_time, (_Vx_usr_arg_t)m, (_Vx_usr_arg_t)&waited);
    taskDelay(sysClkRateGet() / 10); /* hold it ~100 ms while the task pends */
    CHECK("mutex_unlock", walkit_os_mutex_unlock(m) == WALKIT_OS_OK, "unlock failed");
    wait_done();
    CHECK("mutex_blocks_other_task_until_unlock", waited >= 50, "waited %lld ms",
          (long long)waited);

    spawn((FUNCPTR)task_trylock, (_Vx_usr_arg_t)m, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("mutex_trylock_other_task_after_unlock", got == WALKIT_OS_OK, "got %d", got);
    CHECK("mutex_unlock_not_held_is_error", walkit_os_mutex_unlock(m) == WALKIT_OS_ERROR, "");

    /* An application deletes the semaphore behind walkit's back: semTake fails with
     * S_objLib_OBJ_ID_ERROR, and the port reports an error instead of pretending to lock. */
    semDelete(m->sem);
    int rc = walkit_os_mutex_lock(m);
    CHECK("mutex_lock_deleted_is_error", rc == WALKIT_OS_ERROR && errnoGet() == S_objLib_OBJ_ID_ERROR,
          "rc %d errno 0x%x", rc, errnoGet());
    free(m); /* its semaphore is already gone */
}

static void test_semaphore(void)
{
    walkit_os_sem *s = walkit_os_sem_create();
    CHECK("sem_create", s != NULL, "semBCreate failed");

    uint64_t t0 = host_us();
    int rc = walkit_os_sem_take(s, 100);
    uint64_t waited = (host_us() - t0) / 1000u;
    CHECK("sem_take_timeout", rc == WALKIT_OS_TIMEOUT && errnoGet() == S_objLib_OBJ_TIMEOUT,
          "rc %d errno 0x%x", rc, errnoGet());
    /* 100 ms at 60 Hz is 6 tick periods; the first tick interrupt may come at once, so the
     * port waits 7 ticks: between 100 and 117 ms, never shorter than asked. */
    CHECK("sem_take_timeout_duration", waited >= 100 && waited < 1000, "waited %llu ms",
          (unsigned long long)waited);

    rc = walkit_os_sem_take(s, WALKIT_OS_NO_WAIT);
    CHECK("sem_take_no_wait_empty", rc == WALKIT_OS_TIMEOUT && errnoGet() == S_objLib_OBJ_UNAVAILABLE,
          "rc %d errno 0x%x", rc, errnoGet());

    walkit_os_sem_give(s);
    walkit_os_sem_give(s); /* binary: stays full, one take empties it */
    CHECK("sem_give_remembered", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_OK, "");
    CHECK("sem_binary_not_counting", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_TIMEOUT, "");

    spawn((FUNCPTR)task_give_later, (_Vx_usr_arg_t)s, 3);
    t0 = walkit_os_monotonic_us();
    rc = walkit_os_sem_take(s, 5000);
    CHECK("sem_give_wakes_waiter", rc == WALKIT_OS_OK && ms_since(t0) < 4000, "rc %d", rc);

    /* Deleted while a task pends on it: the task gets ERROR (S_objLib_OBJ_DELETED). */
    int out[2] = { 99, 0 };
    spawn((FUNCPTR)task_take_forever, (_Vx_usr_arg_t)s, (_Vx_usr_arg_t)out);
    for (int i = 0; i < 600 && vxemu_pending(s->sem) == 0; i++) taskDelay(1); /* <= 10 s */
    semDelete(s->sem);
    wait_done();
    CHECK("sem_deleted_while_pending_is_error",
          out[0] == WALKIT_OS_ERROR && out[1] == S_objLib_OBJ_DELETED, "rc %d errno 0x%x", out[0],
          out[1]);
    rc = walkit_os_sem_take(s, 10);
    CHECK("sem_take_deleted_is_error", rc == WALKIT_OS_ERROR, "rc %d", rc);
    CHECK("sem_give_deleted_is_error", walkit_os_sem_give(s) == WALKIT_OS_ERROR, "");
    free(s);
}

static void test_create_failures(void)
{
    vxemu_fail_sem_create(1);
    CHECK("mutex_create_fails_cleanly", walkit_os_mutex_create() == NULL, "");
    vxemu_fail_sem_create(1);
    CHECK("sem_create_fails_cleanly", walkit_os_sem_create() == NULL, "");

    /* Through SQLite: a dynamic mutex that cannot be created is NULL (SQLite reports NOMEM). */
    vxemu_fail_sem_create(1);
    CHECK("sqlite3_mutex_alloc_fails_cleanly", sqlite3_mutex_alloc(SQLITE_MUTEX_FAST) == NULL, "");

    /* And walkit_register: its lock table mutex cannot be created -> SQLITE_NOMEM. */
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "vx-nomem";
    cfg.make_default = 0;
    cfg.storage = walkit_storage_ram();
    int live = vxemu_live_semaphores();
    vxemu_fail_sem_create(1);
    int rc = walkit_register(&cfg);
    CHECK("register_semMCreate_failure_is_nomem", rc == SQLITE_NOMEM, "rc %d", rc);
    CHECK("register_failure_leaks_no_semaphore", vxemu_live_semaphores() == live, "%d -> %d",
          live, vxemu_live_semaphores());
    CHECK("register_after_failure", walkit_register(&cfg) == SQLITE_OK, "");
    CHECK("unregister", walkit_unregister("vx-nomem") == SQLITE_OK, "");
    walkit_storage_destroy(cfg.storage);
}

static void test_sqlite_mutexes(void)
{
    sqlite3_mutex *r = sqlite3_mutex_alloc(SQLITE_MUTEX_RECURSIVE);
    sqlite3_mutex_enter(r);
    sqlite3_mutex_enter(r);
    CHECK("recursive_try_by_owner", sqlite3_mutex_try(r) == SQLITE_OK, "");
    int got = 99;
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)r, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("recursive_try_other_task_busy", got == SQLITE_BUSY, "got %d", got);
    sqlite3_mutex_leave(r);
    sqlite3_mutex_leave(r);
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)r, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("recursive_still_held_after_two_of_three_leaves", got == SQLITE_BUSY, "got %d", got);
    sqlite3_mutex_leave(r);
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)r, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("recursive_free_after_last_leave", got == SQLITE_OK, "got %d", got);
    sqlite3_mutex_free(r);

    sqlite3_mutex *st = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    CHECK("static_mutex_same_object", st == sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1), "");
    sqlite3_mutex_enter(st);
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)st, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("static_mutex_excludes_other_task", got == SQLITE_BUSY, "got %d", got);
    sqlite3_mutex_leave(st);

    /* The OS refuses an enter (here: an injected semTake failure).  sqlite3_mutex_enter cannot
     * return it; it is reported, and the mutex must not count as held by the caller: a later
     * try of the same task must really lock it, so that other tasks are still kept out. */
    walkit_stats before, after;
    walkit_get_stats(&before);
    sqlite3_mutex *f = sqlite3_mutex_alloc(SQLITE_MUTEX_RECURSIVE);
    vxemu_fail_sem_take(1);
    sqlite3_mutex_enter(f);
    int mine = sqlite3_mutex_try(f);
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)f, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("failed_enter_is_not_ownership", mine == SQLITE_OK && got == SQLITE_BUSY,
          "own try %d, other task's try %d", mine, got);
    sqlite3_mutex_leave(f); /* the try's */
    sqlite3_mutex_leave(f); /* the failed enter's: reported, nothing released */
    walkit_get_stats(&after);
    CHECK("failed_enter_and_its_leave_reported", after.os_errors == before.os_errors + 2,
          "%llu -> %llu", (unsigned long long)before.os_errors, (unsigned long long)after.os_errors);
    spawn((FUNCPTR)task_sqlite_try, (_Vx_usr_arg_t)f, (_Vx_usr_arg_t)&got);
    wait_done();
    CHECK("free_after_failed_enter", got == SQLITE_OK, "got %d", got);
    sqlite3_mutex_free(f);
}

static void test_time(void)
{
    sysClkRateSet(100);
    uint64_t t0 = host_us();
    walkit_os_sleep_us(1); /* at least one whole tick period */
    uint64_t dt = host_us() - t0;
    CHECK("sleep_rounds_up_to_a_tick", dt >= 10000, "slept %llu us", (unsigned long long)dt);
    t0 = host_us();
    walkit_os_sleep_us(50000);
    dt = host_us() - t0;
    CHECK("sleep_50ms", dt >= 50000 && dt < 1000000, "slept %llu us", (unsigned long long)dt);
    int64_t wall = walkit_os_wall_ms(), host = (int64_t)time(NULL) * 1000;
    CHECK("wall_clock", wall - host > -2000 && wall - host < 2000, "%lld vs %lld",
          (long long)wall, (long long)host);
    CHECK("task_id_nonzero", walkit_os_task_id() != 0, "");
    sysClkRateSet(60);
}

/* ---- SQLite end to end on the port: tasks writing one WAL database concurrently */

/* Writers run concurrently, so each signals its own (binary) semaphore. */
static SEM_ID writer_done[4];

static int task_writer(_Vx_usr_arg_t id, _Vx_usr_arg_t rcs)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2("/vx.db", &db, SQLITE_OPEN_READWRITE, "vx");
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db, 10000);
    for (int i = 0; i < 50 && rc == SQLITE_OK; i++) {
        char sql[96];
        sqlite3_snprintf(sizeof sql, sql, "INSERT INTO t(task, n) VALUES (%d, %d)", (int)id, i);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    ((int *)rcs)[id] = rc;
    sqlite3_close(db);
    semGive(writer_done[id]);
    return 0;
}

static int count_cb(void *out, int n, char **v, char **names)
{
    (void)n, (void)names;
    snprintf(out, 64, "%s|%s", v[0], v[1]);
    return 0;
}

static void test_sqlite_wal(void)
{
    walkit_stats before;
    walkit_get_stats(&before);
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "vx";
    cfg.make_default = 0;
    cfg.storage = walkit_storage_ram();
    CHECK("register_ram", walkit_register(&cfg) == SQLITE_OK, "");
    sqlite3 *db = NULL;
    sqlite3_open_v2("/vx.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "vx");
    int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(task, n);", 0, 0, 0);
    CHECK("wal_setup", rc == SQLITE_OK, "%s", sqlite3_errmsg(db));
    int rcs[4] = { -1, -1, -1, -1 };
    for (int i = 0; i < 4; i++) {
        writer_done[i] = semBCreate(SEM_Q_PRIORITY, SEM_EMPTY);
        spawn((FUNCPTR)task_writer, i, (_Vx_usr_arg_t)rcs);
    }
    for (int i = 0; i < 4; i++) {
        semTake(writer_done[i], WAIT_FOREVER);
        semDelete(writer_done[i]);
    }
    CHECK("wal_writers_ok", rcs[0] == 0 && rcs[1] == 0 && rcs[2] == 0 && rcs[3] == 0,
          "%d %d %d %d", rcs[0], rcs[1], rcs[2], rcs[3]);
    char out[64] = "";
    sqlite3_exec(db, "SELECT count(*), (SELECT * FROM pragma_integrity_check) FROM t", count_cb,
                 out, NULL);
    CHECK("wal_rows_and_integrity", strcmp(out, "200|ok") == 0, "got %s", out);
    sqlite3_close(db);
    walkit_stats s;
    walkit_get_stats(&s);
    CHECK("no_os_errors", s.os_errors == before.os_errors, "%llu",
          (unsigned long long)(s.os_errors - before.os_errors));
    CHECK("unregister_vx", walkit_unregister("vx") == SQLITE_OK, "");
    walkit_storage_destroy(cfg.storage);
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    done = semBCreate(SEM_Q_PRIORITY, SEM_EMPTY);
    CHECK("walkit_init", walkit_init() == SQLITE_OK, "");
    test_mutex();
    test_semaphore();
    test_create_failures();
    test_sqlite_mutexes();
    test_time();
    test_sqlite_wal();
    return checks_done();
}
