/* storage.c: littlefs on the board's flash; the mount policy is documented in storage.h. */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "storage.h"

/* littlefs block device callbacks on flash.h.  Every littlefs block is one erase block of the
 * filesystem partition.  Any flash error becomes LFS_ERR_IO (littlefs then fails the operation
 * and SQLite reports SQLITE_IOERR); a refused program of a non-erased word is also logged,
 * because it means a layer above broke the NOR rule, which QEMU alone would not notice. */
static int to_lfs(storage *st, int rc, const char *what, lfs_block_t block, lfs_off_t off)
{
    if (rc == FLASH_OK) return LFS_ERR_OK;
    fw_log("flash: %s of block %lu offset %lu failed: %s", what, (unsigned long)block,
           (unsigned long)off, flash_strerror(rc));
    (void)st;
    return LFS_ERR_IO;
}

static uint32_t addr(const struct lfs_config *c, lfs_block_t block, lfs_off_t off)
{
    const storage *st = c->context;
    return st->flash->fs_offset + (uint32_t)block * c->block_size + (uint32_t)off;
}

static int bd_read(const struct lfs_config *c, lfs_block_t block, lfs_off_t off, void *buf,
                   lfs_size_t size)
{
    storage *st = c->context;
    return to_lfs(st, flash_read(st->flash, addr(c, block, off), buf, size), "read", block, off);
}

static int bd_prog(const struct lfs_config *c, lfs_block_t block, lfs_off_t off,
                   const void *buf, lfs_size_t size)
{
    storage *st = c->context;
    return to_lfs(st, flash_prog(st->flash, addr(c, block, off), buf, size), "program", block, off);
}

static int bd_erase(const struct lfs_config *c, lfs_block_t block)
{
    storage *st = c->context;
    return to_lfs(st, flash_erase(st->flash, addr(c, block, 0)), "erase", block, 0);
}

/* NOR has no write cache: a program is durable when it returns. */
static int bd_sync(const struct lfs_config *c)
{
    (void)c;
    return LFS_ERR_OK;
}

/* Cache and lookahead sizes: the only littlefs settings not dictated by the board.  They are
 * not stored on the flash, so the host tools may use others.  4 KiB caches keep metadata
 * reads few on 256 KiB blocks and divide every erase block size we have (4 KiB and up). */
#define STORAGE_CACHE 4096u
#define STORAGE_LOOKAHEAD 64u

static void make_config(storage *st)
{
    struct lfs_config *c = &st->cfg;
    flash_dev *f = st->flash;
    memset(c, 0, sizeof *c);
    c->context = st;
    c->read = bd_read;
    c->prog = bd_prog;
    c->erase = bd_erase;
    c->sync = bd_sync;
    c->read_size = f->read_size;
    c->prog_size = f->prog_size;
    c->block_size = f->erase_block;
    c->block_count = f->fs_size / f->erase_block;
    c->block_cycles = 500; /* wear levelling: move metadata after this many erases */
    c->cache_size = STORAGE_CACHE < f->erase_block ? STORAGE_CACHE : f->erase_block;
    c->lookahead_size = STORAGE_LOOKAHEAD;
}

const char *storage_state_name(storage_state s)
{
    switch (s) {
    case STORAGE_NONE: return "none";
    case STORAGE_MOUNTED: return "mounted";
    case STORAGE_FORMATTED: return "formatted";
    case STORAGE_CORRUPT: return "corrupt";
    case STORAGE_UNMOUNTED: return "unmounted";
    }
    return "?";
}

void storage_boot(storage *st, flash_dev *flash)
{
    int rc, blank = 0;
    memset(st, 0, sizeof *st);
    st->flash = flash;
    if (!flash) {
        st->state = STORAGE_NONE;
        fw_log("storage: no flash device; no filesystem");
        return;
    }
    make_config(st);
    /* Blank means every byte of the partition: a flash whose first blocks were erased but that
     * holds data further on is damaged, not new.  The superblock pair (blocks 0 and 1) is looked
     * at first so that a blank flash is not first offered to lfs_mount, which would log a
     * misleading "corrupted dir pair". */
    rc = flash_is_blank(flash, flash->fs_offset, 2u * flash->erase_block, &blank);
    if (rc == FLASH_OK && blank)
        rc = flash_is_blank(flash, flash->fs_offset, flash->fs_size, &blank);
    if (rc != FLASH_OK) blank = 0;
    if (!blank) {
        rc = lfs_mount(&st->lfs, &st->cfg);
        if (rc == LFS_ERR_OK) {
            st->state = STORAGE_MOUNTED;
            fw_log("storage: littlefs mounted (%lu blocks of %lu bytes)",
                   (unsigned long)st->cfg.block_count, (unsigned long)st->cfg.block_size);
        } else {
            st->state = STORAGE_CORRUPT;
            st->lfs_error = rc;
            fw_log("storage: filesystem corrupt (lfs error %d); running without storage, "
                   "the flash is left as it is", rc);
        }
        return;
    }
    rc = lfs_format(&st->lfs, &st->cfg);
    if (rc == LFS_ERR_OK) rc = lfs_mount(&st->lfs, &st->cfg);
    if (rc != LFS_ERR_OK) {
        st->state = STORAGE_CORRUPT;
        st->lfs_error = rc;
        fw_log("storage: formatting the blank flash failed (lfs error %d)", rc);
        return;
    }
    st->state = STORAGE_FORMATTED;
    fw_log("storage: flash was blank: formatted littlefs (%lu blocks of %lu bytes)",
           (unsigned long)st->cfg.block_count, (unsigned long)st->cfg.block_size);
}

lfs_t *storage_lfs(storage *st)
{
    return st->state == STORAGE_MOUNTED || st->state == STORAGE_FORMATTED ? &st->lfs : NULL;
}

const char *storage_why_not(const storage *st)
{
    static char why[96];
    switch (st->state) {
    case STORAGE_MOUNTED:
    case STORAGE_FORMATTED: return "";
    case STORAGE_NONE: return "no flash device";
    case STORAGE_CORRUPT:
        snprintf(why, sizeof why, "filesystem corrupt (lfs error %d)", st->lfs_error);
        return why;
    case STORAGE_UNMOUNTED: return "filesystem unmounted";
    }
    return "no filesystem";
}

void storage_unmount(storage *st)
{
    if (storage_lfs(st)) lfs_unmount(&st->lfs);
    if (st->state != STORAGE_NONE && st->state != STORAGE_CORRUPT) st->state = STORAGE_UNMOUNTED;
}
