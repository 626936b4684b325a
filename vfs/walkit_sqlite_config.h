/* walkit_sqlite_config.h: every SQLite compile option walkit uses, each with its reason.
 *
 * One option set for every board and for the host-native build, so that what the tests prove
 * on the host is what runs on the target.  Compile sqlite3.c and walkit's vfs/ with this file
 * force-included (`-include walkit_sqlite_config.h`, as the CMake build does); lifting walkit
 * into another RTOS project means adding that one flag.  Options are guarded so that a build
 * may override one with -D, and SQLite's own defaults are stated where we rely on them.
 */
#ifndef WALKIT_SQLITE_CONFIG_H
#define WALKIT_SQLITE_CONFIG_H

/* No built-in OS layer (unix/win32): walkit supplies sqlite3_os_init()/sqlite3_os_end() and the
 * only VFS.  This is what removes every mmap/fcntl/shm_open reference from the image. */
#ifndef SQLITE_OS_OTHER
#define SQLITE_OS_OTHER 1
#endif

/* Memory-mapped I/O off: single-address-space targets have no mmap, and the walkit VFS has no
 * xFetch/xUnfetch.  0 also makes `PRAGMA mmap_size` a no-op. */
#undef SQLITE_MAX_MMAP_SIZE
#define SQLITE_MAX_MMAP_SIZE 0

/* Temporary tables, indices and sorter spills stay in RAM: no temp files on flash (wear, and
 * the storage backends have no temp directory).  3 = always memory, whatever PRAGMA says. */
#ifndef SQLITE_TEMP_STORE
#define SQLITE_TEMP_STORE 3
#endif

/* Thread-safe build.  With SQLITE_OS_OTHER SQLite has no mutex implementation of its own and
 * falls back to no-op mutexes, so walkit_init() installs real ones on the OS layer through
 * sqlite3_config(SQLITE_CONFIG_MUTEX) before sqlite3_initialize(). */
#ifndef SQLITE_THREADSAFE
#define SQLITE_THREADSAFE 1
#endif

/* Sorts never start helper threads (SQLite's thread code exists only for unix/win32 anyway). */
#ifndef SQLITE_MAX_WORKER_THREADS
#define SQLITE_MAX_WORKER_THREADS 0
#endif

/* No dlopen on the targets. */
#ifndef SQLITE_OMIT_LOAD_EXTENSION
#define SQLITE_OMIT_LOAD_EXTENSION 1
#endif

/* Bare-metal libcs have no time zone database; date functions work in UTC only. */
#ifndef SQLITE_OMIT_LOCALTIME
#define SQLITE_OMIT_LOCALTIME 1
#endif

/* Shared-cache mode would let connections bypass the WAL-index locking that walkit implements
 * and is discouraged by SQLite itself. */
#ifndef SQLITE_OMIT_SHARED_CACHE
#define SQLITE_OMIT_SHARED_CACHE 1
#endif

/* Deprecated interfaces are not part of walkit's API. */
#ifndef SQLITE_OMIT_DEPRECATED
#define SQLITE_OMIT_DEPRECATED 1
#endif

/* Double-quoted strings are identifiers only: a typo in a column name is an error, not a
 * string literal (SQLite's recommended setting). */
#ifndef SQLITE_DQS
#define SQLITE_DQS 0
#endif

/* Memory statistics stay on (SQLite's default, stated here because we rely on it): the console's
 * .stats and the benchmarks report sqlite3_memory_used() and its high-water mark. */
#ifndef SQLITE_DEFAULT_MEMSTATUS
#define SQLITE_DEFAULT_MEMSTATUS 1
#endif

/* Blocking WAL-index locks.  walkit's heap WAL-index can wait for a lock slot to be released
 * (the releaser wakes the waiter's semaphore) instead of returning SQLITE_BUSY and letting the
 * busy handler sleep whole milliseconds.  With this option SQLite passes a timeout to the VFS
 * (SQLITE_FCNTL_LOCK_TIMEOUT, from sqlite3_busy_timeout() or sqlite3_setlk_timeout()) around
 * the locks where waiting is safe (WAL write lock, checkpoint locks, read-lock retries) and
 * expects SQLITE_BUSY_TIMEOUT when it expires (value 1).  It needs a real sqlite3_mutex_try(),
 * which vfs/mutex.c provides.  Without a busy timeout nothing blocks.  Build with
 * -DWALKIT_BLOCKING_LOCKS=0 to compare with the non-blocking protocol (SQLite tests the macro
 * with #ifdef, so 0 cannot be passed to SQLITE_ENABLE_SETLK_TIMEOUT itself). */
#ifndef WALKIT_BLOCKING_LOCKS
#define WALKIT_BLOCKING_LOCKS 1
#endif
#if WALKIT_BLOCKING_LOCKS && !defined(SQLITE_ENABLE_SETLK_TIMEOUT)
#define SQLITE_ENABLE_SETLK_TIMEOUT 1
#endif
/* SQLite knows two protocols: 1, a wait of the given milliseconds that ends in
 * SQLITE_BUSY_TIMEOUT (implemented by shm/registry.c), and 2, a lock that blocks without a
 * limit (os_unix.c's F_SETLKW).  walkit implements only 1; any other value would have SQLite
 * enable blocking locks while the WAL-index answers as under 1 would not, so it is refused. */
#if defined(SQLITE_ENABLE_SETLK_TIMEOUT) && (SQLITE_ENABLE_SETLK_TIMEOUT + 0) != 1
#error "walkit implements SQLITE_ENABLE_SETLK_TIMEOUT=1 only (or leave it undefined: WALKIT_BLOCKING_LOCKS=0)"
#endif

/* WAL must be compiled in: it is the point of walkit.  Refuse a configuration that omits it. */
#ifdef SQLITE_OMIT_WAL
#error "walkit needs WAL: remove SQLITE_OMIT_WAL"
#endif

#endif /* WALKIT_SQLITE_CONFIG_H */
