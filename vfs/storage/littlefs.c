/* littlefs.c: storage backend over a mounted littlefs (lfs_t), e.g. on NOR flash.
 *
 * littlefs is built without LFS_THREADSAFE, so this backend serialises every lfs_* call with
 * one OS mutex per filesystem.  littlefs keeps unsynced writes in each lfs_file_t's own cache,
 * invisible to other lfs_file_t handles on the same file; SQLite connections must see each
 * other's WAL appends before any sync.  So all walkit handles on one path share one lfs_file_t
 * (a wlfs_node, reference counted), which makes every write visible to every handle at once.
 *
 * Durability: littlefs is copy-on-write; lfs_file_sync() commits everything written to a file
 * since the previous sync as one atomic step, and a power loss before it loses those writes
 * whole without touching other data.  Hence WALKIT_ST_CAP_POWERSAFE_OVERWRITE (no neighbouring
 * byte is ever damaged) and WALKIT_ST_CAP_SAFE_APPEND (the size never grows ahead of the data);
 * not SEQUENTIAL (writes to different files are not committed in order without a sync) and not
 * ATOMIC (SQLite must still journal).  The sector size reported is the flash's program size.
 *
 * Free-space reserve: copy-on-write needs free blocks to undo, too.  A write into the middle of
 * a littlefs file rewrites the file from there to its end into new blocks, and until the next
 * sync the committed version, the previous uncommitted version (the source of that copy) and
 * the new one all hold blocks.  Rolling a hot journal back (page 1 and others, out of order)
 * or checkpointing into a database therefore needs up to two spare copies of that file, and
 * deleting the journal or committing needs metadata blocks.  On a full filesystem none of that
 * fits: the rollback fails, and the database is unreadable (every open must roll back first).
 * So a write or truncate that would give a file more blocks is refused (WALKIT_ST_NOSPC, i.e.
 * SQLITE_FULL, a clean statement failure) unless, after it, at least
 *     WALKIT_LFS_RESERVE_BLOCKS + WALKIT_LFS_RESERVE_COPIES x (blocks of the largest open
 *     database, i.e. file opened WALKIT_ST_DATABASE)
 * blocks stay free.  Writes that do not grow a file (rollback, checkpoint, rewrites) may use
 * the reserve; that is what it is for.  Defaults: 4 blocks (a metadata pair relocating, and
 * the copy of a file's last block that an append after a sync makes, for the journal and the
 * database) and 2 copies (the source and the destination of the copy above).  Journals and
 * WALs are not counted: they are appended, and a failed rewrite of one (a WAL reused from its
 * start) fails its transaction cleanly, with the committed version intact.  The price: a
 * database can grow to about a third of the free space.  Free space is measured with
 * lfs_fs_traverse() (a walk of the filesystem's metadata and block lists), only when a write
 * reaches into a new block.
 */
#include <string.h>

#include "lfs.h"
#include "storage/storage.h"
#include "walkit_int.h"

#ifndef WALKIT_LFS_RESERVE_BLOCKS
#define WALKIT_LFS_RESERVE_BLOCKS 4
#endif
#ifndef WALKIT_LFS_RESERVE_COPIES
#define WALKIT_LFS_RESERVE_COPIES 2
#endif

/* One path open through the backend: the one lfs_file_t that its nopen walkit handles share.
 * path is NULL once the name was removed (the node lives on until the last handle closes).
 * database: some handle was opened WALKIT_ST_DATABASE.  All fields guarded by wlfs_fs.lock. */
typedef struct wlfs_node {
    struct wlfs_node *next;
    char *path;
    int nopen;
    int database;
    lfs_file_t file;
} wlfs_node;

/* lock guards every lfs_* call on lfs and the open list; next is guarded by the global lock. */
typedef struct wlfs_fs {
    walkit_storage st; /* first: the public handle is &fs->st */
    struct wlfs_fs *next;
    lfs_t *lfs;
    walkit_os_mutex *lock;
    wlfs_node *open;
} wlfs_fs;

/* Every live backend, so that a second one on the same lfs_t is refused: it would serialise
 * littlefs with a second mutex (littlefs is not re-entrant) and give a path a second lfs_file_t
 * (whose unsynced writes the first cannot see), and its files a second lock table.  Guarded by
 * walkit_global_lock(). */
static wlfs_fs *backends;

struct walkit_storage_file {
    wlfs_node *sh;
    int readonly;
};

