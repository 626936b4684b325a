/* vfs.c: walkit's sqlite3_vfs and sqlite3_io_methods: files on a storage backend, file locks
 * between connections of the one address space, sync, time, randomness.
 *
 * Files: every call goes to the backend (storage/storage.h) and its result is mapped to the
 * SQLite code for that operation (walkit_storage_rc).  Paths in the VFS namespace are absolute
 * and normalised by xFullPathname, so one file has one name, which keys the lock table below
 * and the WAL-index registry (shm/registry.c).
 *
 * File locks: SQLite's five-level lock (NONE < SHARED < RESERVED < PENDING < EXCLUSIVE) is kept
 * in a walkit_inode per path, shared by every handle open on it through any VFS registered on
 * the same storage (walkit_storage_state).  There is no other process to exclude, so the inode
 * is the whole truth (os_unix.c needs fcntl locks in addition).  Conflicts return SQLITE_BUSY at once;
 * SQLite's busy handler retries.  Locks are keyed by path, not by file identity: a file deleted
 * and recreated while handles are open on the old one shares their lock state.
 */
#include <string.h>

#include "shm/registry.h"
#include "cksum.h"
#include "vfs.h"
#include "walscan.h"

/* What every VFS registered on one storage shares: the lock table (one walkit_inode per open
 * database path) and the WAL-index registry (shm/registry.c), so that one file has one lock
 * state and one WAL-index however many VFS names reach it.  Created by the first
 * walkit_register() of a storage, freed by its last walkit_unregister().
 *   next, st, nvfs: guarded by walkit_global_lock().
 *   shm: created under the global lock by the first WALKIT_SHM_HEAP registration, then
 *     immutable until the share is freed (SHM_NONE VFSes never touch it).
 *   lock guards inodes and every field of every inode (lock changes are rare and short: one
 *     mutex per storage is enough). */
struct walkit_storage_state {
    walkit_storage_state *next;
    const walkit_storage *st;
    int nvfs;
    walkit_os_mutex *lock;
    walkit_inode *inodes;
    walkit_shm_registry *shm;
};

static walkit_storage_state *storage_states; /* guarded by walkit_global_lock() */

/* File-lock state of one path.  Created by the first open of a database path on a storage,
 * freed when the last handle closes; every field is guarded by walkit_storage_state.lock.
 *   nshared: handles holding SHARED or more (an EXCLUSIVE holder counts itself);
 *   reserved/pending/exclusive: the one handle holding that level, or NULL.  A PENDING holder
 *   is a handle that asked for EXCLUSIVE while others still read: it blocks new SHARED locks
 *   so the readers drain. */
struct walkit_inode {
    walkit_inode *next;
    char *path;
    int nref;
    int nshared;
    walkit_file *reserved;
    walkit_file *pending;
    walkit_file *exclusive;
    int wal_opens; /* open handles on this database's WAL: the first one scans it (walscan.c) */
    int cksum; /* the database's pages carry checksums (cksum.c): learnt from its header by
                  any handle, read by all; an atomic int (a header read or write is made
                  under SQLite's file locks, the value only ever follows the header) */
};

/* ------------------------------------------------------------------ result-code mapping */

int walkit_storage_rc(walkit_vfs *v, int st_rc, int ioerr)
{
    if (st_rc == WALKIT_ST_OK) return SQLITE_OK;
    __atomic_store_n(&v->last_error, st_rc, __ATOMIC_RELAXED);
    switch (st_rc) {
    case WALKIT_ST_NOSPC: return SQLITE_FULL;
    case WALKIT_ST_NOMEM: return ioerr == SQLITE_CANTOPEN ? SQLITE_NOMEM : SQLITE_IOERR_NOMEM;
    case WALKIT_ST_CORRUPT: return ioerr == SQLITE_CANTOPEN ? SQLITE_CANTOPEN : SQLITE_IOERR_CORRUPTFS;
    case WALKIT_ST_NOENT:
        if (ioerr == SQLITE_IOERR_DELETE) return SQLITE_IOERR_DELETE_NOENT;
        return ioerr;
    case WALKIT_ST_ACCESS:
        if (ioerr == SQLITE_IOERR_WRITE || ioerr == SQLITE_IOERR_TRUNCATE) return SQLITE_READONLY;
        return ioerr;
    default: return ioerr;
    }
}

/* ------------------------------------------------------------------ paths */

/* Normalises name (relative names are relative to "/") into out: "/" + components joined by
 * "/", without ".", "..", or empty components.  SQLITE_CANTOPEN when it does not fit or ".."
 * climbs above the root. */
