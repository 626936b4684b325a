/* walkit_flashpool.h: the flash pool storage backend (vfs/storage/flashpool.c) and the small
 * block-device contract it runs on.
 *
 * The pool stores files on a raw NOR partition without a filesystem underneath: a fixed table
 * of files, each a list of erase blocks holding a log of write records, and a state log in two
 * reserved areas.  The on-flash format is docs/flashpool.md.  vfs/ knows nothing of a board: the
 * caller (the firmware, or a test) adapts its flash driver to walkit_flashpool_bd below, so the
 * pool runs on every driver and under whatever fault injection that driver has.
 */
#ifndef WALKIT_FLASHPOOL_H
#define WALKIT_FLASHPOOL_H

#include <stdint.h>

#include "walkit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A raw flash partition.  Offsets are relative to the partition's start.  Every callback
 * returns 0 or a negative error (any value: the pool reports it as WALKIT_ST_IO).
 *   read:  off and n multiples of read_size;
 *   prog:  off and n multiples of prog_size; the pool only programs words that are erased
 *          (all 0xFF), as NOR requires, and never the same word twice between erases;
 *   erase: one erase block at off (a multiple of erase_block); afterwards it reads all 0xFF.
 *   sync:  optional (NULL: every program and erase is durable when it returns, as on NOR).
 *          A device with a write-back cache makes everything before the call durable here.
 *          Between two calls it may make writes durable in any order across erase blocks,
 *          but what survives a cut of the programs into one block is a prefix of them in
 *          issue order (the last one possibly torn): mount tells a torn tail from damage by
 *          that (docs/flashpool.md, "Mount").
 *          The pool calls it where its ordering needs earlier operations on flash before
 *          later ones: after every erase, before and after every state-log record, and at
 *          the end of every storage sync (docs/flashpool.md, "Ordering").
 * Geometry: powers of two, read_size <= prog_size <= 32, erase_block at least 1 KiB and a
 * multiple of both, size a multiple of erase_block. */
typedef struct walkit_flashpool_bd {
    void *ctx;
    int (*read)(void *ctx, uint32_t off, void *buf, uint32_t n);
    int (*prog)(void *ctx, uint32_t off, const void *buf, uint32_t n);
    int (*erase)(void *ctx, uint32_t off);
    uint32_t size, erase_block, prog_size, read_size;
    int (*sync)(void *ctx);
} walkit_flashpool_bd;

typedef struct walkit_flashpool_config {
    const walkit_flashpool_bd *bd; /* must outlive the backend */
    /* Relaxed durability: 0 = off (every write is programmed before it returns).  Otherwise
     * writes are held in RAM, in issue order, until a sync, until they would exceed
     * relaxed_bytes (at most 16 MiB), or until the oldest is relaxed_ms old (checked at every
     * call into the pool; 0 = no time bound); a power cut loses at most those bytes, never anything older, and never corrupts.
     * With SQLite's synchronous=FULL every commit syncs, so nothing acknowledged is lost; with
     * NORMAL a cut loses at most the last relaxed_bytes of WAL frames. */
    uint32_t relaxed_bytes;
    uint32_t relaxed_ms;
} walkit_flashpool_config;

/* How a mount went (walkit_storage_flashpool's *state). */
#define WALKIT_FLASHPOOL_MOUNTED 0   /* an existing pool was mounted */
#define WALKIT_FLASHPOOL_FORMATTED 1 /* the partition was blank: a new pool was written */

/* Results of walkit_storage_flashpool: the storage contract's WALKIT_ST_* values
 * (vfs/storage/storage.h), named here for callers outside vfs/. */
#define WALKIT_FLASHPOOL_OK 0
#define WALKIT_FLASHPOOL_E_NOMEM (-4)
#define WALKIT_FLASHPOOL_E_IO (-5)
#define WALKIT_FLASHPOOL_E_INVAL (-7)
#define WALKIT_FLASHPOOL_E_CORRUPT (-8)

/* Mounts the pool on cfg->bd, or formats it if and only if the whole partition is blank.
 * Returns WALKIT_FLASHPOOL_OK with *out a new backend (free it with walkit_storage_destroy),
 * or: E_CORRUPT (not a pool and not blank, or the pool's structures are damaged: nothing is
 * written), E_INVAL (bad geometry or config), E_IO (the device failed), E_NOMEM. */
int walkit_storage_flashpool(const walkit_flashpool_config *cfg, const walkit_storage **out,
                             int *state);

/* The same, and when the mount fails, one line in why (why_size bytes, NUL-terminated; may be
 * NULL) saying what it found, e.g. "data block 37 (file /p.db-wal) offset 4096: damaged record
 * with records after it".  Torn tails (the record a cut was programming, blank flash after it)
 * are discarded and are not errors; damage anywhere else is (docs/flashpool.md, "Mount"). */
int walkit_storage_flashpool_why(const walkit_flashpool_config *cfg, const walkit_storage **out,
                                 int *state, char *why, uint32_t why_size);

/* Counters of one pool (monotonic since its mount, except the block figures: now). */
typedef struct walkit_flashpool_info {
    uint32_t data_blocks;       /* erase blocks that hold file data (all but the log areas) */
    uint32_t free_blocks;       /* of those, owned by no file */
    uint32_t log_area_blocks;   /* erase blocks per state-log area (two areas) */
    uint32_t erase_min, erase_max; /* erase counts over the data blocks (persisted) */
    uint64_t erase_total;       /* sum of the data blocks' erase counts */
    uint64_t gc_bytes;          /* live bytes copied out of blocks to free them */
    uint64_t compactions;       /* state-log compactions into the other area */
    uint32_t pending_bytes;     /* relaxed durability: bytes held in RAM now */
    uint32_t files;             /* files in the table now */
} walkit_flashpool_info;

/* Fills *out for a backend made by walkit_storage_flashpool; WALKIT_ST_INVAL for another. */
int walkit_flashpool_info_get(const walkit_storage *st, walkit_flashpool_info *out);

#ifdef __cplusplus
}
#endif
#endif /* WALKIT_FLASHPOOL_H */
