/* pool_mount.h: the flash pool (vfs/storage/flashpool.c) on the board's pool partition
 * (board.toml [flash] pool_offset/pool_size), mounted at boot beside littlefs.
 *
 * Policy, as for littlefs (fs_mount.h): mount what is there; format only a partition that reads
 * all 0xFF; a partition that is neither a pool nor blank is reported ("pool corrupt") and left
 * as it is, never reformatted.  The adapter gives the pool the flash through flash.h, so every
 * program and erase is range- and erased-word-checked, counted in the device's counters (shared
 * with littlefs: one device) and passes the fault hook.
 */
#ifndef WALKIT_POOL_MOUNT_H
#define WALKIT_POOL_MOUNT_H

#include "flash.h"
#include "walkit.h"
#include "walkit_flashpool.h"

typedef enum pool_state {
    POOL_NONE = 0,  /* no flash device, or the board has no pool partition */
    POOL_MOUNTED,
    POOL_FORMATTED, /* was blank: formatted */
    POOL_CORRUPT,   /* neither a pool nor blank, or damaged: not mounted */
    POOL_FAILED     /* the device failed, or out of memory */
} pool_state;

typedef struct pool_mount {
    pool_state state;
    int error;                  /* walkit_storage_flashpool's result when CORRUPT/FAILED */
    flash_dev *flash;
    walkit_flashpool_bd bd;     /* offsets relative to flash->pool_offset */
    const walkit_storage *storage; /* NULL unless MOUNTED/FORMATTED */
    char why[160];              /* CORRUPT: what the mount found (block, offset), for the log */
} pool_mount;

/* Mounts per the policy above and prints one line saying what happened. */
void pool_mount_boot(pool_mount *pm, flash_dev *flash);

const char *pool_state_name(pool_state s);

#endif
