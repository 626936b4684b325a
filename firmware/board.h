/* The board contract: what the board-independent firmware needs from boards/<board>/.
 * A board implements every function here (all named board_*).  Its flash driver implements
 * flash.h's flash_ops below board_flash(); a board calls nothing of the firmware's: what it has
 * to say goes through the log callback it is given. */
#ifndef WALKIT_BOARD_H
#define WALKIT_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses the host harness understands (beside the application's own 0..63). */
#define BOARD_EXIT_FAULT 0x7f  /* CPU exception: a line "*** FAULT: ..." was printed first */
#define BOARD_EXIT_REBOOT 0x7e /* the firmware asks to be powered up again on the same flash
                                  (console .reboot): the contract has no reset line, so
                                  whoever runs the board (the walkit harness) restarts it */
#define BOARD_EXIT_CUT 0x7d    /* a power cut armed with .fault arm happened (fault.c): the
                                  flash holds what the fault model left; nothing else ran */

void board_init(void);

/* Console UART.  putc blocks until the byte is accepted; getc blocks until a byte arrives and
 * returns it (0..255), or -1 when the console can never deliver another byte (host-sim: the
 * other end closed). */
void board_uart_putc(uint8_t c);
int board_uart_getc(void);
/* A byte that has already arrived (0..255), or -1 at once when none has.  Never blocks: the
 * console calls it while a statement runs, to see an interrupt coming. */
int board_uart_poll(void);

/* Monotonic microseconds since an arbitrary origin. */
uint64_t board_time_us(void);

/* How a board reports a problem: one line, printf-style, no newline (the firmware passes its
 * console log, fw_log). */
typedef void board_log_fn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The board's flash (flash.h), probed and ready, or NULL when there is none or it does not
 * answer as board.toml says it should; then the reason was reported once through log. */
struct flash_dev;
struct flash_dev *board_flash(board_log_fn *log);

/* The C heap: bytes handed out so far (high-water: it never shrinks on newlib boards) and its
 * fixed size (0 when the heap is not bounded, e.g. a hosted process).  For .stats. */
size_t board_heap_used(void);
size_t board_heap_size(void);

/* The main stack: the most of it ever used since boot (bare-metal boards paint it at start-up
 * and find the deepest overwritten word) and its size; both 0 where the board cannot tell
 * (a hosted process, whose OS owns the stack).  For .stats: SQLite needs about 4.3 KiB, and
 * with no guard below the stack this is how an overflow risk shows before it happens. */
size_t board_stack_used_max(void);
size_t board_stack_size(void);

/* Ends the run; the status reaches the host (QEMU's exit code, the process's exit code). */
void board_exit(int status) __attribute__((noreturn));

#endif
