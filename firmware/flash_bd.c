/* flash_bd.c: littlefs block device callbacks on flash.h (contract in flash_bd.h). */
#include <string.h>
#include "fault.h"
#include "flash_bd.h"
#include "log.h"

/* Any flash error becomes LFS_ERR_IO (littlefs then fails the operation and SQLite reports
 * SQLITE_IOERR), and each is logged: a refused program of a non-erased word, for one, means a
 * layer above broke the NOR rule, which QEMU alone would not notice. */
static int to_lfs(int rc, const char *what, lfs_block_t block, lfs_off_t off)
{
    if (rc == FLASH_OK) return LFS_ERR_OK;
    fw_log("flash: %s of block %lu offset %lu failed: %s", what, (unsigned long)block,
           (unsigned long)off, flash_strerror(rc));
    return LFS_ERR_IO;
}

static uint32_t addr(const struct lfs_config *c, lfs_block_t block, lfs_off_t off)
{
    const flash_dev *flash = c->context;
    return flash->fs_offset + (uint32_t)block * c->block_size + (uint32_t)off;
}

static int bd_read(const struct lfs_config *c, lfs_block_t block, lfs_off_t off, void *buf,
                   lfs_size_t size)
{
    return to_lfs(flash_read(c->context, addr(c, block, off), buf, size), "read", block, off);
}

static int bd_prog(const struct lfs_config *c, lfs_block_t block, lfs_off_t off,
                   const void *buf, lfs_size_t size)
{
    return to_lfs(flash_prog(c->context, addr(c, block, off), buf, size), "program", block, off);
}

static int bd_erase(const struct lfs_config *c, lfs_block_t block)
{
    return to_lfs(flash_erase(c->context, addr(c, block, 0)), "erase", block, 0);
}

/* NOR has no write cache: a program is durable when it returns.  The sync point is still
 * reported to fault.c, whose out-of-order model reverts writes made since the last one. */
static int bd_sync(const struct lfs_config *c)
{
    (void)c;
    fault_sync();
    return LFS_ERR_OK;
}

/* Cache and lookahead sizes: the only littlefs settings not dictated by the board.  They are
 * not stored on the flash, so the host tools may use others.  4 KiB caches keep metadata
 * reads few on 256 KiB blocks and divide every erase block size we have (4 KiB and up). */
#define FLASH_BD_CACHE 4096u
#define FLASH_BD_LOOKAHEAD 64u

void flash_bd_config(struct lfs_config *c, flash_dev *flash)
{
    memset(c, 0, sizeof *c);
    c->context = flash;
    c->read = bd_read;
    c->prog = bd_prog;
    c->erase = bd_erase;
    c->sync = bd_sync;
    c->read_size = flash->read_size;
    c->prog_size = flash->prog_size;
    c->block_size = flash->erase_block;
    c->block_count = flash->fs_size / flash->erase_block;
    c->block_cycles = 500; /* wear levelling: move metadata after this many erases */
    c->cache_size = FLASH_BD_CACHE < flash->erase_block ? FLASH_BD_CACHE : flash->erase_block;
    c->lookahead_size = FLASH_BD_LOOKAHEAD;
}
