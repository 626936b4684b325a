/* log.c: see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include "board.h"
#include "log.h"

/* The output lock: a line is written whole even when several cores log at once.  A spin lock
 * on the __atomic builtins (LDREX/STREX with DMB on ARM; acquire before the first byte, release
 * after the last), so it costs nothing on one core. */
static unsigned char log_busy;

void fw_log(const char *fmt, ...)
{
    char line[200];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    while (__atomic_test_and_set(&log_busy, __ATOMIC_ACQUIRE)) { }
    for (const char *p = "walkit: "; *p; p++) board_uart_putc((uint8_t)*p);
    for (int i = 0; line[i] && i < (int)sizeof line - 1; i++) board_uart_putc((uint8_t)line[i]);
    board_uart_putc('\r');
    board_uart_putc('\n');
    __atomic_clear(&log_busy, __ATOMIC_RELEASE);
}
