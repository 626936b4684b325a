/* QEMU virt, several Cortex-A15 cores: firmware/cores.h (one task at a time on each secondary
 * core, each started by PSCI CPU_ON) and the locks newlib's malloc needs once several cores
 * allocate.
 *
 * A secondary core is powered only while it runs a task: board_core_run() posts the task in
 * the core's slot and powers the core on (CPU_ON, at startup.S's secondary_entry); the core
 * runs it, marks the slot done and powers itself off (CPU_OFF; the PSCI implementation cleans
 * the core's caches on the way down).  An idle core therefore costs nothing: under QEMU, WFE is
 * a no-op with several threads (MTTCG), so an idle loop would spin a host thread.
 *
 * The slot's state word carries the hand-over:
 *   core 0:  fn/arg, then state = RUN with release order (DMB before the store), then CPU_ON
 *            (the core reads the slot only after its MMU and caches are on, coherently);
 *   core n:  reads state == RUN with acquire order (DMB after the load), so it sees fn/arg;
 *            runs fn(arg), then state = DONE with release order, DSB, SEV, CPU_OFF;
 *   core 0:  waits for DONE with acquire order, so it sees everything fn wrote.
 * The DSB before SEV makes the store visible before the event can wake a waiter (SEV is not
 * ordered by DMB).  QEMU on an x86 host orders more strongly than ARM does: a missing barrier
 * here might pass under QEMU and fail on silicon, hence the argument above. */
#include <stdint.h>

#include "board.h"
#include "cores.h"

enum { CORE_OFF = 0, CORE_RUN = 1, CORE_DONE = 2 };

struct core_slot {
    uint32_t state;          /* CORE_*: as described above */
    void (*fn)(void *);      /* written by core 0 while the core is off, read by it on RUN */
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

/* PSCI 0.2 function ids (SMC32 convention) and results. */
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON 0x84000003u
#define PSCI_AFFINITY_INFO 0x84000004u
#define PSCI_ALREADY_ON (-4)
#define AFFINITY_OFF 1

/* A secondary core's C entry (startup.S: MMU and caches on, its own stack): one task, then
 * power off. */
void smp_core_main(uint32_t core) __attribute__((noreturn));
void smp_core_main(uint32_t core)
{
    struct core_slot *s = &slots[core];
    if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == CORE_RUN) s->fn(s->arg);
    __atomic_store_n(&s->state, CORE_DONE, __ATOMIC_RELEASE);
    sev();
    psci(PSCI_CPU_OFF, 0, 0, 0);
    for (;;) { } /* CPU_OFF does not return when it succeeds */
}

int board_cores(board_log_fn *log)
{
    if (cores_found) return cores_found;
    int n = 1;
    uint32_t stack = (uint32_t)(uintptr_t)__stack_size;
    int stacks = stack ? (int)((__core_stacks_end - __core_stacks) / stack) + 1 : 1;
    /* AFFINITY_INFO answers ON/OFF for a core that exists, INVALID_PARAMETERS otherwise. */
    for (int core = 1; core < MAX_CORES; core++) {
        int32_t rc = psci(PSCI_AFFINITY_INFO, (uint32_t)core, 0, 0);
        if (rc < 0) break;
        if (core >= stacks) {
            log("core %d: no stack reserved for it (link.ld); not used", core);
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
    uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (state == CORE_RUN) return -1;
    /* A core that reported DONE is on its way off: wait until PSCI says it is. */
    uint64_t deadline = board_time_us() + 1000000u;
    while (psci(PSCI_AFFINITY_INFO, (uint32_t)core, 0, 0) != AFFINITY_OFF)
        if (board_time_us() >= deadline) return -1;
    s->fn = fn;
    s->arg = arg;
    __atomic_store_n(&s->state, CORE_RUN, __ATOMIC_RELEASE);
    __asm__ volatile("dsb" ::: "memory"); /* the slot is in memory before the core can start */
    int32_t rc = psci(PSCI_CPU_ON, (uint32_t)core, (uint32_t)(uintptr_t)secondary_entry, 0);
    if (rc != 0) {
        __atomic_store_n(&s->state, CORE_OFF, __ATOMIC_RELAXED);
        return -1;
    }
    return 0;
}

int board_core_wait(int core, int32_t timeout_ms)
{
    if (core < 1 || core >= cores_found) return -1;
    struct core_slot *s = &slots[core];
    uint64_t deadline = board_time_us() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000u;
    uint32_t state;
    while ((state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) == CORE_RUN) {
        if (timeout_ms >= 0 && board_time_us() >= deadline) return -1;
        wfe();
    }
    return 0;
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
