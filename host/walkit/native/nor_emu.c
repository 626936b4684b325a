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

static void emu_forget_synced(nor_emu *e)
{
    for (uint32_t b = 0; e->synced && b < e->bd.size / e->bd.erase_block; b++) {
        free(e->synced[b]);
        e->synced[b] = NULL;
    }
}

/* Cache mode: keeps block b's contents as they were at the last sync before its first change
 * since.  Out of memory: the block cannot be reverted, the power "stays on" for it. */
static void emu_touch(nor_emu *e, uint32_t off)
{
    uint32_t bs = e->bd.erase_block, b = off / bs;
    if (!e->cache || e->synced[b]) return;
    e->synced[b] = malloc(bs);
    if (e->synced[b]) memcpy(e->synced[b], e->mem + (size_t)b * bs, bs);
}

static uint64_t emu_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The cut in cache mode: the operation is not done; blocks written since the last sync revert
 * by a coin each. */
static int emu_cache_cut(nor_emu *e)
{
    uint32_t bs = e->bd.erase_block;
    for (uint32_t b = 0; b < e->bd.size / bs; b++)
        if (e->synced[b] && (emu_mix(e->cut_at * 0x10001u + b) & 1)) {
            memcpy(e->mem + (size_t)b * bs, e->synced[b], bs);
            e->reverted++;
        }
    emu_forget_synced(e);
    e->dead = 1;
    return NOR_E_DEAD;
}

static int emu_sync(void *ctx)
{
    nor_emu *e = ctx;
    if (e->dead) return NOR_E_DEAD;
    e->syncs++;
    emu_forget_synced(e);
    return 0;
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
        if (e->cache) return emu_cache_cut(e);
        memcpy(e->mem + off, buf, (words / 2) * w);
        e->dead = 1;
        return NOR_E_DEAD;
    }
    emu_touch(e, off);
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
        if (e->cache) return emu_cache_cut(e);
        memset(e->mem + off, 0xff, bs / 2);
        e->dead = 1;
        return NOR_E_DEAD;
    }
    emu_touch(e, off);
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
    e->synced = calloc(size / erase_block, sizeof *e->synced);
    if (!e->mem || !e->erase_counts || !e->synced) {
        nor_emu_free(e);
        return NULL;
    }
    memset(e->mem, 0xff, size);
    e->bd = (walkit_flashpool_bd){.ctx = e, .read = emu_read, .prog = emu_prog,
                                  .erase = emu_erase, .size = size, .erase_block = erase_block,
                                  .prog_size = prog_size, .read_size = read_size};
    return e;
}

void nor_emu_free(nor_emu *e)
{
    if (!e) return;
    emu_forget_synced(e);
    free(e->synced);
    free(e->mem);
    free(e->erase_counts);
    free(e);
}

void nor_emu_revive(nor_emu *e)
{
    emu_forget_synced(e); /* what the medium holds now is what the reboot finds */
    e->dead = 0;
    e->cut_at = 0;
}

void nor_emu_set_cache(nor_emu *e, int on)
{
    emu_forget_synced(e);
    e->cache = on;
    e->bd.sync = on ? emu_sync : NULL;
}

void nor_emu_reset_counters(nor_emu *e)
{
    e->prog_ops = e->prog_bytes = e->erase_ops = e->erase_bytes = e->refused = 0;
}
