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
 * The image supplies the clock through walkit_os_bare_init() (walkit_os_bare.h) before
 * walkit_init(); the port depends on nothing else.  There is no real-time clock: the wall
 * clock is the hooks' epoch_ms plus the monotonic time. */
#include "os/os.h"

#include <stdlib.h>

#include "walkit_os_bare.h"

/* Set by walkit_os_bare_init() before walkit_init(); read-only while SQLite runs. */
static walkit_os_bare_hooks hooks;

int walkit_os_bare_init(const walkit_os_bare_hooks *h)
{
    if (!h || !h->monotonic_us) return -1;
    hooks = *h;
    return 0;
}

/* held: how many times the (only) task holds it; above 1 only if recursive. */
struct walkit_os_mutex {
    volatile int held;
    int recursive;
};

struct walkit_os_sem {
    int full;
};

int walkit_os_init(void) { return hooks.monotonic_us ? WALKIT_OS_OK : WALKIT_OS_ERROR; }
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

uint64_t walkit_os_monotonic_us(void) { return hooks.monotonic_us(); }

int64_t walkit_os_wall_ms(void) { return hooks.epoch_ms + (int64_t)(hooks.monotonic_us() / 1000u); }

void walkit_os_sleep_us(uint32_t us)
{
    uint64_t end = hooks.monotonic_us() + us;
    while (hooks.monotonic_us() < end) { }
}

uintptr_t walkit_os_task_id(void) { return 1; }