static int normalise_path(const char *name, char *out, int cap)
{
    int n = 0;
    const char *p = name;
    if (cap < 2) return SQLITE_CANTOPEN;
    while (*p) {
        while (*p == '/') p++;
        const char *start = p;
        while (*p && *p != '/') p++;
        int len = (int)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.')) continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (n == 0) return SQLITE_CANTOPEN;
            do n--; while (n > 0 && out[n] != '/'); /* drop the last component */
            continue;
        }
        if (n + 1 + len + 1 > cap) return SQLITE_CANTOPEN;
        out[n++] = '/';
        memcpy(out + n, start, (size_t)len);
        n += len;
    }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
    return SQLITE_OK;
}

static int wk_full_pathname(sqlite3_vfs *pvfs, const char *name, int nout, char *out)
{
    (void)pvfs;
    return normalise_path(name, out, nout);
}

/* ------------------------------------------------------------------ per-storage state */

/* The state of st, created if needed, with a WAL-index registry if heap is set; counts one
 * more VFS on it.  NULL when out of memory (nothing changed).  Global lock held. */
static walkit_storage_state *storage_state_acquire(const walkit_storage *st, int heap)
{
    walkit_storage_state *sh = storage_states;
    while (sh && sh->st != st) sh = sh->next;
    int fresh = sh == NULL;
    if (fresh) {
        sh = walkit_alloc_zero(sizeof *sh);
        if (!sh) return NULL;
        sh->st = st;
        if (!(sh->lock = walkit_os_mutex_create())) {
            walkit_free(sh);
            return NULL;
        }
    }
    if (heap && !sh->shm && !(sh->shm = walkit_shm_registry_create())) {
        if (fresh) {
            walkit_os_mutex_destroy(sh->lock);
            walkit_free(sh);
        }
        return NULL;
    }
    if (fresh) {
        sh->next = storage_states;
        storage_states = sh;
    }
    sh->nvfs++;
    return sh;
}

/* One VFS less on sh; the last one frees it (no file is open then).  Global lock held. */
static void storage_state_release(walkit_storage_state *sh)
{
    if (--sh->nvfs > 0) return;
    walkit_storage_state **pp = &storage_states;
    while (*pp != sh) pp = &(*pp)->next;
    *pp = sh->next;
    walkit_shm_registry_destroy(sh->shm);
    walkit_os_mutex_destroy(sh->lock);
    walkit_free(sh);
}

/* ------------------------------------------------------------------ the lock table */

static walkit_inode *inode_acquire(walkit_storage_state *sh, const char *path)
{
    walkit_mutex_enter(sh->lock, "inode acquire");
    walkit_inode *i = sh->inodes;
    while (i && strcmp(i->path, path) != 0) i = i->next;
    if (!i) {
        i = walkit_alloc_zero(sizeof *i);
        if (i && !(i->path = walkit_strdup(path))) {
            walkit_free(i);
            i = NULL;
        }
        if (i) {
            i->next = sh->inodes;
            sh->inodes = i;
        }
    }
    if (i) i->nref++;
    walkit_mutex_leave(sh->lock, "inode acquire");
    return i;
}

static void inode_release(walkit_storage_state *sh, walkit_inode *i)
{
    walkit_mutex_enter(sh->lock, "inode release");
    if (--i->nref == 0) {
        walkit_inode **pp = &sh->inodes;
        while (*pp != i) pp = &(*pp)->next;
        *pp = i->next;
        walkit_free(i->path);
        walkit_free(i);
    }
    walkit_mutex_leave(sh->lock, "inode release");
}

static int wk_lock(sqlite3_file *pf, int elock)
{
    walkit_file *f = (walkit_file *)pf;
    walkit_inode *i = f->inode;
    int rc = SQLITE_OK;
    if (f->elock >= elock) return SQLITE_OK;
    if (!i) { /* a file SQLite never shares (journal, WAL): nothing to exclude */
        f->elock = elock;
        return SQLITE_OK;
    }
    walkit_mutex_enter(f->vfs->per_storage->lock, "xLock");
    switch (elock) {
    case SQLITE_LOCK_SHARED:
        if ((i->pending && i->pending != f) || (i->exclusive && i->exclusive != f)) {
            rc = SQLITE_BUSY;
        } else {
            i->nshared++;
            f->elock = SQLITE_LOCK_SHARED;
        }
        break;
    case SQLITE_LOCK_RESERVED:
        if (i->reserved || i->pending || i->exclusive) {
            rc = SQLITE_BUSY;
        } else {
            i->reserved = f;
            f->elock = SQLITE_LOCK_RESERVED;
        }
        break;
    case SQLITE_LOCK_EXCLUSIVE:
        /* From SHARED, RESERVED or PENDING.  First PENDING (no new readers), then wait for the
         * other readers to leave. */
        if ((i->reserved && i->reserved != f) || (i->pending && i->pending != f)) {
            rc = SQLITE_BUSY;
            break;
        }
        i->pending = f;
        if (i->nshared > 1) {
            f->elock = SQLITE_LOCK_PENDING;
            rc = SQLITE_BUSY;
        } else {
            i->exclusive = f;
            f->elock = SQLITE_LOCK_EXCLUSIVE;
        }
        break;
    default: /* SQLite never asks for PENDING itself */
        rc = SQLITE_IOERR_LOCK;
        break;
    }
    walkit_mutex_leave(f->vfs->per_storage->lock, "xLock");
    if (rc == SQLITE_BUSY) WALKIT_STAT_ADD(file_lock_busy, 1);
    return rc;
}

