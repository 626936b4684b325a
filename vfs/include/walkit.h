/* walkit.h: the public API of the walkit VFS.
 *
 * walkit is a VFS for SQLite built with SQLITE_OS_OTHER=1 and SQLITE_MAX_MMAP_SIZE=0 (see
 * walkit_sqlite_config.h).  It stores files through a storage backend (littlefs on NOR flash,
 * RAM, host files) and gives WAL mode a WAL-index in heap memory shared by every connection in
 * the address space, so WAL works with NORMAL locking and many connections: no mmap, no -shm.
 *
 * Start-up, once, before any other SQLite call:
 *     walkit_init();                                   // OS layer + SQLite mutexes + init
 *     walkit_config cfg = WALKIT_CONFIG_DEFAULT;
 *     cfg.storage = walkit_storage_littlefs(&lfs);     // or _ram(), _hostfile()
 *     walkit_register(&cfg);                           // registers "walkit" as the default VFS
 */
#ifndef WALKIT_H
#define WALKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct walkit_storage walkit_storage; /* vfs/storage/storage.h: the backend contract */

/* How the WAL-index is shared between connections to the same database file. */
typedef enum walkit_shm_mode {
    WALKIT_SHM_HEAP = 0, /* one heap copy per file, mapped by every connection (default) */
    WALKIT_SHM_NONE = 1, /* no xShm methods (iVersion 1): WAL only with locking_mode=EXCLUSIVE */
    WALKIT_SHM_COPY = 2  /* a private copy per connection, synchronised with a shared area
                            that SQLite never sees at every xShmLock and xShmBarrier call
                            (vfs/shm/copy.c; docs/vfs.md "Copy mode") */
} walkit_shm_mode;

/* Copy mode's shared area: one per database file, the WAL-index words no connection maps.
 * walkit reaches it only through these calls, so a port can keep it in another partition or
 * behind a message channel.  Regions are WALKIT_SHM_REGION_WORDS 32-bit words, numbered from 0.
 *   open(arg, path): the area of database `path`, with no regions; NULL when out of memory.
 *     Called when the file's first copy-mode connection maps its WAL-index.
 *   close(area): after the file's last connection has left; the contents are discarded (the
 *     next open starts empty, and SQLite recovers the index from the WAL file).
 *   lock/unlock(area): bracket every other call; they exclude each other across tasks (the
 *     default uses the OS layer's mutex).  Inside a bracket, walkit reads and writes as it
 *     likes, and what one bracket wrote is what the next bracket reads.
 *   nregion(area): how many regions exist.  grow(area, n): makes it at least n, new regions
 *     zeroed; 0, or nonzero when out of memory (regions made before that stay).
 *   read/write(area, region, word, n, buf): copy n words at word offset `word` of an
 *     existing region out of / into the area.  Word-aligned, in bounds (walkit checks).
 * NULL in walkit_config.shm_transport: walkit's own memory (walkit_shm_transport_heap). */
#define WALKIT_SHM_REGION_WORDS 8192
typedef struct walkit_shm_transport {
    void *(*open)(void *arg, const char *path);
    void (*close)(void *area);
    void (*lock)(void *area);
    void (*unlock)(void *area);
    int (*nregion)(void *area);
    int (*grow)(void *area, int n);
    void (*read)(void *area, int region, uint32_t word, uint32_t n, uint32_t *dst);
    void (*write)(void *area, int region, uint32_t word, uint32_t n, const uint32_t *src);
    void *arg; /* passed to open */
} walkit_shm_transport;

/* The default transport: memory walkit allocates (walkit_os_malloc) and never hands to SQLite,
 * under an OS-layer mutex per area. */
extern const walkit_shm_transport walkit_shm_transport_heap;

typedef struct walkit_config {
    const char *vfs_name;          /* name for sqlite3_vfs_find(); NULL = "walkit" */
    const walkit_storage *storage; /* required; must outlive the VFS registration */
    walkit_shm_mode shm_mode;
    int make_default;              /* nonzero: becomes SQLite's default VFS */
    int page_checksums;            /* nonzero: a checksum in each database page's 8 reserved
                                      bytes, verified on every read (SQLITE_IOERR_DATA); new
                                      databases get the reserve (docs/vfs.md) */
    const walkit_shm_transport *shm_transport; /* WALKIT_SHM_COPY only: NULL = the default;
                                                  must outlive the registration */
} walkit_config;

#define WALKIT_CONFIG_DEFAULT { NULL, NULL, WALKIT_SHM_HEAP, 1, 0, NULL }

/* Installs SQLite's mutexes on the OS layer (sqlite3_config(SQLITE_CONFIG_MUTEX)) and calls
 * sqlite3_initialize().  Idempotent.  Returns an SQLite result code. */
int walkit_init(void);

