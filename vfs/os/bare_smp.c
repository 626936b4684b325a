/* bare_smp.c: the os.h contract for a bare-metal image with one task per core (ARMv7-A SMP,
 * no scheduler): several tasks really run at once, in one address space.
 *
 *   - a task is a core: walkit_os_task_id() is MPIDR's Aff0 + 1, so every connection driven
 *     from one core belongs to one task (the registry then never makes a core wait for itself);
 *   - mutex: one word, 0 when free, else the owner's task id, taken with LDREX/STREX (the
 *     recursive one adds a depth that only the owner reads and writes);
 *   - binary semaphore: one word, 1 when full, emptied by an atomic swap;
 *   - waiting: WFE, woken by the SEV every release sends; a timed wait also wakes on the
 *     generic timer's event stream (about every millisecond, CNTKCTL.EVNTEN, set on the waiting
 *     core) so it can see its deadline pass, and so does every wait of a watched task
 *     (walkit_os_bare_smp_watch), which calls the watch between its polls;
 *   - time: the generic timer (CNTPCT / CNTFRQ), architectural on every ARMv7-A core with the
 *     Generic Timer extension, so not a board hook.  The wall clock is the hooks' epoch_ms plus
 *     the monotonic time (walkit_os_bare.h, the start-up both bare ports share; the hook's
 *     monotonic_us is accepted but this port keeps its own clock, the same on every core).
 *
 * Barrier argument (the same for the mutex, the semaphore and every word below):
 *   - acquire: a successful STREX that takes a mutex or empties a semaphore is followed by DMB,
 *     so no load or store of the protected data can be performed before the lock is held;
 *   - release: the store that frees a mutex or fills a semaphore is preceded by DMB, so every
 *     access made while holding it is observed by any core before the release is;
 *   - wake-up: DSB between that store and SEV, so the store is visible when the event arrives
 *     (SEV is not ordered by DMB); a waiter re-reads the word after every WFE, and an event
 *     sent between its read and its WFE stays latched in its event register: no lost wake-up.
 * QEMU on an x86 host does not reproduce ARM's weak ordering in full (only store->load
 * reordering can appear there), so a missing barrier may pass under QEMU: the argument above,
 * not a test, is what keeps them right.
 *
 * The image's malloc must be safe on every core (newlib: the board's __malloc_lock).
 * Interrupt handlers must not call walkit or SQLite.
 *
 * Built for a host (WALKIT_BARE_SMP_HOST, tests/vfs/os/test_bare_smp.c), the same algorithms
 * run on GCC __atomic builtins with sequentially consistent fences in place of DMB, a task per
 * thread, and the host's monotonic clock: the primitives below are the only difference. */
#include "os/os.h"

#include <stdlib.h>

#include "walkit_os_bare.h"

/* ---- the architecture: exclusive access, barriers, events, identity, time ------------------- */
#if defined(__arm__) && !defined(WALKIT_BARE_SMP_HOST)

static inline void dmb(void) { __asm__ volatile("dmb ish" ::: "memory"); }

/* *p == expect ? (*p = desired, 1) : 0, atomically (LDREX/STREX; retried only when the
 * exclusive monitor was lost, never when the value differs).  No barrier: callers add them. */
static inline int cas_word(volatile uintptr_t *p, uintptr_t expect, uintptr_t desired)
{
    uintptr_t old;
    uint32_t fail;
    do {
        __asm__ volatile("ldrex %0, [%1]" : "=&r"(old) : "r"(p) : "memory");
        if (old != expect) {
            __asm__ volatile("clrex" ::: "memory");
            return 0;
        }
        __asm__ volatile("strex %0, %2, [%1]" : "=&r"(fail) : "r"(p), "r"(desired) : "memory");
    } while (fail);
    return 1;
}

/* Returns *p and stores v, atomically (LDREX/STREX).  No barrier. */
static inline uintptr_t swap_word(volatile uintptr_t *p, uintptr_t v)
{
    uintptr_t old;
    uint32_t fail;
    do {
        __asm__ volatile("ldrex %0, [%1]" : "=&r"(old) : "r"(p) : "memory");
        __asm__ volatile("strex %0, %2, [%1]" : "=&r"(fail) : "r"(p), "r"(v) : "memory");
    } while (fail);
    return old;
}

static inline void wake_all(void) { __asm__ volatile("dsb ish\n\tsev" ::: "memory"); }

