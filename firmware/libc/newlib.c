/* newlib(-nano) glue for bare-metal boards: C start-up and the system calls newlib needs,
 * expressed on the board contract.  The heap is the fixed [__heap_start, __heap_end) region of
 * the board's linker script: when it is used up, _sbrk fails with ENOMEM and malloc returns
 * NULL (SQLite turns that into SQLITE_NOMEM) instead of growing into the stack. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "board.h"
#if WALKIT_OS_PORT_BARE
#include "walkit_os_bare.h"
#endif

#undef errno
extern int errno;

extern char __heap_start[], __heap_end[];
extern void __libc_init_array(void);
extern int main(void);

static char *heap_brk = __heap_start;

void *_sbrk(ptrdiff_t incr)
{
    char *prev = heap_brk;
    if (incr < 0 ? prev + incr < __heap_start : (size_t)incr > (size_t)(__heap_end - prev)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_brk += incr;
    return prev;
}

/* Bytes of the heap region handed to malloc so far (its high-water mark: sbrk never shrinks). */
size_t board_heap_used(void) { return (size_t)(heap_brk - __heap_start); }
size_t board_heap_size(void) { return (size_t)(__heap_end - __heap_start); }

int _write(int fd, const void *buf, size_t n)
{
    if (fd != 1 && fd != 2) { errno = EBADF; return -1; }
    const uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) board_uart_putc(p[i]);
    return (int)n;
}

int _read(int fd, void *buf, size_t n)
{
    if (fd != 0) { errno = EBADF; return -1; }
    if (n == 0) return 0;
    int c = board_uart_getc();
    if (c < 0) return 0;
    *(uint8_t *)buf = (uint8_t)c;
    return 1;
}

int _close(int fd) { (void)fd; errno = EBADF; return -1; }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; errno = ESPIPE; return -1; }
int _isatty(int fd) { return fd >= 0 && fd <= 2; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _getpid(void) { return 1; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
void _exit(int status) { board_exit(status); }

/* -nostartfiles drops crti.o/crtn.o, which would supply these; __libc_init_array calls _init
 * and all constructors are reached through .init_array instead. */
void _init(void) { }
void _fini(void) { }

/* Stack painting.  Invariant: every word of [__stack_limit, painted_top) held STACK_PAINT at
 * start-up, so the lowest word that no longer does marks the deepest the stack has been.  The
 * paint stops STACK_PAINT_MARGIN bytes below board_start's own frame, which is live. */
extern char __stack_limit[], __stack_top[];
#define STACK_PAINT 0xa5a5a5a5u
#define STACK_PAINT_MARGIN 256u

static void paint_stack(void)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0) - STACK_PAINT_MARGIN;
    for (volatile uint32_t *w = (uint32_t *)__stack_limit; (uintptr_t)w < (here & ~(uintptr_t)3); w++)
        *w = STACK_PAINT;
}

size_t board_stack_size(void) { return (size_t)(__stack_top - __stack_limit); }

size_t board_stack_used_max(void)
{
    const uint32_t *w = (const uint32_t *)__stack_limit;
    while ((const char *)w < __stack_top && *w == STACK_PAINT) w++;
    return (size_t)(__stack_top - (const char *)w);
}

/* Entered from the board's reset code with a stack and a zeroed .bss. */
void board_start(void) __attribute__((noreturn));
void board_start(void)
{
    paint_stack();
    board_init();
#if WALKIT_OS_PORT_BARE
    /* The bare OS port has no clock of its own: it is given the board's before any code can
     * call walkit_init(). */
    static const walkit_os_bare_hooks os_hooks = { board_time_us, 0 };
    walkit_os_bare_init(&os_hooks);
#endif
    __libc_init_array();
    exit(main());
}
