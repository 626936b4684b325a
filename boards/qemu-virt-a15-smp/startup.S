/* Reset entry, secondary-core entry, exception vectors and MMU start-up for QEMU virt with
 * several Cortex-A15 cores (ARM state; C runs in Thumb-2).
 *
 * QEMU starts core 0 at _start in SVC mode, MMU and caches off; the other cores are powered
 * down until cores.c starts them with PSCI CPU_ON at secondary_entry (same mode, MMU off).
 * Every core turns on the same identity-mapped translation table before it runs any C:
 *   - RAM (link.ld's RAM region): normal memory, inner and outer write-back write-allocate,
 *     shareable (coherent between the cores), executable;
 *   - 0x04000000-0x09ffffff (pflash unit 1, GIC, PL011 UART, RTC...): shareable device memory,
 *     never executed;
 *   - everything else, including 0x00000000 (pflash unit 0, never attached), faults: a NULL
 *     pointer or a wild address is a data abort, reported by board_fault.
 * The table is written by core 0 with its caches still off, so it is in memory when any core's
 * table walk first reads it; no core writes it afterwards.
 * A secondary core runs with its caches off until mmu_on returns, so until then it reads
 * nothing but code and the table (data core 0 wrote after enabling its caches may still be
 * only in core 0's cache): its stack address is computed from MPIDR, not loaded from memory
 * core 0 wrote.  The vectors and fault entries are qemu-virt-a15's (vectors.inc). */
    .syntax unified
    .arch armv7-a
    .arm

/* A fault restarts the faulting core on the top of its own stack. */
    .macro FAULT_SP
    bl    core_stack_top
    mov   sp, r0
    .endm

#include "../qemu-virt-a15/vectors.inc"

    .global _start
_start:
    ldr   r0, =_vectors
    mcr   p15, 0, r0, c12, c0, 0    /* VBAR: our vectors, wherever we were loaded */
    ldr   sp, =__stack_top
    ldr   r0, =__bss_start__        /* .bss starts with the translation table: zeroed here */
    ldr   r1, =__bss_end__
    mov   r2, #0
1:  cmp   r0, r1
    strlo r2, [r0], #4
    blo   1b
    bl    build_table
    bl    mmu_on
    ldr   r0, =board_start          /* C, Thumb: never returns */
    blx   r0
    b     .

/* A core started by PSCI CPU_ON (cores.c): r0 = context id (unused).  Stack: core n's slice
 * of __core_stacks (link.ld), from MPIDR's Aff0. */
    .global secondary_entry
secondary_entry:
    ldr   r0, =_vectors
    mcr   p15, 0, r0, c12, c0, 0
    bl    core_stack_top
    mov   sp, r0
    bl    mmu_on
    mrc   p15, 0, r0, c0, c0, 5     /* MPIDR */
    and   r0, r0, #0xff             /* Aff0: the core number */
    ldr   r1, =smp_core_main        /* C, Thumb: the core's task loop, never returns */
    blx   r1
    b     .

/* r0 = this core's initial stack pointer (core 0: __stack_top; core n: the top of its slice).
 * Uses r0-r2 only. */
core_stack_top:
    mrc   p15, 0, r0, c0, c0, 5
    ands  r0, r0, #0xff
    ldreq r0, =__stack_top
    bxeq  lr
    ldr   r1, =__stack_size
    ldr   r2, =__core_stacks
    mla   r0, r1, r0, r2            /* __core_stacks + n * __stack_size */
    bx    lr

/* Fills the zeroed translation table with 1 MiB section descriptors (short-descriptor format,
 * domain 0, AP = full access).  Uses r0-r4. */
#define SECTION_DEVICE 0x00000c16   /* AP=11, XN, TEX=000 C=0 B=1: shareable device */
#define SECTION_NORMAL 0x00011c0e   /* S, AP=11, TEX=001 C=1 B=1: normal WBWA, shareable */
build_table:
    ldr   r0, =__page_table
    ldr   r1, =SECTION_DEVICE
    mov   r2, #0x040                /* 0x04000000 */
    mov   r3, #0x0a0                /* up to 0x0a000000 */
