/* posix.c: the os.h contract on POSIX threads (host-sim, the host-native test build, and any
 * RTOS with a POSIX layer such as RTEMS or VxWorks RTPs).
 *
 * Mutexes are PTHREAD_MUTEX_ERRORCHECK so that a task locking a mutex it already holds gets
 * WALKIT_OS_DEADLOCK instead of hanging: that is always a walkit bug, and the tests must see
 * it (glibc checks the owner in user space: no extra system call).  Recursive ones are
 * PTHREAD_MUTEX_RECURSIVE.
 * Priority inheritance (PTHREAD_PRIO_INHERIT) is WALKIT_OS_PRIO_INHERIT: on by default where
 * the system has it (_POSIX_THREAD_PRIO_INHERIT) and schedules tasks by priority (RTEMS,
 * VxWorks RTPs), off by default on Linux.  There, threads run under SCHED_OTHER with no
 * priority to inherit, and a PI mutex is a futex that enters the kernel on any contention and
 * hands ownership strictly to the next waiter, so every contended lock costs a context switch
 * and the waiters form a convoy; a plain futex mutex stays in user space unless a task really
 * has to sleep.  Build with -DWALKIT_OS_PRIO_INHERIT=1 on a PREEMPT_RT system that runs
 * SQLite from SCHED_FIFO threads of different priorities.  If the kernel refuses a PI mutex
 * (glibc checks for PI futexes), a plain one is made instead.
 * The semaphore is one futex word on 64-bit Linux (below); elsewhere, or with
 * -DWALKIT_OS_SEM_CONDVAR, a flag guarded by its own mutex with a condition variable.  Both
 * time out on the monotonic clock, so a wall-clock step cannot stretch or cut a timeout. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK */
#if defined(__linux__)
#define _DEFAULT_SOURCE /* syscall(), for the futex semaphore */
#endif
#include "os/os.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h> /* _POSIX_THREAD_PRIO_INHERIT */

struct walkit_os_mutex {
    pthread_mutex_t m;
};

/* The futex needs the kernel's struct timespec for its timeout, which is the C library's only on
 * 64-bit Linux (32-bit ones may have a 64-bit time_t, or no SYS_futex at all). */
#if defined(__linux__) && __SIZEOF_LONG__ == 8 && !defined(WALKIT_OS_SEM_CONDVAR)
#define WALKIT_OS_SEM_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
/* v: 0 empty, 1 full, 2 empty and a taker may be asleep on it (so a give must wake one).
 * Changed only by atomic exchanges and compare-exchanges; a take that finds it full after
 * announcing itself leaves 2 behind (other takers may still sleep), which costs the next give
 * at most one needless wake. */
struct walkit_os_sem {
    int v;
};
#else
/* full is 1 after a give and 0 after a take; all three fields are used under lock. */
struct walkit_os_sem {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int full;
};
#endif

int walkit_os_init(void) { return WALKIT_OS_OK; }
void walkit_os_end(void) { }

#ifndef WALKIT_OS_PRIO_INHERIT
#if defined(_POSIX_THREAD_PRIO_INHERIT) && _POSIX_THREAD_PRIO_INHERIT > 0 && !defined(__linux__)
#define WALKIT_OS_PRIO_INHERIT 1
#else
#define WALKIT_OS_PRIO_INHERIT 0
#endif
#endif

static walkit_os_mutex *mutex_create(int type)
{
    walkit_os_mutex *m = malloc(sizeof *m);
    pthread_mutexattr_t a;
    if (!m) return NULL;
    if (pthread_mutexattr_init(&a) != 0) { free(m); return NULL; }
    pthread_mutexattr_settype(&a, type);
    int rc = 1;
#if WALKIT_OS_PRIO_INHERIT && defined(_POSIX_THREAD_PRIO_INHERIT) && _POSIX_THREAD_PRIO_INHERIT > 0
    if (pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT) == 0) {
        rc = pthread_mutex_init(&m->m, &a);
        if (rc != 0) pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_NONE);
    }
#endif
    if (rc != 0) rc = pthread_mutex_init(&m->m, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) { free(m); return NULL; }
    return m;
}

walkit_os_mutex *walkit_os_mutex_create(void) { return mutex_create(PTHREAD_MUTEX_ERRORCHECK); }
walkit_os_mutex *walkit_os_mutex_create_recursive(void) { return mutex_create(PTHREAD_MUTEX_RECURSIVE); }

void walkit_os_mutex_destroy(walkit_os_mutex *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->m);
    free(m);
}

static int map_errno(int e)
{
    if (e == 0) return WALKIT_OS_OK;
    if (e == EBUSY) return WALKIT_OS_BUSY;
    if (e == EDEADLK) return WALKIT_OS_DEADLOCK;
    if (e == ETIMEDOUT) return WALKIT_OS_TIMEOUT;
    return WALKIT_OS_ERROR;
}

