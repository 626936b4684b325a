/* host-sim: the board contract (firmware/board.h) as a native Linux process.
 *
 *     walkit-fw [--flash FILE] [--uart SOCKET]
 *
 * --flash FILE   the file standing in for the NOR flash (flash_file.c)
 * --uart SOCKET  connect the console to this Unix socket (the walkit harness listens there, as
 *                it does for QEMU's serial chardev); without it the console is stdin/stdout
 *
 * Power: the process is the machine.  Its exit status is board_exit()'s status; a power cut is
 * SIGKILL (nothing runs, nothing is flushed: bytes the firmware had not yet handed to the UART
 * are lost like a UART FIFO's, bytes it had programmed into the flash file stay).
 * A crash (SIGSEGV and friends) prints "*** FAULT: ..." on the console and exits with
 * BOARD_EXIT_FAULT, as the QEMU board's exception vectors do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "board.h"

static const char *flash_path;
static const char *uart_path;
static int uart_in = 0, uart_out = 1;
static int uart_dead; /* the other end is gone: getc returns -1 from now on */

/* Output is buffered and written at each line end, before every blocking read and at exit, so
 * a reply costs one write() and not one per byte. */
static unsigned char obuf[4096];
static size_t olen;
static unsigned char ibuf[4096];
static size_t ipos, ilen;

const char *host_sim_flash_path(void) { return flash_path; }

static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0 && !uart_dead) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { uart_dead = 1; return; }
        p += k;
        n -= (size_t)k;
    }
}

static void uart_flush(void)
{
    write_all(uart_out, obuf, olen);
    olen = 0;
}

void board_uart_putc(uint8_t c)
{
    obuf[olen++] = c;
    if (c == '\n' || olen == sizeof obuf) uart_flush();
}

int board_uart_getc(void)
{
    if (ipos == ilen) {
        ssize_t k;
        uart_flush();
        do k = read(uart_in, ibuf, sizeof ibuf); while (k < 0 && errno == EINTR);
        if (k <= 0 || uart_dead) { uart_dead = 1; return -1; }
        ipos = 0;
        ilen = (size_t)k;
    }
    return ibuf[ipos++];
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t boot_us; /* the origin: process start, like a board's power-on */

uint64_t board_time_us(void) { return monotonic_us() - boot_us; }

size_t board_heap_used(void) { return mallinfo2().uordblks; }
size_t board_heap_size(void) { return 0; }
/* The OS owns the process's stack: nothing to measure (board.h: 0 = cannot tell). */
size_t board_stack_used_max(void) { return 0; }
size_t board_stack_size(void) { return 0; }

void board_exit(int status)
{
    uart_flush();
    fflush(NULL);
    _exit(status);
}

/* Async-signal-safe: only write() and _exit(). */
static void on_fault(int sig)
{
    char msg[64] = "\r\n*** FAULT: signal ";
    size_t n = strlen(msg);
    const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGILL ? "SIGILL"
                     : sig == SIGFPE ? "SIGFPE" : sig == SIGABRT ? "SIGABRT" : "?";
    for (const char *p = name; *p && n < sizeof msg - 3; p++) msg[n++] = *p;
    msg[n++] = '\r';
    msg[n++] = '\n';
    if (!uart_dead && write(uart_out, obuf, olen) < 0) { /* best effort */ }
    if (write(uart_out, msg, n) < 0 || write(2, msg, n) < 0) { /* nothing left to report to */ }
    _exit(BOARD_EXIT_FAULT);
}

static void usage(const char *why)
{
    fprintf(stderr, "walkit-fw (host-sim): %s\nusage: walkit-fw [--flash FILE] [--uart SOCKET]\n", why);
    exit(2);
}

static int connect_uart(const char *path)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) { errno = ENAMETOOLONG; close(fd); return -1; }
    strcpy(a.sun_path, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

void board_init(void)
{
    static char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    struct sigaction sa;
    static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    boot_us = monotonic_us();
    if (uart_path) {
        int fd = connect_uart(uart_path);
        if (fd < 0) {
            fprintf(stderr, "walkit-fw (host-sim): cannot connect the console to %s: %s\n",
                    uart_path, strerror(errno));
            exit(2);
        }
        uart_in = uart_out = fd;
    }
    /* A closed console is a write error (uart_dead), not a signal that kills the process. */
    signal(SIGPIPE, SIG_IGN);
    sigaltstack(&ss, NULL); /* so that a stack overflow can still be reported */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigaction(faults[i], &sa, NULL);
}

/* Runs before main(): glibc passes the program's arguments to .init_array functions, which
 * lets the firmware keep the board-independent `int main(void)` of the bare-metal boards. */
static void host_sim_start(int argc, char **argv, char **envp)
{
    (void)envp;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--flash") == 0 && i + 1 < argc) flash_path = argv[++i];
        else if (strcmp(argv[i], "--uart") == 0 && i + 1 < argc) uart_path = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) usage("the firmware as a Linux process");
        else usage("unknown or incomplete argument");
    }
    board_init();
}

__attribute__((section(".init_array"), used))
static void (*const host_sim_start_entry)(int, char **, char **) = host_sim_start;
