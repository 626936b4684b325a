/* fault.c: power-cut points and fault models on the flash fault hook (contract in fault.h). */
#include <stdlib.h>
#include <string.h>
#include "board.h"
#include "fault.h"
#include "lfs_util.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"

/* One undo-log entry: block `off` as it was at the last sync (FAULT_OOO). */
typedef struct undo_block {
    uint32_t off;
    uint8_t *data; /* erase_block bytes, from the one allocation made at arming */
} undo_block;

static struct {
    fault_state st;
    uint8_t *undo_mem; /* FAULT_UNDO_BLOCKS * erase_block bytes, FAULT_OOO only */
    undo_block undo[FAULT_UNDO_BLOCKS];
} F;

/* splitmix64: the one mixer for every seeded choice here. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

const char *fault_model_name(fault_model m)
{
    switch (m) {
    case FAULT_NOR: return "nor";
    case FAULT_TORN: return "torn";
    case FAULT_OOO: return "ooo";
    }
    return "?";
}

int fault_model_parse(const char *name)
{
    for (int m = FAULT_NOR; m <= FAULT_OOO; m++)
        if (strcmp(name, fault_model_name((fault_model)m)) == 0) return m;
    return -1;
}

const fault_state *fault_get(void) { return &F.st; }

/* ---- campaign mode: seeded randomness and clock ----------------------------------------- */

static struct {
    uint64_t seed, calls;
    int64_t ms;
} E;

static void seeded_random(void *ctx, int n, char *out)
{
    (void)ctx;
    for (int i = 0; i < n; i += 8) {
        uint64_t z = mix(E.seed ^ mix(++E.calls));
        memcpy(out + i, &z, (size_t)(n - i < 8 ? n - i : 8));
    }
}

/* A clock that starts at a fixed date and advances 1 ms per read: monotonic, and the same
 * sequence of values on every run. */
static int64_t seeded_wall_ms(void *ctx)
{
    (void)ctx;
    return E.ms++;
}

static const walkit_entropy seeded = { seeded_random, seeded_wall_ms, NULL };

void fault_seed(uint64_t seed)
{
    E.seed = seed;
    E.calls = 0;
    E.ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    walkit_set_entropy(&seeded);
    /* SQLite seeded its PRNG from xRandomness at its first use; reseed it (the PRNG state is
     * derived from the seed alone from here on). */
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, (int)(seed ^ (seed >> 32)), (sqlite3 *)0);
}

/* ---- the undo log (FAULT_OOO) ------------------------------------------------------------ */

static undo_block *undo_find(uint32_t off)
{
    for (uint32_t i = 0; i < F.st.undo_used; i++)
        if (F.undo[i].off == off) return &F.undo[i];
    return NULL;
}

/* Saves the block holding `off` before its first change since the last sync. */
static void undo_save(flash_dev *dev, uint32_t off)
{
    uint32_t block = off - off % dev->erase_block;
    if (undo_find(block)) return;
    if (F.st.undo_used == FAULT_UNDO_BLOCKS) {
        F.st.undo_overflow++;
        return;
    }
    undo_block *u = &F.undo[F.st.undo_used];
    u->off = block;
    u->data = F.undo_mem + (size_t)F.st.undo_used * dev->erase_block;
    if (dev->ops->read(dev->ctx, block, u->data, dev->erase_block) != FLASH_OK) {
        F.st.undo_overflow++; /* cannot be reverted: it stays as written */
        return;
    }
    F.st.undo_used++;
}

/* Erases the block and programs back its saved contents, skipping units that are erased. */
static void undo_revert(flash_dev *dev, const undo_block *u)
{
    dev->ops->erase(dev->ctx, u->off);
    for (uint32_t i = 0; i < dev->erase_block; i += dev->prog_size) {
        const uint8_t *p = u->data + i;
        uint32_t k = 0;
        while (k < dev->prog_size && p[k] == 0xFF) k++;
        if (k < dev->prog_size) dev->ops->prog(dev->ctx, u->off + i, p, dev->prog_size);
    }
}

void fault_sync(void)
{
    if (!F.st.armed) return;
    F.st.syncs++;
    F.st.undo_used = 0;
}

/* ---- the cut ----------------------------------------------------------------------------- */

/* A program torn after `words` 32-bit words: the device units are programmed with the prefix
 * and 0xFF after it (programming 0xFF leaves an erased word erased). */
static void torn_prog(flash_dev *dev, const flash_fault_op *op, uint32_t words)
{
    uint8_t unit[64];
    uint32_t keep = words * 4u;
    for (uint32_t i = 0; i < keep && i < op->len; i += dev->prog_size) {
        uint32_t k = dev->prog_size <= sizeof unit ? dev->prog_size : (uint32_t)sizeof unit;
        memset(unit, 0xFF, sizeof unit);
        memcpy(unit, (const uint8_t *)op->data + i, keep - i < k ? keep - i : k);
        dev->ops->prog(dev->ctx, op->off + i, unit, k);
    }
}

