/* mutex.c: SQLite's mutex methods on the OS layer's mutex.
 *
 * SQLite built with SQLITE_OS_OTHER has no mutexes of its own (it falls back to no-ops), so
 * walkit_init() installs these with sqlite3_config(SQLITE_CONFIG_MUTEX) before
 * sqlite3_initialize().  One walkit_os_mutex per sqlite3_mutex; recursion
 * (SQLITE_MUTEX_RECURSIVE) is counted here, so the OS layer only needs plain mutexes.
 *
 * owner is the task id of the holder, 0 when free.  It is written only by the holder (after
 * locking, before unlocking) and read by any task without the lock, so it is an atomic: a task
 * reading its own id there knows it holds the mutex (no other task can store that id); any
 * other value means it does not.  count (recursion depth) is touched only by the holder.
 *
 * An OS lock that fails (a deleted or corrupted object, or a task relocking a FAST mutex it
 * holds) cannot be returned from xMutexEnter: it is reported through walkit_os_failed() (the
 * stats count it, sqlite3_log says what failed) and the mutex is NOT recorded as held, so a
 * later recursive enter or try of the same task cannot pass for a holder of a lock nobody took.
 * The matching xMutexLeave then finds the caller not owning it and only reports that.
 */
#include <string.h>

#include "sqlite3.h"
#include "walkit_int.h"

struct sqlite3_mutex {
    walkit_os_mutex *m;
    int id; /* SQLITE_MUTEX_FAST, _RECURSIVE or a static id */
    uintptr_t owner;
    int count;
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
        static_mutexes[i].id = SQLITE_MUTEX_STATIC_MAIN + i;
        static_mutexes[i].owner = 0;
        static_mutexes[i].count = 0;
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
    if (!(p->m = walkit_os_mutex_create())) {
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

static int held_by_me(sqlite3_mutex *p)
{
    return __atomic_load_n(&p->owner, __ATOMIC_RELAXED) == walkit_os_task_id();
}

static void take_ownership(sqlite3_mutex *p)
{
    __atomic_store_n(&p->owner, walkit_os_task_id(), __ATOMIC_RELAXED);
    p->count = 1;
}

static void wm_enter(sqlite3_mutex *p)
{
    if (p->id == SQLITE_MUTEX_RECURSIVE && held_by_me(p)) {
        p->count++;
        return;
    }
    int rc = walkit_os_mutex_lock(p->m);
    if (rc != WALKIT_OS_OK) {
        walkit_os_failed("sqlite3_mutex_enter", rc);
        return;
    }
    take_ownership(p);
}

static int wm_try(sqlite3_mutex *p)
{
    if (p->id == SQLITE_MUTEX_RECURSIVE && held_by_me(p)) {
        p->count++;
        return SQLITE_OK;
    }
    int rc = walkit_os_mutex_trylock(p->m);
    if (rc == WALKIT_OS_OK) {
        take_ownership(p);
        return SQLITE_OK;
    }
    if (rc != WALKIT_OS_BUSY) walkit_os_failed("sqlite3_mutex_try", rc);
    return SQLITE_BUSY;
}

static void wm_leave(sqlite3_mutex *p)
{
    if (!held_by_me(p)) { /* its enter failed (reported then), or a caller bug */
        walkit_os_failed("sqlite3_mutex_leave of a mutex not held", WALKIT_OS_ERROR);
        return;
    }
    if (--p->count > 0) return;
    __atomic_store_n(&p->owner, (uintptr_t)0, __ATOMIC_RELAXED);
    int rc = walkit_os_mutex_unlock(p->m);
    if (rc != WALKIT_OS_OK) walkit_os_failed("sqlite3_mutex_leave", rc);
}

static int wm_held(sqlite3_mutex *p) { return p == NULL || held_by_me(p); }
static int wm_notheld(sqlite3_mutex *p) { return p == NULL || !held_by_me(p); }

static const sqlite3_mutex_methods methods = {
    wm_init, wm_end, wm_alloc, wm_free, wm_enter, wm_try, wm_leave, wm_held, wm_notheld,
};

const struct sqlite3_mutex_methods *walkit_mutex_methods(void) { return &methods; }

int walkit_mutex_installed(void) { return __atomic_load_n(&initialised, __ATOMIC_ACQUIRE); }
