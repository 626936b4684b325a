/* walkit_os_bare.h: what the bare-metal OS port (vfs/os/bare.c) needs from the image.
 *
 * A bare-metal target has no OS to ask for the time, so the image gives the port its clock
 * here, before walkit_init(), the way littlefs is given an lfs_config: the port then depends on
 * nothing but these hooks.  Without them walkit_init() fails (sqlite3_os_init() reports
 * SQLITE_ERROR) rather than running with a clock that stands still. */
#ifndef WALKIT_OS_BARE_H
#define WALKIT_OS_BARE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct walkit_os_bare_hooks {
    /* Monotonic microseconds since an arbitrary origin (required). */
    uint64_t (*monotonic_us)(void);
    /* The wall clock at monotonic time 0, in milliseconds since 1970-01-01 UTC: the port's wall
     * clock is epoch_ms + monotonic_us() / 1000 (0 when the target has no real-time clock). */
    int64_t epoch_ms;
} walkit_os_bare_hooks;

/* Copies *hooks into the port; returns 0, or -1 when hooks or its clock is NULL.  Call before
 * walkit_init() (again only after sqlite3_shutdown()). */
int walkit_os_bare_init(const walkit_os_bare_hooks *hooks);

/* bare_smp.c only (one task per core): while fn is set, every wait of the task that set it (a
 * mutex, a semaphore, a sleep) calls fn() about every millisecond, even when the wait has no
 * timeout; fn may end the task by longjmp (it holds whatever locks it held).  NULL: no watch.
 * One watch at a time: a call replaces the previous one.  The firmware's stress watchdog on
 * core 0, when core 0 runs a task of its own. */
void walkit_os_bare_smp_watch(void (*fn)(void));

#ifdef __cplusplus
}
#endif
#endif /* WALKIT_OS_BARE_H */
