/* heap.c: WALKIT_SHM_HEAP, the default WAL-index mode.  SQLite gets the registry node's regions
 * themselves: every connection to a file maps the same heap memory, exactly as processes map
 * one -shm file with os_unix.c, but nothing is ever written to storage (no -shm file exists).
 * All sharing and locking logic is in registry.c; this file adapts it to sqlite3_io_methods. */
#include "shm/registry.h"
#include "vfs.h"

int walkit_heap_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **pp)
{
    walkit_file *f = (walkit_file *)pf;
    void *p = NULL;
    WALKIT_STAT_ADD(shm_map_calls, 1);
    *pp = NULL;
    if (!f->shm) {
        int rc = walkit_shm_attach(f->vfs->shm, f->path, WALKIT_SHM_HEAP, &f->shm);
        if (rc != SQLITE_OK) return rc;
    }
    int rc = walkit_shm_region(f->shm, region, size, extend, &p);
    *pp = p;
    return rc;
}

int walkit_heap_shm_lock(sqlite3_file *pf, int ofst, int n, int flags)
{
    walkit_file *f = (walkit_file *)pf;
    if (!f->shm) return SQLITE_IOERR_SHMLOCK; /* SQLite maps before it locks */
    return walkit_shm_lock(f->shm, ofst, n, flags, f->lock_timeout_ms);
}

void walkit_heap_shm_barrier(sqlite3_file *pf)
{
    walkit_file *f = (walkit_file *)pf;
    WALKIT_STAT_ADD(shm_barrier_calls, 1);
    walkit_shm_barrier(f->shm);
}

int walkit_heap_shm_unmap(sqlite3_file *pf, int delete_flag)
{
    walkit_file *f = (walkit_file *)pf;
    /* delete_flag asks to discard the shared state; with heap memory that happens anyway when
     * the last connection detaches, and SQLite passes it only when this is the last one. */
    (void)delete_flag;
    if (f->shm) {
        walkit_shm_detach(f->vfs->shm, f->shm);
        f->shm = NULL;
    }
    return SQLITE_OK;
}