static int wk_unlock(sqlite3_file *pf, int elock)
{
    walkit_file *f = (walkit_file *)pf;
    walkit_inode *i = f->inode;
    if (f->elock <= elock) return SQLITE_OK;
    if (i) {
        walkit_mutex_enter(f->vfs->per_storage->lock, "xUnlock");
        if (i->reserved == f) i->reserved = NULL;
        if (i->pending == f) i->pending = NULL;
        if (i->exclusive == f) i->exclusive = NULL;
        if (elock == SQLITE_LOCK_NONE) i->nshared--;
        walkit_mutex_leave(f->vfs->per_storage->lock, "xUnlock");
    }
    f->elock = elock;
    return SQLITE_OK;
}

static int wk_check_reserved_lock(sqlite3_file *pf, int *out)
{
    walkit_file *f = (walkit_file *)pf;
    walkit_inode *i = f->inode;
    if (!i) {
        *out = f->elock > SQLITE_LOCK_SHARED;
        return SQLITE_OK;
    }
    walkit_mutex_enter(f->vfs->per_storage->lock, "xCheckReservedLock");
    *out = i->reserved || i->pending || i->exclusive;
    walkit_mutex_leave(f->vfs->per_storage->lock, "xCheckReservedLock");
    return SQLITE_OK;
}

/* ------------------------------------------------------------------ io methods */

static int wk_close(sqlite3_file *pf)
{
    walkit_file *f = (walkit_file *)pf;
    walkit_vfs *v = f->vfs;
    int rc = SQLITE_OK;
    if (f->shm) walkit_heap_shm_unmap(pf, 0); /* SQLite unmaps first; this is a safety net */
    if (f->inode) {
        wk_unlock(pf, SQLITE_LOCK_NONE);
        inode_release(v->per_storage, f->inode);
    }
    if (f->db_inode) {
        walkit_mutex_enter(v->per_storage->lock, "wal close");
        f->db_inode->wal_opens--;
        walkit_mutex_leave(v->per_storage->lock, "wal close");
        inode_release(v->per_storage, f->db_inode);
    }
    rc = walkit_storage_rc(v, v->st->close(v->st->ctx, f->h), SQLITE_IOERR_CLOSE);
    if (f->delete_on_close) v->st->remove(v->st->ctx, f->path, 0);
    walkit_free(f->path);
    walkit_mutex_enter(v->lock, "xClose");
    v->nopen--;
    walkit_mutex_leave(v->lock, "xClose");
    pf->pMethods = NULL;
    return rc;
}

/* Page checksums (cksum.c) on a main database read in full: learns from the header whether
 * the pages carry them, then verifies every whole page. */
static int cksum_read(walkit_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    int h = walkit_cksum_header(buf, amt, off);
    if (h >= 0) __atomic_store_n(&f->inode->cksum, h, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&f->inode->cksum, __ATOMIC_RELAXED) || !walkit_cksum_is_page(amt))
        return SQLITE_OK;
    WALKIT_STAT_ADD(cksum_pages, 1);
    if (walkit_cksum_ok(buf, amt)) return SQLITE_OK;
    WALKIT_STAT_ADD(cksum_errors, 1);
    sqlite3_log(SQLITE_IOERR_DATA, "walkit: checksum mismatch in page %lld of %s: the page is "
                "damaged and was not returned", (long long)(off / amt) + 1, f->path);
    return SQLITE_IOERR_DATA;
}

static int wk_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = f->vfs->st;
    size_t got = 0;
    int rc = st->read(st->ctx, f->h, (uint64_t)off, buf, (size_t)amt, &got);
    if (rc != WALKIT_ST_OK) return walkit_storage_rc(f->vfs, rc, SQLITE_IOERR_READ);
    if (got < (size_t)amt) {
        /* SQLite relies on the missing tail being zero (e.g. a page past the end). */
        memset((char *)buf + got, 0, (size_t)amt - got);
        return SQLITE_IOERR_SHORT_READ;
    }
    if (f->vfs->page_checksums && (f->open_flags & SQLITE_OPEN_MAIN_DB)) return cksum_read(f, buf, amt, off);
    return SQLITE_OK;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define WAL_HDR 32u       /* wal.c: WAL_HDRSIZE */
#define WAL_FRAME_HDR 24u /* wal.c: WAL_FRAME_HDRSIZE; SQLite writes each frame header alone */

