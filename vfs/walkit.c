/* walkit.c: start-up (walkit_init), statistics, and the internal helpers every walkit file
 * uses: allocation with fault injection, reporting of OS-layer failures. */
#include <stdarg.h>
#include <string.h>

#include "sqlite3.h"
#include "storage/storage.h"
#include "walkit_int.h"

walkit_stats walkit_stats_live;

int walkit_init(void)
{
    /* sqlite3_config() is refused once SQLite is initialised: if it is, it must have been us
     * (walkit_mutex_installed) or the application initialised SQLite without real mutexes. */
    if (!walkit_mutex_installed()) {
        int rc = sqlite3_config(SQLITE_CONFIG_MUTEX, walkit_mutex_methods());
        if (rc != SQLITE_OK) {
            sqlite3_log(rc, "walkit: sqlite3_initialize() ran before walkit_init(): "
                            "SQLite has no mutexes");
            return rc;
        }
    }
    return sqlite3_initialize();
}

void walkit_get_stats(walkit_stats *out)
{
    /* Each field is read atomically; the set is not a snapshot (counters move meanwhile). */
    out->shm_map_calls = __atomic_load_n(&walkit_stats_live.shm_map_calls, __ATOMIC_RELAXED);
    out->shm_lock_calls = __atomic_load_n(&walkit_stats_live.shm_lock_calls, __ATOMIC_RELAXED);
    out->shm_lock_busy = __atomic_load_n(&walkit_stats_live.shm_lock_busy, __ATOMIC_RELAXED);
    out->shm_lock_waits = __atomic_load_n(&walkit_stats_live.shm_lock_waits, __ATOMIC_RELAXED);
    out->shm_barrier_calls =
        __atomic_load_n(&walkit_stats_live.shm_barrier_calls, __ATOMIC_RELAXED);
    out->shm_nodes = __atomic_load_n(&walkit_stats_live.shm_nodes, __ATOMIC_RELAXED);
    out->shm_regions = __atomic_load_n(&walkit_stats_live.shm_regions, __ATOMIC_RELAXED);
    out->file_lock_busy = __atomic_load_n(&walkit_stats_live.file_lock_busy, __ATOMIC_RELAXED);
    out->os_errors = __atomic_load_n(&walkit_stats_live.os_errors, __ATOMIC_RELAXED);
    out->alloc_faults = __atomic_load_n(&walkit_stats_live.alloc_faults, __ATOMIC_RELAXED);
    out->cksum_pages = __atomic_load_n(&walkit_stats_live.cksum_pages, __ATOMIC_RELAXED);
    out->cksum_errors = __atomic_load_n(&walkit_stats_live.cksum_errors, __ATOMIC_RELAXED);
    out->wal_damage = __atomic_load_n(&walkit_stats_live.wal_damage, __ATOMIC_RELAXED);
}

void walkit_storage_destroy(const walkit_storage *st)
{
    if (st && st->destroy) st->destroy(st->ctx);
}

/* ------------------------------------------------------------------ allocation */

/* Armed faults: the next fault_skip allocations succeed, then fault_fail fail.  Atomics: a
 * test arms them from one thread while others may allocate. */
static int32_t fault_skip, fault_fail;

void walkit_fault_alloc(int skip, int fail)
{
    __atomic_store_n(&fault_skip, skip < 0 ? 0 : skip, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_fail, fail < 0 ? 0 : fail, __ATOMIC_RELAXED);
}

static int fault_now(void)
{
    if (__atomic_load_n(&fault_fail, __ATOMIC_RELAXED) <= 0) return 0;
    if (__atomic_fetch_sub(&fault_skip, 1, __ATOMIC_RELAXED) > 0) return 0;
    if (__atomic_fetch_sub(&fault_fail, 1, __ATOMIC_RELAXED) > 0) {
        WALKIT_STAT_ADD(alloc_faults, 1);
        return 1;
    }
    return 0;
}

void *walkit_alloc(size_t n)
{
    if (fault_now()) return NULL;
    return walkit_os_malloc(n);
}

void *walkit_alloc_zero(size_t n)
{
    void *p = walkit_alloc(n);
    if (p) memset(p, 0, n);
    return p;
}

void walkit_free(void *p) { walkit_os_free(p); }

char *walkit_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = walkit_alloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------ OS failures */

void walkit_os_failed(const char *what, int os_rc)
{
    static const char *const names[] = { "ok", "timeout", "busy", "deadlock", "error" };
    WALKIT_STAT_ADD(os_errors, 1);
    sqlite3_log(SQLITE_ERROR, "walkit: %s failed in the OS layer: %s", what,
                (os_rc <= 0 && os_rc >= -4) ? names[-os_rc] : "unknown");
}

void walkit_misuse(const char *why) { sqlite3_log(SQLITE_MISUSE, "walkit: %s", why); }

void walkit_full(const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    sqlite3_vsnprintf((int)sizeof msg, msg, fmt, ap);
    va_end(ap);
    sqlite3_log(SQLITE_FULL, "walkit: %s", msg);
}

walkit_os_mutex *walkit_global_lock(void)
{
    static walkit_os_mutex *global;
    walkit_os_mutex *m = __atomic_load_n(&global, __ATOMIC_ACQUIRE);
    if (m) return m;
    walkit_os_mutex *fresh = walkit_os_mutex_create();
    if (!fresh) return NULL;
    if (__atomic_compare_exchange_n(&global, &m, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    walkit_os_mutex_destroy(fresh); /* another task created it first: m is theirs */
    return m;
}

void walkit_mutex_enter(walkit_os_mutex *m, const char *what)
{
    int rc = walkit_os_mutex_lock(m);
    if (rc != WALKIT_OS_OK) walkit_os_failed(what, rc);
}

void walkit_mutex_leave(walkit_os_mutex *m, const char *what)
{
    int rc = walkit_os_mutex_unlock(m);
    if (rc != WALKIT_OS_OK) walkit_os_failed(what, rc);
}
