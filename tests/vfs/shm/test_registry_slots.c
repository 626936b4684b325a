/* test_registry_slots.c: the lock slots of vfs/shm/registry.c driven directly from threads (posix
 * port), without SQLite on top, so that each property is checked on its own.  Driven by
 * tests/vfs/shm/test_registry_slots.py.
 *
 *   test_registry_slots --list      the names of the checks, one a line (tests/support/checks.h)
 *   test_registry_slots [NAME...]   run the checks (all by default); each prints "ok NAME" or
 *                             "FAIL NAME: why"; the exit status is the number of failures
 *
 * Checks:
 *   shared_count_exact      8 threads take and drop SHARED on one slot 200,000 times each while
 *                           another keeps trying EXCLUSIVE on it: the exclusive holder never
 *                           sees a reader inside, and at the end the slot is free (an
 *                           EXCLUSIVE lock succeeds at once).  A non-atomic count
 *                           (WALKIT_PLANT_RACY_SLOTS=1) loses updates now and then (fails it
 *                           in some runs) and is a data race for ThreadSanitizer every time.
 *   exclusive_multi_slot    EXCLUSIVE on slots 1..7 is all or nothing: refused while a reader
 *                           holds slot 5, and the slots it did not get are left free.
 *   release_wakes_waiter    a blocked EXCLUSIVE request is granted when the holder lets go, well
 *                           before its timeout.
 *   waiter_not_starved      two threads take and drop EXCLUSIVE on one slot back to back
 *                           without ever waiting (they retry at once on SQLITE_BUSY); a third
 *                           asks with a 3 s timeout, 10 times: every request is granted (the
 *                           starvation bound serves it first after a few lost hand-offs).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECKS_MAIN
#include "checks.h"
#include "shm/registry.h"
#include "sqlite3.h"

#define SH_LOCK (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED)
#define SH_UNLOCK (SQLITE_SHM_UNLOCK | SQLITE_SHM_SHARED)
#define EX_LOCK (SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE)
#define EX_UNLOCK (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE)

static walkit_shm_registry *reg;

static walkit_shm_conn *attach(void)
{
    walkit_shm_conn *c = NULL;
    if (walkit_shm_attach(reg, "/t.db", &c) != SQLITE_OK) {
        fprintf(stderr, "attach failed\n");
        exit(100);
    }
    return c;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- shared_count_exact */

#define READERS 8
#define ROUNDS 200000
static pthread_barrier_t start; /* the readers start together */
static int inside;        /* readers between their lock and unlock (atomic) */
static int readers_done;  /* atomic */
static long seen_inside;  /* exclusive holds that saw a reader inside (writer thread only) */
static long excl_granted;

static void *count_reader(void *arg)
{
    (void)arg;
    walkit_shm_conn *c = attach();
    pthread_barrier_wait(&start);
    for (int i = 0; i < ROUNDS; i++) {
        if (walkit_shm_lock(c, 3, 1, SH_LOCK, 0) != SQLITE_OK) continue; /* an exclusive try */
        __atomic_fetch_add(&inside, 1, __ATOMIC_SEQ_CST);
        __atomic_fetch_sub(&inside, 1, __ATOMIC_SEQ_CST);
        walkit_shm_lock(c, 3, 1, SH_UNLOCK, 0);
    }
    __atomic_fetch_add(&readers_done, 1, __ATOMIC_SEQ_CST);
    return c;
}

static void *count_writer(void *arg)
{
    walkit_shm_conn *c = arg;
    while (__atomic_load_n(&readers_done, __ATOMIC_SEQ_CST) < READERS) {
        if (walkit_shm_lock(c, 3, 1, EX_LOCK, 0) != SQLITE_OK) continue;
        excl_granted++;
        if (__atomic_load_n(&inside, __ATOMIC_SEQ_CST) != 0) seen_inside++;
        walkit_shm_lock(c, 3, 1, EX_UNLOCK, 0);
    }
    return NULL;
}

static void check_shared_count_exact(void)
{
    walkit_shm_conn *w = attach();
    pthread_t r[READERS], wt;
    void *conns[READERS];
    pthread_barrier_init(&start, NULL, READERS);
    pthread_create(&wt, NULL, count_writer, w);
    for (int i = 0; i < READERS; i++) pthread_create(&r[i], NULL, count_reader, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], &conns[i]);
    pthread_join(wt, NULL);
    pthread_barrier_destroy(&start);
    int rc = walkit_shm_lock(w, 3, 1, EX_LOCK, 0);
    CHECK("shared_count_exact", rc == SQLITE_OK && seen_inside == 0,
          "final exclusive lock %d (slot not back to free: lost count updates), %ld of %ld "
          "exclusive holds saw a reader inside", rc, seen_inside, excl_granted);
    if (rc == SQLITE_OK) walkit_shm_lock(w, 3, 1, EX_UNLOCK, 0);
    for (int i = 0; i < READERS; i++) walkit_shm_detach(reg, conns[i]);
    walkit_shm_detach(reg, w);
}

/* ---- exclusive_multi_slot */