/* Tells the backend what a WAL frame header being written needs of the database: the end of
 * its page (bytes 0-3) or, in a commit frame, the database's size in pages (bytes 4-7), times
 * the page size from the WAL header (bytes 8-11, read once when another handle wrote it). */
static void describe_wal_write(walkit_file *f, const unsigned char *buf, int amt, sqlite3_int64 off)
{
    const walkit_storage *st = f->vfs->st;
    if (!st->wal_frame || !(f->open_flags & SQLITE_OPEN_WAL)) return;
    if (off == 0 && amt >= (int)WAL_HDR) {
        f->wal_page_size = get_be32(buf + 8);
        return;
    }
    if (amt != (int)WAL_FRAME_HDR || off < (sqlite3_int64)WAL_HDR) return;
    if (!f->wal_page_size) {
        unsigned char h[WAL_HDR];
        size_t got = 0;
        if (st->read(st->ctx, f->h, 0, h, sizeof h, &got) != WALKIT_ST_OK || got != sizeof h) return;
        f->wal_page_size = get_be32(h + 8);
    }
    uint32_t pgno = get_be32(buf), npages = get_be32(buf + 4);
    uint64_t ps = f->wal_page_size;
    st->wal_frame(st->ctx, f->h, (uint64_t)off, (uint64_t)off + WAL_FRAME_HDR + ps,
                  (uint64_t)(npages ? npages : pgno) * ps, npages != 0);
}

static int wk_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = f->vfs->st;
    describe_wal_write(f, buf, amt, off);
    if (f->vfs->page_checksums && (f->open_flags & SQLITE_OPEN_MAIN_DB)) {
        int h = walkit_cksum_header(buf, amt, off);
        if (h >= 0) __atomic_store_n(&f->inode->cksum, h, __ATOMIC_RELAXED);
        /* The reserve never shrinks, so sealing cannot overwrite SQLite's data. */
        if (__atomic_load_n(&f->inode->cksum, __ATOMIC_RELAXED) && walkit_cksum_is_page(amt))
            walkit_cksum_seal((void *)buf, amt);
    }
    int rc = st->write(st->ctx, f->h, (uint64_t)off, buf, (size_t)amt);
    return walkit_storage_rc(f->vfs, rc, SQLITE_IOERR_WRITE);
}

static int wk_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = f->vfs->st;
    int rc = st->truncate(st->ctx, f->h, (uint64_t)size);
    return walkit_storage_rc(f->vfs, rc, SQLITE_IOERR_TRUNCATE);
}

static int wk_sync(sqlite3_file *pf, int flags)
{
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = f->vfs->st;
    int rc = st->sync(st->ctx, f->h, (flags & SQLITE_SYNC_DATAONLY) != 0);
    return walkit_storage_rc(f->vfs, rc, SQLITE_IOERR_FSYNC);
}

static int wk_file_size(sqlite3_file *pf, sqlite3_int64 *out)
{
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = f->vfs->st;
    uint64_t size = 0;
    int rc = st->size(st->ctx, f->h, &size);
    *out = (sqlite3_int64)size;
    return walkit_storage_rc(f->vfs, rc, SQLITE_IOERR_FSTAT);
}

static int wk_file_control(sqlite3_file *pf, int op, void *arg)
{
    walkit_file *f = (walkit_file *)pf;
    switch (op) {
    case SQLITE_FCNTL_VFSNAME:
        *(char **)arg = sqlite3_mprintf("%s(%s)", f->vfs->name, f->vfs->st->name);
        return SQLITE_OK;
    case SQLITE_FCNTL_LOCKSTATE:
        *(int *)arg = f->elock;
        return SQLITE_OK;
    case SQLITE_FCNTL_HAS_MOVED:
        *(int *)arg = 0;
        return SQLITE_OK;
    case SQLITE_FCNTL_PRAGMA: {
        /* PRAGMA walkit_page_checksums: 1 if this database's pages carry checksums that every
         * read verifies, 0 if not (no reserve, or the VFS has them off).  Read-only. */
        char **a = arg;
        if (sqlite3_stricmp(a[1], "walkit_page_checksums") != 0) return SQLITE_NOTFOUND;
        if (a[2]) {
            a[0] = sqlite3_mprintf("walkit_page_checksums is read-only: a database gets "
                                   "checksums when created through a VFS that has them on");
            return SQLITE_ERROR;
        }
        a[0] = sqlite3_mprintf("%d", f->vfs->page_checksums && f->inode &&
                                         __atomic_load_n(&f->inode->cksum, __ATOMIC_RELAXED));
        return SQLITE_OK;
    }
#ifdef SQLITE_ENABLE_SETLK_TIMEOUT
    case SQLITE_FCNTL_LOCK_TIMEOUT: {
        /* Blocking WAL-index locks (shm/registry.c): only where the WAL-index is ours. */
        if (f->vfs->shm_mode != WALKIT_SHM_HEAP) return SQLITE_NOTFOUND;
        int old = f->lock_timeout_ms, want = *(int *)arg;
        f->lock_timeout_ms = want < 0 ? WALKIT_OS_FOREVER : want;
        *(int *)arg = old;
        return SQLITE_OK;
    }
#endif
    default:
        return SQLITE_NOTFOUND;
    }
}