/* Registers a VFS for one storage backend.  Several may be registered under different names,
 * also on one backend (e.g. a WALKIT_SHM_HEAP and a WALKIT_SHM_NONE name): the file locks and
 * the WAL-index belong to the backend, so every name reaching a file sees the same locks.
 * Connections of one database file must all use one shm mode (heap or copy) at a time: a
 * connection of the other mode fails with SQLITE_IOERR_SHMOPEN while any is open.  Copy-mode
 * registrations on one storage must use one transport.
 * Returns SQLITE_OK, SQLITE_MISUSE (bad config, name taken, walkit_init() not called, an
 * unknown shm mode, a transport on a non-copy mode), SQLITE_NOMEM. */
int walkit_register(const walkit_config *cfg);

/* Unregisters and frees a VFS registered by walkit_register (NULL = "walkit").  SQLITE_BUSY
 * while a file is open through it, SQLITE_MISUSE if no walkit VFS has that name.  Once it has
 * begun, opens through it fail with SQLITE_CANTOPEN; as with sqlite3_vfs_unregister, no task
 * may still be about to open a file through it (SQLite looks a VFS up before calling it).  If
 * it was the default VFS, the storage-less "walkit-nostorage" becomes the default again.  The
 * storage backend is not freed (see walkit_storage_destroy). */
int walkit_unregister(const char *vfs_name);

/* Counters for .stats, tests and benchmarks (monotonic since walkit_init). */
typedef struct walkit_stats {
    uint64_t shm_map_calls;
    uint64_t shm_lock_calls;
    uint64_t shm_lock_busy;        /* xShmLock calls that returned SQLITE_BUSY */
    uint64_t shm_barrier_calls;
    uint32_t shm_nodes;            /* files with a live WAL-index now */
    uint32_t shm_regions;          /* 32 KiB regions allocated now */
    uint64_t file_lock_busy;       /* xLock calls that returned SQLITE_BUSY */
    uint64_t shm_lock_waits;       /* xShmLock calls that blocked waiting for a release
                                      (SQLITE_ENABLE_SETLK_TIMEOUT, a busy timeout set) */
    uint64_t os_errors;            /* OS-layer failures that could not be returned (see log) */
    uint64_t alloc_faults;         /* allocations failed on purpose by walkit_fault_alloc() */
    uint64_t cksum_pages;          /* database pages read whose checksum was verified */
    uint64_t cksum_errors;         /* of those, pages whose checksum did not match */
    uint64_t wal_damage;           /* WALs found damaged when first opened: a bad frame
                                      followed by valid frames of the same salts */
} walkit_stats;

void walkit_get_stats(walkit_stats *out);

/* Storage backends shipped with walkit (each in vfs/storage/). */
struct lfs;
const walkit_storage *walkit_storage_littlefs(struct lfs *lfs); /* a mounted littlefs */
const walkit_storage *walkit_storage_ram(void);                 /* volatile, for tests */
const walkit_storage *walkit_storage_hostfile(const char *root_dir); /* host builds only */
/* Each constructor returns a new backend, or NULL (out of memory, lfs not mounted, root_dir not
 * a directory, or lfs already has a live backend: one lfs_t, one backend, on which any number
 * of VFS names may be registered).  Free one with walkit_storage_destroy once no VFS uses it.
 * Locks are per backend: two hostfile backends over one folder do not see each other's. */
void walkit_storage_destroy(const walkit_storage *st);

/* Distinct blocks in use on a mounted littlefs (each block once, however many versions of an
 * open file share it; lfs_fs_size() counts shared blocks once per reference), or a negative
 * LFS_ERR_*.  Serialised with lfs's backend, if it has one; the caller keeps lfs mounted and
 * its backend alive during the call. */
long walkit_littlefs_blocks_used(struct lfs *lfs);

/* Holds lfs's backend lock (the one every walkit call on lfs takes), so that a program can call
 * littlefs directly beside tasks running SQL on it: waits at most timeout_ms for it.  0: held
 * (or lfs has no backend: nothing else uses it), release with walkit_littlefs_unlock; -1: still
 * held by another task after timeout_ms, not taken.  Not recursive: no walkit call on lfs (nor
 * walkit_littlefs_blocks_used) while holding it. */
int walkit_littlefs_lock(struct lfs *lfs, uint32_t timeout_ms);
void walkit_littlefs_unlock(struct lfs *lfs);

/* Testing hook: of the allocations walkit itself makes (not SQLite's), the next `skip`
 * succeed, then `fail` fail as if memory were exhausted.  walkit_fault_alloc(0, 0) disarms. */
void walkit_fault_alloc(int skip, int fail);

/* Where every walkit VFS gets its randomness (xRandomness: SQLite's PRNG seed, WAL salts) and
 * its wall clock (xCurrentTime, xCurrentTimeInt64: milliseconds since the Unix epoch), so a run
 * can be made reproducible (power-cut campaigns).  `random` fills n bytes; `wall_ms` returns
 * the time.  NULL (or a NULL member) restores the default: the OS clocks mixed with addresses
 * and a counter.  The struct must outlive its use; set it while no other task is in SQLite. */
typedef struct walkit_entropy {
    void (*random)(void *ctx, int n, char *out);
    int64_t (*wall_ms)(void *ctx);
    void *ctx;
} walkit_entropy;
void walkit_set_entropy(const walkit_entropy *e);

#ifdef __cplusplus
}
#endif
#endif /* WALKIT_H */
