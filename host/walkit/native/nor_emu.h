/* nor_emu.h: an emulated NOR partition in RAM (nor_emu.c): the device under the flash pool
 * (vfs/storage/flashpool.c) in host-native builds, i.e. the pool's own checks
 * (tests/vfs/storage/test_flashpool.c) and the native pool session (walkit.native,
 * storage="pool").
 *
 * It keeps the rules real NOR imposes and QEMU's models do not all enforce: a program must be
 * aligned to prog_size and may only touch words that read all 0xFF (anything else is refused
 * and counted, nothing written); an erase is one aligned block.  It counts every operation
 * that reached the medium and can cut the power at the Nth program/erase (counting both, from
 * 1): that operation is left half done (the first half of its words programmed, or the first
 * half of the block erased) and every later operation fails, as on a board that lost power.
 * nor_emu_revive() is the reboot: the contents stay, the device works again.
 *
 * nor_emu_set_cache() turns it into a device with a write-back cache: bd.sync is set, and at a
 * cut the cut operation does not happen and every block programmed or erased since the last
 * sync reverts, by a coin per block (a function of the cut point and the block), to its
 * contents at that sync: writes reach the medium in any order between two syncs (the recovery
 * campaign's "ooo" model, docs/recovery.md). */
#ifndef WALKIT_NOR_EMU_H
#define WALKIT_NOR_EMU_H

#include <stdint.h>

#include "walkit_flashpool.h"

typedef struct nor_emu {
    unsigned char *mem;
    walkit_flashpool_bd bd; /* bd.ctx is this emulator */
    uint64_t prog_ops, prog_bytes, erase_ops, erase_bytes, refused;
    uint64_t seq;    /* programs + erases so far (the cut's numbering) */
    uint64_t cut_at; /* 0: never */
    int dead;        /* the power was cut: every operation fails */
    uint32_t *erase_counts; /* per block */
    int cache;              /* nor_emu_set_cache */
    uint64_t syncs, reverted; /* bd.sync calls; blocks a cut reverted (cache only) */
    unsigned char **synced; /* per block: its contents at the last sync, if written since */
} nor_emu;

/* A blank (all 0xFF) device; NULL when out of memory. */
nor_emu *nor_emu_new(uint32_t size, uint32_t erase_block, uint32_t prog_size, uint32_t read_size);
void nor_emu_free(nor_emu *e);
void nor_emu_revive(nor_emu *e);
void nor_emu_reset_counters(nor_emu *e);
void nor_emu_set_cache(nor_emu *e, int on);

#endif
