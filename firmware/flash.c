/* flash.c: the board-independent half of the flash driver contract (flash.h): argument checks,
 * the NOR rule (program only erased words), read-back verification, counters and the fault
 * hook.  The chip drivers in boards/<board>/ only move bytes. */
#include <string.h>
#include "flash.h"

/* Verification and blank checks read through a bounded stack buffer, never the heap (the
 * flash layer must work when SQLite has used up the heap). */
#define FLASH_CHUNK 256u

const char *flash_strerror(int err)
{
    switch (err) {
    case FLASH_OK: return "ok";
    case FLASH_E_RANGE: return "outside the device";
    case FLASH_E_ALIGN: return "misaligned";
    case FLASH_E_NOT_ERASED: return "program of a word that is not erased";
    case FLASH_E_VERIFY: return "read-back differs";
    case FLASH_E_DEVICE: return "device error";
    case FLASH_E_TIMEOUT: return "device timeout";
    case FLASH_E_CUT: return "refused by the fault hook";
    case FLASH_E_ABSENT: return "no flash device";
    default: return "unknown flash error";
    }
}

/* The device lock (flash.h): a spin lock on a multi-core board, where littlefs and the flash
 * pool, each serialised by its own storage mutex, may reach the one device from two cores at
 * once; a CFI chip has one command state machine, and the counters and the fault hook's
 * sequence are plain fields.  Held for one operation, which waits for nothing else, so a
 * spin is enough.  The exchange is an acquire and the store a release (GCC emits LDREX/STREX
 * and DMB on ARMv7-A): the device state one core left is the one the next core sees.  One
 * core at a time on every other board: nothing to do (and a Cortex-M0 has no exclusives). */
#if WALKIT_BOARD_SMP
static void dev_lock(flash_dev *dev)
{
    while (__atomic_exchange_n(&dev->busy, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&dev->busy, __ATOMIC_RELAXED)) { }
}

static int dev_unlock(flash_dev *dev, int rc)
{
    __atomic_store_n(&dev->busy, 0, __ATOMIC_RELEASE);
    return rc;
}
#else
static inline void dev_lock(flash_dev *dev) { (void)dev; }
static inline int dev_unlock(flash_dev *dev, int rc) { (void)dev; return rc; }
#endif

static int in_range(const flash_dev *dev, uint32_t off, uint32_t n)
{
    return off <= dev->size && n <= dev->size - off;
}

static int refuse(flash_dev *dev, int err)
{
    dev->counters.refused++;
    return err;
}

static int device_result(flash_dev *dev, int rc)
{
    if (rc != FLASH_OK) dev->counters.device_errors++;
    return rc;
}

/* Compares [off, off+n) of the device with `want`, or with 0xFF when want is NULL.  Reads go
 * straight to ops->read: they are part of the operation being checked, not reads of the user,
 * so they are not counted. */
static int compare(flash_dev *dev, uint32_t off, const uint8_t *want, uint32_t n, int *same)
{
    uint8_t buf[FLASH_CHUNK];
    *same = 1;
    while (n > 0) {
        uint32_t k = n < FLASH_CHUNK ? n : FLASH_CHUNK;
        int rc = dev->ops->read(dev->ctx, off, buf, k);
        if (rc != FLASH_OK) return rc;
        for (uint32_t i = 0; i < k; i++) {
            if (buf[i] != (want ? want[i] : 0xFFu)) { *same = 0; return FLASH_OK; }
        }
        off += k;
        n -= k;
        if (want) want += k;
    }
    return FLASH_OK;
}

static int unlocked_read(flash_dev *dev, uint32_t off, void *buf, uint32_t n)
{
    if (!in_range(dev, off, n)) return refuse(dev, FLASH_E_RANGE);
    if (off % dev->read_size || n % dev->read_size) return refuse(dev, FLASH_E_ALIGN);
    dev->counters.read_ops++;
    dev->counters.read_bytes += n;
    return device_result(dev, dev->ops->read(dev->ctx, off, buf, n));
}

static int call_hook(flash_dev *dev, flash_op_kind kind, uint32_t off, uint32_t n, const void *data)
{
    dev->seq++;
    if (!dev->hook) return FLASH_OK;
    flash_fault_op op = { kind, off, n, data, dev->seq };
    return dev->hook(dev->hook_ctx, dev, &op);
}

static int unlocked_prog(flash_dev *dev, uint32_t off, const void *buf, uint32_t n)
{
    int same, rc;
    if (!in_range(dev, off, n)) return refuse(dev, FLASH_E_RANGE);
    if (off % dev->prog_size || n % dev->prog_size) return refuse(dev, FLASH_E_ALIGN);
    /* The NOR rule, checked for the whole range before anything is written, so that a refused
     * program leaves the device exactly as it was. */
    rc = compare(dev, off, NULL, n, &same);
    if (rc != FLASH_OK) return device_result(dev, rc);
    if (!same) return refuse(dev, FLASH_E_NOT_ERASED);
    rc = call_hook(dev, FLASH_OP_PROG, off, n, buf);
    if (rc != FLASH_OK) return rc;
    dev->counters.prog_ops++;
    dev->counters.prog_bytes += n;
    rc = dev->ops->prog(dev->ctx, off, buf, n);
    if (rc == FLASH_OK) {
        rc = compare(dev, off, buf, n, &same);
        if (rc == FLASH_OK && !same) rc = FLASH_E_VERIFY;
    }
    return device_result(dev, rc);
}

static int unlocked_erase(flash_dev *dev, uint32_t off)
{
    int same, rc;
    if (!in_range(dev, off, dev->erase_block)) return refuse(dev, FLASH_E_RANGE);
    if (off % dev->erase_block) return refuse(dev, FLASH_E_ALIGN);
    rc = call_hook(dev, FLASH_OP_ERASE, off, dev->erase_block, NULL);
    if (rc != FLASH_OK) return rc;
    dev->counters.erase_ops++;
    dev->counters.erase_bytes += dev->erase_block;
    rc = dev->ops->erase(dev->ctx, off);
    if (rc == FLASH_OK) {
        rc = compare(dev, off, NULL, dev->erase_block, &same);
        if (rc == FLASH_OK && !same) rc = FLASH_E_VERIFY;
    }
    return device_result(dev, rc);
}

static int unlocked_is_blank(flash_dev *dev, uint32_t off, uint32_t n, int *blank)
{
    if (!in_range(dev, off, n)) return refuse(dev, FLASH_E_RANGE);
    dev->counters.read_ops++;
    dev->counters.read_bytes += n;
    return device_result(dev, compare(dev, off, NULL, n, blank));
}

int flash_read(flash_dev *dev, uint32_t off, void *buf, uint32_t n)
{
    dev_lock(dev);
    return dev_unlock(dev, unlocked_read(dev, off, buf, n));
}

int flash_prog(flash_dev *dev, uint32_t off, const void *buf, uint32_t n)
{
    dev_lock(dev);
    return dev_unlock(dev, unlocked_prog(dev, off, buf, n));
}

int flash_erase(flash_dev *dev, uint32_t off)
{
    dev_lock(dev);
    return dev_unlock(dev, unlocked_erase(dev, off));
}

int flash_is_blank(flash_dev *dev, uint32_t off, uint32_t n, int *blank)
{
    dev_lock(dev);
    return dev_unlock(dev, unlocked_is_blank(dev, off, n, blank));
}

void flash_set_fault_hook(flash_dev *dev, flash_fault_hook hook, void *hook_ctx)
{
    dev->hook = hook;
    dev->hook_ctx = hook_ctx;
}