static inline void wait_event(void) { __asm__ volatile("wfe" ::: "memory"); }

/* Before a timed wait: this core's event stream on, from bit 15 of the virtual count
 * (CNTKCTL.EVNTI = 15, EVNTEN): an event every 2^16 ticks, ~1 ms at QEMU's 62.5 MHz. */
static inline void wait_event_timed(void)
{
    uint32_t k;
    __asm__ volatile("mrc p15, 0, %0, c14, c1, 0" : "=r"(k));
    if ((k & 0xf4u) != 0xf4u) {
        k = (k & ~0xfcu) | (15u << 4) | (1u << 2);
        __asm__ volatile("mcr p15, 0, %0, c14, c1, 0\n\tisb" : : "r"(k));
    }
    wait_event();
}

static inline uintptr_t this_task(void)
{
    uint32_t mpidr;
    __asm__("mrc p15, 0, %0, c0, c0, 5" : "=r"(mpidr));
    return (uintptr_t)(mpidr & 0xffu) + 1u;
}

static uint64_t now_us(void)
{
    uint32_t lo, hi, f;
    __asm__ volatile("isb\n\tmrrc p15, 0, %0, %1, c14" : "=r"(lo), "=r"(hi));
    __asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(f));
    uint64_t ticks = ((uint64_t)hi << 32) | lo;
    return f >= 1000000u ? ticks / (f / 1000000u) : ticks * (1000000u / (f ? f : 1000000u));
}

#else /* host build of the same algorithms */

#include <sched.h>
#include <time.h>

