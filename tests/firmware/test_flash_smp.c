/* test_flash_smp.c: firmware/flash.c's device lock (multi-core boards) on the host: two
 * threads, standing for littlefs and the flash pool on two cores, each with its own partition
 * of one RAM device, erase, program and read at once.  The device counts the operations that
 * overlap (a CFI chip has one command state machine: an overlap is a corrupted command).
 * Prints NAME=VALUE lines for tests/firmware/test_flash_smp.py: built with WALKIT_BOARD_SMP=1
 * there must be no overlap and no lost count; built without it (no lock), overlaps show that
 * the check can see them. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "board.h"
#include "flash.h"

#define SIZE (64u * 1024u)
#define BLOCK 4096u
#define ROUNDS 20000
static uint8_t mem[SIZE];
static int inside, overlaps;

/* One device operation: counts itself in, lingers a little (a real program polls the status
 * register for microseconds), counts itself out. */
static void enter(void)
{
    if (__atomic_fetch_add(&inside, 1, __ATOMIC_SEQ_CST) != 0) __atomic_fetch_add(&overlaps, 1, __ATOMIC_SEQ_CST);
    for (volatile int i = 0; i < 200; i++) { }
}
static void leave(void) { __atomic_fetch_sub(&inside, 1, __ATOMIC_SEQ_CST); }

static int ram_read(void *c, uint32_t off, void *buf, uint32_t n)
{
    (void)c; enter(); memcpy(buf, mem + off, n); leave(); return 0;
}
static int ram_prog(void *c, uint32_t off, const void *buf, uint32_t n)
{
    (void)c; enter(); memcpy(mem + off, buf, n); leave(); return 0;
}
static int ram_erase(void *c, uint32_t off)
{
    (void)c; enter(); memset(mem + off, 0xFF, BLOCK); leave(); return 0;
}
static const flash_ops ops = { ram_read, ram_prog, ram_erase };
static flash_dev dev = { .name = "ram", .size = SIZE, .erase_block = BLOCK, .prog_size = 16,
                         .read_size = 16, .fs_size = SIZE / 2, .pool_offset = SIZE / 2,
                         .pool_size = SIZE / 2, .ops = &ops };

flash_dev *board_flash(board_log_fn *report) { (void)report; return &dev; }

static int failures, ready;

/* Erases the partition's first block, programs it word by word and reads each word back. */
static void *partition(void *arg)
{
    uint32_t base = *(uint32_t *)arg;
    uint8_t w[16], r[16];
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST); /* both start together */
    while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 2) { }
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t word = (uint32_t)round % (BLOCK / 16u);
        if (word == 0 && flash_erase(&dev, base) != FLASH_OK) __atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST);
        memset(w, (int)(round & 0x7f), sizeof w);
        if (flash_prog(&dev, base + word * 16u, w, 16) != FLASH_OK ||
            flash_read(&dev, base + word * 16u, r, 16) != FLASH_OK || memcmp(w, r, 16) != 0)
            __atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

#define SAY(name, v) printf("%s=%lld\n", name, (long long)(v))

int main(void)
{
    pthread_t t[2];
    uint32_t base[2] = { 0, SIZE / 2 };
    memset(mem, 0xFF, sizeof mem);
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, partition, &base[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    SAY("overlaps", overlaps);
    SAY("failures", failures);
    SAY("prog_ops", dev.counters.prog_ops);
    SAY("read_ops", dev.counters.read_ops);
    SAY("erase_ops", dev.counters.erase_ops);
    SAY("seq", dev.seq);
    SAY("expected_prog_ops", 2 * ROUNDS);
    SAY("expected_erase_ops", 2 * ((ROUNDS + BLOCK / 16 - 1) / (BLOCK / 16)));
    return 0;
}
