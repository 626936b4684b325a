/* QEMU virt, several Cortex-A15 cores: firmware/cores.h (PSCI start-up and one task loop per
 * secondary core) and the locks newlib's malloc needs once several cores allocate.
 *
 * Each secondary core owns one slot.  Its state word carries the hand-over:
 *   core 0:  writes fn/arg, then state = RUN with release order (DMB before the store), DSB, SEV;
 *   core n:  waits (WFE) for RUN with acquire order (DMB after the load), so it sees fn/arg;
 *            runs fn(arg), then state = IDLE with release order, DSB, SEV;
 *   core 0:  waits for IDLE with acquire order, so it sees everything fn wrote.
 * The DSB before SEV makes the store visible before the event can wake the other core (ARM ARM
 * B2.3: SEV is not ordered by DMB).  A waiter re-checks the word after each WFE, and an event
 * sent between its check and its WFE is kept in its event register, so no wake-up is lost.
 * QEMU on an x86 host orders more strongly than ARM does: a missing barrier here might pass
 * under QEMU and fail on silicon, hence the argument above rather than a test. */
#include <stdint.h>

#include "board.h"
#include "cores.h"

enum { CORE_OFF = 0, CORE_IDLE = 1, CORE_RUN = 2 };

struct core_slot {
    uint32_t state;          /* CORE_*: written by both sides as described above */
    void (*fn)(void *);      /* written by core 0 while state is IDLE, read by the core on RUN */
    void *arg;
};

extern char __core_stacks[], __core_stacks_end[], __stack_size[];
extern void secondary_entry(void);

#define MAX_CORES 8 /* GICv2 on QEMU virt; link.ld reserves a stack for each */
static struct core_slot slots[MAX_CORES];
static int cores_found;      /* 0 until board_cores() has run (core 0 only) */

static inline void wfe(void) { __asm__ volatile("wfe" ::: "memory"); }
static inline void sev(void) { __asm__ volatile("dsb\n\tsev" ::: "memory"); }

static int32_t psci(uint32_t fn, uint32_t a1, uint32_t a2, uint32_t a3)
{
    register uint32_t r0 __asm__("r0") = fn;
    register uint32_t r1 __asm__("r1") = a1;
    register uint32_t r2 __asm__("r2") = a2;
    register uint32_t r3 __asm__("r3") = a3;
    __asm__ volatile(".arch_extension virt\n\thvc #0" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3) : "memory");
    return (int32_t)r0;
}

#define PSCI_CPU_ON 0x84000003u /* SMC32 convention */
#define PSCI_INVALID_PARAMETERS (-2)

/* A secondary core's C entry (startup.S, MMU and caches on, own stack): its task loop. */
void smp_core_main(uint32_t core) __attribute__((noreturn));
void smp_core_main(uint32_t core)
{
    struct core_slot *s = &slots[core];
    __atomic_store_n(&s->state, CORE_IDLE, __ATOMIC_RELEASE);
    sev();
    for (;;) {
        while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != CORE_RUN) wfe();
        s->fn(s->arg);
        __atomic_store_n(&s->state, CORE_IDLE, __ATOMIC_RELEASE);
        sev();
    }
}

static int wait_state(struct core_slot *s, uint32_t want, int32_t timeout_ms)
{
    uint64_t deadline = board_time_us() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000u;
    while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != want) {
        if (timeout_ms >= 0 && board_time_us() >= deadline) return -1;
        wfe(); /* QEMU treats WFE as a yield, and silicon has the timer's event stream */
    }
    return 0;
}

int board_cores(board_log_fn *log)
{
    if (cores_found) return cores_found;
    int n = 1;
    uint32_t stack = (uint32_t)(uintptr_t)__stack_size;
    int stacks = stack ? (int)((__core_stacks_end - __core_stacks) / stack) + 1 : 1;
    for (int core = 1; core < MAX_CORES && core < stacks; core++) {
        int32_t rc = psci(PSCI_CPU_ON, (uint32_t)core, (uint32_t)(uintptr_t)secondary_entry, 0);
        if (rc == PSCI_INVALID_PARAMETERS) break; /* no such core: the machine has `core` */
        if (rc != 0) {
            log("core %d: PSCI CPU_ON failed (%ld)", core, (long)rc);
            break;
        }
        if (wait_state(&slots[core], CORE_IDLE, 1000) != 0) {
            log("core %d: started but never reached its task loop", core);
            break;
        }
        n++;
    }
    cores_found = n;
    return n;
}

int board_core_run(int core, void (*fn)(void *), void *arg)
{
    if (core < 1 || core >= cores_found) return -1;
    struct core_slot *s = &slots[core];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != CORE_IDLE) return -1;
    s->fn = fn;
    s->arg = arg;
    __atomic_store_n(&s->state, CORE_RUN, __ATOMIC_RELEASE);
    sev();
    return 0;
}

int board_core_wait(int core, int32_t timeout_ms)
{
    if (core < 1 || core >= cores_found) return -1;
    return wait_state(&slots[core], CORE_IDLE, timeout_ms);
}

/* newlib's malloc is one heap for every core: it brackets its work with these (recursive:
 * malloc may call itself through sbrk's callers).  A spin lock on LDREX/STREX (the __atomic
 * builtins compile to them, with DMB for acquire/release); the owner is MPIDR's core number + 1
 * and only the owner touches depth. */
struct _reent;
static uint32_t malloc_owner, malloc_depth;

static uint32_t this_core(void)
{
    uint32_t mpidr;
    __asm__("mrc p15, 0, %0, c0, c0, 5" : "=r"(mpidr));
    return (mpidr & 0xffu) + 1u;
}

void __malloc_lock(struct _reent *r)
{
    (void)r;
    uint32_t me = this_core();
    if (__atomic_load_n(&malloc_owner, __ATOMIC_RELAXED) == me) {
        malloc_depth++;
        return;
    }
    uint32_t free_ = 0;
    while (!__atomic_compare_exchange_n(&malloc_owner, &free_, me, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        free_ = 0;
        wfe();
    }
    malloc_depth = 1;
}

void __malloc_unlock(struct _reent *r)
{
    (void)r;
    if (--malloc_depth == 0) {
        __atomic_store_n(&malloc_owner, 0, __ATOMIC_RELEASE);
        sev();
    }
}