static void check_exclusive_multi_slot(void)
{
    walkit_shm_conn *a = attach(), *b = attach();
    int r1 = walkit_shm_lock(b, 5, 1, SH_LOCK, 0);
    int r2 = walkit_shm_lock(a, 1, 7, EX_LOCK, 0);
    int r3 = walkit_shm_lock(b, 1, 1, EX_LOCK, 0); /* slot 1 must have been given back */
    int r4 = walkit_shm_lock(b, 7, 1, SH_LOCK, 0); /* and slot 7 never taken */
    walkit_shm_lock(b, 1, 1, EX_UNLOCK, 0);
    walkit_shm_lock(b, 7, 1, SH_UNLOCK, 0);
    walkit_shm_lock(b, 5, 1, SH_UNLOCK, 0);
    int r5 = walkit_shm_lock(a, 1, 7, EX_LOCK, 0);
    CHECK("exclusive_multi_slot",
          r1 == SQLITE_OK && r2 == SQLITE_BUSY && r3 == SQLITE_OK && r4 == SQLITE_OK &&
              r5 == SQLITE_OK,
          "shared %d, excl 1..7 %d, excl 1 after %d, shared 7 after %d, excl 1..7 when free %d",
          r1, r2, r3, r4, r5);
    walkit_shm_lock(a, 1, 7, EX_UNLOCK, 0);
    walkit_shm_detach(reg, a);
    walkit_shm_detach(reg, b);
}

/* ---- release_wakes_waiter */

typedef struct { walkit_shm_conn *c; int timeout_ms; int rc; double waited; } Wait;

static void *wait_excl(void *arg)
{
    Wait *w = arg;
    double t0 = now_s();
    w->rc = walkit_shm_lock(w->c, 0, 1, EX_LOCK, w->timeout_ms);
    w->waited = now_s() - t0;
    if (w->rc == SQLITE_OK) walkit_shm_lock(w->c, 0, 1, EX_UNLOCK, 0);
    return NULL;
}

static void check_release_wakes_waiter(void)
{
    walkit_shm_conn *holder = attach();
    Wait w = { attach(), 20000, -1, 0 };
    walkit_shm_lock(holder, 0, 1, EX_LOCK, 0);
    pthread_t t;
    pthread_create(&t, NULL, wait_excl, &w);
    struct timespec d = { 0, 100 * 1000000L };
    nanosleep(&d, NULL);
    walkit_shm_lock(holder, 0, 1, EX_UNLOCK, 0);
    pthread_join(t, NULL);
    CHECK("release_wakes_waiter", w.rc == SQLITE_OK && w.waited < 10.0,
          "rc %d after %.3f s (timeout 20 s)", w.rc, w.waited);
    walkit_shm_detach(reg, w.c);
    walkit_shm_detach(reg, holder);
}

/* ---- waiter_not_starved */

static int barging; /* atomic: bargers keep going while set */

static void *barger(void *arg)
{
    (void)arg;
    walkit_shm_conn *c = attach();
    while (__atomic_load_n(&barging, __ATOMIC_RELAXED)) {
        if (walkit_shm_lock(c, 0, 1, EX_LOCK, 0) != SQLITE_OK) continue;
        double t0 = now_s();
        while (now_s() - t0 < 50e-6) { } /* a short transaction */
        walkit_shm_lock(c, 0, 1, EX_UNLOCK, 0);
    }
    return c;
}

static void check_waiter_not_starved(void)
{
    pthread_t b[2];
    void *bc[2];
    __atomic_store_n(&barging, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_create(&b[i], NULL, barger, NULL);
    struct timespec d = { 0, 20 * 1000000L };
    nanosleep(&d, NULL);
    Wait w = { attach(), 3000, -1, 0 };
    int granted = 0;
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        wait_excl(&w);
        if (w.rc == SQLITE_OK) granted++;
        if (w.waited > worst) worst = w.waited;
    }
    __atomic_store_n(&barging, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(b[i], &bc[i]);
    CHECK("waiter_not_starved", granted == 10, "%d of 10 requests granted within 3 s (longest "
          "wait %.3f s): the bargers won every hand-off", granted, worst);
    for (int i = 0; i < 2; i++) walkit_shm_detach(reg, bc[i]);
    walkit_shm_detach(reg, w.c);
}

/* The checks by name, to run some of them (the names are the CHECKs' own). */
static const struct { const char *name; void (*run)(void); } checks[] = {
    { "shared_count_exact", check_shared_count_exact },
    { "exclusive_multi_slot", check_exclusive_multi_slot },
    { "release_wakes_waiter", check_release_wakes_waiter },
    { "waiter_not_starved", check_waiter_not_starved },
};
#define NCHECKS ((int)(sizeof checks / sizeof checks[0]))

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    for (int a = 1; a < argc; a++) {
        int known = 0;
        for (int i = 0; i < NCHECKS; i++) known |= !strcmp(argv[a], checks[i].name);
        if (!known) {
            fprintf(stderr, "test_registry_slots: unknown check %s (see --list)\n", argv[a]);
            return 100;
        }
    }
    if (walkit_os_init() != WALKIT_OS_OK || !(reg = walkit_shm_registry_create())) {
        fprintf(stderr, "test_registry_slots: cannot create a registry\n");
        return 100;
    }
    for (int i = 0; i < NCHECKS; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++) wanted |= !strcmp(argv[a], checks[i].name);
        if (wanted) checks[i].run();
    }
    walkit_shm_registry_destroy(reg);
    return checks_done();
}