static inline void dmb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static inline int cas_word(volatile uintptr_t *p, uintptr_t expect, uintptr_t desired)
{
    return __atomic_compare_exchange_n(p, &expect, desired, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static inline uintptr_t swap_word(volatile uintptr_t *p, uintptr_t v)
{
    return __atomic_exchange_n(p, v, __ATOMIC_RELAXED);
}

static inline void wake_all(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void wait_event(void) { sched_yield(); }
static inline void wait_event_timed(void) { sched_yield(); }

static inline uintptr_t this_task(void)
{
    static __thread char anchor; /* one per thread: its address is the thread's identity */
    return (uintptr_t)&anchor;
}

static uint64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

#endif

/* ---- the port -------------------------------------------------------------------------------- */

/* Set by walkit_os_bare_init() before walkit_init(); read-only while SQLite runs. */
static walkit_os_bare_hooks hooks;
static int hooks_set;

int walkit_os_bare_init(const walkit_os_bare_hooks *h)
{
    if (!h) return -1;
    hooks = *h;
    hooks_set = 1;
    return 0;
}

int walkit_os_init(void) { return hooks_set ? WALKIT_OS_OK : WALKIT_OS_ERROR; }
void walkit_os_end(void) { }

/* The watch (walkit_os_bare.h): fn and the task that set it, written only by that task (the
 * task id last, after fn).  Another core may read them stale, but it only compares the id with
 * its own, which that task's id never is; the setting task reads its own writes in order. */
static void (*volatile watch_fn)(void);
static volatile uintptr_t watch_task;

void walkit_os_bare_smp_watch(void (*fn)(void))
{
    watch_task = 0;
    watch_fn = fn;
    if (fn) watch_task = this_task();
}

/* Whether this task's waits are watched; then they poll (wait_event_timed) and call watch_fn
 * about every millisecond, so even a wait for a holder that never releases reaches it. */
static inline int watched(void) { return watch_task != 0 && watch_task == this_task(); }

static inline void wait_watched(void)
{
    watch_fn(); /* may not return */
    wait_event_timed();
}

struct walkit_os_mutex {
    volatile uintptr_t owner; /* 0: free; else the holder's task id.  Changed only by cas_word
                                 (take) and by the holder's release store. */
    int recursive;            /* immutable */
    int depth;                /* locks held by the owner; read and written by the owner only */
};

struct walkit_os_sem {
    volatile uintptr_t full;  /* 1: given and not yet taken.  Emptied only by swap_word. */
};

static walkit_os_mutex *mutex_new(int recursive)
{
    walkit_os_mutex *m = malloc(sizeof *m);
    if (m) {
        m->owner = 0;
        m->recursive = recursive;
        m->depth = 0;
    }
    return m;
}

walkit_os_mutex *walkit_os_mutex_create(void) { return mutex_new(0); }
walkit_os_mutex *walkit_os_mutex_create_recursive(void) { return mutex_new(1); }

void walkit_os_mutex_destroy(walkit_os_mutex *m) { free(m); }

int walkit_os_mutex_trylock(walkit_os_mutex *m)
{
    uintptr_t me = this_task();
    if (m->recursive && m->owner == me) {
        m->depth++;
        return WALKIT_OS_OK;
    }
    if (!cas_word(&m->owner, 0, me)) return WALKIT_OS_BUSY;
    dmb(); /* acquire */
    m->depth = 1;
    return WALKIT_OS_OK;
}

#ifdef WALKIT_BARE_SMP_PLANT_RACE
/* A planted bug, for the test that shows the target stress catches it
 * (tests/boards/qemu-virt-a15-smp/test_stress_target.py): the take is a check, then a plain
 * store, with a window between them, so two cores can both hold a mutex (the WAL-index node's
 * lock slots, littlefs, SQLite's own state).  Never define it in a real build. */
static int cas_planted(volatile uintptr_t *p, uintptr_t expect, uintptr_t desired)
{
    if (*p != expect) return 0;
    for (volatile int i = 0; i < 200; i++) { }
    *p = desired;
    return 1;
}
#define cas_word cas_planted
#endif

int walkit_os_mutex_lock(walkit_os_mutex *m)
{
    uintptr_t me = this_task();
    /* Only this task can have stored its own id, so this read needs no ordering. */
    if (m->owner == me) {
        if (!m->recursive) return WALKIT_OS_DEADLOCK;
        m->depth++;
        return WALKIT_OS_OK;
    }
    while (!cas_word(&m->owner, 0, me)) {
        while (m->owner != 0) { /* woken by the holder's release */
            if (watched()) wait_watched();
            else wait_event();
        }
    }
    dmb(); /* acquire */
    m->depth = 1;
    return WALKIT_OS_OK;
}

#ifdef WALKIT_BARE_SMP_PLANT_HANG
/* A planted bug, for the test that shows the stress driver's watchdog reports a run that stops
 * (tests/boards/qemu-virt-a15-smp/test_stress_target.py): core 1's 2,000th release never
 * happens, and the core stops there, holding the mutex, as a task that hangs in a critical
 * section would.  Never define it in a real build. */
static void plant_hang(void)
{
    static uint32_t releases;
    if (this_task() == 2 && ++releases == 2000)
        for (;;) wait_event();
}
#else
static inline void plant_hang(void) { }
#endif

int walkit_os_mutex_unlock(walkit_os_mutex *m)
{
    if (m->owner != this_task()) return WALKIT_OS_ERROR;
    plant_hang();
    if (--m->depth > 0) return WALKIT_OS_OK; /* a recursive mutex still held */
    dmb(); /* release: the critical section before the store that frees the mutex */
    m->owner = 0;
    wake_all();
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
    dmb(); /* release: what the giver wrote before the give is seen by the taker */
    s->full = 1;
    wake_all();
    return WALKIT_OS_OK;
}

int walkit_os_sem_take(walkit_os_sem *s, int32_t timeout_ms)
{
    uint64_t deadline = timeout_ms > 0 ? now_us() + (uint64_t)timeout_ms * 1000u : 0;
    for (;;) {
        if (s->full && swap_word(&s->full, 0) == 1) {
            dmb(); /* acquire */
            return WALKIT_OS_OK;
        }
        if (timeout_ms == WALKIT_OS_NO_WAIT) return WALKIT_OS_TIMEOUT;
        if (timeout_ms > 0 && now_us() >= deadline) return WALKIT_OS_TIMEOUT;
        if (timeout_ms < 0 && timeout_ms != WALKIT_OS_FOREVER) return WALKIT_OS_ERROR;
        if (watched()) wait_watched();
        else if (timeout_ms > 0) wait_event_timed();
        else wait_event();
    }
}

void *walkit_os_malloc(size_t n) { return malloc(n ? n : 1); }
void walkit_os_free(void *p) { free(p); }

uint64_t walkit_os_monotonic_us(void) { return now_us(); }

int64_t walkit_os_wall_ms(void) { return hooks.epoch_ms + (int64_t)(now_us() / 1000u); }

void walkit_os_sleep_us(uint32_t us)
{
    uint64_t end = now_us() + us;
    while (now_us() < end) {
        if (watched()) wait_watched();
        else wait_event_timed();
    }
}

uintptr_t walkit_os_task_id(void) { return this_task(); }
