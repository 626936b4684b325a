/* vxworks.c: the os.h contract on the VxWorks kernel API (kernel mode, VxWorks 6.9 and 7).
 *
 * mutex: a mutual-exclusion semaphore, SEM_Q_PRIORITY | SEM_INVERSION_SAFE (priority
 *   inheritance: a low-priority task holding a WAL-index or SQLite mutex is boosted) |
 *   SEM_DELETE_SAFE (the holder cannot be deleted while inside SQLite).  Inheritance stays on:
 *   VxWorks schedules by priority, so without it a middle-priority task can hold off a
 *   high-priority one for as long as it likes; and it costs little here, because in kernel
 *   mode an uncontended semTake/semGive is a function call (no trap), inheritance only does
 *   work when a task really waits, and walkit's hot paths (read locks, barriers) take no mutex
 *   at all.  VxWorks mutexes are recursive for their owner, which is exactly
 *   walkit_os_mutex_create_recursive(); os.h's plain ones are not: for those the owner is
 *   recorded so that a task locking a mutex it holds gets WALKIT_OS_DEADLOCK, as on every
 *   other port, instead of a silent recursion that would hide a walkit bug.
 * semaphore: a binary semaphore created SEM_EMPTY, queued by priority.
 * Timeouts are converted from milliseconds to ticks (sysClkRateGet()), rounded up, plus one:
 * VxWorks counts tick interrupts, and the first may come right after the call, so n ticks can
 * last barely more than n - 1 periods; n + 1 never end before the time asked.  Clamped to
 * INT_MAX (_Vx_ticks_t is an int on VxWorks 7).  Failures are told apart by errnoGet(): S_objLib_OBJ_TIMEOUT and
 * S_objLib_OBJ_UNAVAILABLE are timeouts, anything else (a deleted or invalid id) is an error.
 * Time: tick64Get() for the monotonic clock (it never wraps; resolution one tick),
 * clock_gettime(CLOCK_REALTIME) for the wall clock (set by the BSP's RTC or SNTP).
 */
#include <vxWorks.h>
#include <errnoLib.h>
#include <objLib.h>
#include <semLib.h>
#include <sysLib.h>
#include <taskLib.h>
#include <tickLib.h>

#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "os/os.h"

/* owner: the task holding sem, NULL when free; written by the holder only, read by any task
 * (atomically) to recognise itself.  Not kept for a recursive mutex (recursive set): VxWorks
 * itself counts the owner's nested takes and refuses a give by another task. */
struct walkit_os_mutex {
    SEM_ID sem;
    TASK_ID owner;
    int recursive;
};

struct walkit_os_sem {
    SEM_ID sem;
};

int walkit_os_init(void) { return sysClkRateGet() > 0 ? WALKIT_OS_OK : WALKIT_OS_ERROR; }
void walkit_os_end(void) { }

/* The os.h code for a failed semTake/semGive, from the task's errno. */
static int take_failure(void)
{
    int e = errnoGet();
    if (e == S_objLib_OBJ_TIMEOUT || e == S_objLib_OBJ_UNAVAILABLE) return WALKIT_OS_TIMEOUT;
    return WALKIT_OS_ERROR;
}

/* Ticks that last at least `us` microseconds (see the top of the file): ceil + 1, clamped. */
static _Vx_ticks_t us_to_ticks(int64_t us)
{
    int64_t rate = sysClkRateGet();
    int64_t ticks = (us * rate + 999999) / 1000000 + 1;
    return (_Vx_ticks_t)(ticks > INT_MAX ? INT_MAX : ticks);
}

static _Vx_ticks_t ms_to_ticks(int32_t ms)
{
    if (ms < 0) return WAIT_FOREVER;
    if (ms == 0) return NO_WAIT;
    return us_to_ticks((int64_t)ms * 1000);
}

static walkit_os_mutex *mutex_create(int recursive)
{
    walkit_os_mutex *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->sem = semMCreate(SEM_Q_PRIORITY | SEM_INVERSION_SAFE | SEM_DELETE_SAFE);
    if (m->sem == SEM_ID_NULL) {
        free(m);
        return NULL;
    }
    m->owner = NULL;
    m->recursive = recursive;
    return m;
}

walkit_os_mutex *walkit_os_mutex_create(void) { return mutex_create(0); }
walkit_os_mutex *walkit_os_mutex_create_recursive(void) { return mutex_create(1); }

void walkit_os_mutex_destroy(walkit_os_mutex *m)
{
    if (!m) return;
    semDelete(m->sem);
    free(m);
}

static int held_by_me(walkit_os_mutex *m)
{
    return __atomic_load_n(&m->owner, __ATOMIC_RELAXED) == taskIdSelf();
}

int walkit_os_mutex_lock(walkit_os_mutex *m)
{
    if (m->recursive) return semTake(m->sem, WAIT_FOREVER) == OK ? WALKIT_OS_OK : WALKIT_OS_ERROR;
    if (held_by_me(m)) return WALKIT_OS_DEADLOCK;
    if (semTake(m->sem, WAIT_FOREVER) != OK) return WALKIT_OS_ERROR;
    __atomic_store_n(&m->owner, taskIdSelf(), __ATOMIC_RELAXED);
    return WALKIT_OS_OK;
}

int walkit_os_mutex_trylock(walkit_os_mutex *m)
{
    if (!m->recursive && held_by_me(m)) return WALKIT_OS_BUSY;
    if (semTake(m->sem, NO_WAIT) != OK)
        return take_failure() == WALKIT_OS_TIMEOUT ? WALKIT_OS_BUSY : WALKIT_OS_ERROR;
    if (!m->recursive) __atomic_store_n(&m->owner, taskIdSelf(), __ATOMIC_RELAXED);
    return WALKIT_OS_OK;
}

int walkit_os_mutex_unlock(walkit_os_mutex *m)
{
    if (!m->recursive) {
        if (!held_by_me(m)) return WALKIT_OS_ERROR;
        __atomic_store_n(&m->owner, (TASK_ID)NULL, __ATOMIC_RELAXED);
    }
    return semGive(m->sem) == OK ? WALKIT_OS_OK : WALKIT_OS_ERROR;
}

walkit_os_sem *walkit_os_sem_create(void)
{
    walkit_os_sem *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->sem = semBCreate(SEM_Q_PRIORITY, SEM_EMPTY);
    if (s->sem == SEM_ID_NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void walkit_os_sem_destroy(walkit_os_sem *s)
{
    if (!s) return;
    semDelete(s->sem);
    free(s);
}

int walkit_os_sem_give(walkit_os_sem *s)
{
    return semGive(s->sem) == OK ? WALKIT_OS_OK : WALKIT_OS_ERROR;
}

int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms)
{
    return semTake(s->sem, ms_to_ticks(timeout_ms)) == OK ? WALKIT_OS_OK : take_failure();
}

void *walkit_os_malloc(size_t n) { return malloc(n ? n : 1); }
void walkit_os_free(void *p) { free(p); }

uint64_t walkit_os_monotonic_us(void)
{
    uint64_t ticks = (uint64_t)tick64Get(), rate = (uint64_t)sysClkRateGet();
    return ticks / rate * 1000000u + ticks % rate * 1000000u / rate;
}

int64_t walkit_os_wall_ms(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_REALTIME, &t) != 0) return 0;
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void walkit_os_sleep_us(uint32_t us)
{
    taskDelay(us_to_ticks((int64_t)us));
}

uintptr_t walkit_os_task_id(void) { return (uintptr_t)taskIdSelf(); }
