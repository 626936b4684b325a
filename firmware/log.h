/* log.h: one-line diagnostics on the console, for the firmware's files.  Boards do not call it:
 * they report through the board_log_fn they are given (board.h), and the firmware gives fw_log.
 *
 * A log line is "walkit: <text>\r\n", written whole with board_uart_putc.  The console's machine
 * mode frames its replies as lines starting with '@', so a log line printed while the host waits
 * for a reply is never mistaken for data: the host keeps it in the console log and reads on.
 * Formatting is the C library's vsnprintf; newlib-nano has no 64-bit or floating-point
 * conversions, so callers use int, unsigned, long, %s and %x only.  Lines are cut at 200 bytes.
 */
#ifndef WALKIT_LOG_H
#define WALKIT_LOG_H

void fw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
