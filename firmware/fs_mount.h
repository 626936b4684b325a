/* fs_mount.h: the firmware's filesystem: littlefs on the board's flash, mounted at boot.
 *
 * Policy (the one place it is decided):
 *   - mount what is on the flash;
 *   - if that fails and the whole filesystem region reads 0xFF, the flash is blank: format and
 *     mount, and say so on the console;
 *   - if it fails on a region that is not blank, the filesystem is corrupt: say
 *     "filesystem corrupt (lfs error N)" and run without a filesystem.  Never reformat: the data
 *     may still be recoverable on the host (walkit image), and silently losing it is the worst
 *     outcome.
 * The block device and its geometry are flash_bd.h's.
 */
#ifndef WALKIT_FS_MOUNT_H
#define WALKIT_FS_MOUNT_H

#include "flash.h"
#include "lfs.h"
#include "pool_mount.h"

typedef enum fs_state {
    FS_NONE = 0,    /* no flash device */
    FS_MOUNTED,     /* mounted what was there */
    FS_FORMATTED,   /* flash was blank: formatted, then mounted */
    FS_CORRUPT,     /* mount failed on a non-blank region: not mounted */
    FS_UNMOUNTED    /* unmounted for a reboot */
} fs_state;

typedef struct fs_mount {
    fs_state state;
    int lfs_error;     /* the mount error when CORRUPT (or format error) */
    flash_dev *flash;
    lfs_t lfs;
    struct lfs_config cfg;
    pool_mount pool; /* the flash pool beside littlefs (pool_mount.h; mounted by main.c) */
} fs_mount;

/* Mounts per the policy above and prints one line saying what happened. */
void fs_mount_boot(fs_mount *fs, flash_dev *flash);

/* The mounted filesystem, or NULL when there is none (state not MOUNTED/FORMATTED). */
lfs_t *fs_mount_lfs(fs_mount *fs);

/* A sentence for the console on why there is no filesystem ("" when there is one). */
const char *fs_mount_why_not(const fs_mount *fs);

void fs_mount_unmount(fs_mount *fs);

const char *fs_state_name(fs_state s);

#endif