static int wk_sector_size(sqlite3_file *pf)
{
    return (int)((walkit_file *)pf)->vfs->st->sector_size;
}

/* The backend's WALKIT_ST_CAP_* bits as SQLite's SQLITE_IOCAP_* codes. */
static int wk_device_characteristics(sqlite3_file *pf)
{
    uint32_t caps = ((walkit_file *)pf)->vfs->st->caps;
    int iocap = 0;
    if (caps & WALKIT_ST_CAP_ATOMIC) iocap |= SQLITE_IOCAP_ATOMIC;
    if (caps & WALKIT_ST_CAP_SAFE_APPEND) iocap |= SQLITE_IOCAP_SAFE_APPEND;
    if (caps & WALKIT_ST_CAP_SEQUENTIAL) iocap |= SQLITE_IOCAP_SEQUENTIAL;
    if (caps & WALKIT_ST_CAP_POWERSAFE_OVERWRITE) iocap |= SQLITE_IOCAP_POWERSAFE_OVERWRITE;
    return iocap;
}

/* WALKIT_SHM_NONE: no xShm*, so SQLite runs WAL only with locking_mode=EXCLUSIVE (it then keeps
 * the WAL-index in its own heap memory). */
static const sqlite3_io_methods methods_noshm = {
    1, wk_close, wk_read, wk_write, wk_truncate, wk_sync, wk_file_size, wk_lock, wk_unlock,
    wk_check_reserved_lock, wk_file_control, wk_sector_size, wk_device_characteristics,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

/* WALKIT_SHM_HEAP: the WAL-index is shared heap memory (shm/heap.c).  iVersion 2: no
 * xFetch/xUnfetch, memory-mapped I/O does not exist here. */
static const sqlite3_io_methods methods_heap = {
    2, wk_close, wk_read, wk_write, wk_truncate, wk_sync, wk_file_size, wk_lock, wk_unlock,
    wk_check_reserved_lock, wk_file_control, wk_sector_size, wk_device_characteristics,
    walkit_heap_shm_map, walkit_heap_shm_lock, walkit_heap_shm_barrier, walkit_heap_shm_unmap,
    NULL, NULL,
};

/* ------------------------------------------------------------------ vfs methods */

static int wk_randomness(sqlite3_vfs *pvfs, int n, char *out);

/* A WAL being opened: counts it on its database's inode (f->db_inode, held until close); the
 * first handle scans the WAL for damage before SQLite recovers from it (walscan.c).  0 when
 * out of memory. */
static int wal_first_open(walkit_vfs *v, walkit_file *f)
{
    char db[WALKIT_STORAGE_MAX_PATH];
    size_t n = strlen(f->path);
    if (n < 4 || strcmp(f->path + n - 4, "-wal") != 0) return 1; /* not named by SQLite */
    memcpy(db, f->path, n - 4);
    db[n - 4] = 0;
    if (!(f->db_inode = inode_acquire(v->per_storage, db))) return 0;
    walkit_mutex_enter(v->per_storage->lock, "wal open");
    int first = f->db_inode->wal_opens++ == 0;
    walkit_mutex_leave(v->per_storage->lock, "wal open");
    if (first) walkit_wal_scan(v->st, f->h, f->path);
    return 1;
}

static int wk_open(sqlite3_vfs *pvfs, sqlite3_filename name, sqlite3_file *pf, int flags,
                   int *out_flags)
{
    walkit_vfs *v = pvfs->pAppData;
    walkit_file *f = (walkit_file *)pf;
    const walkit_storage *st = v->st;
    char path[WALKIT_STORAGE_MAX_PATH];
    unsigned sflags = 0;
    int rc;

    memset(f, 0, sizeof *f);
    f->vfs = v;
    /* Counted open from the start, so walkit_unregister() either sees this open (and refuses
     * with SQLITE_BUSY) or has already begun (closing), and then this open fails. */
    walkit_mutex_enter(v->lock, "xOpen");
    int closing = v->closing;
    if (!closing) v->nopen++;
    walkit_mutex_leave(v->lock, "xOpen");
    if (closing) {
        sqlite3_log(SQLITE_CANTOPEN, "walkit: %s is being unregistered", v->name);
        return SQLITE_CANTOPEN;
    }
    if (!name) {
        /* A temporary file SQLite names nothing: give it a unique hidden name. */
        unsigned char r[8];
        wk_randomness(pvfs, sizeof r, (char *)r);
        sqlite3_snprintf(sizeof path, path, "/.walkit-tmp-%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
                         r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
        flags |= SQLITE_OPEN_DELETEONCLOSE;
    } else if (normalise_path(name, path, (int)sizeof path) != SQLITE_OK) {
        /* SQLite passes xFullPathname's output; anything else is normalised the same way so
         * that one file has one name in the lock table and the WAL-index registry. */
        rc = SQLITE_CANTOPEN;
        goto uncount;
    }
    if (flags & SQLITE_OPEN_CREATE) sflags |= WALKIT_ST_CREATE;
    if (flags & SQLITE_OPEN_EXCLUSIVE) sflags |= WALKIT_ST_EXCL;
    if (flags & SQLITE_OPEN_READONLY) sflags |= WALKIT_ST_READONLY;
    if (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_TEMP_DB)) sflags |= WALKIT_ST_DATABASE;
    if (flags & SQLITE_OPEN_WAL) sflags |= WALKIT_ST_WAL;
    rc = st->open(st->ctx, path, sflags, &f->h);
    if (rc == WALKIT_ST_ACCESS && (flags & SQLITE_OPEN_READWRITE)) {
        /* As SQLite expects of every VFS: a file we may not write is opened read-only. */
        rc = st->open(st->ctx, path, WALKIT_ST_READONLY | (sflags & (WALKIT_ST_DATABASE | WALKIT_ST_WAL)), &f->h);
        if (rc == WALKIT_ST_OK)
            flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
    }
    if (rc != WALKIT_ST_OK) {
        rc = walkit_storage_rc(v, rc, SQLITE_CANTOPEN);
        goto uncount;
    }

    f->delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
    if (!(f->path = walkit_strdup(path))) goto nomem;
    if ((flags & SQLITE_OPEN_MAIN_DB) && v->page_checksums) {
        /* The auto-extension that gives a new database its reserve (cksum.c) runs once the
         * connection's main database is open, i.e. after this.  Installed here, not at
         * registration: sqlite3_shutdown() drops auto-extensions, registrations survive it.
         * Idempotent: SQLite keeps one entry per function. */
        if (sqlite3_auto_extension((void (*)(void))walkit_cksum_autoext) != SQLITE_OK) goto nomem;
    }
    if (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_TEMP_DB)) {
        f->inode = inode_acquire(v->per_storage, f->path);
        if (!f->inode) goto nomem;
    }
    if ((flags & SQLITE_OPEN_WAL) && !wal_first_open(v, f)) goto nomem;
    f->open_flags = flags;
    if (out_flags) *out_flags = flags;
    f->base.pMethods = v->methods;
    return SQLITE_OK;

nomem:
    st->close(st->ctx, f->h);
    if (f->delete_on_close) st->remove(st->ctx, path, 0);
    walkit_free(f->path);
    rc = SQLITE_NOMEM;
uncount:
    walkit_mutex_enter(v->lock, "xOpen");
    v->nopen--;
    walkit_mutex_leave(v->lock, "xOpen");
    return rc;
}