2:  orr   r4, r1, r2, lsl #20
    str   r4, [r0, r2, lsl #2]
    add   r2, r2, #1
    cmp   r2, r3
    blo   2b
    ldr   r1, =SECTION_NORMAL
    ldr   r2, =__ram_first_mb
    ldr   r3, =__ram_end_mb
3:  orr   r4, r1, r2, lsl #20
    str   r4, [r0, r2, lsl #2]
    add   r2, r2, #1
    cmp   r2, r3
    blo   3b
    dsb                              /* the table is in memory before any walk */
    bx    lr

/* Turns on this core's MMU and caches over the translation table.  Order (ARM ARM B2.2, B3.10):
 * join the coherency domain (ACTLR.SMP) before any cacheable access; invalidate the I-cache,
 * branch predictor, TLB and the L1 data cache by set/way (their contents are unknown after
 * reset); program TTBR0/TTBCR/DACR; barriers; then SCTLR M, C, I, Z together.  Uses r0-r6, r12
 * and no memory (the caller's stack may not be usable yet). */
mmu_on:
    mrc   p15, 0, r0, c1, c0, 1     /* ACTLR */
    orr   r0, r0, #(1 << 6)         /* SMP: coherent with the other cores */
    mcr   p15, 0, r0, c1, c0, 1
    isb
    mov   r0, #0
    mcr   p15, 0, r0, c7, c5, 0     /* ICIALLU */
    mcr   p15, 0, r0, c7, c5, 6     /* BPIALL */
    mcr   p15, 0, r0, c8, c7, 0     /* TLBIALL */
    mcr   p15, 2, r0, c0, c0, 0     /* CSSELR: level 1 data cache */
    isb
    mrc   p15, 1, r0, c0, c0, 0     /* CCSIDR */
    and   r1, r0, #7
    add   r1, r1, #4                /* set shift: log2(line bytes) */
    ubfx  r2, r0, #3, #10           /* ways - 1 */
    ubfx  r3, r0, #13, #15          /* sets - 1 */
    clz   r12, r2                   /* way shift: 32 - log2(ways) */
4:  mov   r4, r3                    /* each way ... */
5:  lsl   r5, r2, r12               /* ... each set: DCISW (way << wshift) | (set << sshift) */
    orr   r5, r5, r4, lsl r1
    mcr   p15, 0, r5, c7, c6, 2     /* DCISW */
    subs  r4, r4, #1
    bge   5b
    subs  r2, r2, #1
    bge   4b
    dsb
    ldr   r0, =__page_table
    orr   r0, r0, #0x4a             /* walks: inner WBWA (IRGN=01), outer WBWA (RGN=01), S */
    mcr   p15, 0, r0, c2, c0, 0     /* TTBR0 */
    mov   r0, #0
    mcr   p15, 0, r0, c2, c0, 2     /* TTBCR = 0: short descriptors, TTBR0 for every address */
    ldr   r0, =0x55555555
    mcr   p15, 0, r0, c3, c0, 0     /* DACR: every domain is a client (permissions checked) */
    dsb
    isb
    mrc   p15, 0, r0, c1, c0, 0     /* SCTLR */
    orr   r0, r0, #((1 << 0) | (1 << 2))    /* M (MMU), C (data cache) */
    orr   r0, r0, #((1 << 11) | (1 << 12))  /* Z (branch prediction), I (instruction cache) */
    bic   r0, r0, #(1 << 1)         /* A = 0: unaligned normal accesses allowed, as on hardware */
    bic   r0, r0, #(1 << 28)        /* TRE = 0: TEX/C/B as written in the descriptors */
    mcr   p15, 0, r0, c1, c0, 0
    isb
    bx    lr
    .ltorg

