/* walscan.c: damage in a WAL, told apart from a torn tail (contract in walscan.h).
 *
 * The WAL format (SQLite's file format document): a 32-byte header (magic 0x377f0682 or
 * 0x377f0683, version, page size, checkpoint sequence, salt-1, salt-2, checksum over the first
 * 24 bytes), then frames of a 24-byte header (page number, database size in pages for a
 * commit frame else 0, salt-1, salt-2, checksum) and one page.  Each frame's checksum runs
 * over its first 8 header bytes and its page, seeded with the previous frame's (the header's
 * for the first): the stored checksum of frame i-1 is the seed frame i was written with.  So a
 * frame that verifies seeded from its predecessor's stored checksum is intact whatever
 * happened to the predecessor, and a valid commit frame of the current salts after a broken
 * link is a committed transaction SQLite's recovery would drop.
 *
 * Frames past a broken link that belong to no commit (a transaction refused before its
 * commit frame, written over by a shorter one) are not damage: they never committed.
 */
#include <string.h>

#include "sqlite3.h"
#include "walkit_int.h"
#include "walscan.h"

#define HDR 32u
#define FRAME_HDR 24u

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t word(const unsigned char *p, int big)
{
    return big ? be32(p) : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 24;
}

/* The WAL checksum of n bytes (a multiple of 8) continuing from s[0], s[1]. */
static void wal_sum(const unsigned char *a, size_t n, int big, uint32_t s[2])
{
    for (const unsigned char *end = a + n; a < end; a += 8) {
        s[0] += word(a, big) + s[1];
        s[1] += word(a + 4, big) + s[0];
    }
}

/* Whether frame f (header + page of ps bytes) verifies seeded from `seed`, with `salt`. */
static int frame_ok(const unsigned char *f, uint32_t ps, int big, const uint32_t seed[2],
                    const unsigned char *salt)
{
    uint32_t s[2] = { seed[0], seed[1] };
    if (be32(f) == 0 || memcmp(f + 8, salt, 8) != 0) return 0;
    wal_sum(f, 8, big, s);
    wal_sum(f + FRAME_HDR, ps, big, s);
    return s[0] == be32(f + 16) && s[1] == be32(f + 20);
}

int walkit_wal_scan(const walkit_storage *st, walkit_storage_file *h, const char *path)
{
    unsigned char hdr[HDR];
    uint64_t size = 0;
    size_t got = 0;
    if (st->size(st->ctx, h, &size) != WALKIT_ST_OK || size < HDR + FRAME_HDR) return 0;
    if (st->read(st->ctx, h, 0, hdr, HDR, &got) != WALKIT_ST_OK || got != HDR) return 0;
    uint32_t magic = be32(hdr), ps = be32(hdr + 8);
    if ((magic & ~1u) != 0x377f0682u) return 0;
    if (ps == 1) ps = 65536; /* how the header spells 64 KiB */
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) return 0;
    int big = magic & 1;
    uint32_t s[2] = { 0, 0 };
    wal_sum(hdr, 24, big, s);
    if (s[0] != be32(hdr + 24) || s[1] != be32(hdr + 28)) return 0; /* SQLite ignores it all */

    size_t fsz = FRAME_HDR + ps;
    unsigned char *f = walkit_alloc(fsz);
    if (!f) return 0; /* a check we cannot afford changes nothing SQLite does */
    uint32_t seed[2] = { be32(hdr + 24), be32(hdr + 28) };
    uint64_t nframes = (size - HDR) / fsz, broken = 0, bad_commit = 0;
    int damaged = 0;
    for (uint64_t i = 1; i <= nframes && !damaged; i++) {
        if (st->read(st->ctx, h, HDR + (i - 1) * fsz, f, fsz, &got) != WALKIT_ST_OK || got != fsz)
            break;
        int ok = frame_ok(f, ps, big, seed, hdr + 16);
        if (!broken && !ok) broken = i;
        else if (broken && ok && be32(f + 4) != 0) {
            damaged = 1;
            bad_commit = i;
        }
        seed[0] = be32(f + 16);
        seed[1] = be32(f + 20);
    }
    walkit_free(f);
    if (damaged) {
        WALKIT_STAT_ADD(wal_damage, 1);
        sqlite3_log(SQLITE_CORRUPT, "walkit: %s is damaged: frame %llu is bad but commit frame "
                    "%llu after it is valid; recovery keeps only the transactions before frame "
                    "%llu", path, (unsigned long long)broken, (unsigned long long)bad_commit,
                    (unsigned long long)broken);
    }
    return damaged;
}
