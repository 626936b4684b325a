/* console_watch.c: the console's input while a statement runs, so a runaway query can be
 * stopped.
 *
 * SQLite calls console_watch() every CONSOLE_WATCH_OPS virtual-machine steps of a statement
 * (sqlite3_progress_handler on every connection the console opens).  It takes the bytes that
 * have arrived (board_uart_poll, never blocking) into a typeahead buffer, which console_getc()
 * hands out before the UART's own, so nothing read early is lost.  It interrupts the statement
 * (returns non-zero: SQLITE_INTERRUPT) when
 *   - interactive mode: Ctrl-C arrived (taken out of the typeahead: it was for this statement);
 *   - machine mode: a complete line `<id> .interrupt` arrived.  The line stays in the
 *     typeahead and is answered in its turn after the interrupted request's own reply, so
 *     replies never interleave.
 * The typeahead is bounded (TYPEAHEAD_MAX); when it is full, polling stops until the console
 * has read it, and later bytes wait in the UART (QEMU flow-controls it; host-sim's socket
 * buffers them).
 */
#include <string.h>
#include "board.h"
#include "console_shell.h"

#define TYPEAHEAD_MAX 4096

/* typeahead[head..len) are bytes read from the UART and not yet given to the console;
 * line_start is where the newest incomplete line began (for the .interrupt check). */
static uint8_t typeahead[TYPEAHEAD_MAX];
static size_t head, len, line_start;

int console_getc(void)
{
    if (head < len) {
        int ch = typeahead[head++];
        if (head == len) head = len = line_start = 0;
        return ch;
    }
    return board_uart_getc();
}

/* Whether typeahead[a..b) is "<digits> .interrupt". */
static int is_interrupt_line(size_t a, size_t b)
{
    static const char verb[] = " .interrupt";
    size_t i = a;
    while (i < b && typeahead[i] >= '0' && typeahead[i] <= '9') i++;
    return i > a && b - i == sizeof verb - 1 && memcmp(typeahead + i, verb, sizeof verb - 1) == 0;
}

int console_watch(void *machine_mode)
{
    int machine = *(const int *)machine_mode;
    for (;;) {
        int ch;
        if (len == TYPEAHEAD_MAX) {
            if (head == 0) return 0; /* full: the rest waits in the UART */
            memmove(typeahead, typeahead + head, len - head);
            len -= head;
            line_start -= line_start >= head ? head : line_start;
            head = 0;
        }
        ch = board_uart_poll();
        if (ch < 0) return 0;
        if (!machine && ch == 0x03) return 1;
        typeahead[len++] = (uint8_t)ch;
        if (ch == '\n' || ch == '\r') {
            size_t end = len - 1;
            int hit = machine && is_interrupt_line(line_start, end);
            line_start = len;
            if (hit) return 1;
        }
    }
}
