/* test_posix.c: unit tests of vfs/os/posix.c (POSIX threads), driven by tests/vfs/os/test_posix.py,
 * which builds it twice: with the Linux futex semaphore and with the mutex + condition variable
 * one (-DWALKIT_OS_SEM_CONDVAR) that other POSIX systems get.  The semaphore checks are the
 * os.h contract: binary, a give before the take is remembered, timeouts on the monotonic clock,
 * and no give is ever lost or counted twice, also when it races a timeout.
 * Prints "ok <name>" / "FAIL <name>: why"; exit status = failures. */
#include "os/posix.c"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#define CHECKS_MAIN
#include "checks.h"

typedef struct {
    walkit_os_sem *a, *b;
    long rounds, failures;
    uint32_t delay_us;
} pair;

static void *give_after_delay(void *arg)
{
    pair *p = arg;
    walkit_os_sleep_us(p->delay_us);
    if (walkit_os_sem_give(p->a) != WALKIT_OS_OK) p->failures++;
    return NULL;
}

/* A take that never returns would hang the program: when the check being watched has made no
 * progress for 10 s, the watchdog reports it and ends the program (a FAIL line, not a timeout
 * of the whole run).  A slow machine only slows the progress down. */
static const char *watched; /* the check now waiting, NULL when none (atomic) */
static long progress;       /* bumped by the watched check as it goes (atomic) */

static void watch(const char *name) { __atomic_store_n(&watched, name, __ATOMIC_SEQ_CST); }

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        const char *name = __atomic_load_n(&watched, __ATOMIC_SEQ_CST);
        long seen = __atomic_load_n(&progress, __ATOMIC_SEQ_CST);
        int stuck = name != NULL;
        for (int i = 0; stuck && i < 1000; i++) {
            walkit_os_sleep_us(10000);
            stuck = __atomic_load_n(&watched, __ATOMIC_SEQ_CST) == name &&
                    __atomic_load_n(&progress, __ATOMIC_SEQ_CST) == seen;
        }
        if (stuck) {
            printf("FAIL %s: still waiting after 10 s (a lost wake-up)\n", name);
            fflush(stdout);
            _exit(1);
        }
        walkit_os_sleep_us(10000);
    }
    return NULL;
}

/* The other side of the ping-pong: take a, give b, `rounds` times. */
static void *pong(void *arg)
{
    pair *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        if (walkit_os_sem_take(p->a, 10000) != WALKIT_OS_OK) { p->failures++; break; }
        if (walkit_os_sem_give(p->b) != WALKIT_OS_OK) { p->failures++; break; }
    }
    return NULL;
}

