/* QEMU virt Cortex-A15: UART (PL011), time (ARM generic timer), exit (semihosting), faults.
 * Everything else a bare-metal image needs from the board lives in firmware/board.h's
 * contract; the flash driver is flash_cfi.c. */
#include <stdint.h>
#include "board.h"

#define PL011_BASE 0x09000000u
#define PL011_DR   (*(volatile uint32_t *)(PL011_BASE + 0x00))
#define PL011_FR   (*(volatile uint32_t *)(PL011_BASE + 0x18))
#define PL011_FR_RXFE (1u << 4)
#define PL011_FR_TXFF (1u << 5)

void board_uart_putc(uint8_t c)
{
    while (PL011_FR & PL011_FR_TXFF) { }
    PL011_DR = c;
}

/* Wakes QEMU's main loop: re-arms the generic physical timer 1 ms ahead with its interrupt
 * masked (nothing is delivered), and QEMU's timer_mod notifies the main loop.  Needed because
 * QEMU 7.2 (TCG) can leave console input unread in its socket while the main loop sleeps in
 * poll() and the CPU polls an empty receive FIFO: measured, a request waited 40 s on
 * qemu-virt-a15 until a QMP command woke the main loop (docs/flashpool.md, "Limits"). */
static void wake_host_loop(void)
{
    uint32_t f;
    __asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(f));      /* CNTFRQ */
    __asm__ volatile("mcr p15, 0, %0, c14, c2, 0" : : "r"(f / 1000u)); /* CNTP_TVAL */
    __asm__ volatile("mcr p15, 0, %0, c14, c2, 1" : : "r"(3u));    /* CNTP_CTL: on, masked */
    __asm__ volatile("isb");
}

int board_uart_getc(void)
{
    /* QEMU flow-controls the receive side, so polling loses nothing; after each millisecond
     * of waiting QEMU's main loop is woken, and delivers the input. */
    uint64_t next = 0;
    while (PL011_FR & PL011_FR_RXFE) {
        uint64_t now = board_time_us();
        if (next == 0) {
            next = now + 1000u;
        } else if (now >= next) {
            wake_host_loop();
            next = now + 1000u;
        }
    }
    return (int)(PL011_DR & 0xffu);
}

int board_uart_poll(void)
{
    if (PL011_FR & PL011_FR_RXFE) return -1;
    return (int)(PL011_DR & 0xffu);
}

static uint32_t cntfrq(void)
{
    uint32_t f;
    __asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(f));
    return f;
}

uint64_t board_time_us(void)
{
    uint32_t lo, hi;
    __asm__ volatile("isb\n\tmrrc p15, 0, %0, %1, c14" : "=r"(lo), "=r"(hi));
    uint64_t ticks = ((uint64_t)hi << 32) | lo;
    uint32_t f = cntfrq();
    return f ? ticks / (f / 1000000u ? f / 1000000u : 1u) : 0;
}

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with the guest's status (needs
 * -semihosting-config enable=on).  In Thumb state the semihosting call is SVC 0xAB. */
void board_exit(int status)
{
    volatile uint32_t block[2] = { 0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)status };
    register uint32_t r0 __asm__("r0") = 0x20; /* SYS_EXIT_EXTENDED */
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("svc 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) { }
}

static void put_str(const char *s) { while (*s) board_uart_putc((uint8_t)*s++); }

static void put_hex(uint32_t v)
{
    for (int i = 28; i >= 0; i -= 4) board_uart_putc((uint8_t)"0123456789abcdef"[(v >> i) & 15u]);
}

/* Called from the exception vectors in startup.S. */
void board_fault(uint32_t kind, uint32_t addr)
{
    static const char *const names[] = { "?", "undefined instruction", "unexpected SVC",
                                         "prefetch abort", "data abort", "unexpected interrupt" };
    uint32_t dfar;
    __asm__ volatile("mrc p15, 0, %0, c6, c0, 0" : "=r"(dfar));
    put_str("\r\n*** FAULT: ");
    put_str(kind < 6 ? names[kind] : "?");
    put_str(" at pc 0x");
    put_hex(addr);
    if (kind == 4) { put_str(" address 0x"); put_hex(dfar); }
    put_str("\r\n");
    board_exit(BOARD_EXIT_FAULT);
}

void board_init(void) { }
