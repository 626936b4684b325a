/* flash.h: the NOR flash driver contract.
 *
 * Two layers, so that the rules of NOR flash are written once and not once per chip:
 *
 *   flash_read / flash_prog / flash_erase   (flash.c, board-independent)
 *       check range and alignment, refuse to program a word that is not erased, read back
 *       what was programmed, count every operation, and call the fault hook first;
 *   flash_ops.read / .prog / .erase         (boards/<board>/flash_<chip>.c)
 *       talk to the device and nothing else; board_flash() (board.h) probes it.
 *
 * Real NOR can only clear bits: programming an already-programmed word stores (old AND new),
 * silently.  QEMU's CFI model and the host-sim file store the new value instead, so without the
 * erased-word check a bug in the layers above would pass under emulation and corrupt data on
 * hardware.  The check makes such a bug an error (FLASH_E_NOT_ERASED) everywhere.
 *
 * Geometry comes from the board's board.toml [flash] table, which CMake passes to the C code as
 * WALKIT_FLASH_* defines (the host image tools read the same table).  Offsets here are relative
 * to the start of the device, not CPU addresses.
 *
 * One operation at a time: on a multi-core board (WALKIT_BOARD_SMP) each of flash_read,
 * flash_prog, flash_erase and flash_is_blank holds the device's lock, because littlefs and the
 * flash pool share the device under two different storage mutexes and may call from two cores
 * at once (the fault hook runs under that lock, so it must not call them; it uses dev->ops).
 * On a single-core board the callers are never concurrent and there is no lock.  The lock
 * makes single operations whole, nothing more: each partition's caller orders its own.
 * flash_set_fault_hook is called before the storage is mounted, or with it idle.
 */
#ifndef WALKIT_FLASH_H
#define WALKIT_FLASH_H

#include <stddef.h>
#include <stdint.h>

/* Results: 0 or one of these (negative, so they never look like a byte count). */
#define FLASH_OK 0
#define FLASH_E_RANGE (-1)      /* outside the device */
#define FLASH_E_ALIGN (-2)      /* not aligned to the read/prog size or the erase block */
#define FLASH_E_NOT_ERASED (-3) /* program of a word that is not all 0xFF: refused, nothing written */
#define FLASH_E_VERIFY (-4)     /* read back after program/erase differs */
#define FLASH_E_DEVICE (-5)     /* the device reported an error (status register) */
#define FLASH_E_TIMEOUT (-6)    /* the device never became ready */
#define FLASH_E_CUT (-7)        /* the fault hook refused the operation */
#define FLASH_E_ABSENT (-8)     /* no usable device (probe failed) */

const char *flash_strerror(int err);

typedef enum flash_op_kind { FLASH_OP_READ = 0, FLASH_OP_PROG = 1, FLASH_OP_ERASE = 2 } flash_op_kind;

/* Device access, implemented once per chip.  Arguments are already checked by flash.c: inside
 * the device, prog/read aligned to prog_size/read_size, erase at an erase-block boundary and
 * exactly one block.  Each returns FLASH_OK or a FLASH_E_* code. */
typedef struct flash_ops {
    int (*read)(void *ctx, uint32_t off, void *buf, uint32_t n);
    int (*prog)(void *ctx, uint32_t off, const void *buf, uint32_t n);
    int (*erase)(void *ctx, uint32_t off);
} flash_ops;

/* What the counters count: every call that reached the device (refused calls are in
 * `refused`, not in the operation counts). */
typedef struct flash_counters {
    uint64_t read_ops, read_bytes;
    uint64_t prog_ops, prog_bytes;
    uint64_t erase_ops, erase_bytes;
    uint64_t refused;     /* calls rejected by a check (range, alignment, not erased) */
    uint64_t device_errors; /* calls the device failed (FLASH_E_DEVICE/VERIFY/TIMEOUT) */
} flash_counters;

/* The seam for power-loss and fault campaigns.  The hook is called before every program and
 * erase (not reads) with the operation's sequence number: 1 for the first program/erase since
 * boot, counting both kinds.  It returns FLASH_OK to let the operation run, or an error code
 * that the operation then returns without touching the device.  A hook that models a power cut
 * stops the board itself (board_exit) and may first apply a fault model to the device through
 * dev->ops (e.g. program part of the data, or leave an erase half done). */
struct flash_dev;
typedef struct flash_fault_op {
    flash_op_kind kind;
    uint32_t off, len;
    const void *data; /* prog: the bytes to program; erase: NULL */
    uint64_t seq;
} flash_fault_op;
typedef int (*flash_fault_hook)(void *hook_ctx, struct flash_dev *dev, const flash_fault_op *op);

typedef struct flash_dev {
    const char *name;  /* driver, as in board.toml [flash] driver */
    uint32_t base;     /* CPU address of the device (0 when not memory-mapped) */
    uint32_t size;     /* bytes */
    uint32_t erase_block;
    uint32_t prog_size; /* smallest program unit: a "word" for the erased check */
    uint32_t read_size;
    uint32_t fs_offset, fs_size; /* the littlefs partition, erase-block aligned */
    uint32_t pool_offset, pool_size; /* the flash pool partition (pool_mount.h); size 0: none */
    const flash_ops *ops;
    void *ctx;
    /* Owned by flash.c: */
    flash_counters counters;
    uint64_t seq;              /* program + erase operations so far (the hook's sequence) */
    flash_fault_hook hook;     /* NULL = no faults */
    void *hook_ctx;
    int busy;                  /* the device lock (multi-core boards): 1 while an operation runs */
} flash_dev;

/* Designated initialisers for the geometry fields, as board.toml's [flash] table gives them
 * (every driver's flash_dev starts from these, so the geometry is written in one place). */
#define FLASH_DEV_BOARD_GEOMETRY                                                              \
    .size = WALKIT_FLASH_SIZE, .erase_block = WALKIT_FLASH_ERASE_BLOCK,                       \
    .prog_size = WALKIT_FLASH_PROG_SIZE, .read_size = WALKIT_FLASH_READ_SIZE,                 \
    .fs_offset = WALKIT_FLASH_FS_OFFSET, .fs_size = WALKIT_FLASH_FS_SIZE,                     \
    .pool_offset = WALKIT_FLASH_POOL_OFFSET, .pool_size = WALKIT_FLASH_POOL_SIZE

#ifndef WALKIT_FLASH_POOL_SIZE /* board.toml without a pool partition */
#define WALKIT_FLASH_POOL_OFFSET 0
#define WALKIT_FLASH_POOL_SIZE 0
#endif

int flash_read(flash_dev *dev, uint32_t off, void *buf, uint32_t n);
int flash_prog(flash_dev *dev, uint32_t off, const void *buf, uint32_t n);
int flash_erase(flash_dev *dev, uint32_t off); /* one erase block at off */

/* Whether [off, off+n) reads as all 0xFF (n may be large; reads in bounded chunks). */
int flash_is_blank(flash_dev *dev, uint32_t off, uint32_t n, int *blank);

void flash_set_fault_hook(flash_dev *dev, flash_fault_hook hook, void *hook_ctx);

#endif /* WALKIT_FLASH_H */
