/* os.h: the one contract between walkit and the operating system.
 *
 * Every port (vfs/os/posix.c, bare.c, vxworks.c, ...) implements exactly these functions and
 * nothing else; the rest of walkit is portable C99 on top of them.  The contract is small on
 * purpose: a non-recursive mutex with a real try-lock (and the OS's recursive one, where it has
 * one: SQLite's RECURSIVE mutexes), a binary semaphore with a timeout (the
 * building block for "wait until a lock slot is released"), heap allocation, two clocks, a
 * sleep and a task identity.  Reference counting and wait queues are built above it
 * (vfs/shm/registry.c), once, for every OS.
 *
 * Results: functions that can fail return WALKIT_OS_OK or a negative WALKIT_OS_* code; a
 * constructor that fails returns NULL.  A port never prints: the caller reports through
 * sqlite3_log() and the stats counters (walkit_os_failed(), walkit_int.h).
 */
#ifndef WALKIT_OS_H
#define WALKIT_OS_H

#include <stddef.h>
#include <stdint.h>

#define WALKIT_OS_OK 0
#define WALKIT_OS_TIMEOUT (-1)  /* the wait ended without the object becoming available */
#define WALKIT_OS_BUSY (-2)     /* try-lock: held by someone else */
#define WALKIT_OS_DEADLOCK (-3) /* the request can never be satisfied (single-task port, or the
                                   caller already holds this non-recursive mutex) */
#define WALKIT_OS_ERROR (-4)    /* the OS refused (deleted object, invalid id, ...) */

/* Timeouts are in milliseconds; these two have their usual meaning. */
#define WALKIT_OS_NO_WAIT 0
#define WALKIT_OS_FOREVER (-1)

/* Called once from sqlite3_os_init(); returns WALKIT_OS_OK or WALKIT_OS_ERROR.  May be called
 * again after walkit_os_end(). */
int walkit_os_init(void);
void walkit_os_end(void);

/* ---- mutex: non-recursive, owned by the task that locked it --------------------------------
 * lock blocks until acquired; trylock never blocks (WALKIT_OS_BUSY when held); unlock must be
 * called by the owner.  Critical sections on these are short (walkit never waits for anything
 * while holding one), so a port picks the OS's cheapest mutex that still bounds priority
 * inversion where the OS schedules by priority; each port's header comment says which
 * (docs/vfs.md, "OS layer").
 * create_recursive: the same, except that the owner may lock (or trylock) it again, each lock
 * matched by one unlock: the OS's own recursive mutex where it has one (SQLite's
 * SQLITE_MUTEX_RECURSIVE, vfs/mutex.c). */
typedef struct walkit_os_mutex walkit_os_mutex;
walkit_os_mutex *walkit_os_mutex_create(void);
walkit_os_mutex *walkit_os_mutex_create_recursive(void);
void walkit_os_mutex_destroy(walkit_os_mutex *m);
int walkit_os_mutex_lock(walkit_os_mutex *m);
int walkit_os_mutex_trylock(walkit_os_mutex *m);
int walkit_os_mutex_unlock(walkit_os_mutex *m);

/* ---- binary semaphore: created empty; give makes it full (giving a full one keeps it full);
 * take waits up to timeout_ms for it to be full and empties it.  Any task may give, including
 * one that never took.  A give before the take is remembered, so "register as waiter, drop the
 * mutex, take" has no lost wake-up. */
typedef struct walkit_os_sem walkit_os_sem;
walkit_os_sem *walkit_os_sem_create(void);
void walkit_os_sem_destroy(walkit_os_sem *s);
int walkit_os_sem_give(walkit_os_sem *s);
int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms); /* OK, TIMEOUT, DEADLOCK, ERROR */

/* ---- memory: malloc semantics (aligned for any type; NULL when exhausted) ------------------ */
void *walkit_os_malloc(size_t n);
void walkit_os_free(void *p);

/* ---- time -------------------------------------------------------------------------------------
 * monotonic: microseconds since an arbitrary origin, never goes back.
 * wall: milliseconds since 1970-01-01 UTC, or the port's documented best guess when the target
 * has no real-time clock. */
uint64_t walkit_os_monotonic_us(void);
int64_t walkit_os_wall_ms(void);

/* Suspends the calling task for at least us microseconds (rounded up to the OS tick). */
void walkit_os_sleep_us(uint32_t us);

/* A nonzero identity of the calling task, stable for its lifetime. */
uintptr_t walkit_os_task_id(void);

#endif /* WALKIT_OS_H */
