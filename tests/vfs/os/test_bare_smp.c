/* test_bare_smp.c: the algorithms of vfs/os/bare_smp.c (one task per core), compiled for the
 * host (WALKIT_BARE_SMP_HOST: GCC __atomic builtins in place of LDREX/STREX/DMB, a thread per
 * task) and stressed with pthreads; driven by tests/vfs/os/test_bare_smp.py.  Run with
 * --plant-non-atomic-cas, the mutex is taken by a plain load and store and
 * only the mutual-exclusion check runs: it must fail (the Python side shows it does).
 * Prints "ok <name>" / "FAIL <name>: why"; exit status = failures. */
#define WALKIT_BARE_SMP_HOST 1
#include "os/bare_smp.c"

#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sqlite3.h"
#include "walkit.h"

#define CHECKS_MAIN
#include "checks.h"

/* The planted race (--plant-non-atomic-cas): the mutex taken by check-then-store
 * with a window between the two, as a port that forgot the exclusive monitor would take it. */
static int planted_lock(walkit_os_mutex *m)
{
    for (;;) {
        while (m->owner != 0) wait_event();
        sched_yield();
        m->owner = this_task();
        dmb();
        return WALKIT_OS_OK;
    }
}

static int (*lock)(walkit_os_mutex *) = walkit_os_mutex_lock;

enum { THREADS = 4, ROUNDS = 50000 };

static walkit_os_mutex *shared_mutex;
static long counter;        /* guarded by shared_mutex */
static volatile int inside; /* threads inside the critical section now (guarded: must stay <= 1) */
static int overlap;         /* times a thread found another inside */

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        lock(shared_mutex);
        if (inside++) __atomic_fetch_add(&overlap, 1, __ATOMIC_RELAXED);
        long c = counter;
        if ((i & 63) == 0) sched_yield(); /* widen the window a broken lock leaves open */
        counter = c + 1;
        inside--;
        walkit_os_mutex_unlock(shared_mutex);
    }
    return NULL;
}

static walkit_os_sem *ping, *pong;
enum { PINGS = 20000 };

static void *ponger(void *arg)
{
    int *fails = arg;
    for (int i = 0; i < PINGS; i++) {
        if (walkit_os_sem_take(ping, 2000) != WALKIT_OS_OK) { (*fails)++; break; }
        walkit_os_sem_give(pong);
    }
    return NULL;
}

struct foreign { walkit_os_mutex *m; int unlock_rc, trylock_rc; uintptr_t id; };

static void *foreigner(void *arg)
{
    struct foreign *f = arg;
    f->unlock_rc = walkit_os_mutex_unlock(f->m);
    f->trylock_rc = walkit_os_mutex_trylock(f->m);
    f->id = walkit_os_task_id();
    return NULL;
}

static void *late_giver(void *arg)
{
    walkit_os_sleep_us(30000);
    walkit_os_sem_give(arg);
    return NULL;
}

/* The watch (walkit_os_bare_smp_watch): a holder that keeps a mutex until told, and a watch
 * that counts its calls and escapes the wait after a few, as the firmware's stress watchdog
 * escapes core 0's task. */
static walkit_os_mutex *held_mutex;
static volatile int holding, let_go;

static void *holder(void *arg)
{
    (void)arg;
    walkit_os_mutex_lock(held_mutex);
    holding = 1;
    while (!let_go) sched_yield();
    walkit_os_mutex_unlock(held_mutex);
    return NULL;
}

#include <setjmp.h>
static jmp_buf escape;
static int watch_calls;

static void watch(void)
{
    if (++watch_calls == 5) longjmp(escape, 1);
}

/* Runs the wait `what` (0: a mutex another task holds, 1: a semaphore never given, 2: a
 * 10 s sleep) under the watch; 1 when the watch was called and ended the wait early. */
static int escapes(int what, walkit_os_sem *never)
{
    volatile uint64_t t0 = walkit_os_monotonic_us();
    watch_calls = 0;
    if (setjmp(escape) == 0) {
        walkit_os_bare_smp_watch(watch);
        if (what == 0) walkit_os_mutex_lock(held_mutex);
        else if (what == 1) walkit_os_sem_take(never, WALKIT_OS_FOREVER);
        else walkit_os_sleep_us(10u * 1000000u);
        walkit_os_bare_smp_watch(NULL);
        return 0;
    }
    walkit_os_bare_smp_watch(NULL);
    return watch_calls == 5 && walkit_os_monotonic_us() - t0 < 5000000u;
}

/* SQLite on the port: THREADS connections, each committing increments of one row. */
enum { SQL_TXNS = 150 };
static int sql_errors;