static int wk_delete(sqlite3_vfs *pvfs, const char *name, int sync_dir)
{
    walkit_vfs *v = pvfs->pAppData;
    int rc = v->st->remove(v->st->ctx, name, sync_dir);
    return walkit_storage_rc(v, rc, SQLITE_IOERR_DELETE);
}

static int wk_access(sqlite3_vfs *pvfs, const char *name, int what, int *out)
{
    walkit_vfs *v = pvfs->pAppData;
    (void)what; /* the backends have no permissions: a file that exists is readable and
                   writable (a read-only medium is reported when writing) */
    int r = v->st->exists(v->st->ctx, name);
    if (r < 0) {
        *out = 0;
        return walkit_storage_rc(v, r, SQLITE_IOERR_ACCESS);
    }
    *out = r;
    return SQLITE_OK;
}

/* SQLite seeds its own PRNG from here (WAL salts, temporary names).  Targets rarely have an
 * entropy source, so mix what differs between boots and calls: the clocks, the task, stack and
 * heap addresses, and a call counter, through the splitmix64 finaliser. */
static int wk_randomness(sqlite3_vfs *pvfs, int n, char *out)
{
    static uint64_t counter;
    uint64_t x = walkit_os_monotonic_us() ^ ((uint64_t)walkit_os_wall_ms() << 20) ^
                 (uint64_t)walkit_os_task_id() ^ (uint64_t)(uintptr_t)&x ^
                 ((uint64_t)(uintptr_t)pvfs << 7);
    x += __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
    for (int i = 0; i < n; i++) {
        if (i % 8 == 0) {
            x += 0x9e3779b97f4a7c15ull;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            memcpy(out + i, &z, (size_t)(n - i < 8 ? n - i : 8));
        }
    }
    return n;
}

