/* walkit_int.h: what walkit's own source files share and users never see.
 *
 * Allocation: every walkit-internal allocation goes through walkit_alloc(), on the OS layer's
 * allocator (not sqlite3_malloc: WAL-index regions are 32 KiB blocks an RTOS may want from its
 * own partition, and SQLite's memsys may be a fixed pool).  walkit_fault_alloc() (walkit.h) arms
 * failures here so tests can prove every out-of-memory path.
 *
 * Stats: relaxed atomic counters behind walkit_get_stats(); a counter is a tally, never used to
 * decide anything, so relaxed ordering is enough.
 */
#ifndef WALKIT_INT_H
#define WALKIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "walkit.h"
#include "os/os.h"

void *walkit_alloc(size_t n);      /* NULL when exhausted or a fault is armed */
void *walkit_alloc_zero(size_t n); /* zeroed */
void walkit_free(void *p);
char *walkit_strdup(const char *s);

/* The live counters; fields as in walkit_stats.  Update only through these macros. */
extern walkit_stats walkit_stats_live;
#define WALKIT_STAT_ADD(field, n) __atomic_fetch_add(&walkit_stats_live.field, (n), __ATOMIC_RELAXED)
#define WALKIT_STAT_SUB(field, n) __atomic_fetch_sub(&walkit_stats_live.field, (n), __ATOMIC_RELAXED)

/* Reports an OS-layer failure that the caller cannot return (e.g. inside a void SQLite
 * method): counts it in walkit_stats.os_errors and logs it through sqlite3_log(). */
void walkit_os_failed(const char *what, int os_rc);

/* Reports a caller's misuse that the API answers with a plain failure (a NULL constructor):
 * logs "walkit: <why>" through sqlite3_log() as SQLITE_MISUSE, so that code below the VFS
 * (the storage backends) can explain itself without knowing SQLite. */
void walkit_misuse(const char *why);

/* Reports a write a backend refused for want of space (its WALKIT_ST_NOSPC, the VFS's
 * SQLITE_FULL): logs "walkit: <message>" through sqlite3_log() as SQLITE_FULL. */
void walkit_full(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one process-wide mutex, for bookkeeping that spans objects: which VFS shares state with
 * which storage (vfs.c) and which lfs_t already has a backend (storage/littlefs.c).  Created on
 * first use (race-free, so before walkit_init() too) and never freed; NULL only if the OS
 * cannot create a mutex.  Held only briefly and never while calling out of walkit, except
 * into sqlite3_vfs_register/unregister/find (lock order: this one, then SQLite's). */
walkit_os_mutex *walkit_global_lock(void);

/* Lock/unlock an OS mutex whose failure cannot be returned to the caller: failures are
 * reported through walkit_os_failed(). */
void walkit_mutex_enter(walkit_os_mutex *m, const char *what);
void walkit_mutex_leave(walkit_os_mutex *m, const char *what);

/* vfs/mutex.c: SQLite's mutex methods on os.h. */
struct sqlite3_mutex_methods;
const struct sqlite3_mutex_methods *walkit_mutex_methods(void);
int walkit_mutex_installed(void); /* SQLite initialised its mutexes through ours */

#endif /* WALKIT_INT_H */
