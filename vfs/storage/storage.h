/* storage.h: the storage backend contract.
 *
 * A backend is one struct of callbacks and a context pointer, in the spirit of littlefs's
 * lfs_config: walkit's VFS (vfs/vfs.c) turns SQLite's file calls into these and maps the
 * results to SQLite's codes, so a backend knows nothing about SQLite.  Backends shipped:
 * ram.c (volatile), littlefs.c (a mounted lfs_t), hostfile.c (POSIX files, hosted builds).
 *
 * Paths are absolute ("/dir/name"), normalised by the VFS (no ".", "..", "//"), at most
 * WALKIT_STORAGE_MAX_PATH bytes with the terminating NUL.
 *
 * Thread safety: every callback may be called from several tasks at once, also on the same
 * handle; the backend serialises whatever its medium needs.  Several open() calls on the same
 * path must behave as one file: a byte written through one handle is read back through every
 * other handle at once (no sync needed), because SQLite connections share database and WAL files
 * within the address space.  Removing a path that is still open unlinks the name; the open
 * handles keep working until closed (POSIX semantics).
 */
#ifndef WALKIT_STORAGE_H
#define WALKIT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "walkit.h"

#define WALKIT_STORAGE_MAX_PATH 256

/* Results of every callback: 0 or one of these.  The VFS maps them per operation: NOSPC is
 * SQLITE_FULL; NOMEM is SQLITE_NOMEM; in open(), NOENT/EXIST/ACCESS/INVAL are SQLITE_CANTOPEN;
 * elsewhere IO and CORRUPT are the operation's SQLITE_IOERR_* code. */
#define WALKIT_ST_OK 0
#define WALKIT_ST_NOENT (-1)   /* no such file */
#define WALKIT_ST_EXIST (-2)   /* exclusive create of an existing file */
#define WALKIT_ST_NOSPC (-3)   /* medium full */
#define WALKIT_ST_NOMEM (-4)   /* out of memory */
#define WALKIT_ST_IO (-5)      /* the medium failed */
#define WALKIT_ST_ACCESS (-6)  /* read-only medium or file, permission denied */
#define WALKIT_ST_INVAL (-7)   /* bad path (too long, a directory, ...) or argument */
#define WALKIT_ST_CORRUPT (-8) /* the filesystem's own structures are damaged */

/* open() flags. */
#define WALKIT_ST_CREATE 1u   /* create when missing */
#define WALKIT_ST_EXCL 2u     /* with CREATE: WALKIT_ST_EXIST if it exists */
#define WALKIT_ST_READONLY 4u /* no write/truncate through this handle */
#define WALKIT_ST_DATABASE 8u /* a database: rewritten in place (rollback, checkpoint), where
                                 journals and WALs are mostly appended.  A hint: a
                                 copy-on-write backend keeps room to rewrite it (littlefs.c). */
#define WALKIT_ST_WAL 16u     /* the write-ahead log of the database named by this path
                                 without its "-wal" suffix: appended; written at offset 0 only
                                 when it restarts, after which nothing past the bytes written
                                 since is needed (a backend may drop the old content). */

/* What a medium guarantees when power is lost (the `caps` field): a backend sets the bits that
 * hold, and the VFS reports each as its SQLITE_IOCAP_* namesake (xDeviceCharacteristics). */
#define WALKIT_ST_CAP_ATOMIC 1u     /* any write lands whole or not at all */
#define WALKIT_ST_CAP_SAFE_APPEND 2u /* a file's size never grows ahead of its data */
#define WALKIT_ST_CAP_SEQUENTIAL 4u /* writes (also to different files) land in issue order */
#define WALKIT_ST_CAP_POWERSAFE_OVERWRITE 8u /* a torn write damages no byte outside it */

typedef struct walkit_storage_file walkit_storage_file; /* defined by each backend */

struct walkit_storage {
    void *ctx;        /* passed to every callback */
    const char *name; /* "ram", "littlefs", "hostfile": for messages and SQLITE_FCNTL_VFSNAME */

    int (*open)(void *ctx, const char *path, unsigned flags, walkit_storage_file **out);
    int (*close)(void *ctx, walkit_storage_file *f);
    /* Reads up to n bytes at off into buf; *got is how many existed (fewer only at the end of
     * the file).  Bytes past *got are left untouched. */
    int (*read)(void *ctx, walkit_storage_file *f, uint64_t off, void *buf, size_t n,
                size_t *got);
    /* Writes n bytes at off; a gap between the old end and off reads back as zeros. */
    int (*write)(void *ctx, walkit_storage_file *f, uint64_t off, const void *buf, size_t n);
    int (*truncate)(void *ctx, walkit_storage_file *f, uint64_t size);
    /* Makes every completed write to this file durable (data_only: metadata other than the
     * size may lag).  A volatile backend returns OK at once: there is nothing to make
     * durable. */
    int (*sync)(void *ctx, walkit_storage_file *f, int data_only);
    int (*size)(void *ctx, walkit_storage_file *f, uint64_t *size);
    /* Removes the name (NOENT when absent); sync_dir: the removal itself must be durable. */
    int (*remove)(void *ctx, const char *path, int sync_dir);
    /* 1 if the path names a file, 0 if not, or a negative WALKIT_ST_* code. */
    int (*exists)(void *ctx, const char *path);
    /* Frees the backend (walkit_storage_destroy()); the caller guarantees no file is open. */
    void (*destroy)(void *ctx);
    /* Optional (NULL: not needed).  For a file opened WALKIT_ST_WAL, called before each frame
     * is written at [off, end): checkpointing it needs the database to be db_bytes long (the
     * end of its page; for a commit frame, commit != 0, the database's size after it).  A
     * copy-on-write backend tells growth from rewrites with it (littlefs.c). */
    void (*wal_frame)(void *ctx, walkit_storage_file *f, uint64_t off, uint64_t end,
                      uint64_t db_bytes, int commit);

    /* Honest properties of the medium, reported to SQLite as they are. */
    uint32_t sector_size; /* xSectorSize: the unit a power loss can tear */
    uint32_t caps;        /* WALKIT_ST_CAP_* bits that hold (xDeviceCharacteristics) */
};

#endif /* WALKIT_STORAGE_H */
