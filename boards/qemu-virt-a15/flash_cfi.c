/* QEMU virt: the CFI NOR bank on pflash unit 1 (Intel/Sharp command set, CFI 0x0001).
 *
 * The bank is 32 bits wide and made of two interleaved x16 chips: every command is written to
 * both chips at once (the command byte in each 16-bit half), every status comes back in both
 * halves, and each chip has half the bank's size and half its erase block.  The driver probes
 * the CFI query table at start-up and refuses the device when it does not match board.toml
 * (wrong -drive size, wrong unit), instead of running littlefs on a geometry that is not there.
 *
 * In read-array mode the bank is plain memory, so reads are memcpy.  After every command
 * sequence the driver returns to read-array mode, on success and on error: flash.c relies on
 * reading back what was just programmed or erased.
 *
 * Checks, counters and the fault hook live in firmware/flash.c; this file only moves bytes.
 */
#include <stdint.h>
#include <string.h>
#include "board.h"
#include "flash.h"

#ifndef WALKIT_FLASH_BASE
#error "WALKIT_FLASH_* come from board.toml [flash] through CMake"
#endif

/* Commands, replicated into both 16-bit halves of the bank. */
#define CMD(c) ((uint32_t)(c) * 0x00010001u)
#define CMD_READ_ARRAY CMD(0xFF)
#define CMD_CLEAR_STATUS CMD(0x50)
#define CMD_ERASE_SETUP CMD(0x20)
#define CMD_CONFIRM CMD(0xD0)
#define CMD_BUFFERED_PROG CMD(0xE8)
#define CMD_CFI_QUERY CMD(0x98)

/* Status register bits, per chip; both chips must agree. */
#define SR_READY CMD(0x80)
#define SR_ERRORS CMD(0x3A) /* erase error 0x20, program error 0x10, VPP low 0x08, locked 0x02 */

#define ERASE_TIMEOUT_US 5000000u
#define PROG_TIMEOUT_US 1000000u

typedef struct cfi_bank {
    volatile uint32_t *mem;
    uint32_t buffer_bytes; /* bank bytes per buffered program (both chips' buffers) */
} cfi_bank;

static cfi_bank bank;

static inline void wr(uint32_t off, uint32_t v) { bank.mem[off / 4u] = v; }
static inline uint32_t rd(uint32_t off) { return bank.mem[off / 4u]; }

/* Back to read-array mode; the barrier keeps the compiler from moving plain memory reads of the
 * bank (memcpy) above the command write. */
static void read_array(uint32_t off)
{
    wr(off, CMD_READ_ARRAY);
    __asm__ volatile("dsb" ::: "memory");
}

/* Polls the status at `off` until both chips are ready, then checks the error bits. */
static int wait_ready(uint32_t off, uint32_t timeout_us)
{
    uint64_t t0 = board_time_us();
    uint32_t sr;
    while (((sr = rd(off)) & SR_READY) != SR_READY) {
        if (board_time_us() - t0 > timeout_us) return FLASH_E_TIMEOUT;
    }
    if (sr & SR_ERRORS) {
        wr(off, CMD_CLEAR_STATUS);
        return FLASH_E_DEVICE;
    }
    return FLASH_OK;
}

static int cfi_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    (void)ctx;
    memcpy(buf, (const void *)((uintptr_t)bank.mem + off), n);
    return FLASH_OK;
}

/* One buffered program that stays inside one write-buffer-aligned window. */
static int prog_window(uint32_t off, const uint8_t *src, uint32_t n)
{
    uint32_t words = n / 4u, w;
    int rc;
    wr(off, CMD_BUFFERED_PROG);
    rc = wait_ready(off, PROG_TIMEOUT_US); /* "buffer available" */
    if (rc != FLASH_OK) return rc;
    wr(off, CMD(words - 1u)); /* count per chip, minus one: each chip gets one half-word per bank word */
    for (w = 0; w < words; w++) {
        uint32_t v;
        memcpy(&v, src + 4u * w, 4);
        wr(off + 4u * w, v);
    }
    wr(off, CMD_CONFIRM);
    return wait_ready(off, PROG_TIMEOUT_US);
}

