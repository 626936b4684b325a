/* pool_mount.c: the flash pool on the board's pool partition (policy in pool_mount.h). */
#include <string.h>

#include "fault.h"
#include "log.h"
#include "pool_mount.h"

const char *pool_state_name(pool_state s)
{
    switch (s) {
    case POOL_NONE: return "none";
    case POOL_MOUNTED: return "mounted";
    case POOL_FORMATTED: return "formatted";
    case POOL_CORRUPT: return "corrupt";
    case POOL_FAILED: return "failed";
    }
    return "?";
}

/* Flash errors are logged here (the pool only sees "failed"): a refused program of a word that
 * is not erased means the pool broke the NOR rule, which QEMU alone would not notice. */
static int logged(int rc, const char *what, uint32_t off)
{
    if (rc != FLASH_OK)
        fw_log("flash: pool %s at %lu failed: %s", what, (unsigned long)off, flash_strerror(rc));
    return rc;
}

static int pool_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    flash_dev *f = ctx;
    return logged(flash_read(f, f->pool_offset + off, buf, n), "read", off);
}

static int pool_prog(void *ctx, uint32_t off, const void *buf, uint32_t n)
{
    flash_dev *f = ctx;
    return logged(flash_prog(f, f->pool_offset + off, buf, n), "program", off);
}

static int pool_erase(void *ctx, uint32_t off)
{
    flash_dev *f = ctx;
    return logged(flash_erase(f, f->pool_offset + off), "erase", off);
}

/* NOR has no write cache: every program and erase is durable when it returns.  The pool's
 * barriers are still the sync points of the fault hook's out-of-order model (fault.h), as
 * littlefs's syncs are (flash_bd.c). */
static int pool_sync(void *ctx)
{
    (void)ctx;
    fault_sync();
    return 0;
}

void pool_mount_boot(pool_mount *pm, flash_dev *flash)
{
    memset(pm, 0, sizeof *pm);
    pm->flash = flash;
    if (!flash || flash->pool_size == 0) {
        pm->state = POOL_NONE;
        return;
    }
    pm->bd = (walkit_flashpool_bd){.ctx = flash, .read = pool_read, .prog = pool_prog,
                                   .erase = pool_erase, .sync = pool_sync,
                                   .size = flash->pool_size, .erase_block = flash->erase_block,
                                   .prog_size = flash->prog_size, .read_size = flash->read_size};
    walkit_flashpool_config cfg = {&pm->bd, 0, 0};
    int how = 0;
    int rc = walkit_storage_flashpool_why(&cfg, &pm->storage, &how, pm->why, sizeof pm->why);
    if (rc == WALKIT_FLASHPOOL_OK) {
        pm->state = how == WALKIT_FLASHPOOL_FORMATTED ? POOL_FORMATTED : POOL_MOUNTED;
        fw_log("storage: flash pool %s at %lu (%lu bytes)",
               how == WALKIT_FLASHPOOL_FORMATTED ? "was blank: formatted" : "mounted",
               (unsigned long)flash->pool_offset, (unsigned long)flash->pool_size);
        return;
    }
    pm->error = rc;
    pm->storage = NULL;
    pm->state = rc == WALKIT_FLASHPOOL_E_CORRUPT ? POOL_CORRUPT : POOL_FAILED;
    if (rc == WALKIT_FLASHPOOL_E_CORRUPT) {
        fw_log("storage: flash pool corrupt (error %d); running without it, the partition is "
               "left as it is", rc);
        if (pm->why[0]) fw_log("storage: flash pool: %s", pm->why);
    } else {
        fw_log("storage: flash pool mount failed (error %d)", rc);
    }
}
