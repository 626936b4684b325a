/* test_flash.c: firmware/flash.c on the host, over a RAM device that behaves like QEMU's pflash
 * (a re-program stores the new value, no AND with the old one).  Prints NAME=VALUE per line for
 * tests/firmware/test_flash.py, which asserts on the values. */
#include <stdio.h>
#include <string.h>
#include "board.h"
#include "flash.h"

#define SIZE (64u * 1024u)
#define BLOCK 4096u
static uint8_t mem[SIZE];
static int flip_bit_on_prog;   /* a device that programs one bit wrong */

static int ram_read(void *c, uint32_t off, void *buf, uint32_t n) { (void)c; memcpy(buf, mem + off, n); return 0; }
static int ram_prog(void *c, uint32_t off, const void *buf, uint32_t n)
{
    (void)c; memcpy(mem + off, buf, n);   /* QEMU-like: no AND with the old value */
    if (flip_bit_on_prog) mem[off] ^= 1;
    return 0;
}
static int ram_erase(void *c, uint32_t off) { (void)c; memset(mem + off, 0xFF, BLOCK); return 0; }
static const flash_ops ops = { ram_read, ram_prog, ram_erase };
static flash_dev dev = { .name = "ram", .size = SIZE, .erase_block = BLOCK, .prog_size = 16,
                         .read_size = 16, .fs_size = SIZE, .ops = &ops };

flash_dev *board_flash(board_log_fn *report) { (void)report; return &dev; }

static uint64_t seen[8];
static int nseen, cut_at;
static int hook(void *ctx, flash_dev *d, const flash_fault_op *op)
{
    (void)ctx; (void)d;
    if (nseen < 8) seen[nseen++] = op->seq * 10 + (uint64_t)op->kind;
    return op->seq == (uint64_t)cut_at ? FLASH_E_CUT : FLASH_OK;
}

#define SAY(name, v) printf("%s=%lld\n", name, (long long)(v))

int main(void)
{
    uint8_t a[32], b[32];
    int blank = -1;
    memset(mem, 0xFF, sizeof mem);
    memset(a, 0x5A, sizeof a);
    memset(b, 0x00, sizeof b);
    SAY("prog_erased", flash_prog(&dev, 0, a, 32));
    SAY("prog_again", flash_prog(&dev, 0, b, 16));
    SAY("byte0_after_refused", mem[0]);
    /* Overlaps one programmed word (16..31) and one erased word (32..47): refused whole. */
    SAY("prog_overlap", flash_prog(&dev, 16, b, 32));
    SAY("byte32_after_refused", mem[32]);
    SAY("prog_misaligned", flash_prog(&dev, 8, a, 16));
    SAY("prog_odd_length", flash_prog(&dev, 64, a, 8));
    SAY("prog_past_end", flash_prog(&dev, SIZE - 16, a, 32));
    SAY("read_misaligned", flash_read(&dev, 4, b, 16));
    SAY("read_ok", flash_read(&dev, 0, b, 32));
    SAY("read_back_equal", memcmp(a, b, 32) == 0);
    SAY("erase_misaligned", flash_erase(&dev, 100));
    SAY("erase_past_end", flash_erase(&dev, SIZE));
    SAY("erase_ok", flash_erase(&dev, 0));
    SAY("blank_rc", flash_is_blank(&dev, 0, BLOCK, &blank));
    SAY("blank", blank);
    SAY("prog_after_erase", flash_prog(&dev, 0, b, 16));
    flip_bit_on_prog = 1;
    SAY("prog_bad_device", flash_prog(&dev, 4096, a, 16));
    flip_bit_on_prog = 0;
    SAY("read_ops", dev.counters.read_ops);
    SAY("read_bytes", dev.counters.read_bytes);
    SAY("prog_ops", dev.counters.prog_ops);
    SAY("prog_bytes", dev.counters.prog_bytes);
    SAY("erase_ops", dev.counters.erase_ops);
    SAY("erase_bytes", dev.counters.erase_bytes);
    SAY("refused", dev.counters.refused);
    SAY("device_errors", dev.counters.device_errors);
    SAY("seq_before_hook", dev.seq);
    /* The fault hook: called before programs and erases only, with a running sequence. */
    flash_set_fault_hook(&dev, hook, NULL);
    cut_at = (int)dev.seq + 3;
    flash_read(&dev, 0, b, 16);
    SAY("hook_prog", flash_prog(&dev, 8192, a, 16));
    SAY("hook_erase", flash_erase(&dev, 8192));
    SAY("hook_cut", flash_prog(&dev, 8192, a, 16));
    SAY("byte8192_after_cut", mem[8192]);
    SAY("hook_calls", nseen);
    for (int i = 0; i < nseen; i++) printf("hook%d=%llu\n", i, (unsigned long long)seen[i]);
    return 0;
}