/* littlefs's result (a count or LFS_ERR_*) as the storage contract's WALKIT_ST_* code. */
static int wlfs_rc(int err)
{
    if (err >= 0) return WALKIT_ST_OK;
    switch (err) {
    case LFS_ERR_NOENT: return WALKIT_ST_NOENT;
    case LFS_ERR_EXIST: return WALKIT_ST_EXIST;
    case LFS_ERR_NOSPC:
    case LFS_ERR_FBIG: return WALKIT_ST_NOSPC;
    case LFS_ERR_NOMEM: return WALKIT_ST_NOMEM;
    case LFS_ERR_CORRUPT: return WALKIT_ST_CORRUPT;
    case LFS_ERR_ISDIR:
    case LFS_ERR_NOTDIR:
    case LFS_ERR_NAMETOOLONG:
    case LFS_ERR_INVAL: return WALKIT_ST_INVAL;
    default: return WALKIT_ST_IO;
    }
}

static wlfs_node **wlfs_find(wlfs_fs *fs, const char *path)
{
    wlfs_node **pp = &fs->open;
    while (*pp && strcmp((*pp)->path, path) != 0) pp = &(*pp)->next;
    return pp;
}

static int wlfs_open(void *ctx, const char *path, unsigned flags, walkit_storage_file **out)
{
    wlfs_fs *fs = ctx;
    int rc = WALKIT_ST_OK;
    walkit_storage_file *f = walkit_alloc(sizeof *f);
    if (!f) return WALKIT_ST_NOMEM;
    walkit_mutex_enter(fs->lock, "littlefs open");
    wlfs_node *sh = *wlfs_find(fs, path);
    if (sh && (flags & WALKIT_ST_CREATE) && (flags & WALKIT_ST_EXCL)) {
        rc = WALKIT_ST_EXIST;
    } else if (!sh) {
        sh = walkit_alloc_zero(sizeof *sh);
        if (sh) sh->path = walkit_strdup(path);
        if (!sh || !sh->path) {
            rc = WALKIT_ST_NOMEM;
        } else {
            int lf = LFS_O_RDWR;
            if (flags & WALKIT_ST_CREATE) lf |= LFS_O_CREAT;
            if (flags & WALKIT_ST_EXCL) lf |= LFS_O_EXCL;
            rc = wlfs_rc(lfs_file_open(fs->lfs, &sh->file, path, lf));
        }
        if (rc == WALKIT_ST_OK) {
            sh->next = fs->open;
            fs->open = sh;
        } else if (sh) {
            walkit_free(sh->path);
            walkit_free(sh);
            sh = NULL;
        }
    }
    if (rc == WALKIT_ST_OK) {
        sh->nopen++;
        if (flags & WALKIT_ST_DATABASE) sh->database = 1;
        f->sh = sh;
        f->readonly = (flags & WALKIT_ST_READONLY) != 0;
        *out = f;
    }
    walkit_mutex_leave(fs->lock, "littlefs open");
    if (rc != WALKIT_ST_OK) walkit_free(f);
    return rc;
}

static int wlfs_close(void *ctx, walkit_storage_file *f)
{
    wlfs_fs *fs = ctx;
    int rc = WALKIT_ST_OK;
    walkit_mutex_enter(fs->lock, "littlefs close");
    wlfs_node *sh = f->sh;
    if (--sh->nopen == 0) {
        if (sh->path) {
            wlfs_node **pp = wlfs_find(fs, sh->path);
            *pp = sh->next;
        }
        /* lfs_file_close() commits, but not a file marked errored by a failed write: it would
         * drop every handle's unsynced writes and report success.  Commit first (a successful
         * sync clears the mark) and report its failure: SQLite must not take a close that lost
         * data for a clean one.  The file is closed either way. */
        int sync_rc = wlfs_rc(lfs_file_sync(fs->lfs, &sh->file));
        rc = wlfs_rc(lfs_file_close(fs->lfs, &sh->file));
        if (rc == WALKIT_ST_OK) rc = sync_rc;
        walkit_free(sh->path);
        walkit_free(sh);
    }
    walkit_mutex_leave(fs->lock, "littlefs close");
    walkit_free(f);
    return rc;
}

static int wlfs_read(void *ctx, walkit_storage_file *f, uint64_t off, void *buf, size_t n,
                     size_t *got)
{
    wlfs_fs *fs = ctx;
    int rc;
    *got = 0;
    if (off > (uint64_t)LFS_FILE_MAX) return WALKIT_ST_OK; /* beyond any littlefs file */
    walkit_mutex_enter(fs->lock, "littlefs read");
    lfs_soff_t pos = lfs_file_seek(fs->lfs, &f->sh->file, (lfs_soff_t)off, LFS_SEEK_SET);
    rc = wlfs_rc((int)pos);
    if (rc == WALKIT_ST_OK) {
        lfs_ssize_t r = lfs_file_read(fs->lfs, &f->sh->file, buf, (lfs_size_t)n);
        rc = wlfs_rc((int)r);
        if (r > 0) *got = (size_t)r;
    }
    walkit_mutex_leave(fs->lock, "littlefs read");
    return rc;
}

