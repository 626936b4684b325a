/* main.c: the walkit firmware.  Boot: the board's flash, littlefs on it (fs_mount.c policy),
 * the walkit VFS on littlefs, then the SQL console on the UART until the end of the run. */
#include "board.h"
#include "console.h"
#include "flash.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"

#define FIRMWARE_VERSION "0.1.0"

/* Registers the VFS three times over the same filesystem: "walkit" (the default; the WAL-index
 * in shared heap memory, so WAL works with normal locking and many connections),
 * "walkit-noshm" (no xShm methods at all: WAL only with locking_mode=EXCLUSIVE, the smallest
 * configuration) and "walkit-copy" (the WAL-index copied between private copies and a shared
 * area no connection maps, for connections that cannot share memory).  A URI filename picks
 * one: file:/db?vfs=walkit-copy.  The connections of one database must all use one of
 * "walkit" and "walkit-copy" at a time. */
static int register_vfs(fs_mount *fs)
{
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    const walkit_storage *backend;
    int rc = walkit_init();
    if (rc != SQLITE_OK || !fs_mount_lfs(fs)) return rc;
    backend = walkit_storage_littlefs(fs_mount_lfs(fs));
    if (!backend) return SQLITE_NOMEM;
    cfg.storage = backend;
    rc = walkit_register(&cfg);
    if (rc == SQLITE_OK) {
        walkit_config noshm = WALKIT_CONFIG_DEFAULT;
        noshm.vfs_name = "walkit-noshm";
        noshm.storage = backend;
        noshm.shm_mode = WALKIT_SHM_NONE;
        noshm.make_default = 0;
        rc = walkit_register(&noshm);
    }
    if (rc == SQLITE_OK) {
        walkit_config copy = WALKIT_CONFIG_DEFAULT;
        copy.vfs_name = "walkit-copy";
        copy.storage = backend;
        copy.shm_mode = WALKIT_SHM_COPY;
        copy.make_default = 0;
        rc = walkit_register(&copy);
    }
    return rc;
}

int main(void)
{
    static fs_mount fs;
    flash_dev *flash;
    int rc;
    fw_log("firmware " FIRMWARE_VERSION ", SQLite " SQLITE_VERSION);
    flash = board_flash(fw_log);
    if (flash)
        fw_log("flash: %s, %lu bytes, erase block %lu, filesystem at %lu (%lu bytes)",
               flash->name, (unsigned long)flash->size, (unsigned long)flash->erase_block,
               (unsigned long)flash->fs_offset, (unsigned long)flash->fs_size);
    fs_mount_boot(&fs, flash);
    rc = register_vfs(&fs);
    if (rc != SQLITE_OK) fw_log("SQLite/VFS initialisation failed: %s", sqlite3_errstr(rc));
    console_main(&fs);
    return 0;
}
