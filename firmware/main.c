/* main.c: the walkit firmware.  Boot: the board's flash, littlefs on it (fs_mount.c policy) and
 * the flash pool beside it (pool_mount.c), the walkit VFS on each, then the SQL console on the
 * UART until the end of the run. */
#include "board.h"
#include "console.h"
#include "flash.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"

#define FIRMWARE_VERSION "0.1.0"

/* SQLite's and walkit's sqlite3_log() messages about the storage on the console log: damage
 * found (a page checksum, a damaged WAL), a write refused on a full flash, I/O errors, misuse.
 * Not notices (a WAL recovered after every power cut) nor a statement's own errors
 * (constraints, SQL errors): its reply reports those.  Bytes outside printable ASCII are shown
 * as \xHH (a message may quote a file name or a value), so the log never carries raw control
 * sequences. */
static void sqlite_log(void *arg, int code, const char *msg)
{
    char line[240];
    size_t n = 0;
    int primary = code & 0xff;
    (void)arg;
    if (primary != SQLITE_CORRUPT && primary != SQLITE_IOERR && primary != SQLITE_FULL &&
        primary != SQLITE_MISUSE && primary != SQLITE_WARNING)
        return;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof line; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            line[n++] = (char)*p;
        } else {
            static const char hex[] = "0123456789abcdef";
            line[n++] = '\\';
            line[n++] = 'x';
            line[n++] = hex[*p >> 4];
            line[n++] = hex[*p & 15];
        }
    }
    line[n] = 0;
    fw_log("sqlite: %s (%d)", line, code);
}

/* The VFS names the firmware registers, one line per name.  On littlefs: "walkit" (the
 * default; the WAL-index in shared heap memory, so WAL works with normal locking and many
 * connections), "walkit-noshm" (no xShm methods at all: WAL only with locking_mode=EXCLUSIVE,
 * the smallest configuration) and "walkit-copy" (the WAL-index copied between private copies
 * and a shared area no connection maps, for connections that cannot share memory); the
 * connections of one database must all use one of "walkit" and "walkit-copy" at a time.  On
 * the flash pool, when it is mounted: "pool".  A URI filename picks a name other than the
 * default: file:/db?vfs=walkit-copy, file:/x.db?vfs=pool.  Files, locks and WAL-indexes belong
 * to the storage, so every name on one storage shares them. */
enum { ON_LITTLEFS, ON_POOL, STORAGES };
static const struct vfs_line {
    const char *name;
    int on;
    walkit_shm_mode shm_mode;
    int make_default, page_checksums;
} vfs_table[] = {
    { "walkit", ON_LITTLEFS, WALKIT_SHM_HEAP, 1, 1 },
    { "walkit-noshm", ON_LITTLEFS, WALKIT_SHM_NONE, 0, 1 },
    { "walkit-copy", ON_LITTLEFS, WALKIT_SHM_COPY, 0, 1 },
    { "pool", ON_POOL, WALKIT_SHM_HEAP, 0, 0 },
};

/* Registers every line of vfs_table whose storage is there. */
static int register_vfs(fs_mount *fs)
{
    const walkit_storage *storage[STORAGES] = { NULL, fs->pool.storage };
    sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, (void *)0); /* before sqlite3_initialize */
    int rc = walkit_init();
    if (rc != SQLITE_OK) return rc;
    if (fs_mount_lfs(fs) && !(storage[ON_LITTLEFS] = walkit_storage_littlefs(fs_mount_lfs(fs))))
        return SQLITE_NOMEM;
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof vfs_table / sizeof vfs_table[0]; i++) {
        const struct vfs_line *v = &vfs_table[i];
        walkit_config cfg = WALKIT_CONFIG_DEFAULT;
        if (!storage[v->on]) continue;
        cfg.vfs_name = v->name;
        cfg.storage = storage[v->on];
        cfg.shm_mode = v->shm_mode;
        cfg.make_default = v->make_default;
        cfg.page_checksums = v->page_checksums;
        rc = walkit_register(&cfg);
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
    pool_mount_boot(&fs.pool, flash);
    rc = register_vfs(&fs);
    if (rc != SQLITE_OK) fw_log("SQLite/VFS initialisation failed: %s", sqlite3_errstr(rc));
    console_main(&fs);
    return 0;
}