/* Distinct blocks in use, from lfs_fs_traverse() (committed files, metadata, and the open
 * files' uncommitted blocks).  lfs_fs_size() counts a block once per reference, and an open
 * file's uncommitted version shares its unchanged prefix with the committed one, so it would
 * count a file being appended to twice. */
typedef struct used_map {
    uint8_t *bits;
    lfs_size_t count, nblocks;
} used_map;

static int mark_used(void *p, lfs_block_t b)
{
    used_map *m = p;
    if (b >= m->nblocks) return 0;
    uint8_t bit = (uint8_t)(1u << (b % 8));
    if (!(m->bits[b / 8] & bit)) {
        m->bits[b / 8] |= bit;
        m->count++;
    }
    return 0;
}

/* Blocks in use, or a negative LFS_ERR_*.  Without memory for the map, lfs_fs_size()'s
 * overcount (a refusal too early is safe, one too late is not). */
static lfs_ssize_t used_blocks(wlfs_fs *fs)
{
    used_map m = { NULL, 0, fs->lfs->block_count };
    m.bits = walkit_alloc_zero((m.nblocks + 7) / 8);
    if (!m.bits) return lfs_fs_size(fs->lfs);
    int err = lfs_fs_traverse(fs->lfs, mark_used, &m);
    walkit_free(m.bits);
    return err < 0 ? (lfs_ssize_t)err : (lfs_ssize_t)m.count;
}

static uint64_t blocks_of(const wlfs_fs *fs, uint64_t bytes)
{
    uint64_t bs = fs->lfs->cfg->block_size;
    return (bytes + bs - 1) / bs;
}

/* Whether sh's file may become `end` bytes long without eating into the free-space reserve
 * (see the top of this file; lock held): WALKIT_ST_OK, WALKIT_ST_NOSPC, or the error that
 * stopped the measurement.  Growth within the file's last block takes no new block beyond
 * the reserve's own and is not measured. */
static int reserve_allows(wlfs_fs *fs, wlfs_node *sh, uint64_t end)
{
    lfs_soff_t size = lfs_file_size(fs->lfs, &sh->file);
    if (size < 0) return wlfs_rc((int)size);
    uint64_t have = blocks_of(fs, (uint64_t)size), want = blocks_of(fs, end);
    if (want <= have) return WALKIT_ST_OK;
    uint64_t largest = sh->database ? want : 0;
    for (wlfs_node *o = fs->open; o; o = o->next) {
        if (!o->database || o == sh) continue;
        lfs_soff_t s = lfs_file_size(fs->lfs, &o->file);
        if (s > 0 && blocks_of(fs, (uint64_t)s) > largest) largest = blocks_of(fs, (uint64_t)s);
    }
    lfs_ssize_t used = used_blocks(fs);
    if (used < 0) return wlfs_rc((int)used);
    uint64_t total = fs->lfs->block_count, reserve =
        (uint64_t)WALKIT_LFS_RESERVE_BLOCKS + (uint64_t)WALKIT_LFS_RESERVE_COPIES * largest;
    uint64_t free_blocks = total > (uint64_t)used ? total - (uint64_t)used : 0;
    return free_blocks >= (want - have) + reserve ? WALKIT_ST_OK : WALKIT_ST_NOSPC;
}

static int wlfs_write(void *ctx, walkit_storage_file *f, uint64_t off, const void *buf, size_t n)
{
    wlfs_fs *fs = ctx;
    int rc;
    if (f->readonly) return WALKIT_ST_ACCESS;
    if (off + n > (uint64_t)LFS_FILE_MAX) return WALKIT_ST_NOSPC;
    walkit_mutex_enter(fs->lock, "littlefs write");
    rc = reserve_allows(fs, f->sh, off + n);
    lfs_soff_t pos = 0;
    if (rc == WALKIT_ST_OK) {
        pos = lfs_file_seek(fs->lfs, &f->sh->file, (lfs_soff_t)off, LFS_SEEK_SET);
        rc = wlfs_rc((int)pos);
    }
    if (rc == WALKIT_ST_OK) {
        lfs_ssize_t w = lfs_file_write(fs->lfs, &f->sh->file, buf, (lfs_size_t)n);
        rc = wlfs_rc((int)w);
        if (rc == WALKIT_ST_OK && (size_t)w != n) rc = WALKIT_ST_NOSPC;
    }
    walkit_mutex_leave(fs->lock, "littlefs write");
    return rc;
}

static int wlfs_truncate(void *ctx, walkit_storage_file *f, uint64_t size)
{
    wlfs_fs *fs = ctx;
    if (f->readonly) return WALKIT_ST_ACCESS;
    if (size > (uint64_t)LFS_FILE_MAX) return WALKIT_ST_NOSPC;
    walkit_mutex_enter(fs->lock, "littlefs truncate");
    int rc = reserve_allows(fs, f->sh, size);
    if (rc == WALKIT_ST_OK) rc = wlfs_rc(lfs_file_truncate(fs->lfs, &f->sh->file, (lfs_off_t)size));
    walkit_mutex_leave(fs->lock, "littlefs truncate");
    return rc;
}

