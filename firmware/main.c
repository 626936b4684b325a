/* main.c: the walkit firmware.  Boot: the board's flash, littlefs on it (fs_mount.c policy),
 * the walkit VFS on littlefs, then the SQL console on the UART until the end of the run. */
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

/* Registers the VFS twice over the same filesystem: "walkit" (the default; the WAL-index in
 * shared heap memory, so WAL works with normal locking and many connections) and
 * "walkit-noshm" (no xShm methods at all: WAL only with locking_mode=EXCLUSIVE, the smallest
 * configuration).  A URI filename picks the second: file:/db?vfs=walkit-noshm.  Both with page
 * checksums (docs/vfs.md): a damaged page is an error, never data; both names must agree,
 * since they reach the same files. */
static int register_vfs(fs_mount *fs)
{
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    const walkit_storage *backend;
    sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, (void *)0); /* before sqlite3_initialize */
    int rc = walkit_init();
    if (rc != SQLITE_OK || !fs_mount_lfs(fs)) return rc;
    backend = walkit_storage_littlefs(fs_mount_lfs(fs));
    if (!backend) return SQLITE_NOMEM;
    cfg.storage = backend;
    cfg.page_checksums = 1;
    rc = walkit_register(&cfg);
    if (rc == SQLITE_OK) {
        walkit_config noshm = WALKIT_CONFIG_DEFAULT;
        noshm.vfs_name = "walkit-noshm";
        noshm.storage = backend;
        noshm.shm_mode = WALKIT_SHM_NONE;
        noshm.make_default = 0;
        noshm.page_checksums = 1;
        rc = walkit_register(&noshm);
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
