/* vfs.h: the objects behind one registered walkit VFS and one open file, shared by vfs.c (the
 * file layer) and the WAL-index modes in shm/.  Internal: users see walkit.h only. */
#ifndef WALKIT_VFS_H
#define WALKIT_VFS_H

#include "sqlite3.h"
#include "storage/storage.h"
#include "walkit_int.h"

typedef struct walkit_inode walkit_inode;
typedef struct walkit_storage_state walkit_storage_state;
typedef struct walkit_shm_registry walkit_shm_registry;
typedef struct walkit_shm_conn walkit_shm_conn;

/* One registered VFS (sqlite3_vfs.pAppData).  Everything but the fields named below is set by
 * walkit_register() and read-only until walkit_unregister().
 *   lock guards: nopen, closing.
 *   last_error: the most recent storage failure, an atomic int (written by any task, read by
 *   xGetLastError; a diagnostic only).
 * The file locks and the WAL-index belong to the storage, not to the VFS (per_storage): two VFS
 * names over one storage (firmware/main.c registers "walkit" and "walkit-noshm") see one lock
 * per file, as two handles on one file must. */
typedef struct walkit_vfs {
    sqlite3_vfs base;              /* registered with SQLite; base.pAppData == this */
    const walkit_storage *st;      /* the backend; outlives this VFS */
    walkit_shm_mode shm_mode;
    const sqlite3_io_methods *methods; /* iVersion 1 (SHM_NONE) or with xShm* (HEAP) */
    walkit_os_mutex *lock;
    int nopen;                     /* open files: unregister refuses while > 0 */
    int closing;                   /* unregister has begun: xOpen refuses */
    walkit_storage_state *per_storage;    /* st's lock table and WAL-index registry */
    walkit_shm_registry *shm;      /* per_storage's WAL-index registry (NULL for SHM_NONE) */
    int last_error;
    int page_checksums;            /* walkit_config.page_checksums (vfs/cksum.c) */
    char name[32];
} walkit_vfs;

/* One open file (SQLite's sqlite3_file subclass; szOsFile bytes).  Owned by the one
 * connection that opened it and used by one task at a time (SQLite serialises calls on a
 * file), so its fields need no lock of their own; the shared state it points to (inode, shm)
 * has its own. */
typedef struct walkit_file {
    sqlite3_file base;
    walkit_vfs *vfs;
    walkit_storage_file *h;        /* the backend's handle */
    walkit_inode *inode;           /* file-lock state shared per path (main and temp DBs) */
    walkit_inode *db_inode;        /* a WAL: its database's inode (counts the WAL's opens) */
    int elock;                     /* SQLITE_LOCK_* this handle holds */
    int open_flags;                /* SQLITE_OPEN_* as opened */
    char *path;                    /* normalised full path, owned */
    int delete_on_close;           /* SQLITE_OPEN_DELETEONCLOSE: path is removed at close */
    walkit_shm_conn *shm;          /* this connection's WAL-index attachment, or NULL */
    int lock_timeout_ms;           /* SQLITE_FCNTL_LOCK_TIMEOUT: 0 = never block */
    uint32_t wal_page_size;        /* a WAL: its header's page size, 0 until known */
} walkit_file;

/* Whether pv is a walkit VFS registered with page checksums. */
int walkit_vfs_has_checksums(const sqlite3_vfs *pv);

/* Maps a storage result to SQLite's code for the operation that failed (ioerr). */
int walkit_storage_rc(walkit_vfs *v, int st_rc, int ioerr);

/* shm/heap.c: the xShm* methods of WALKIT_SHM_HEAP. */
int walkit_heap_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp);
int walkit_heap_shm_lock(sqlite3_file *f, int ofst, int n, int flags);
void walkit_heap_shm_barrier(sqlite3_file *f);
int walkit_heap_shm_unmap(sqlite3_file *f, int delete_flag);

#endif /* WALKIT_VFS_H */
