/* bare.c: the os.h contract for a bare-metal image with one task and no scheduler.
 *
 * With a single task nothing can ever release a mutex or give a semaphore while the task waits,
 * so each primitive degrades to the only correct behaviour:
 *   - a free mutex is taken at once; locking a held one can never succeed and is a bug in the
 *     caller: WALKIT_OS_DEADLOCK (the caller reports it), never a hang; a recursive one only
 *     counts (the one task is always its owner);
 *   - a semaphore take succeeds only if it is already full; on an empty one it is
 *     WALKIT_OS_DEADLOCK at once, whatever the timeout (only this task could give it, and it is
 *     the one waiting: spinning the timeout out would only burn it; WALKIT_OS_NO_WAIT is the
 *     ordinary WALKIT_OS_TIMEOUT).
 * Interrupt handlers must not call walkit or SQLite (nor give walkit's semaphores).
 *
 * The board supplies the clock: board_time_us() (firmware/board.h), monotonic microseconds.
 * There is no real-time clock: the wall clock is WALKIT_BARE_EPOCH_MS (default 0, i.e. 1970)
 * plus the time since boot; define it at build time if dates matter. */
#include "os/os.h"

#include <stdlib.h>

#ifndef WALKIT_BARE_EPOCH_MS
#define WALKIT_BARE_EPOCH_MS 0
#endif

extern uint64_t board_time_us(void); /* the board contract's clock */

/* held: how many times the (only) task holds it; above 1 only if recursive. */
struct walkit_os_mutex {
    volatile int held;
    int recursive;
};

struct walkit_os_sem {
    int full;
};

int walkit_os_init(void) { return WALKIT_OS_OK; }
void walkit_os_end(void) { }

static walkit_os_mutex *mutex_create(int recursive)
{
    walkit_os_mutex *m = malloc(sizeof *m);
    if (m) {
        m->held = 0;
        m->recursive = recursive;
    }
    return m;
}

walkit_os_mutex *walkit_os_mutex_create(void) { return mutex_create(0); }
walkit_os_mutex *walkit_os_mutex_create_recursive(void) { return mutex_create(1); }

void walkit_os_mutex_destroy(walkit_os_mutex *m) { free(m); }

int walkit_os_mutex_lock(walkit_os_mutex *m)
{
    if (m->held && !m->recursive) return WALKIT_OS_DEADLOCK;
    m->held++;
    return WALKIT_OS_OK;
}

int walkit_os_mutex_trylock(walkit_os_mutex *m)
{
    if (m->held && !m->recursive) return WALKIT_OS_BUSY;
    m->held++;
    return WALKIT_OS_OK;
}

int walkit_os_mutex_unlock(walkit_os_mutex *m)
{
    if (!m->held) return WALKIT_OS_ERROR;
    m->held--;
    return WALKIT_OS_OK;
}

walkit_os_sem *walkit_os_sem_create(void)
{
    walkit_os_sem *s = malloc(sizeof *s);
    if (s) s->full = 0;
    return s;
}

void walkit_os_sem_destroy(walkit_os_sem *s) { free(s); }

int walkit_os_sem_give(walkit_os_sem *s)
{
    s->full = 1;
    return WALKIT_OS_OK;
}

int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms)
{
    if (!s->full) return timeout_ms == WALKIT_OS_NO_WAIT ? WALKIT_OS_TIMEOUT : WALKIT_OS_DEADLOCK;
    s->full = 0;
    return WALKIT_OS_OK;
}

void *walkit_os_malloc(size_t n) { return malloc(n ? n : 1); }
void walkit_os_free(void *p) { free(p); }

uint64_t walkit_os_monotonic_us(void) { return board_time_us(); }

int64_t walkit_os_wall_ms(void)
{
    return (int64_t)WALKIT_BARE_EPOCH_MS + (int64_t)(board_time_us() / 1000u);
}

void walkit_os_sleep_us(uint32_t us)
{
    uint64_t end = board_time_us() + us;
    while (board_time_us() < end) { }
}

uintptr_t walkit_os_task_id(void) { return 1; }
