/* nor_emu.c: the emulated NOR partition (contract in nor_emu.h). */
#include <stdlib.h>
#include <string.h>

#include "nor_emu.h"

#define NOR_E_REFUSED (-1)
#define NOR_E_DEAD (-2)

static int emu_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    nor_emu *e = ctx;
    if (e->dead) return NOR_E_DEAD;
    if (off % e->bd.read_size || n % e->bd.read_size || off > e->bd.size || n > e->bd.size - off) {
        e->refused++;
        return NOR_E_REFUSED;
    }
    memcpy(buf, e->mem + off, n);
    return 0;
}

/* Counts the operation and reports whether it is the one the cut falls on. */
static int emu_cut_here(nor_emu *e)
{
    e->seq++;
    return e->cut_at && e->seq == e->cut_at;
}

static int emu_prog(void *ctx, uint32_t off, const void *buf, uint32_t n)
{
    nor_emu *e = ctx;
    uint32_t w = e->bd.prog_size;
    if (e->dead) return NOR_E_DEAD;
    if (off % w || n % w || off > e->bd.size || n > e->bd.size - off) {
        e->refused++;
        return NOR_E_REFUSED;
    }
    for (uint32_t i = 0; i < n; i++)
        if (e->mem[off + i] != 0xff) {
            e->refused++;
            return NOR_E_REFUSED;
        }
    if (emu_cut_here(e)) {
        uint32_t words = n / w;
        memcpy(e->mem + off, buf, (words / 2) * w);
        e->dead = 1;
        return NOR_E_DEAD;
    }
    memcpy(e->mem + off, buf, n);
    e->prog_ops++;
    e->prog_bytes += n;
    return 0;
}

static int emu_erase(void *ctx, uint32_t off)
{
    nor_emu *e = ctx;
    uint32_t bs = e->bd.erase_block;
    if (e->dead) return NOR_E_DEAD;
    if (off % bs || off >= e->bd.size) {
        e->refused++;
        return NOR_E_REFUSED;
    }
    if (emu_cut_here(e)) {
        memset(e->mem + off, 0xff, bs / 2);
        e->dead = 1;
        return NOR_E_DEAD;
    }
    memset(e->mem + off, 0xff, bs);
    e->erase_ops++;
    e->erase_bytes += bs;
    e->erase_counts[off / bs]++;
    return 0;
}

nor_emu *nor_emu_new(uint32_t size, uint32_t erase_block, uint32_t prog_size, uint32_t read_size)
{
    nor_emu *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->mem = malloc(size);
    e->erase_counts = calloc(size / erase_block, sizeof *e->erase_counts);
    if (!e->mem || !e->erase_counts) {
        nor_emu_free(e);
        return NULL;
    }
    memset(e->mem, 0xff, size);
    e->bd = (walkit_flashpool_bd){e, emu_read, emu_prog, emu_erase, size, erase_block, prog_size,
                                  read_size};
    return e;
}

void nor_emu_free(nor_emu *e)
{
    if (!e) return;
    free(e->mem);
    free(e->erase_counts);
    free(e);
}

void nor_emu_revive(nor_emu *e)
{
    e->dead = 0;
    e->cut_at = 0;
}

void nor_emu_reset_counters(nor_emu *e)
{
    e->prog_ops = e->prog_bytes = e->erase_ops = e->erase_bytes = e->refused = 0;
}