/* An erase that left `words` seeded 32-bit words of the block with their old data. */
static uint32_t torn_erase(flash_dev *dev, const flash_fault_op *op, uint64_t r)
{
    enum { MAX_WORDS = 64 };
    uint32_t where[MAX_WORDS];
    uint8_t old[MAX_WORDS][4];
    uint32_t nwords = dev->erase_block / 4u, n = 1u + (uint32_t)(r % MAX_WORDS), kept = 0;
    /* Reads are in read_size units: fetch each word's unit into a small buffer. */
    for (uint32_t i = 0; i < n; i++) {
        uint8_t unit[64];
        uint32_t base;
        where[i] = (uint32_t)(mix(r + i) % nwords) * 4u;
        base = where[i] - where[i] % dev->read_size;
        if (dev->read_size > sizeof unit) return 0; /* no such board: then the erase is not done */
        dev->ops->read(dev->ctx, op->off + base, unit, dev->read_size);
        memcpy(old[i], unit + (where[i] - base), 4);
    }
    dev->ops->erase(dev->ctx, op->off);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t unit[64];
        uint32_t base = where[i] - where[i] % dev->prog_size;
        if (dev->prog_size > sizeof unit) break;
        /* Words sharing a unit are merged by reading what is there now. */
        dev->ops->read(dev->ctx, op->off + base, unit, dev->prog_size);
        memcpy(unit + (where[i] - base), old[i], 4);
        dev->ops->prog(dev->ctx, op->off + base, unit, dev->prog_size);
        kept++;
    }
    return kept;
}

static void cut(flash_dev *dev, const flash_fault_op *op)
{
    uint64_t r = mix(F.st.seed ^ mix(op->seq));
    const char *kind = op->kind == FLASH_OP_ERASE ? "erase" : "program";
    switch (F.st.model) {
    case FAULT_NOR:
        fw_log("fault: cut at operation %lu (nor: %s of %lu bytes at %lu not done)",
               (unsigned long)F.st.ops, kind, (unsigned long)op->len, (unsigned long)op->off);
        break;
    case FAULT_TORN:
        if (op->kind == FLASH_OP_PROG) {
            uint32_t words = (uint32_t)(r % (op->len / 4u)); /* 0 .. len/4-1: never all of it */
            torn_prog(dev, op, words);
            fw_log("fault: cut at operation %lu (torn: program at %lu kept %lu of %lu bytes)",
                   (unsigned long)F.st.ops, (unsigned long)op->off, (unsigned long)(words * 4u),
                   (unsigned long)op->len);
        } else {
            uint32_t kept = torn_erase(dev, op, r);
            fw_log("fault: cut at operation %lu (torn: erase at %lu left %lu old words)",
                   (unsigned long)F.st.ops, (unsigned long)op->off, (unsigned long)kept);
        }
        break;
    case FAULT_OOO: {
        unsigned reverted = 0;
        for (uint32_t i = 0; i < F.st.undo_used; i++) {
            if (mix(r + i) & 1u) {
                undo_revert(dev, &F.undo[i]);
                reverted++;
            }
        }
        fw_log("fault: cut at operation %lu (ooo: %s not done; %u of %lu blocks since the last "
               "sync reverted, %lu not logged)", (unsigned long)F.st.ops, kind, reverted,
               (unsigned long)F.st.undo_used, (unsigned long)F.st.undo_overflow);
        break;
    }
    }
    board_exit(BOARD_EXIT_CUT);
}

static int hook(void *ctx, flash_dev *dev, const flash_fault_op *op)
{
    uint8_t rec[9];
    uint32_t crc = op->data ? lfs_crc(0xffffffffu, op->data, op->len) : 0;
    (void)ctx;
    F.st.ops++;
    if (op->kind == FLASH_OP_PROG) F.st.prog_ops++;
    else F.st.erase_ops++;
    if (F.st.cut_at && F.st.ops == F.st.cut_at) cut(dev, op);
    rec[0] = (uint8_t)op->kind;
    memcpy(rec + 1, &op->off, 4);
    memcpy(rec + 5, &op->len, 4);
    F.st.hash = fnv(F.st.hash, rec, sizeof rec);
    F.st.hash = fnv(F.st.hash, &crc, sizeof crc);
    if (F.undo_mem) undo_save(dev, op->off);
    return FLASH_OK;
}

int fault_arm(flash_dev *dev, uint64_t cut_at, fault_model model, uint64_t seed, const char **err)
{
    if (!dev) {
        *err = "no flash device";
        return -1;
    }
    if (model != FAULT_NOR && model != FAULT_TORN && model != FAULT_OOO) {
        *err = "unknown fault model (nor, torn, ooo)";
        return -1;
    }
    fault_disarm(dev);
    if (model == FAULT_OOO) {
        F.undo_mem = malloc((size_t)FAULT_UNDO_BLOCKS * dev->erase_block);
        if (!F.undo_mem) {
            *err = "no memory for the undo log";
            return -1;
        }
    }
    memset(&F.st, 0, sizeof F.st);
    F.st.armed = 1;
    F.st.cut_at = cut_at;
    F.st.model = model;
    F.st.seed = seed;
    F.st.hash = 0xcbf29ce484222325ull;
    fault_seed(seed);
    flash_set_fault_hook(dev, hook, NULL);
    return 0;
}

void fault_disarm(flash_dev *dev)
{
    if (dev && dev->hook == hook) flash_set_fault_hook(dev, NULL, NULL);
    free(F.undo_mem);
    F.undo_mem = NULL;
    F.st.armed = 0;
    F.st.undo_used = 0;
}
