/* cksum.c: per-page checksums in the reserved bytes (contract in cksum.h).
 *
 * The checksum: two 32-bit running sums over the page's little-endian 32-bit words taken in
 * pairs (s1 += w0 + s2; s2 += w1 + s1), stored as s1 then s2, little-endian.  It is the
 * fletcher-like sum of SQLite's WAL and cksumvfs, so a page sealed here verifies with
 * cksumvfs's verify_checksum() and back.  A flipped bit in any word changes s1 or s2; so do
 * swapped words (each sum feeds the other).
 */
#include <string.h>

#include "cksum.h"
#include "vfs.h"

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* n: a multiple of 8 (a page less its 8 reserved bytes). */
static void compute(const unsigned char *a, int n, unsigned char out[8])
{
    uint32_t s1 = 0, s2 = 0;
    for (const unsigned char *end = a + n; a < end; a += 8) {
        s1 += le32(a) + s2;
        s2 += le32(a + 4) + s1;
    }
    put_le32(out, s1);
    put_le32(out + 4, s2);
}

int walkit_cksum_header(const void *buf, int amt, sqlite3_int64 off)
{
    const unsigned char *d = buf;
    if (off != 0 || amt < 100 || memcmp(d, "SQLite format 3", 16) != 0) return -1;
    return d[20] == WALKIT_CKSUM_RESERVE;
}

int walkit_cksum_is_page(int amt)
{
    return amt >= 512 && amt <= 65536 && (amt & (amt - 1)) == 0;
}

void walkit_cksum_seal(void *page, int n)
{
    unsigned char *p = page;
    compute(p, n - WALKIT_CKSUM_RESERVE, p + n - WALKIT_CKSUM_RESERVE);
}

int walkit_cksum_ok(const void *page, int n)
{
    const unsigned char *p = page;
    unsigned char want[8];
    compute(p, n - WALKIT_CKSUM_RESERVE, want);
    return memcmp(want, p + n - WALKIT_CKSUM_RESERVE, sizeof want) == 0;
}

int walkit_cksum_autoext(sqlite3 *db, char **err, const void *api)
{
    (void)err;
    (void)api;
    sqlite3_vfs *pv = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &pv) != SQLITE_OK || !pv)
        return SQLITE_OK;
    if (!walkit_vfs_has_checksums(pv)) return SQLITE_OK;
    /* Takes effect only while the database is empty: an existing one keeps its page layout
     * (SQLite fixes it when it reads the header at open). */
    int n = WALKIT_CKSUM_RESERVE;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n);
    return SQLITE_OK;
}