static void test_mutexes(void)
{
    walkit_os_mutex *m = walkit_os_mutex_create();
    CHECK("mutex_lock", walkit_os_mutex_lock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_relock_is_deadlock", walkit_os_mutex_lock(m) == WALKIT_OS_DEADLOCK, "");
    CHECK("mutex_trylock_held_busy", walkit_os_mutex_trylock(m) == WALKIT_OS_BUSY, "");
    CHECK("mutex_unlock", walkit_os_mutex_unlock(m) == WALKIT_OS_OK, "");
    CHECK("mutex_unlock_free_is_error", walkit_os_mutex_unlock(m) != WALKIT_OS_OK, "");
    walkit_os_mutex_destroy(m);

    walkit_os_mutex *r = walkit_os_mutex_create_recursive();
    CHECK("recursive_relock", walkit_os_mutex_lock(r) == WALKIT_OS_OK &&
          walkit_os_mutex_lock(r) == WALKIT_OS_OK, "");
    CHECK("recursive_unlock_twice", walkit_os_mutex_unlock(r) == WALKIT_OS_OK &&
          walkit_os_mutex_unlock(r) == WALKIT_OS_OK, "");
    walkit_os_mutex_destroy(r);
}

static void test_sem_single_task(void)
{
    walkit_os_sem *s = walkit_os_sem_create();
    CHECK("sem_created_empty", walkit_os_sem_take(s, WALKIT_OS_NO_WAIT) == WALKIT_OS_TIMEOUT, "");
    walkit_os_sem_give(s);
    CHECK("sem_give_before_take_is_remembered", walkit_os_sem_take(s, WALKIT_OS_FOREVER) == WALKIT_OS_OK, "");
    walkit_os_sem_give(s);
    walkit_os_sem_give(s);
    int first = walkit_os_sem_take(s, WALKIT_OS_NO_WAIT), second = walkit_os_sem_take(s, WALKIT_OS_NO_WAIT);
    CHECK("sem_is_binary", first == WALKIT_OS_OK && second == WALKIT_OS_TIMEOUT,
          "two gives, then takes gave %d and %d", first, second);
    uint64_t t0 = walkit_os_monotonic_us();
    int rc = walkit_os_sem_take(s, 50);
    uint64_t dt = walkit_os_monotonic_us() - t0;
    /* not before the timeout; the upper limit only tells a hang from a slow machine */
    CHECK("sem_timed_take_times_out", rc == WALKIT_OS_TIMEOUT && dt >= 50000 && dt < 5000000,
          "rc %d after %llu us", rc, (unsigned long long)dt);
    walkit_os_sem_give(s);
    CHECK("sem_timed_take_full_at_once", walkit_os_sem_take(s, 50) == WALKIT_OS_OK, "");
    walkit_os_sem_destroy(s);
}

static void test_sem_two_tasks(void)
{
    pair p = { walkit_os_sem_create(), walkit_os_sem_create(), 0, 0, 20000 };
    pthread_t t;
    pthread_create(&t, NULL, give_after_delay, &p);
    watch("sem_forever_woken_by_other_task");
    int rc = walkit_os_sem_take(p.a, WALKIT_OS_FOREVER);
    watch(NULL);
    pthread_join(t, NULL);
    CHECK("sem_forever_woken_by_other_task", rc == WALKIT_OS_OK && p.failures == 0, "rc %d", rc);

    /* A give that races the taker's timeout is received exactly once: by that take, or, if it
     * timed out, by the next one. */
    long lost = 0, twice = 0;
    for (int i = 0; i < 400; i++) {
        p.delay_us = (uint32_t)(i % 4) * 500u; /* 0, 0.5, 1, 1.5 ms against a 1 ms timeout */
        pthread_create(&t, NULL, give_after_delay, &p);
        rc = walkit_os_sem_take(p.a, 1);
        pthread_join(t, NULL);
        int later = walkit_os_sem_take(p.a, WALKIT_OS_NO_WAIT);
        if (rc != WALKIT_OS_OK && later != WALKIT_OS_OK) lost++;
        if (rc == WALKIT_OS_OK && later == WALKIT_OS_OK) twice++;
    }
    CHECK("sem_give_racing_timeout_received_once", lost == 0 && twice == 0 && p.failures == 0,
          "%ld gives lost, %ld received twice", lost, twice);

    /* Ping-pong: every wake-up is a give to a task that is, or is about to be, asleep. */
    p.rounds = 100000;
    p.failures = 0;
    long done = 0;
    pthread_create(&t, NULL, pong, &p);
    watch("sem_ping_pong_loses_no_wakeup");
    for (; done < p.rounds; done++, __atomic_fetch_add(&progress, 1, __ATOMIC_SEQ_CST)) {
        if (walkit_os_sem_give(p.a) != WALKIT_OS_OK) break;
        if (walkit_os_sem_take(p.b, 10000) != WALKIT_OS_OK) break;
    }
    pthread_join(t, NULL);
    watch(NULL);
    CHECK("sem_ping_pong_loses_no_wakeup", done == p.rounds && p.failures == 0,
          "%ld of %ld round trips, %ld failures on the other side", done, p.rounds, p.failures);
    walkit_os_sem_destroy(p.a);
    walkit_os_sem_destroy(p.b);
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    pthread_t w;
    pthread_create(&w, NULL, watchdog, NULL);
    test_mutexes();
    test_sem_single_task();
    test_sem_two_tasks();
    return checks_done();
}
