/* mutex.c: SQLite's mutex methods on the OS layer's mutexes.
 *
 * SQLite built with SQLITE_OS_OTHER has no mutexes of its own (it falls back to no-ops), so
 * walkit_init() installs these with sqlite3_config(SQLITE_CONFIG_MUTEX) before
 * sqlite3_initialize().  One walkit_os_mutex per sqlite3_mutex, at the platform's cost:
 * SQLITE_MUTEX_FAST and the static mutexes are the OS layer's plain (non-recursive) mutex,
 * SQLITE_MUTEX_RECURSIVE is the OS's own recursive mutex (walkit_os_mutex_create_recursive:
 * PTHREAD_MUTEX_RECURSIVE, a VxWorks mutex semaphore), so enter and leave are one OS call each
 * and nothing is counted here.
 *
 * Owner tracking exists only for sqlite3_mutex_held/notheld, which SQLite calls from assert()
 * alone, i.e. in SQLITE_DEBUG builds: WALKIT_MUTEX_OWNER defaults to 1 there and 0 otherwise.
 * With it, owner is the task id of the holder (0 when free) and count its depth, both written
 * only by the holder (after locking, before unlocking); owner is read by any task without the
 * lock, so it is an atomic: a task reading its own id there knows it holds the mutex.  Without
 * it, held and notheld both answer 1 ("cannot tell"), SQLite's convention for such builds.
 *
 * An OS lock that fails (a deleted or corrupted object, or a task relocking a FAST mutex it
 * holds) cannot be returned from xMutexEnter: it is reported through walkit_os_failed() (the
 * stats count it, sqlite3_log says what failed) and the mutex is not held, so a later enter or
 * try of the same task really locks it.  The matching xMutexLeave then releases nothing and is
 * reported too: the OS refuses an unlock by a task that does not hold the mutex (os.h), and
 * with owner tracking it is refused here before the OS is asked.
 *
 * WALKIT_MUTEX_CHECK selects that reporting for enter and leave.  It is 1 unless NDEBUG is
 * defined (and always with owner tracking, which must know whether an enter succeeded); at 0
 * enter and leave are the OS call alone, its result ignored, the contract SQLite's own unix and
 * win32 mutexes keep: checking the result costs a frame around the call on every enter and
 * leave (about 4 mutex pairs per inserted row), which is what separates walkit from stock
 * SQLite in the bulk-load instruction count.  At 0 a failure goes unseen: a relocked FAST
 * mutex (a bug) is neither reported nor a hang, its inner leave releasing the outer hold, so
 * the tests build without NDEBUG.  xMutexTry always checks: its result is the answer.
 */
#include <string.h>

#include "sqlite3.h"
#include "walkit_int.h"

#ifndef WALKIT_MUTEX_OWNER
#if defined(SQLITE_DEBUG)
#define WALKIT_MUTEX_OWNER 1
#else
#define WALKIT_MUTEX_OWNER 0
#endif
#endif

#if WALKIT_MUTEX_OWNER
#undef WALKIT_MUTEX_CHECK
#define WALKIT_MUTEX_CHECK 1
#elif !defined(WALKIT_MUTEX_CHECK)
#if defined(NDEBUG)
#define WALKIT_MUTEX_CHECK 0
#else
#define WALKIT_MUTEX_CHECK 1
#endif
#endif

struct sqlite3_mutex {
    walkit_os_mutex *m;
    int id; /* SQLITE_MUTEX_FAST, _RECURSIVE or a static id */
#if WALKIT_MUTEX_OWNER
    uintptr_t owner;
    int count;
#endif
};

#define NSTATIC (SQLITE_MUTEX_STATIC_VFS3 - SQLITE_MUTEX_STATIC_MAIN + 1)

/* The static mutexes, created by xMutexInit and destroyed by xMutexEnd; initialised is set
 * once they all exist (SQLite serialises init/end itself). */
static sqlite3_mutex static_mutexes[NSTATIC];
static int initialised;

static int wm_end(void)
{
    for (int i = 0; i < NSTATIC; i++) {
        walkit_os_mutex_destroy(static_mutexes[i].m);
        static_mutexes[i].m = NULL;
    }
    initialised = 0;
    return SQLITE_OK;
}