static int wk_sleep(sqlite3_vfs *pvfs, int us)
{
    (void)pvfs;
    if (us > 0) walkit_os_sleep_us((uint32_t)us);
    return us;
}

/* Julian day number of the Unix epoch, in milliseconds. */
#define UNIX_EPOCH_JD_MS 210866760000000LL

static int wk_current_time_int64(sqlite3_vfs *pvfs, sqlite3_int64 *out)
{
    (void)pvfs;
    *out = UNIX_EPOCH_JD_MS + walkit_os_wall_ms();
    return SQLITE_OK;
}

static int wk_current_time(sqlite3_vfs *pvfs, double *out)
{
    sqlite3_int64 ms;
    wk_current_time_int64(pvfs, &ms);
    *out = (double)ms / 86400000.0;
    return SQLITE_OK;
}

static int wk_get_last_error(sqlite3_vfs *pvfs, int n, char *out)
{
    walkit_vfs *v = pvfs->pAppData;
    int e = __atomic_load_n(&v->last_error, __ATOMIC_RELAXED);
    static const char *const names[] = { "ok", "no such file", "file exists", "no space",
                                         "out of memory", "I/O error", "access denied",
                                         "invalid path or argument", "filesystem corrupt" };
    if (n > 0) {
        const char *what = (e <= 0 && e >= -8) ? names[-e] : "unknown";
        sqlite3_snprintf(n, out, "%s: %s (%d)", v->st->name, what, e);
    }
    return e;
}

/* ------------------------------------------------------------------ registration */

