/* fault.h: power-cut points and fault models on the flash fault hook (flash.h).
 *
 * The host arms the target (console `.fault arm N MODEL SEED`) to lose power at the Nth program
 * or erase counted from the arming; N = 0 only counts (a dry run: `.fault status` then reports
 * the total T and a hash of the operation log).  Because the firmware is single-task and the
 * campaign mode seeds every source of nondeterminism the operation sequence depends on (SQLite's
 * PRNG, the VFS's randomness and clock), operation N is the same operation on every run from
 * the same image.
 *
 * At the cut the model is applied to the device through dev->ops (never through flash.c: the
 * cut itself is not an operation), a line "walkit: fault: cut at operation N (...)" is
 * printed, and the board stops with BOARD_EXIT_CUT.  Models:
 *   FAULT_NOR   operation N does not happen; everything before it is durable.
 *   FAULT_TORN  a program leaves a prefix of whole 32-bit words (seeded length, shorter than
 *               the operation); an erase leaves seeded words of the block with their old data.
 *   FAULT_OOO   operation N does not happen and every block programmed or erased since the
 *               last sync point (fault_sync) reverts, by a seeded coin per block, to its
 *               contents at that sync (a write-back cache that lost its unsynced writes out of
 *               order).  The undo log holds at most FAULT_UNDO_BLOCKS blocks of erase_block
 *               bytes each, allocated once at arming (FAULT_UNDO_BLOCKS x 256 KiB = 1 MiB on
 *               qemu-virt-a15, 16 KiB on host-sim); blocks touched beyond it stay as written
 *               and are counted in fault_state.undo_overflow.
 * A second cut during the recovery boot (the campaign's `double` model) is a second arming on
 * that boot: nothing here is specific to it.
 */
#ifndef WALKIT_FAULT_H
#define WALKIT_FAULT_H

#include <stdint.h>
#include "flash.h"

typedef enum fault_model { FAULT_NOR = 0, FAULT_TORN = 1, FAULT_OOO = 2 } fault_model;

#define FAULT_UNDO_BLOCKS 4

typedef struct fault_state {
    int armed;           /* a hook is installed (counting or cutting) */
    uint64_t cut_at;     /* operation to cut at, 1-based since arming; 0 = count only */
    fault_model model;
    uint64_t seed;
    uint64_t ops;        /* programs + erases since arming */
    uint64_t prog_ops, erase_ops;
    uint64_t hash;       /* FNV-1a 64 over (kind, offset, length, CRC-32 of data) of each op */
    uint64_t syncs;      /* fault_sync calls since arming */
    uint32_t undo_used;  /* blocks in the undo log now (FAULT_OOO) */
    uint64_t undo_overflow; /* blocks touched since a sync that did not fit in the undo log */
} fault_state;

/* Name <-> model ("nor", "torn", "ooo"); fault_model_parse returns -1 for an unknown name. */
const char *fault_model_name(fault_model m);
int fault_model_parse(const char *name);

/* Arms (or re-arms, resetting the counts) the hook on dev.  Also enters campaign mode with
 * `seed` (fault_seed).  Returns 0, or -1 with a one-line reason in *err (bad model, no memory
 * for the undo log). */
int fault_arm(flash_dev *dev, uint64_t cut_at, fault_model model, uint64_t seed, const char **err);

/* Removes the hook and frees the undo log; the counts of the last arming stay readable. */
void fault_disarm(flash_dev *dev);

const fault_state *fault_get(void);

/* Campaign mode: SQLite's PRNG is reseeded from `seed` and the VFS's randomness and clock
 * (walkit_set_entropy) become functions of the seed and of the number of calls, so two runs from
 * the same image make the same flash operations. */
void fault_seed(uint64_t seed);

/* A sync point: littlefs's lfs_config.sync (flash_bd.c) and the flash pool's barriers
 * (pool_mount.c).  Everything written before it is durable; the OOO undo log restarts empty. */
void fault_sync(void);

#endif