static int wm_init(void)
{
    if (initialised) return SQLITE_OK;
    for (int i = 0; i < NSTATIC; i++) {
        memset(&static_mutexes[i], 0, sizeof static_mutexes[i]);
        static_mutexes[i].id = SQLITE_MUTEX_STATIC_MAIN + i;
        static_mutexes[i].m = walkit_os_mutex_create();
        if (!static_mutexes[i].m) {
            wm_end();
            return SQLITE_NOMEM;
        }
    }
    __atomic_store_n(&initialised, 1, __ATOMIC_RELEASE);
    return SQLITE_OK;
}

static sqlite3_mutex *wm_alloc(int id)
{
    if (id >= SQLITE_MUTEX_STATIC_MAIN && id <= SQLITE_MUTEX_STATIC_VFS3)
        return &static_mutexes[id - SQLITE_MUTEX_STATIC_MAIN];
    if (id != SQLITE_MUTEX_FAST && id != SQLITE_MUTEX_RECURSIVE) return NULL;
    sqlite3_mutex *p = walkit_alloc_zero(sizeof *p);
    if (!p) return NULL;
    p->id = id;
    p->m = id == SQLITE_MUTEX_RECURSIVE ? walkit_os_mutex_create_recursive()
                                        : walkit_os_mutex_create();
    if (!p->m) {
        walkit_free(p);
        return NULL;
    }
    return p;
}

static void wm_free(sqlite3_mutex *p)
{
    if (!p || p->id > SQLITE_MUTEX_RECURSIVE) return; /* static ones live until xMutexEnd */
    walkit_os_mutex_destroy(p->m);
    walkit_free(p);
}

#if WALKIT_MUTEX_OWNER
static int held_by_me(sqlite3_mutex *p)
{
    return __atomic_load_n(&p->owner, __ATOMIC_RELAXED) == walkit_os_task_id();
}

static void note_locked(sqlite3_mutex *p)
{
    if (p->count++ == 0) __atomic_store_n(&p->owner, walkit_os_task_id(), __ATOMIC_RELAXED);
}
#else
#define note_locked(p) ((void)0)
#endif

static void wm_enter(sqlite3_mutex *p)
{
#if WALKIT_MUTEX_CHECK
    int rc = walkit_os_mutex_lock(p->m);
    if (rc != WALKIT_OS_OK) {
        walkit_os_failed("sqlite3_mutex_enter", rc);
        return;
    }
    note_locked(p);
#else
    (void)walkit_os_mutex_lock(p->m);
#endif
}

static int wm_try(sqlite3_mutex *p)
{
    int rc = walkit_os_mutex_trylock(p->m);
    if (rc == WALKIT_OS_OK) {
        note_locked(p);
        return SQLITE_OK;
    }
    if (rc != WALKIT_OS_BUSY) walkit_os_failed("sqlite3_mutex_try", rc);
    return SQLITE_BUSY;
}

static void wm_leave(sqlite3_mutex *p)
{
#if WALKIT_MUTEX_OWNER
    if (!held_by_me(p)) { /* its enter failed (reported then), or a caller bug */
        walkit_os_failed("sqlite3_mutex_leave of a mutex not held", WALKIT_OS_ERROR);
        return;
    }
    if (--p->count == 0) __atomic_store_n(&p->owner, (uintptr_t)0, __ATOMIC_RELAXED);
#endif
#if WALKIT_MUTEX_CHECK
    int rc = walkit_os_mutex_unlock(p->m);
    if (rc != WALKIT_OS_OK) walkit_os_failed("sqlite3_mutex_leave", rc);
#else
    (void)walkit_os_mutex_unlock(p->m);
#endif
}

#if WALKIT_MUTEX_OWNER
static int wm_held(sqlite3_mutex *p) { return p == NULL || held_by_me(p); }
static int wm_notheld(sqlite3_mutex *p) { return p == NULL || !held_by_me(p); }
#else
static int wm_held(sqlite3_mutex *p) { (void)p; return 1; }
static int wm_notheld(sqlite3_mutex *p) { (void)p; return 1; }
#endif

static const sqlite3_mutex_methods methods = {
    wm_init, wm_end, wm_alloc, wm_free, wm_enter, wm_try, wm_leave, wm_held, wm_notheld,
};

const struct sqlite3_mutex_methods *walkit_mutex_methods(void) { return &methods; }

int walkit_mutex_installed(void) { return __atomic_load_n(&initialised, __ATOMIC_ACQUIRE); }
