/* storage.h: littlefs on the board's flash, mounted at boot.
 *
 * Policy (the one place it is decided):
 *   - mount what is on the flash;
 *   - if that fails and the whole filesystem region reads 0xFF, the flash is blank: format and
 *     mount, and say so on the console;
 *   - if it fails on a region that is not blank, the filesystem is corrupt: say
 *     "filesystem corrupt (lfs error N)" and run without storage.  Never reformat: the data may
 *     still be recoverable on the host (walkit image), and silently losing it is the worst outcome.
 * The littlefs geometry is the board's: block = erase block, block count = fs_size / erase
 * block, read/prog sizes from board.toml, exactly what the host image tools use.
 */
#ifndef WALKIT_STORAGE_FW_H
#define WALKIT_STORAGE_FW_H

#include "flash.h"
#include "lfs.h"

typedef enum storage_state {
    STORAGE_NONE = 0,    /* no flash device */
    STORAGE_MOUNTED,     /* mounted what was there */
    STORAGE_FORMATTED,   /* flash was blank: formatted, then mounted */
    STORAGE_CORRUPT,     /* mount failed on a non-blank region: not mounted */
    STORAGE_UNMOUNTED    /* unmounted for a reboot */
} storage_state;

typedef struct storage {
    storage_state state;
    int lfs_error;     /* the mount error when CORRUPT (or format error) */
    flash_dev *flash;
    lfs_t lfs;
    struct lfs_config cfg;
} storage;

/* Mounts per the policy above and prints one line saying what happened. */
void storage_boot(storage *st, flash_dev *flash);

/* The mounted filesystem, or NULL when there is none (state not MOUNTED/FORMATTED). */
lfs_t *storage_lfs(storage *st);

/* A sentence for the console on why there is no filesystem ("" when there is one). */
const char *storage_why_not(const storage *st);

void storage_unmount(storage *st);

const char *storage_state_name(storage_state s);

#endif
