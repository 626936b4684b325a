/* Reset entry and exception vectors for QEMU virt Cortex-A15 (ARM state; C runs in Thumb-2).
 * QEMU starts a bare-metal -kernel ELF at _start in SVC mode with the MMU and caches off. */
    .syntax unified
    .arm
    .section .vectors, "ax"
    .align 5
    .global _start
_vectors:
    b   _start              /* reset */
    b   .Lundef             /* undefined instruction */
    b   .Lswi               /* SVC (semihosting SVCs are taken by QEMU, never land here) */
    b   .Lpabort            /* prefetch abort */
    b   .Ldabort            /* data abort */
    b   .                   /* reserved */
    b   .Lirq               /* IRQ: none are enabled */
    b   .Lirq               /* FIQ */

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

/* Every fault ends the run with a status and a line on the UART: a target never hangs
 * silently.  r0 = kind, r1 = faulting address (lr adjusted per ARM ARM). */
.Lundef:  mov r0, #1
          sub r1, lr, #4
          b   .Lfault
.Lswi:    mov r0, #2
          sub r1, lr, #4
          b   .Lfault
.Lpabort: mov r0, #3
          sub r1, lr, #4
          b   .Lfault
.Ldabort: mov r0, #4
          sub r1, lr, #8
          b   .Lfault
.Lirq:    mov r0, #5
          sub r1, lr, #4
.Lfault:  ldr sp, =__stack_top
          ldr r2, =board_fault
          blx r2
          b   .
