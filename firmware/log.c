/* log.c: see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include "board.h"
#include "log.h"

void fw_log(const char *fmt, ...)
{
    char line[200];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    for (const char *p = "walkit: "; *p; p++) board_uart_putc((uint8_t)*p);
    for (int i = 0; line[i] && i < (int)sizeof line - 1; i++) board_uart_putc((uint8_t)line[i]);
    board_uart_putc('\r');
    board_uart_putc('\n');
}