int walkit_os_mutex_lock(walkit_os_mutex *m) { return map_errno(pthread_mutex_lock(&m->m)); }
int walkit_os_mutex_trylock(walkit_os_mutex *m) { return map_errno(pthread_mutex_trylock(&m->m)); }
int walkit_os_mutex_unlock(walkit_os_mutex *m) { return map_errno(pthread_mutex_unlock(&m->m)); }

#if WALKIT_OS_SEM_FUTEX
/* A binary semaphore on one futex word: a give or take that finds no other task involved is
 * one atomic instruction, a wake-up one FUTEX_WAKE, and a sleeper's wake needs no second lock
 * (a mutex and condition variable cost the giver a lock, the signal and an unlock, and the
 * woken taker a relock that may block on the giver). */
walkit_os_sem *walkit_os_sem_create(void)
{
    walkit_os_sem *s = malloc(sizeof *s);
    if (s) s->v = 0;
    return s;
}

void walkit_os_sem_destroy(walkit_os_sem *s) { free(s); }

/* The wake's own result is not looked at (as glibc does not for its futex wakes): it can only
 * fail once the woken taker has returned, which is no failure of the give. */
int walkit_os_sem_give(walkit_os_sem *s)
{
    if (__atomic_exchange_n(&s->v, 1, __ATOMIC_SEQ_CST) == 2) {
#if defined(WALKIT_PLANT_SEM_NO_WAKE) && WALKIT_PLANT_SEM_NO_WAKE
        /* tests only (tests/vfs/os/test_posix.py): the lost wake-up its checks must catch */
#else
        (void)syscall(SYS_futex, &s->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
    }
    return WALKIT_OS_OK;
}

int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms)
{
    int full = 1;
    if (__atomic_compare_exchange_n(&s->v, &full, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return WALKIT_OS_OK;
    if (timeout_ms == WALKIT_OS_NO_WAIT) return WALKIT_OS_TIMEOUT;
    uint64_t deadline = timeout_ms > 0 ? walkit_os_monotonic_us() + (uint64_t)timeout_ms * 1000u : 0;
    while (__atomic_exchange_n(&s->v, 2, __ATOMIC_SEQ_CST) != 1) {
        struct timespec rel, *prel = NULL;
        if (timeout_ms > 0) {
            uint64_t now = walkit_os_monotonic_us();
            if (now >= deadline) return WALKIT_OS_TIMEOUT;
            rel.tv_sec = (time_t)((deadline - now) / 1000000u);
            rel.tv_nsec = (long)((deadline - now) % 1000000u) * 1000L;
            prel = &rel;
        }
        /* sleeps only while v is still 2: a give in between makes it return at once; a
         * relative FUTEX_WAIT timeout runs on the monotonic clock */
        if (syscall(SYS_futex, &s->v, FUTEX_WAIT_PRIVATE, 2, prel, NULL, 0) < 0 &&
            errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
            return WALKIT_OS_ERROR;
    }
    return WALKIT_OS_OK;
}
#else
walkit_os_sem *walkit_os_sem_create(void)
{
    walkit_os_sem *s = malloc(sizeof *s);
    pthread_condattr_t ca;
    if (!s) return NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) { free(s); return NULL; }
    if (pthread_condattr_init(&ca) != 0) goto fail_mutex;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) goto fail_mutex;
    s->full = 0;
    return s;
fail_mutex:
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

void walkit_os_sem_destroy(walkit_os_sem *s)
{
    if (!s) return;
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int walkit_os_sem_give(walkit_os_sem *s)
{
    pthread_mutex_lock(&s->lock);
    s->full = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return WALKIT_OS_OK;
}

int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms)
{
    struct timespec deadline;
    int rc = 0;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    }
    pthread_mutex_lock(&s->lock);
    while (!s->full && rc == 0) {
        if (timeout_ms == WALKIT_OS_NO_WAIT) rc = ETIMEDOUT;
        else if (timeout_ms < 0) rc = pthread_cond_wait(&s->cond, &s->lock);
        else rc = pthread_cond_timedwait(&s->cond, &s->lock, &deadline);
    }
    if (s->full) { s->full = 0; rc = 0; } /* a give that raced the timeout still counts */
    pthread_mutex_unlock(&s->lock);
    return map_errno(rc);
}
#endif

void *walkit_os_malloc(size_t n) { return malloc(n ? n : 1); }
void walkit_os_free(void *p) { free(p); }

uint64_t walkit_os_monotonic_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

int64_t walkit_os_wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void walkit_os_sleep_us(uint32_t us)
{
    struct timespec t = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR) { }
}

uintptr_t walkit_os_task_id(void)
{
    /* pthread_t is an integer or a pointer on every POSIX system walkit targets; a thread-local
     * address is a portable nonzero identity that needs no such assumption. */
    static __thread char self;
    return (uintptr_t)&self;
}