static void *sql_worker(void *arg)
{
    (void)arg;
    sqlite3 *db = NULL;
    int rc = sqlite3_open("/smp.db", &db);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 10000);
    for (int i = 0; rc == SQLITE_OK && i < SQL_TXNS;) {
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE c SET n = n + 1; COMMIT", 0, 0, 0);
        if ((rc & 0xff) == SQLITE_BUSY) {
            sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
            rc = SQLITE_OK;
            continue;
        }
        i++;
    }
    if (rc != SQLITE_OK) __atomic_fetch_add(&sql_errors, 1, __ATOMIC_RELAXED);
    sqlite3_close(db);
    return NULL;
}

static int row_cb(void *out, int n, char **v, char **names)
{
    (void)n, (void)names;
    snprintf(out, 64, "%s|%s", v[0], v[1]);
    return 0;
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    pthread_t th[THREADS];
    int planted = argc > 1 && strcmp(argv[1], "--plant-non-atomic-cas") == 0;
    if (planted) lock = planted_lock;

    /* Mutual exclusion under contention: every increment survives, nobody ever overlaps. */
    shared_mutex = walkit_os_mutex_create();
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, hammer, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK("mutex_excludes", counter == (long)THREADS * ROUNDS && overlap == 0,
          "counter %ld of %ld, %d overlaps", counter, (long)THREADS * ROUNDS, overlap);

    if (planted) return checks_done();
    walkit_os_mutex *m = shared_mutex;
    CHECK("mutex_lock", walkit_os_mutex_lock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_relock_is_deadlock", walkit_os_mutex_lock(m) == WALKIT_OS_DEADLOCK,
          "the holder can never see its own mutex released");
    CHECK("mutex_trylock_held_busy", walkit_os_mutex_trylock(m) == WALKIT_OS_BUSY, "");
    struct foreign f = { m, 0, 0, 0 };
    pthread_create(&th[0], NULL, foreigner, &f);
    pthread_join(th[0], NULL);
    CHECK("mutex_unlock_by_other_task_is_error", f.unlock_rc == WALKIT_OS_ERROR, "%d", f.unlock_rc);
    CHECK("mutex_trylock_by_other_task_busy", f.trylock_rc == WALKIT_OS_BUSY, "%d", f.trylock_rc);
    CHECK("task_ids_distinct", f.id != 0 && walkit_os_task_id() != 0 && f.id != walkit_os_task_id()
          && walkit_os_task_id() == walkit_os_task_id(), "");
    CHECK("mutex_unlock", walkit_os_mutex_unlock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_unlock_free_is_error", walkit_os_mutex_unlock(m) == WALKIT_OS_ERROR, "");

    walkit_os_mutex *rm = walkit_os_mutex_create_recursive();
    CHECK("recursive_relock", walkit_os_mutex_lock(rm) == WALKIT_OS_OK &&
          walkit_os_mutex_lock(rm) == WALKIT_OS_OK && walkit_os_mutex_trylock(rm) == WALKIT_OS_OK, "");
    f = (struct foreign){ rm, 0, 0, 0 };
    walkit_os_mutex_unlock(rm);
    walkit_os_mutex_unlock(rm);
    pthread_create(&th[0], NULL, foreigner, &f);
    pthread_join(th[0], NULL);
    CHECK("recursive_held_until_last_unlock", f.trylock_rc == WALKIT_OS_BUSY, "%d", f.trylock_rc);
    CHECK("recursive_unlock_last", walkit_os_mutex_unlock(rm) == WALKIT_OS_OK &&
          walkit_os_mutex_unlock(rm) == WALKIT_OS_ERROR, "");
    walkit_os_mutex_destroy(rm);

    walkit_os_sem *s = walkit_os_sem_create();
    CHECK("sem_no_wait_empty_is_timeout", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_TIMEOUT, "");
    uint64_t t0 = walkit_os_monotonic_us();
    int rc = walkit_os_sem_take(s, 50);
    uint64_t dt = walkit_os_monotonic_us() - t0;
    CHECK("sem_timeout_waits_it_out", rc == WALKIT_OS_TIMEOUT && dt >= 50000 && dt < 2000000,
          "rc %d after %llu us", rc, (unsigned long long)dt);
    walkit_os_sem_give(s);
    walkit_os_sem_give(s);
    CHECK("sem_give_is_remembered_once", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_OK &&
          walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_TIMEOUT, "a binary semaphore");
    pthread_create(&th[0], NULL, late_giver, s);
    t0 = walkit_os_monotonic_us();
    rc = walkit_os_sem_take(s, WALKIT_OS_FOREVER);
    dt = walkit_os_monotonic_us() - t0;
    pthread_join(th[0], NULL);
    CHECK("sem_forever_woken_by_other_task", rc == WALKIT_OS_OK && dt >= 20000, "rc %d after %llu us",
          rc, (unsigned long long)dt);
    walkit_os_sem_destroy(s);

    /* Ping-pong: a lost wake-up would stall one side until its 2 s timeout. */
    ping = walkit_os_sem_create();
    pong = walkit_os_sem_create();
    int pong_fails = 0, ping_fails = 0;
    pthread_create(&th[0], NULL, ponger, &pong_fails);
    for (int i = 0; i < PINGS; i++) {
        walkit_os_sem_give(ping);
        if (walkit_os_sem_take(pong, 2000) != WALKIT_OS_OK) { ping_fails++; break; }
    }
    pthread_join(th[0], NULL);
    CHECK("sem_ping_pong_no_lost_wakeup", ping_fails == 0 && pong_fails == 0, "%d %d",
          ping_fails, pong_fails);

    t0 = walkit_os_monotonic_us();
    walkit_os_sleep_us(20000);
    dt = walkit_os_monotonic_us() - t0;
    CHECK("sleep_at_least", dt >= 20000, "%llu us", (unsigned long long)dt);

    /* The watch reaches even waits without a timeout, and only the task that set it. */
    held_mutex = walkit_os_mutex_create();
    walkit_os_sem *never = walkit_os_sem_create();
    pthread_create(&th[0], NULL, holder, NULL);
    while (!holding) sched_yield();
    CHECK("watch_ends_a_wait_for_a_mutex_held_for_ever", escapes(0, never), "%d calls", watch_calls);
    CHECK("watch_ends_a_forever_sem_take", escapes(1, never), "%d calls", watch_calls);
    CHECK("watch_ends_a_sleep", escapes(2, never), "%d calls", watch_calls);
    let_go = 1;
    pthread_join(th[0], NULL);
    walkit_os_bare_smp_watch(watch);
    walkit_os_bare_smp_watch(NULL);
    watch_calls = 0;
    walkit_os_sleep_us(20000);
    CHECK("watch_off_after_null", watch_calls == 0 && walkit_os_mutex_trylock(held_mutex) == WALKIT_OS_OK &&
          walkit_os_mutex_unlock(held_mutex) == WALKIT_OS_OK, "%d calls", watch_calls);
    walkit_os_sem_destroy(never);
    walkit_os_mutex_destroy(held_mutex);

    /* The start-up contract shared with bare.c: no walkit before the hooks. */
    CHECK("walkit_init_without_hooks_fails", walkit_init() != SQLITE_OK, "");
    CHECK("hooks_required", walkit_os_bare_init(NULL) != 0, "");
    CHECK("hooks", walkit_os_bare_init(&(walkit_os_bare_hooks){ NULL, 1000 }) == 0, "");
    int64_t wall = walkit_os_wall_ms();
    int64_t mono_ms = (int64_t)(walkit_os_monotonic_us() / 1000u);
    CHECK("wall_is_epoch_plus_monotonic", wall - 1000 <= mono_ms && wall - 1000 >= mono_ms - 100,
          "wall %lld, monotonic %lld ms", (long long)wall, (long long)mono_ms);
    CHECK("walkit_init", walkit_init() == SQLITE_OK, "");

    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.storage = walkit_storage_ram();
    CHECK("register", walkit_register(&cfg) == SQLITE_OK, "");
    sqlite3 *db = NULL;
    sqlite3_open("/smp.db", &db);
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE c(n); INSERT INTO c VALUES (0)", 0, 0, 0);
    CHECK("wal_setup", rc == SQLITE_OK, "%s", sqlite3_errmsg(db));
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, sql_worker, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    char out[64] = "";
    rc = sqlite3_exec(db, "SELECT n, (SELECT * FROM pragma_integrity_check) FROM c", row_cb, out, 0);
    char want[64];
    snprintf(want, sizeof want, "%d|ok", THREADS * SQL_TXNS);
    CHECK("wal_threads_commit_every_increment", rc == SQLITE_OK && sql_errors == 0 && strcmp(out, want) == 0,
          "rc %d errors %d got %s want %s", rc, sql_errors, out, want);
    sqlite3_close(db);
    walkit_stats st;
    walkit_get_stats(&st);
    CHECK("no_os_errors", st.os_errors == 0, "%llu", (unsigned long long)st.os_errors);
    return checks_done();
}