int walkit_register(const walkit_config *cfg)
{
    if (!cfg || !cfg->storage || !cfg->storage->open) return SQLITE_MISUSE;
    if (cfg->shm_mode != WALKIT_SHM_HEAP && cfg->shm_mode != WALKIT_SHM_NONE) {
        sqlite3_log(SQLITE_MISUSE, "walkit: shm mode %d is not implemented", (int)cfg->shm_mode);
        return SQLITE_MISUSE;
    }
    if (!walkit_mutex_installed()) {
        sqlite3_log(SQLITE_MISUSE, "walkit: call walkit_init() before walkit_register()");
        return SQLITE_MISUSE;
    }
    const char *name = cfg->vfs_name ? cfg->vfs_name : "walkit";
    int heap = cfg->shm_mode == WALKIT_SHM_HEAP;
    walkit_os_mutex *global = walkit_global_lock();
    if (!global) return SQLITE_NOMEM;
    walkit_vfs *v = walkit_alloc_zero(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    if (strlen(name) >= sizeof v->name) {
        walkit_free(v);
        return SQLITE_MISUSE;
    }
    memcpy(v->name, name, strlen(name) + 1);
    v->st = cfg->storage;
    v->shm_mode = cfg->shm_mode;
    v->page_checksums = cfg->page_checksums != 0;
    if (!(v->lock = walkit_os_mutex_create())) {
        walkit_free(v);
        return SQLITE_NOMEM;
    }
    v->methods = heap ? &methods_heap : &methods_noshm;

    sqlite3_vfs *b = &v->base;
    b->iVersion = 2;
    b->szOsFile = (int)sizeof(walkit_file);
    b->mxPathname = WALKIT_STORAGE_MAX_PATH - 16; /* room for "-journal", "-wal" */
    b->zName = v->name;
    b->pAppData = v;
    b->xOpen = wk_open;
    b->xDelete = wk_delete;
    b->xAccess = wk_access;
    b->xFullPathname = wk_full_pathname;
    b->xRandomness = wk_randomness;
    b->xSleep = wk_sleep;
    b->xCurrentTime = wk_current_time;
    b->xGetLastError = wk_get_last_error;
    b->xCurrentTimeInt64 = wk_current_time_int64;

    /* Under the global lock: the name check and the registration are one step, and the
     * storage's shared state is found or made once. */
    int rc;
    walkit_mutex_enter(global, "register");
    if (sqlite3_vfs_find(name)) {
        rc = SQLITE_MISUSE; /* the name is taken */
    } else if (!(v->per_storage = storage_state_acquire(v->st, heap))) {
        rc = SQLITE_NOMEM;
    } else {
        v->shm = heap ? v->per_storage->shm : NULL;
        rc = sqlite3_vfs_register(b, cfg->make_default != 0);
        if (rc != SQLITE_OK) storage_state_release(v->per_storage);
    }
    walkit_mutex_leave(global, "register");
    if (rc != SQLITE_OK) {
        walkit_os_mutex_destroy(v->lock);
        walkit_free(v);
    }
    return rc;
}

static sqlite3_vfs nostorage_vfs; /* below: the storage-less default VFS */

int walkit_unregister(const char *vfs_name)
{
    walkit_os_mutex *global = walkit_global_lock();
    if (!global) return SQLITE_MISUSE; /* then nothing was ever registered */
    walkit_mutex_enter(global, "unregister");
    sqlite3_vfs *b = sqlite3_vfs_find(vfs_name ? vfs_name : "walkit");
    walkit_vfs *v = b && b->xOpen == wk_open ? b->pAppData : NULL;
    int rc = v ? SQLITE_OK : SQLITE_MISUSE;
    if (v) {
        /* No open file, and none can start: closing turns new xOpen calls away. */
        walkit_mutex_enter(v->lock, "unregister");
        if (v->nopen > 0) rc = SQLITE_BUSY;
        else v->closing = 1;
        walkit_mutex_leave(v->lock, "unregister");
    }
    int was_default = v && sqlite3_vfs_find(NULL) == b;
    if (rc == SQLITE_OK && (rc = sqlite3_vfs_unregister(b)) != SQLITE_OK) {
        walkit_mutex_enter(v->lock, "unregister");
        v->closing = 0;
        walkit_mutex_leave(v->lock, "unregister");
    }
    /* SQLite would promote whichever VFS it registered next (memdb, whose "files" silently
     * live in memory): the storage-less VFS, which says so, becomes the default instead. */
    if (rc == SQLITE_OK && was_default) sqlite3_vfs_register(&nostorage_vfs, 1);
    if (rc == SQLITE_OK) storage_state_release(v->per_storage);
    walkit_mutex_leave(global, "unregister");
    if (rc != SQLITE_OK) return rc;
    walkit_os_mutex_destroy(v->lock);
    walkit_free(v);
    return SQLITE_OK;
}

/* ------------------------------------------------------------------ start-up */

/* sqlite3_initialize() needs a default VFS before any walkit_register() can run: SQLite's
 * in-memory database VFS (memdb, ":memory:" and sqlite3_deserialize) attaches itself to the
 * default VFS during initialisation and borrows its clock, sleep and randomness for good.  This
 * VFS provides exactly those and has no files: opening one says that no storage is registered.
 * It stays registered while SQLite runs; walkit_register(make_default) replaces it as default. */
static int ns_open(sqlite3_vfs *pvfs, sqlite3_filename name, sqlite3_file *pf, int flags,
                   int *out_flags)
{
    (void)pvfs, (void)flags, (void)out_flags;
    pf->pMethods = NULL;
    sqlite3_log(SQLITE_CANTOPEN, "walkit: cannot open %s: no storage registered "
                "(walkit_register)", name ? name : "a temporary file");
    return SQLITE_CANTOPEN;
}

static int ns_delete(sqlite3_vfs *pvfs, const char *name, int sync_dir)
{
    (void)pvfs, (void)name, (void)sync_dir;
    return SQLITE_IOERR_DELETE_NOENT;
}

static int ns_access(sqlite3_vfs *pvfs, const char *name, int what, int *out)
{
    (void)pvfs, (void)name, (void)what;
    *out = 0;
    return SQLITE_OK;
}

static int ns_get_last_error(sqlite3_vfs *pvfs, int n, char *out)
{
    (void)pvfs;
    if (n > 0) out[0] = '\0';
    return 0;
}

static sqlite3_vfs nostorage_vfs = {
    2, (int)sizeof(walkit_file), WALKIT_STORAGE_MAX_PATH - 16, NULL, "walkit-nostorage", NULL,
    ns_open, ns_delete, ns_access, wk_full_pathname, NULL, NULL, NULL, NULL, wk_randomness,
    wk_sleep, wk_current_time, ns_get_last_error, wk_current_time_int64, NULL, NULL, NULL,
};

/* SQLite calls these from sqlite3_initialize()/sqlite3_shutdown() when built with
 * SQLITE_OS_OTHER.  VFS registrations survive sqlite3_shutdown(), so after a shutdown and a new
 * walkit_init() the application's default (a walkit VFS registered with make_default, or its
 * own) is still there and stays the default: walkit-nostorage becomes the default only when
 * there is none or it already is. */
int sqlite3_os_init(void)
{
    if (walkit_os_init() != WALKIT_OS_OK) return SQLITE_ERROR;
    sqlite3_vfs *dflt = sqlite3_vfs_find(NULL);
    if (dflt == NULL || dflt == &nostorage_vfs) return sqlite3_vfs_register(&nostorage_vfs, 1);
    if (sqlite3_vfs_find(nostorage_vfs.zName) == &nostorage_vfs) return SQLITE_OK;
    return sqlite3_vfs_register(&nostorage_vfs, 0);
}

int sqlite3_os_end(void)
{
    walkit_os_end();
    return SQLITE_OK;
}

int walkit_vfs_has_checksums(const sqlite3_vfs *pv)
{
    return pv && pv->xOpen == wk_open && ((const walkit_vfs *)pv->pAppData)->page_checksums;
}