static int cfi_prog(void *ctx, uint32_t off, const void *buf, uint32_t n)
{
    const uint8_t *src = buf;
    uint32_t start = off;
    int rc = FLASH_OK;
    (void)ctx;
    if (off % 4u || n % 4u) return FLASH_E_ALIGN; /* prog_size is a multiple of the bank width */
    while (n > 0 && rc == FLASH_OK) {
        uint32_t room = bank.buffer_bytes - off % bank.buffer_bytes;
        uint32_t k = n < room ? n : room;
        rc = prog_window(off, src, k);
        off += k;
        src += k;
        n -= k;
    }
    read_array(start);
    return rc;
}

static int cfi_erase(void *ctx, uint32_t off)
{
    int rc;
    (void)ctx;
    wr(off, CMD_ERASE_SETUP);
    wr(off, CMD_CONFIRM);
    rc = wait_ready(off, ERASE_TIMEOUT_US);
    read_array(off);
    return rc;
}

static const flash_ops cfi_ops = { cfi_read, cfi_prog, cfi_erase };

/* CFI query byte `i` of both chips; -1 when the chips disagree. */
static int query_byte(uint32_t i)
{
    uint32_t v = rd(4u * i);
    uint32_t lo = v & 0xFFu, hi = (v >> 16) & 0xFFu;
    return lo == hi ? (int)lo : -1;
}

static flash_dev dev = {
    .name = "cfi-intel",
    .base = WALKIT_FLASH_BASE,
    FLASH_DEV_BOARD_GEOMETRY,
    .ops = &cfi_ops,
    .ctx = &bank,
};

/* Reads the CFI table and checks it against board.toml.  Returns NULL with a console line
 * saying why when the device is not the one the board file describes. */
flash_dev *board_flash(board_log_fn *report)
{
    static int probed;
    static flash_dev *result;
    int q, r, y, size_log2, buf_log2, regions, blocks_lo, blocks_hi, bs_lo, bs_hi;
    uint32_t chip_size, chip_block, nblocks;
    if (probed) return result;
    probed = 1;
    bank.mem = (volatile uint32_t *)(uintptr_t)WALKIT_FLASH_BASE;
    wr(0x55u * 4u, CMD_CFI_QUERY);
    q = query_byte(0x10); r = query_byte(0x11); y = query_byte(0x12);
    size_log2 = query_byte(0x27);
    buf_log2 = query_byte(0x2A);
    regions = query_byte(0x2C);
    blocks_lo = query_byte(0x2D); blocks_hi = query_byte(0x2E);
    bs_lo = query_byte(0x2F); bs_hi = query_byte(0x30);
    read_array(0);
    if (q != 'Q' || r != 'R' || y != 'Y') {
        report("flash: no CFI device at 0x%lx", (unsigned long)dev.base);
        return NULL;
    }
    if (size_log2 < 0 || size_log2 > 31 || buf_log2 < 2 || buf_log2 > 16 || regions != 1 ||
        blocks_lo < 0 || blocks_hi < 0 || bs_lo < 0 || bs_hi < 0) {
        report("flash: CFI table not understood (chips disagree or several erase regions)");
        return NULL;
    }
    chip_size = 1u << size_log2;
    chip_block = ((uint32_t)bs_hi << 8 | (uint32_t)bs_lo) * 256u;
    nblocks = ((uint32_t)blocks_hi << 8 | (uint32_t)blocks_lo) + 1u;
    if (2u * chip_size != dev.size || 2u * chip_block != dev.erase_block ||
        nblocks * chip_block != chip_size) {
        report("flash: device is %lu bytes in %lu-byte blocks; board.toml says %lu in %lu",
               (unsigned long)(2u * chip_size), (unsigned long)(2u * chip_block),
               (unsigned long)dev.size, (unsigned long)dev.erase_block);
        return NULL;
    }
    bank.buffer_bytes = 2u << buf_log2;
    result = &dev;
    return result;
}
