/* Reset entry for QEMU virt Cortex-A15 (ARM state; C runs in Thumb-2); the vectors and fault
 * entries are vectors.inc's, shared with qemu-virt-a15-smp.
 * QEMU starts a bare-metal -kernel ELF at _start in SVC mode with the MMU and caches off. */
    .syntax unified
    .arm

/* One core, one stack: a fault restarts on its top. */
    .macro FAULT_SP
    ldr   sp, =__stack_top
    .endm

#include "vectors.inc"

    .global _start
_start:
    ldr   r0, =_vectors
    mcr   p15, 0, r0, c12, c0, 0    /* VBAR: our vectors, wherever we were loaded */
    ldr   sp, =__stack_top
    ldr   r0, =__bss_start__
    ldr   r1, =__bss_end__
    mov   r2, #0
1:  cmp   r0, r1
    strlo r2, [r0], #4
    blo   1b
    ldr   r0, =board_start          /* C, Thumb: never returns */
    blx   r0
    b     .
