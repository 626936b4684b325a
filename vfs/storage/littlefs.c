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
 * Space policy (the arithmetic and its reasons are in docs/vfs.md, "littlefs space policy").
 * Copy-on-write needs free blocks to undo and to shrink, too: a write into the middle of a
 * littlefs file starts a new version of the file from there to its end, and the committed
 * version keeps its blocks until the next sync.  Two rules keep every space-freeing step
 * possible on a full filesystem:
 *  1. One uncommitted version per file.  littlefs copies a file's tail at every seek after a
 *     write; if the version it copies from is itself uncommitted, the committed version, that
 *     source and the copy all hold blocks (three versions).  So before a write that would start
 *     a second uncommitted version (not at the current write position while writing, or into
 *     an uncommitted file below its end), the file is committed first.  SQLite never relies on
 *     a set of writes to one file between two syncs being atomic (the journal or WAL protects
 *     every database write; a WAL or journal is valid in any prefix), so an extra commit is
 *     safe.  Rewriting a file of D blocks then needs at most D spare blocks.
 *  2. A reserve of
 *         WALKIT_LFS_RESERVE_BLOCKS + WALKIT_LFS_RESERVE_COPIES x D'
 *     free blocks, D' the blocks of the largest open database as it will be once its WAL is
 *     checkpointed, spent in tiers.  A write that gives a file a new block is refused
 *     (WALKIT_ST_NOSPC: the VFS's SQLITE_FULL, a clean statement failure) unless afterwards
 *       - growth (a WAL transaction that extends the database, a database growing without
 *         a WAL): the whole reserve stays free;
 *       - rewrites (WAL frames of existing pages, journals, other files): the metadata blocks
 *         and one copy of D' (WALKIT_LFS_RESERVE_COPIES - 1 copies may be spent: a delete,
 *         DROP TABLE or VACUUM is written to the WAL or journal from here);
 *       - a checkpoint (a database growing while its WAL is open): the metadata blocks.
 *     Writes that take no new block are never refused, except the commit frame of a growing
 *     WAL transaction (see wlfs_wal_frame).  D' comes from the VFS describing each WAL frame
 *     (wal_frame); for a WAL found on open, whose frames nobody described, D' is the
 *     database's blocks plus the WAL's (every frame a new page) until the WAL restarts.
 * A WAL written at offset 0 restarts (storage.h, WALKIT_ST_WAL): it is truncated and committed
 * first, which frees the old frames' blocks at once and keeps littlefs from copying them behind
 * the new header.  Free space is measured with
 * lfs_fs_traverse() (distinct blocks), only when a write reaches into a new block.
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
#if WALKIT_LFS_RESERVE_COPIES < 1
#error "WALKIT_LFS_RESERVE_COPIES: at least the one copy a checkpoint or rollback rewrites into"
#endif

/* One open littlefs file.  path is NULL once the name was removed (the handle lives on until
 * the last walkit handle closes).  database: some handle was opened WALKIT_ST_DATABASE; wal:
 * opened WALKIT_ST_WAL.  For a WAL (from the frames the VFS describes, wal_frame): commit_end
 * is the offset just past its last commit frame (0: none since it restarted), commit_bytes
 * the database size that commit gave, txn_bytes the largest size a frame of the transaction
 * being written needs, txn_grows that one of them needs the database to grow beyond what is
 * committed; pending_end/pending_bytes the commit frame being written (it counts once its
 * last byte is written: a transaction refused in its commit frame committed nothing);
 * check_commit that the next write is the header of a growing transaction's commit frame;
 * wal_unknown that the WAL held frames when opened (what they need is unknown).
 * All fields guarded by wlfs_fs.lock. */