static int wlfs_sync(void *ctx, walkit_storage_file *f, int data_only)
{
    wlfs_fs *fs = ctx;
    (void)data_only; /* littlefs commits data and size together */
    walkit_mutex_enter(fs->lock, "littlefs sync");
    int rc = wlfs_rc(lfs_file_sync(fs->lfs, &f->sh->file));
    walkit_mutex_leave(fs->lock, "littlefs sync");
    return rc;
}

static int wlfs_size(void *ctx, walkit_storage_file *f, uint64_t *size)
{
    wlfs_fs *fs = ctx;
    walkit_mutex_enter(fs->lock, "littlefs size");
    lfs_soff_t s = lfs_file_size(fs->lfs, &f->sh->file);
    walkit_mutex_leave(fs->lock, "littlefs size");
    if (s < 0) return wlfs_rc((int)s);
    *size = (uint64_t)s;
    return WALKIT_ST_OK;
}

static int wlfs_remove(void *ctx, const char *path, int sync_dir)
{
    wlfs_fs *fs = ctx;
    (void)sync_dir; /* a littlefs directory commit is durable when lfs_remove returns */
    walkit_mutex_enter(fs->lock, "littlefs remove");
    int rc = wlfs_rc(lfs_remove(fs->lfs, path));
    if (rc == WALKIT_ST_OK) {
        /* The open handle (if any) is orphaned by littlefs: it still reads, never commits. */
        wlfs_node **pp = wlfs_find(fs, path);
        if (*pp) {
            wlfs_node *sh = *pp;
            *pp = sh->next;
            walkit_free(sh->path);
            sh->path = NULL;
        }
    }
    walkit_mutex_leave(fs->lock, "littlefs remove");
    return rc;
}

static int wlfs_exists(void *ctx, const char *path)
{
    wlfs_fs *fs = ctx;
    struct lfs_info info;
    walkit_mutex_enter(fs->lock, "littlefs stat");
    int err = lfs_stat(fs->lfs, path, &info);
    walkit_mutex_leave(fs->lock, "littlefs stat");
    if (err == LFS_ERR_NOENT) return 0;
    return err < 0 ? wlfs_rc(err) : info.type == LFS_TYPE_REG; /* a directory is not a file */
}

static void wlfs_destroy(void *ctx)
{
    wlfs_fs *fs = ctx;
    walkit_os_mutex *global = walkit_global_lock(); /* exists: the constructor made it */
    walkit_mutex_enter(global, "littlefs destroy");
    wlfs_fs **pp = &backends;
    while (*pp && *pp != fs) pp = &(*pp)->next;
    if (*pp) *pp = fs->next;
    walkit_mutex_leave(global, "littlefs destroy");
    walkit_os_mutex_destroy(fs->lock);
    walkit_free(fs);
}

const walkit_storage *walkit_storage_littlefs(struct lfs *lfs)
{
    if (!lfs || !lfs->cfg) return NULL; /* not mounted */
    walkit_os_mutex *global = walkit_global_lock();
    if (!global) return NULL;
    wlfs_fs *fs = walkit_alloc_zero(sizeof *fs);
    if (!fs) return NULL;
    fs->lfs = lfs;
    fs->lock = walkit_os_mutex_create();
    if (!fs->lock) {
        walkit_free(fs);
        return NULL;
    }
    walkit_mutex_enter(global, "littlefs backend");
    wlfs_fs *other = backends;
    while (other && other->lfs != lfs) other = other->next;
    if (!other) {
        fs->next = backends;
        backends = fs;
    }
    walkit_mutex_leave(global, "littlefs backend");
    if (other) {
        walkit_misuse("this lfs_t already has a littlefs backend: register every VFS name on "
                      "that one");
        walkit_os_mutex_destroy(fs->lock);
        walkit_free(fs);
        return NULL;
    }
    fs->st.ctx = fs;
    fs->st.name = "littlefs";
    fs->st.open = wlfs_open;
    fs->st.close = wlfs_close;
    fs->st.read = wlfs_read;
    fs->st.write = wlfs_write;
    fs->st.truncate = wlfs_truncate;
    fs->st.sync = wlfs_sync;
    fs->st.size = wlfs_size;
    fs->st.remove = wlfs_remove;
    fs->st.exists = wlfs_exists;
    fs->st.destroy = wlfs_destroy;
    fs->st.sector_size = lfs->cfg->prog_size;
    fs->st.caps = WALKIT_ST_CAP_POWERSAFE_OVERWRITE | WALKIT_ST_CAP_SAFE_APPEND;
    return &fs->st;
}
