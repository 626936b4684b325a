/* fs_mount.c: littlefs on the board's flash; the mount policy is documented in fs_mount.h. */
#include <stdio.h>
#include <string.h>
#include "flash_bd.h"
#include "fs_mount.h"
#include "log.h"

const char *fs_state_name(fs_state s)
{
    switch (s) {
    case FS_NONE: return "none";
    case FS_MOUNTED: return "mounted";
    case FS_FORMATTED: return "formatted";
    case FS_CORRUPT: return "corrupt";
    case FS_UNMOUNTED: return "unmounted";
    }
    return "?";
}

void fs_mount_boot(fs_mount *fs, flash_dev *flash)
{
    int rc, blank = 0;
    memset(fs, 0, sizeof *fs);
    fs->flash = flash;
    if (!flash) {
        fs->state = FS_NONE;
        fw_log("storage: no flash device; no filesystem");
        return;
    }
    flash_bd_config(&fs->cfg, flash);
    /* Blank means every byte of the partition: a flash whose first blocks were erased but that
     * holds data further on is damaged, not new.  The superblock pair (blocks 0 and 1) is looked
     * at first so that a blank flash is not first offered to lfs_mount, which would log a
     * misleading "corrupted dir pair". */
    rc = flash_is_blank(flash, flash->fs_offset, 2u * flash->erase_block, &blank);
    if (rc == FLASH_OK && blank)
        rc = flash_is_blank(flash, flash->fs_offset, flash->fs_size, &blank);
    if (rc != FLASH_OK) blank = 0;
    if (!blank) {
        rc = lfs_mount(&fs->lfs, &fs->cfg);
        if (rc == LFS_ERR_OK) {
            fs->state = FS_MOUNTED;
            fw_log("storage: littlefs mounted (%lu blocks of %lu bytes)",
                   (unsigned long)fs->cfg.block_count, (unsigned long)fs->cfg.block_size);
        } else {
            fs->state = FS_CORRUPT;
            fs->lfs_error = rc;
            fw_log("storage: filesystem corrupt (lfs error %d); running without storage, "
                   "the flash is left as it is", rc);
        }
        return;
    }
    rc = lfs_format(&fs->lfs, &fs->cfg);
    if (rc == LFS_ERR_OK) rc = lfs_mount(&fs->lfs, &fs->cfg);
    if (rc != LFS_ERR_OK) {
        fs->state = FS_CORRUPT;
        fs->lfs_error = rc;
        fw_log("storage: formatting the blank flash failed (lfs error %d)", rc);
        return;
    }
    fs->state = FS_FORMATTED;
    fw_log("storage: flash was blank: formatted littlefs (%lu blocks of %lu bytes)",
           (unsigned long)fs->cfg.block_count, (unsigned long)fs->cfg.block_size);
}

lfs_t *fs_mount_lfs(fs_mount *fs)
{
    return fs->state == FS_MOUNTED || fs->state == FS_FORMATTED ? &fs->lfs : NULL;
}

const char *fs_mount_why_not(const fs_mount *fs)
{
    static char why[96];
    switch (fs->state) {
    case FS_MOUNTED:
    case FS_FORMATTED: return "";
    case FS_NONE: return "no flash device";
    case FS_CORRUPT:
        snprintf(why, sizeof why, "filesystem corrupt (lfs error %d)", fs->lfs_error);
        return why;
    case FS_UNMOUNTED: return "filesystem unmounted";
    }
    return "no filesystem";
}

void fs_mount_unmount(fs_mount *fs)
{
    if (fs_mount_lfs(fs)) lfs_unmount(&fs->lfs);
    if (fs->state != FS_NONE && fs->state != FS_CORRUPT) fs->state = FS_UNMOUNTED;
}