typedef struct wlfs_node {
    struct wlfs_node *next;
    char *path;
    int nopen;
    int database;
    int wal;
    int wal_unknown;
    int txn_grows;
    int check_commit;
    uint64_t commit_end, commit_bytes, txn_bytes, pending_end, pending_bytes;
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
            sh->wal = (flags & WALKIT_ST_WAL) != 0;
            sh->wal_unknown = sh->wal && lfs_file_size(fs->lfs, &sh->file) > 0;
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
 * file's uncommitted version shares its unchanged prefix with the committed one, so it counts
 * a file being appended to twice (a WAL not synced since its last commit: more blocks in use
 * than the filesystem has). */
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

/* Distinct blocks in use, or a negative LFS_ERR_* (LFS_ERR_NOMEM without memory for the map;
 * block_count / 8 bytes). */
static lfs_ssize_t distinct_used(lfs_t *lfs)
{
    used_map m = { NULL, 0, lfs->block_count };
    m.bits = walkit_alloc_zero((m.nblocks + 7) / 8);
    if (!m.bits) return LFS_ERR_NOMEM;
    int err = lfs_fs_traverse(lfs, mark_used, &m);
    walkit_free(m.bits);
    return err < 0 ? (lfs_ssize_t)err : (lfs_ssize_t)m.count;
}

/* Blocks in use for the reserve, or a negative LFS_ERR_*.  Without memory for the map,
 * lfs_fs_size()'s overcount (a refusal too early is safe, one too late is not). */
static lfs_ssize_t used_blocks(wlfs_fs *fs)
{
    lfs_ssize_t n = distinct_used(fs->lfs);
    return n == LFS_ERR_NOMEM ? lfs_fs_size(fs->lfs) : n;
}

static uint64_t blocks_of(const wlfs_fs *fs, uint64_t bytes)
{
    uint64_t bs = fs->lfs->cfg->block_size;
    return (bytes + bs - 1) / bs;
}

static uint64_t size_of(wlfs_fs *fs, wlfs_node *sh)
{
    lfs_soff_t s = lfs_file_size(fs->lfs, &sh->file);
    return s > 0 ? (uint64_t)s : 0;
}

/* The WAL of database db (its path with "-wal", storage.h), if open; or the database of WAL
 * wal.  Lock held. */
static wlfs_node *db_of(wlfs_fs *fs, const wlfs_node *wal);
static wlfs_node *wal_of(wlfs_fs *fs, const wlfs_node *db)
{
    if (!db->path) return NULL;
    size_t n = strlen(db->path);
    for (wlfs_node *o = fs->open; o; o = o->next)
        if (o->wal && o->path && strncmp(o->path, db->path, n) == 0 && strcmp(o->path + n, "-wal") == 0)
            return o;
    return NULL;
}

static wlfs_node *db_of(wlfs_fs *fs, const wlfs_node *wal)
{
    for (wlfs_node *o = fs->open; o; o = o->next)
        if (o->database && wal_of(fs, o) == wal) return o;
    return NULL;
}

/* D' of database db (blocks once its WAL is checkpointed), its file taken as `bytes` long.
 * Lock held. */
static uint64_t db_future_blocks(wlfs_fs *fs, wlfs_node *db, uint64_t bytes)
{
    uint64_t d = blocks_of(fs, bytes);
    wlfs_node *w = wal_of(fs, db);
    if (!w) return d;
    if (w->wal_unknown) return d + blocks_of(fs, size_of(fs, w));
    uint64_t c = blocks_of(fs, w->commit_bytes), t = blocks_of(fs, w->txn_bytes);
    if (c > d) d = c;
    return t > d ? t : d;
}

/* Whether sh's file may become `end` bytes long under the space policy (top of this file;
 * lock held): WALKIT_ST_OK, WALKIT_ST_NOSPC, or the error that stopped the measurement.
 * Growth within the file's last block takes no new block beyond the reserve's own and is not
 * measured, unless `force` (the commit frame of a growing transaction). */
static int reserve_allows(wlfs_fs *fs, wlfs_node *sh, uint64_t end, int force)
{
    lfs_soff_t size = lfs_file_size(fs->lfs, &sh->file);
    if (size < 0) return wlfs_rc((int)size);
    uint64_t have = blocks_of(fs, (uint64_t)size), want = blocks_of(fs, end);
    if (want < have) want = have;
    if (want == have && !force) return WALKIT_ST_OK;
    uint64_t largest = 0;
    for (wlfs_node *o = fs->open; o; o = o->next) {
        if (!o->database) continue;
        uint64_t d = db_future_blocks(fs, o, o == sh ? end : size_of(fs, o));
        if (d > largest) largest = d;
    }
    uint64_t copies; /* of `largest` that must stay free */
    if (sh->database) copies = wal_of(fs, sh) ? 0 : WALKIT_LFS_RESERVE_COPIES;
    else if (sh->wal && sh->txn_grows) copies = WALKIT_LFS_RESERVE_COPIES;
    else copies = 1;
    lfs_ssize_t used = used_blocks(fs);
    if (used < 0) return wlfs_rc((int)used);
    uint64_t total = fs->lfs->block_count;
    uint64_t reserve = (uint64_t)WALKIT_LFS_RESERVE_BLOCKS + copies * largest;
    uint64_t free_blocks = total > (uint64_t)used ? total - (uint64_t)used : 0;
    if (free_blocks >= (want - have) + reserve) return WALKIT_ST_OK;
    walkit_full("littlefs: %s refused %lu more blocks: %lu free, %lu kept "
                "(%lu + %lu x %lu blocks of the largest database)", sh->path ? sh->path : "?",
                (unsigned long)(want - have), (unsigned long)free_blocks, (unsigned long)reserve,
                (unsigned long)WALKIT_LFS_RESERVE_BLOCKS, (unsigned long)copies,
                (unsigned long)largest);
    return WALKIT_ST_NOSPC;
}

/* Rule 1 of the space policy (top of this file): commits sh's file when writing `off` would
 * start a second uncommitted version.  Lock held. */
static int one_version(wlfs_fs *fs, wlfs_node *sh, uint64_t off)
{
    uint32_t fl = sh->file.flags;
    int writing = (fl & LFS_F_WRITING) != 0, dirty = (fl & LFS_F_DIRTY) != 0;
    if ((writing && off != sh->file.pos) || (!writing && dirty && off < size_of(fs, sh)))
        return wlfs_rc(lfs_file_sync(fs->lfs, &sh->file));
    return WALKIT_ST_OK;
}

/* A WAL written at offset 0 restarts: nothing in it is needed any more (storage.h), so it is
 * cut to nothing and committed at once, which frees the old frames' blocks (left uncommitted,
 * the committed version would hold them until the WAL's next sync, a checkpoint away).  Also
 * for a WAL truncated to 0 (checkpoint TRUNCATE).  Lock held. */
static int wal_restart(wlfs_fs *fs, wlfs_node *sh)
{
    sh->commit_end = sh->commit_bytes = sh->txn_bytes = sh->pending_end = 0;
    sh->wal_unknown = 0;
    sh->txn_grows = 0; /* the header is no page */
    int rc = WALKIT_ST_OK;
    if (size_of(fs, sh) != 0) rc = wlfs_rc(lfs_file_truncate(fs->lfs, &sh->file, 0));
    if (rc == WALKIT_ST_OK) rc = wlfs_rc(lfs_file_sync(fs->lfs, &sh->file));
    return rc;
}

static int wlfs_write(void *ctx, walkit_storage_file *f, uint64_t off, const void *buf, size_t n)
{
    wlfs_fs *fs = ctx;
    wlfs_node *sh = f->sh;
    int rc;
    if (f->readonly) return WALKIT_ST_ACCESS;
    if (off + n > (uint64_t)LFS_FILE_MAX) return WALKIT_ST_NOSPC;
    walkit_mutex_enter(fs->lock, "littlefs write");
    rc = one_version(fs, sh, off);
    if (rc == WALKIT_ST_OK && sh->wal && off == 0) rc = wal_restart(fs, sh);
    int force = sh->check_commit && off + n < sh->pending_end; /* its header */
    sh->check_commit = 0;
    if (rc == WALKIT_ST_OK) rc = reserve_allows(fs, sh, off + n, force);
    lfs_soff_t pos = 0;
    if (rc == WALKIT_ST_OK) {
        pos = lfs_file_seek(fs->lfs, &sh->file, (lfs_soff_t)off, LFS_SEEK_SET);
        rc = wlfs_rc((int)pos);
    }
    if (rc == WALKIT_ST_OK) {
        lfs_ssize_t w = lfs_file_write(fs->lfs, &sh->file, buf, (lfs_size_t)n);
        rc = wlfs_rc((int)w);
        if (rc == WALKIT_ST_OK && (size_t)w != n) rc = WALKIT_ST_NOSPC;
    }
    if (rc == WALKIT_ST_OK && sh->pending_end && off + n == sh->pending_end) {
        sh->commit_end = sh->pending_end;
        sh->commit_bytes = sh->pending_bytes;
        sh->pending_end = 0;
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
    int rc;
    if (f->sh->wal && size == 0) {
        rc = wal_restart(fs, f->sh);
    } else {
        rc = reserve_allows(fs, f->sh, size, 0);
        if (rc == WALKIT_ST_OK) rc = wlfs_rc(lfs_file_truncate(fs->lfs, &f->sh->file, (lfs_off_t)size));
    }
    walkit_mutex_leave(fs->lock, "littlefs truncate");
    return rc;
}

/* The VFS describes each WAL frame before writing it (storage.h).  A transaction is growth
 * once one of its frames needs the database beyond what is committed: its later writes must
 * leave the whole reserve free, and its commit frame is refused unless the whole reserve is
 * free (its frames come in page order, and a transaction that grows the database may write
 * most of its frames for pages it already has, so only the commit frame's database size is
 * sure to tell).  A transaction starts at the end of the last commit (also when one that
 * failed is written over from there). */
static void wlfs_wal_frame(void *ctx, walkit_storage_file *f, uint64_t off, uint64_t end,
                           uint64_t db_bytes, int commit)
{
    wlfs_fs *fs = ctx;
    wlfs_node *sh = f->sh;
    walkit_mutex_enter(fs->lock, "littlefs wal frame");
    if (sh->wal) {
        if (off <= sh->commit_end) {
            sh->txn_grows = 0;
            sh->txn_bytes = 0;
        }
        wlfs_node *db = db_of(fs, sh);
        /* In bytes: a page past the end is growth even inside the database's last block
         * (many small transactions would otherwise grow it a block at a time unseen). */
        uint64_t committed = db ? size_of(fs, db) : 0;
        if (sh->wal_unknown) committed += size_of(fs, sh);
        if (sh->commit_bytes > committed) committed = sh->commit_bytes;
        if (db_bytes > committed) sh->txn_grows = 1;
        if (db_bytes > sh->txn_bytes) sh->txn_bytes = db_bytes;
        sh->pending_end = commit ? end : 0;
        sh->pending_bytes = db_bytes;
        sh->check_commit = commit && sh->txn_grows;
    }
    walkit_mutex_leave(fs->lock, "littlefs wal frame");
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
    fs->st.wal_frame = wlfs_wal_frame;
    fs->st.sector_size = lfs->cfg->prog_size;
    fs->st.caps = WALKIT_ST_CAP_POWERSAFE_OVERWRITE | WALKIT_ST_CAP_SAFE_APPEND;
    return &fs->st;
}

/* lfs's live backend, or NULL. */
static wlfs_fs *backend_of(struct lfs *lfs)
{
    walkit_os_mutex *global = walkit_global_lock();
    wlfs_fs *fs = NULL;
    if (global) {
        walkit_mutex_enter(global, "littlefs lookup");
        for (fs = backends; fs && fs->lfs != lfs; fs = fs->next) {}
        walkit_mutex_leave(global, "littlefs lookup");
    }
    return fs;
}

int walkit_littlefs_lock(struct lfs *lfs, uint32_t timeout_ms)
{
    wlfs_fs *fs = lfs ? backend_of(lfs) : NULL;
    if (!fs) return 0;
    uint64_t deadline = walkit_os_monotonic_us() + (uint64_t)timeout_ms * 1000u;
    while (walkit_os_mutex_trylock(fs->lock) != WALKIT_OS_OK) {
        if (walkit_os_monotonic_us() >= deadline) return -1;
        walkit_os_sleep_us(1000);
    }
    return 0;
}

void walkit_littlefs_unlock(struct lfs *lfs)
{
    wlfs_fs *fs = lfs ? backend_of(lfs) : NULL;
    if (fs) walkit_mutex_leave(fs->lock, "littlefs direct");
}

long walkit_littlefs_blocks_used(struct lfs *lfs)
{
    if (!lfs || !lfs->cfg) return LFS_ERR_INVAL;
    wlfs_fs *fs = backend_of(lfs);
    if (fs) walkit_mutex_enter(fs->lock, "littlefs usage");
    lfs_ssize_t n = distinct_used(lfs);
    if (fs) walkit_mutex_leave(fs->lock, "littlefs usage");
    return (long)n;
}
