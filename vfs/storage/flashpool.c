/* flashpool.c: a storage backend on a raw NOR partition (contract: walkit_flashpool.h; the
 * on-flash format, byte by byte: docs/flashpool.md).
 *
 * Layout.  The partition's first 2 x area_blocks erase blocks are the two state-log areas; the
 * rest are data blocks.  A data block is owned by at most one file and holds a sequence of
 * write records, each a 32-byte header (file offset, length, global sequence number, CRCs)
 * followed by the bytes written, padded to the program size.  A file is a fixed-table slot: a
 * name, its blocks in allocation order (the last one, the head, takes new records) and a
 * truncation point.  Its contents are the records applied in order, newest on top: every write
 * is an append into erased flash, whether SQLite appends (WAL frames) or rewrites (a checkpoint
 * writing pages into the database), so no programmed word is ever programmed again and a cut
 * can only lose the record being programmed, which its CRC then rejects.  The RAM extent map of
 * each file says where each byte's newest copy lives; a block whose bytes are all superseded
 * (live == 0) is freed, and when free blocks run short the cleaner copies the live bytes of
 * the emptiest block forward and frees it.  Freed blocks are erased only when allocated again
 * (lazily), and allocation takes the free block with the lowest erase count (wear levelling).
 *
 * The state log records what the data blocks cannot say about themselves: file creation and
 * removal, block allocation (with the block's new erase count) and release, truncation, and
 * the end of a block's valid records after a cut.  Records are appended to the active area;
 * when it is full a compacted copy (a snapshot of the whole state) is written into the other
 * area, erased first, under a higher generation number, and ends with a SNAP_END record: the
 * area with the highest generation whose snapshot is complete is the state, so a cut during
 * the compaction leaves the older area in force.  Nothing is ever rewritten in place.
 *
 * Ordering invariants a cut relies on:
 *  - a block's ALLOC record is on flash before any record is programmed into the block, and a
 *    file's records in one block are complete before its next ALLOC: so only a file's head
 *    block can end in a torn record, and mount seals it (SEAL record) before writing on;
 *  - a block's FREE record is written only after the records superseding its bytes are on
 *    flash (cleaner copies included);
 *  - TRUNC carries a sequence number: older records are clipped to its size on replay;
 *  - on a device that may reorder what it has not synced (bd.sync), a barrier follows every
 *    erase and surrounds every state-log record, so each of the orders above also holds on
 *    flash, and a block lost from a write-back cache reads erased, never as its old data.
 *
 * Durability: without relaxed durability every write is programmed before it returns.  With it
 * (cfg.relaxed_bytes) writes wait in one RAM queue, in issue order, until a sync or the bound.
 * Either way writes reach flash in issue order, a torn record is discarded whole, and an old
 * byte is never damaged by a new write: SAFE_APPEND, SEQUENTIAL and POWERSAFE_OVERWRITE hold.
 * Not ATOMIC: a write larger than what is left of a block is split into two records.  The
 * sector size reported is 512 (SQLite's floor; a cut tears one record, never a neighbour).
 *
 * Thread safety: one mutex per pool guards every field below and every device call.
 */
#include <stdarg.h>
#include <string.h>

#include "sqlite3.h"
#include "storage/storage.h"
#include "walkit_flashpool.h"
#include "walkit_int.h"

_Static_assert(WALKIT_FLASHPOOL_E_NOMEM == WALKIT_ST_NOMEM && WALKIT_FLASHPOOL_E_IO == WALKIT_ST_IO &&
                   WALKIT_FLASHPOOL_E_INVAL == WALKIT_ST_INVAL &&
                   WALKIT_FLASHPOOL_E_CORRUPT == WALKIT_ST_CORRUPT,
               "walkit_flashpool.h names the storage contract's codes");

#define FP_FILES 32           /* slots in the file table */
#define FP_NAME_MAX (WALKIT_STORAGE_MAX_PATH - 1)
#define FP_RESERVE 2          /* free blocks only the cleaner may take */
#define FP_VERSION 1
#define FP_AREA_MAGIC 0x4c504b57u /* "WKPL" */
#define FP_DATA_MAGIC 0x4457u /* "WD" */
#define FP_DHDR 32u           /* data record header bytes */
#define FP_LHDR 8u            /* state-log record header bytes */
#define FP_BUF 4096u          /* staging and bounce buffers */
#define FP_NOSEAL 0xffffffffu
#define FP_NOOWNER 0xffu
#define FP_BLOCKS_PER_REC 256u /* SNAP_BLOCKS / SNAP_FLIST entries per record */
/* The most one program operation covers: a state-log record is one program of at most FP_BUF
 * bytes, a data record is programmed header first in pieces of at most FP_BUF bytes.  So a
 * cut tears at most FP_BUF bytes from the start of the record it cuts (all of the record
 * when its header is whole), and flash beyond that is blank (docs/flashpool.md, "Mount"). */
#define FP_TORN_MAX FP_BUF

/* State-log record types (docs/flashpool.md). */
enum {
    FPL_HDR = 1, FPL_SNAP_FILE = 2, FPL_SNAP_FLIST = 3, FPL_SNAP_BLOCKS = 4, FPL_SNAP_END = 5,
    FPL_CREATE = 16, FPL_DELETE = 17, FPL_ALLOC = 18, FPL_FREE = 19, FPL_TRUNC = 20,
    FPL_SEAL = 21
};

/* One run of a file's bytes on flash: [off, off+len) of the file is at partition byte addr.
 * An extent never spans two blocks (a record never does). */
typedef struct fp_ext {
    uint64_t off;
    uint32_t len;
    uint32_t addr;
} fp_ext;

typedef struct fp_file {
    int used;          /* the slot holds a file (named, or removed while open) */
    char *name;        /* NULL once removed while open (then it lives until nopen == 0) */
    int nopen;
    uint64_t trunc_size, trunc_seq; /* records older than trunc_seq are clipped to trunc_size */
    uint64_t size;     /* logical size, pending relaxed writes included */
    fp_ext *ext;       /* sorted by off, disjoint */
    uint32_t next, cap_ext;
    uint32_t *blocks;  /* allocation order; blocks[nblocks-1] is the head */
    uint32_t nblocks, cap_blocks;
    uint32_t head_used; /* bytes used in the head block (records, padded) */
    int head_closed;   /* the head takes no more records (torn tail or a failed program) */
    int seal_unlogged; /* closed after a failed program, its SEAL not yet on flash */
} fp_file;

typedef struct fp_block {
    uint32_t ec;    /* erase count, persisted in ALLOC records and snapshots */
    uint32_t live;  /* bytes of its records that are still the newest copy */
    uint32_t seal;  /* valid records end here (FP_NOSEAL: scan to the first blank header) */
    uint8_t owner;  /* slot, or FP_NOOWNER */
} fp_block;

/* A write waiting in RAM (relaxed durability). */
typedef struct fp_pend {
    fp_file *f;
    uint64_t off;
    uint32_t len, pos; /* bytes at pend_buf + pos */
} fp_pend;

typedef struct fp_pool {
    walkit_storage st; /* first: the public handle is &pool->st */
    walkit_os_mutex *lock;
    walkit_flashpool_bd bd;
    uint32_t bs, P, nblocks, area_blocks, first_data, area_bytes;
    fp_block *blk;
    fp_file files[FP_FILES];
    uint32_t free_count;
    uint64_t next_seq;
    /* State log: the active area (0 or 1), its generation, bytes used in it. */
    int active;
    uint32_t gen, log_used;
    int in_gc;
    int dead_blocks; /* some block's live count reached 0: free it after the current write */
    unsigned char *stage; /* FP_BUF: record assembly */
    unsigned char *bounce; /* FP_BUF: aligned reads, blank checks */
    unsigned char *gcbuf; /* FP_BUF: cleaner copies; mount: state-log payloads */
    unsigned char *snapbuf; /* FP_BUF: compaction records (a compaction may run mid-copy) */
    /* Relaxed durability. */
    uint32_t relaxed_bytes, relaxed_ms;
    unsigned char *pend_buf;
    fp_pend *pend;
    uint32_t npend, cap_pend, pend_used;
    uint64_t pend_since_us;
    uint64_t gc_bytes, compactions;
    /* Mount only: where to say what was found (walkit_storage_flashpool_why). */
    char *why;
    uint32_t why_size;
} fp_pool;

struct walkit_storage_file {
    fp_file *f;
    int readonly;
};

/* ---- little helpers */

static uint32_t fp_crc(uint32_t crc, const void *buf, size_t n)
{
    /* CRC-32 (IEEE, reflected; zlib's crc32), a nibble at a time. */
    static const uint32_t t[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
    const unsigned char *p = buf;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

static void put16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(unsigned char *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const unsigned char *p) { return get16(p) | get16(p + 2) << 16; }
static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint32_t fp_align(const fp_pool *p, uint32_t n) { return (n + p->P - 1) & ~(p->P - 1); }

static int all_ff(const unsigned char *b, size_t n)
{
    while (n--)
        if (*b++ != 0xff) return 0;
    return 1;
}

/* Mount found damage: says where (into p->why) and returns WALKIT_ST_CORRUPT. */
static int fp_damage(fp_pool *p, const char *fmt, ...)
{
    if (p->why && p->why_size) {
        va_list ap;
        va_start(ap, fmt);
        sqlite3_vsnprintf((int)p->why_size, p->why, fmt, ap);
        va_end(ap);
    }
    return WALKIT_ST_CORRUPT;
}

static void *fp_grow(void *old, uint32_t *cap, uint32_t used, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *n = walkit_alloc(ncap * elem);
    if (!n) return NULL;
    if (used) memcpy(n, old, used * elem);
    walkit_free(old);
    *cap = ncap;
    return n;
}

/* ---- device access (pool lock held) */

/* Reads any byte range, through the bounce buffer, at read_size-aligned device offsets. */
static int fp_read_raw(fp_pool *p, uint32_t addr, void *buf, uint32_t n)
{
    unsigned char *out = buf;
    uint32_t rs = p->bd.read_size;
    while (n) {
        uint32_t a = addr & ~(rs - 1), skip = addr - a;
        uint32_t want = (skip + n + rs - 1) & ~(rs - 1);
        if (want > FP_BUF) want = FP_BUF;
        if (p->bd.read(p->bd.ctx, a, p->bounce, want) != 0) return WALKIT_ST_IO;
        uint32_t got = want - skip < n ? want - skip : n;
        memcpy(out, p->bounce + skip, got);
        out += got, addr += got, n -= got;
    }
    return WALKIT_ST_OK;
}

static int fp_prog(fp_pool *p, uint32_t addr, const void *buf, uint32_t n)
{
    return n == 0 || p->bd.prog(p->bd.ctx, addr, buf, n) == 0 ? WALKIT_ST_OK : WALKIT_ST_IO;
}

/* The device's write barrier (bd.sync; none on NOR, where every operation is durable when it
 * returns): everything programmed or erased before it is on flash before anything after it. */
static int fp_barrier(fp_pool *p)
{
#ifdef WALKIT_FLASHPOOL_PLANT_NO_BARRIER
    /* A planted bug for tests/vfs/storage/test_flashpool.py: the device is never synced. */
    return WALKIT_ST_OK;
#endif
    return !p->bd.sync || p->bd.sync(p->bd.ctx) == 0 ? WALKIT_ST_OK : WALKIT_ST_IO;
}

static int fp_is_blank(fp_pool *p, uint32_t addr, uint32_t n, int *blank)
{
    *blank = 1;
    while (n && *blank) {
        uint32_t c = n < FP_BUF ? n : FP_BUF;
        if (p->bd.read(p->bd.ctx, addr, p->bounce, c) != 0) return WALKIT_ST_IO;
        *blank = all_ff(p->bounce, c);
        addr += c, n -= c;
    }
    return WALKIT_ST_OK;
}

/* Erases a block unless it already reads blank; counts the erase (data blocks).  The erase is
 * on flash before anything is written into the block (a lost write then leaves it erased, never
 * with the data it held before). */
static int fp_erase_block(fp_pool *p, uint32_t b, int force)
{
    int blank = 0, rc;
    if (!force && (rc = fp_is_blank(p, b * p->bs, p->bs, &blank)) != WALKIT_ST_OK) return rc;
    if (blank) return WALKIT_ST_OK;
    if (p->bd.erase(p->bd.ctx, b * p->bs) != 0) return WALKIT_ST_IO;
    if (b >= p->first_data) p->blk[b].ec++;
    return fp_barrier(p);
}

/* ---- the state log */

/* Programs one record at area byte `at` of `area` (it must fit); returns its padded size. */
static int fp_log_put(fp_pool *p, int area, uint32_t at, int type, const void *payload,
                      uint32_t len, uint32_t *size)
{
    uint32_t total = fp_align(p, FP_LHDR + len);
    if (total > FP_BUF) return WALKIT_ST_INVAL;
    memset(p->stage, 0xff, total);
    p->stage[0] = (unsigned char)type;
    p->stage[1] = 0;
    put16(p->stage + 2, len);
    memcpy(p->stage + FP_LHDR, payload, len);
    uint32_t crc = fp_crc(0, p->stage, 4);
    crc = fp_crc(crc, payload, len);
    put32(p->stage + 4, crc);
    *size = total;
    return fp_prog(p, (uint32_t)area * p->area_bytes + at, p->stage, total);
}

static int fp_compact(fp_pool *p);

/* Appends a delta record to the active area, compacting into the other area first when it
 * does not fit.  Barriers on both sides: what the record relies on (the records that supersede
 * a freed block's bytes, an allocated block's erase) is on flash before it, and it is on flash
 * before anything that relies on it (a freed block's next erase). */
static int fp_log(fp_pool *p, int type, const void *payload, uint32_t len)
{
    uint32_t size, need = fp_align(p, FP_LHDR + len);
    int rc;
    if (p->log_used + need > p->area_bytes) {
        if ((rc = fp_compact(p)) != WALKIT_ST_OK) return rc;
        if (p->log_used + need > p->area_bytes) return WALKIT_ST_NOSPC;
    }
    if ((rc = fp_barrier(p)) != WALKIT_ST_OK) return rc;
    rc = fp_log_put(p, p->active, p->log_used, type, payload, len, &size);
    /* A failed program may have left part of the record: nothing more goes after it; the
     * next record goes to a fresh area through a compaction. */
    p->log_used = rc == WALKIT_ST_OK ? p->log_used + size : p->area_bytes;
    return rc == WALKIT_ST_OK ? fp_barrier(p) : rc;
}

/* Writes the whole state as a snapshot into the other area (erased first) and makes it the
 * active one.  Until its SNAP_END is on flash, mount keeps using the current area. */
static int fp_compact(fp_pool *p)
{
    int other = 1 - p->active, rc;
    uint32_t at = 0, size, gen = p->gen + 1;
    unsigned char *rec = p->snapbuf; /* FP_BUF >= 17 + FP_NAME_MAX and 4 + 8 x 256 */
    for (uint32_t i = 0; i < p->area_blocks; i++)
        if ((rc = fp_erase_block(p, (uint32_t)other * p->area_blocks + i, 0)) != WALKIT_ST_OK) return rc;
    /* A barrier after every record, as after every delta: at any time at most an area's last
     * record is not yet on flash, so a cut leaves at most one torn record, at the end, with
     * blank flash after it, and mount can call anything else damage. */
#define PUT(type, len)                                                                         \
    do {                                                                                       \
        if (at + fp_align(p, FP_LHDR + (len)) > p->area_bytes) return WALKIT_ST_NOSPC;          \
        if ((rc = fp_log_put(p, other, at, type, rec, len, &size)) != WALKIT_ST_OK) return rc; \
        at += size;                                                                            \
        if ((rc = fp_barrier(p)) != WALKIT_ST_OK) return rc;                                   \
    } while (0)
    put32(rec, FP_AREA_MAGIC);
    put16(rec + 4, FP_VERSION);
    put16(rec + 6, FP_FILES);
    put32(rec + 8, gen);
    put32(rec + 12, p->bs);
    put32(rec + 16, p->nblocks);
    put32(rec + 20, p->area_blocks);
    put32(rec + 24, p->P);
    put64(rec + 28, p->next_seq);
    PUT(FPL_HDR, 36);
    for (uint32_t s = 0; s < FP_FILES; s++) {
        fp_file *f = &p->files[s];
        if (!f->used || !f->name) continue; /* a removed file's blocks are free on replay */
        uint32_t nl = (uint32_t)strlen(f->name);
        rec[0] = (unsigned char)s;
        put64(rec + 1, f->trunc_size);
        put64(rec + 9, f->trunc_seq);
        memcpy(rec + 17, f->name, nl);
        PUT(FPL_SNAP_FILE, 17 + nl);
        for (uint32_t i = 0; i < f->nblocks; i += FP_BLOCKS_PER_REC) {
            uint32_t n = f->nblocks - i < FP_BLOCKS_PER_REC ? f->nblocks - i : FP_BLOCKS_PER_REC;
            rec[0] = (unsigned char)s;
            for (uint32_t j = 0; j < n; j++) put32(rec + 1 + 4 * j, f->blocks[i + j]);
            PUT(FPL_SNAP_FLIST, 1 + 4 * n);
        }
    }
    for (uint32_t b = p->first_data; b < p->nblocks; b += FP_BLOCKS_PER_REC) {
        uint32_t n = p->nblocks - b < FP_BLOCKS_PER_REC ? p->nblocks - b : FP_BLOCKS_PER_REC;
        put32(rec, b);
        for (uint32_t j = 0; j < n; j++) {
            const fp_block *k = &p->blk[b + j];
            put32(rec + 4 + 8 * j, k->ec);
            put32(rec + 8 + 8 * j, k->owner == FP_NOOWNER ? FP_NOSEAL : k->seal);
        }
        PUT(FPL_SNAP_BLOCKS, 4 + 8 * n);
    }
    PUT(FPL_SNAP_END, 0);
#undef PUT
    p->active = other;
    p->gen = gen;
    p->log_used = at;
    p->compactions++;
    return WALKIT_ST_OK;
}

/* ---- extent maps (pool lock held) */

static void fp_live_sub(fp_pool *p, uint32_t addr, uint32_t n)
{
    fp_block *k = &p->blk[addr / p->bs];
    k->live -= n;
    if (k->live == 0) p->dead_blocks = 1;
}

/* Index of the first extent ending after off. */
static uint32_t fp_ext_find(const fp_file *f, uint64_t off)
{
    uint32_t lo = 0, hi = f->next;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (f->ext[mid].off + f->ext[mid].len <= off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Removes [off, end) from the map (accounting the superseded bytes).  At most one extent is
 * split, so at most one slot is added: the caller made room for it. */
static void fp_ext_cut(fp_pool *p, fp_file *f, uint64_t off, uint64_t end)
{
    uint32_t i = fp_ext_find(f, off);
    while (i < f->next && f->ext[i].off < end) {
        fp_ext *e = &f->ext[i];
        uint64_t eend = e->off + e->len;
        if (e->off < off && eend > end) { /* split around the hole */
            memmove(&f->ext[i + 2], &f->ext[i + 1], (f->next - i - 1) * sizeof *e);
            f->next++;
            fp_ext *tail = &f->ext[i + 1];
            tail->off = end;
            tail->len = (uint32_t)(eend - end);
            tail->addr = e->addr + (uint32_t)(end - e->off);
            fp_live_sub(p, e->addr + (uint32_t)(off - e->off), (uint32_t)(end - off));
            e->len = (uint32_t)(off - e->off);
            return;
        }
        if (e->off < off) { /* keep the head */
            fp_live_sub(p, e->addr + (uint32_t)(off - e->off), (uint32_t)(eend - off));
            e->len = (uint32_t)(off - e->off);
            i++;
        } else if (eend > end) { /* keep the tail */
            uint32_t drop = (uint32_t)(end - e->off);
            fp_live_sub(p, e->addr, drop);
            e->off = end;
            e->addr += drop;
            e->len -= drop;
            return;
        } else { /* wholly covered */
            fp_live_sub(p, e->addr, e->len);
            memmove(e, e + 1, (f->next - i - 1) * sizeof *e);
            f->next--;
        }
    }
}

/* Maps [off, off+len) of f to addr, on top of what was there. */
static int fp_ext_put(fp_pool *p, fp_file *f, uint64_t off, uint32_t len, uint32_t addr)
{
    if (len == 0) return WALKIT_ST_OK;
    if (f->next + 2 > f->cap_ext) {
        fp_ext *n = fp_grow(f->ext, &f->cap_ext, f->next, sizeof *n);
        if (!n) return WALKIT_ST_NOMEM;
        f->ext = n;
    }
    fp_ext_cut(p, f, off, off + len);
    uint32_t i = fp_ext_find(f, off);
    memmove(&f->ext[i + 1], &f->ext[i], (f->next - i) * sizeof *f->ext);
    f->ext[i] = (fp_ext){off, len, addr};
    f->next++;
    p->blk[addr / p->bs].live += len;
    return WALKIT_ST_OK;
}

/* Reads [off, off+n) of f's flash contents (gaps read as zeros; pending writes not applied). */
static int fp_map_read(fp_pool *p, fp_file *f, uint64_t off, unsigned char *buf, uint32_t n)
{
    memset(buf, 0, n);
    for (uint32_t i = fp_ext_find(f, off); i < f->next && f->ext[i].off < off + n; i++) {
        const fp_ext *e = &f->ext[i];
        uint64_t s = e->off > off ? e->off : off;
        uint64_t t = e->off + e->len < off + n ? e->off + e->len : off + n;
        int rc = fp_read_raw(p, e->addr + (uint32_t)(s - e->off), buf + (s - off), (uint32_t)(t - s));
        if (rc != WALKIT_ST_OK) return rc;
    }
    return WALKIT_ST_OK;
}

/* ---- blocks */

static uint32_t fp_slot(const fp_pool *p, const fp_file *f) { return (uint32_t)(f - p->files); }

static void fp_block_release(fp_pool *p, uint32_t b)
{
    p->blk[b].owner = FP_NOOWNER;
    p->blk[b].live = 0;
    p->blk[b].seal = FP_NOSEAL;
    p->free_count++;
}

/* Drops block index i from f's list (RAM only). */
static void fp_file_drop_block(fp_pool *p, fp_file *f, uint32_t i)
{
    fp_block_release(p, f->blocks[i]);
    memmove(&f->blocks[i], &f->blocks[i + 1], (f->nblocks - i - 1) * sizeof *f->blocks);
    f->nblocks--;
    if (i == f->nblocks) { /* the head went: the next write allocates */
        f->head_used = 0;
        f->head_closed = 1;
    }
}

/* Frees every non-head block whose bytes are all superseded (after their successors are on
 * flash: called once a write or truncate has completed). */
static int fp_free_dead(fp_pool *p)
{
    if (!p->dead_blocks) return WALKIT_ST_OK;
    p->dead_blocks = 0;
    for (uint32_t s = 0; s < FP_FILES; s++) {
        fp_file *f = &p->files[s];
        for (uint32_t i = 0; f->used && i + 1 < f->nblocks;) {
            uint32_t b = f->blocks[i];
            if (p->blk[b].live != 0) {
                i++;
                continue;
            }
            unsigned char rec[4];
            put32(rec, b);
            int rc = f->name ? fp_log(p, FPL_FREE, rec, 4) : WALKIT_ST_OK;
            if (rc != WALKIT_ST_OK) return rc;
            fp_file_drop_block(p, f, i);
        }
    }
    return WALKIT_ST_OK;
}

static int fp_append(fp_pool *p, fp_file *f, uint64_t off, const unsigned char *buf, uint32_t n);
static int fp_close_head(fp_pool *p, fp_file *f);

/* The cleaner: while free blocks are at the reserve or below, copies the live bytes of the
 * non-head block with the fewest to its file's head and frees it.  Stops when no block would
 * yield space. */
static int fp_gc(fp_pool *p)
{
    int rc = fp_free_dead(p);
    while (rc == WALKIT_ST_OK && p->free_count <= FP_RESERVE) {
        uint32_t victim = 0, best = p->bs;
        fp_file *owner = NULL;
        for (uint32_t s = 0; s < FP_FILES; s++) {
            fp_file *f = &p->files[s];
            for (uint32_t i = 0; f->used && i + 1 < f->nblocks; i++) {
                uint32_t b = f->blocks[i];
                if (p->blk[b].live < best) best = p->blk[b].live, victim = b, owner = f;
            }
        }
        /* Copying `best` bytes costs at least that much plus headers: only worth it if a
         * block's worth of headers fits in what it frees. */
        if (!owner || best + (p->bs / 8) >= p->bs) break;
        p->in_gc = 1;
        for (uint32_t i = 0; i < owner->next && rc == WALKIT_ST_OK;) {
            fp_ext e = owner->ext[i];
            if (e.addr / p->bs != victim) {
                i++;
                continue;
            }
            uint32_t n = e.len < FP_BUF ? e.len : FP_BUF;
            rc = fp_read_raw(p, e.addr, p->gcbuf, n);
            if (rc == WALKIT_ST_OK) rc = fp_append(p, owner, e.off, p->gcbuf, n);
            p->gc_bytes += n;
            i = 0; /* the map changed: rescan (the copied part no longer points at victim) */
        }
        p->in_gc = 0;
        if (rc == WALKIT_ST_OK) rc = fp_free_dead(p);
    }
    return rc;
}

/* Gives f a new head block: the free one with the fewest erases, erased if not blank. */
static int fp_new_block(fp_pool *p, fp_file *f)
{
    int rc;
    if (!p->in_gc) {
        if ((rc = fp_gc(p)) != WALKIT_ST_OK) return rc;
        if (p->free_count <= FP_RESERVE) return WALKIT_ST_NOSPC;
    }
    if (p->free_count == 0) return WALKIT_ST_NOSPC;
    uint32_t best = 0, have = 0;
    for (uint32_t b = p->first_data; b < p->nblocks; b++)
        if (p->blk[b].owner == FP_NOOWNER && (!have || p->blk[b].ec < p->blk[best].ec))
            best = b, have = 1;
    if (f->nblocks + 1 > f->cap_blocks) {
        uint32_t *n = fp_grow(f->blocks, &f->cap_blocks, f->nblocks, sizeof *n);
        if (!n) return WALKIT_ST_NOMEM;
        f->blocks = n;
    }
    if (f->seal_unlogged && (rc = fp_close_head(p, f)) != WALKIT_ST_OK) return rc;
    if ((rc = fp_erase_block(p, best, 0)) != WALKIT_ST_OK) return rc;
    unsigned char rec[9];
    rec[0] = (unsigned char)fp_slot(p, f);
    put32(rec + 1, best);
    put32(rec + 5, p->blk[best].ec);
    if ((rc = fp_log(p, FPL_ALLOC, rec, 9)) != WALKIT_ST_OK) return rc;
    p->blk[best].owner = (uint8_t)fp_slot(p, f);
    p->blk[best].live = 0;
    p->blk[best].seal = FP_NOSEAL;
    p->free_count--;
    f->blocks[f->nblocks++] = best;
    f->head_used = 0;
    f->head_closed = 0;
    return WALKIT_ST_OK;
}

/* Closes f's head (a torn tail found at mount, or a failed program): SEAL says where its valid
 * records end, so nothing is ever programmed after a torn record and mount never mistakes a
 * torn record followed by later records for damage.  When the SEAL cannot be logged now, the
 * next block allocation logs it first (a block that is not a file's head must be sealed or
 * end cleanly). */
static int fp_close_head(fp_pool *p, fp_file *f)
{
    uint32_t b = f->blocks[f->nblocks - 1];
    unsigned char rec[8];
    f->head_closed = 1;
    p->blk[b].seal = f->head_used;
    put32(rec, b);
    put32(rec + 4, f->head_used);
    int rc = fp_log(p, FPL_SEAL, rec, 8);
    f->seal_unlogged = rc != WALKIT_ST_OK;
    return rc;
}

/* Data record header (docs/flashpool.md):  0 u16 magic, 2 u8 slot, 3 u8 flags (0),
 * 4 u32 len, 8 u64 file offset, 16 u64 seq, 24 u32 CRC of the data, 28 u32 CRC of bytes 0-27. */
static void fp_dhdr(unsigned char *h, uint32_t slot, uint32_t len, uint64_t off, uint64_t seq,
                    uint32_t dcrc)
{
    put16(h, FP_DATA_MAGIC);
    h[2] = (unsigned char)slot;
    h[3] = 0;
    put32(h + 4, len);
    put64(h + 8, off);
    put64(h + 16, seq);
    put32(h + 24, dcrc);
    put32(h + 28, fp_crc(0, h, 28));
}

/* Programs [off, off+n) of f as records at its head (new blocks as needed) and maps them.
 * Each record is programmed header first, in FP_BUF pieces, the last padded with 0xFF. */
static int fp_append(fp_pool *p, fp_file *f, uint64_t off, const unsigned char *buf, uint32_t n)
{
    int rc;
    while (n) {
        if (f->nblocks == 0 || f->head_closed || f->head_used + FP_DHDR + p->P > p->bs)
            if ((rc = fp_new_block(p, f)) != WALKIT_ST_OK) return rc;
        uint32_t b = f->blocks[f->nblocks - 1];
        uint32_t at = b * p->bs + f->head_used;
        uint32_t room = p->bs - f->head_used - FP_DHDR;
        uint32_t part = n < room ? n : room;
        fp_dhdr(p->stage, fp_slot(p, f), part, off, p->next_seq++, fp_crc(0, buf, part));
        uint32_t fill = FP_DHDR, done = 0, pos = at;
        rc = WALKIT_ST_OK;
        while (rc == WALKIT_ST_OK && (done < part || fill > 0)) {
            uint32_t c = part - done < FP_BUF - fill ? part - done : FP_BUF - fill;
            memcpy(p->stage + fill, buf + done, c);
            done += c;
            fill += c;
            uint32_t len = fp_align(p, fill);
            memset(p->stage + fill, 0xff, len - fill);
            rc = fp_prog(p, pos, p->stage, len);
            pos += len;
            fill = 0;
        }
        if (rc != WALKIT_ST_OK) {
            (void)fp_close_head(p, f);
            return rc;
        }
        f->head_used += fp_align(p, FP_DHDR + part);
        if ((rc = fp_ext_put(p, f, off, part, at + FP_DHDR)) != WALKIT_ST_OK) return rc;
        if (off + part > f->size) f->size = off + part;
        off += part, buf += part, n -= part;
    }
    return WALKIT_ST_OK;
}

/* ---- relaxed durability: the RAM queue */

/* Programs every queued write, in issue order; adjacent pieces of one file that continue
 * each other become one record. */
static int fp_flush(fp_pool *p)
{
    int rc = WALKIT_ST_OK;
    uint32_t i = 0;
    while (i < p->npend && rc == WALKIT_ST_OK) {
        fp_pend run = p->pend[i++];
        while (i < p->npend && p->pend[i].f == run.f && p->pend[i].off == run.off + run.len &&
               p->pend[i].pos == run.pos + run.len)
            run.len += p->pend[i++].len;
        rc = fp_append(p, run.f, run.off, p->pend_buf + run.pos, run.len);
    }
    p->npend = 0;
    p->pend_used = 0;
    if (rc == WALKIT_ST_OK) rc = fp_free_dead(p);
    return rc;
}

/* Flushes when the oldest queued write is older than the time bound. */
static int fp_flush_if_old(fp_pool *p)
{
    if (!p->npend || !p->relaxed_ms) return WALKIT_ST_OK;
    if (walkit_os_monotonic_us() - p->pend_since_us < (uint64_t)p->relaxed_ms * 1000u)
        return WALKIT_ST_OK;
    return fp_flush(p);
}

/* A write: queued under relaxed durability if it fits the bound, else programmed now. */
static int fp_write_locked(fp_pool *p, fp_file *f, uint64_t off, const unsigned char *buf, uint32_t n)
{
    int rc;
    if (p->relaxed_bytes && n <= p->relaxed_bytes) {
        if (p->pend_used + n > p->relaxed_bytes && (rc = fp_flush(p)) != WALKIT_ST_OK) return rc;
        if (p->npend == p->cap_pend) {
            fp_pend *np = fp_grow(p->pend, &p->cap_pend, p->npend, sizeof *np);
            if (!np) return WALKIT_ST_NOMEM;
            p->pend = np;
        }
        if (!p->npend) p->pend_since_us = walkit_os_monotonic_us();
        memcpy(p->pend_buf + p->pend_used, buf, n);
        p->pend[p->npend++] = (fp_pend){f, off, n, p->pend_used};
        p->pend_used += n;
        if (off + n > f->size) f->size = off + n;
        return fp_flush_if_old(p);
    }
    if (p->npend && (rc = fp_flush(p)) != WALKIT_ST_OK) return rc;
    rc = fp_append(p, f, off, buf, n);
    if (rc == WALKIT_ST_OK) rc = fp_free_dead(p);
    return rc;
}

/* ---- files */

static fp_file *fp_lookup(fp_pool *p, const char *path)
{
    for (uint32_t s = 0; s < FP_FILES; s++)
        if (p->files[s].used && p->files[s].name && strcmp(p->files[s].name, path) == 0)
            return &p->files[s];
    return NULL;
}

/* Frees a slot's RAM state and its blocks (RAM only: the caller logged what replay needs). */
static void fp_file_clear(fp_pool *p, fp_file *f)
{
    for (uint32_t i = 0; i < f->nblocks; i++) fp_block_release(p, f->blocks[i]);
    walkit_free(f->name);
    walkit_free(f->ext);
    walkit_free(f->blocks);
    memset(f, 0, sizeof *f);
}

/* Drops queued writes of f (it is going away). */
static void fp_pend_drop(fp_pool *p, fp_file *f)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < p->npend; i++)
        if (p->pend[i].f != f) p->pend[j++] = p->pend[i];
    p->npend = j;
    if (!j) p->pend_used = 0;
}

static int fp_open(void *ctx, const char *path, unsigned flags, walkit_storage_file **out)
{
    fp_pool *p = ctx;
    int rc = WALKIT_ST_OK;
    size_t nl = strlen(path);
    if (nl == 0 || nl > FP_NAME_MAX) return WALKIT_ST_INVAL;
    walkit_storage_file *h = walkit_alloc(sizeof *h);
    if (!h) return WALKIT_ST_NOMEM;
    walkit_mutex_enter(p->lock, "flashpool open");
    fp_file *f = fp_lookup(p, path);
    if (f && (flags & WALKIT_ST_CREATE) && (flags & WALKIT_ST_EXCL)) {
        rc = WALKIT_ST_EXIST;
    } else if (!f && !(flags & WALKIT_ST_CREATE)) {
        rc = WALKIT_ST_NOENT;
    } else if (!f) {
        uint32_t s = 0;
        while (s < FP_FILES && p->files[s].used) s++;
        char *name = s < FP_FILES ? walkit_strdup(path) : NULL;
        if (s == FP_FILES) {
            rc = WALKIT_ST_NOSPC;
        } else if (!name) {
            rc = WALKIT_ST_NOMEM;
        } else {
            unsigned char rec[1 + FP_NAME_MAX];
            rec[0] = (unsigned char)s;
            memcpy(rec + 1, path, nl);
            rc = fp_log(p, FPL_CREATE, rec, 1 + (uint32_t)nl);
            if (rc == WALKIT_ST_OK) {
                f = &p->files[s];
                memset(f, 0, sizeof *f);
                f->used = 1;
                f->name = name;
                f->head_closed = 1;
            } else {
                walkit_free(name);
            }
        }
    }
    if (rc == WALKIT_ST_OK) {
        f->nopen++;
        h->f = f;
        h->readonly = (flags & WALKIT_ST_READONLY) != 0;
        *out = h;
    }
    walkit_mutex_leave(p->lock, "flashpool open");
    if (rc != WALKIT_ST_OK) walkit_free(h);
    return rc;
}

static int fp_close(void *ctx, walkit_storage_file *h)
{
    fp_pool *p = ctx;
    walkit_mutex_enter(p->lock, "flashpool close");
    fp_file *f = h->f;
    if (--f->nopen == 0 && !f->name) {
        fp_pend_drop(p, f);
        fp_file_clear(p, f);
    }
    walkit_mutex_leave(p->lock, "flashpool close");
    walkit_free(h);
    return WALKIT_ST_OK;
}

static int fp_read(void *ctx, walkit_storage_file *h, uint64_t off, void *buf, size_t n, size_t *got)
{
    fp_pool *p = ctx;
    fp_file *f = h->f;
    int rc;
    walkit_mutex_enter(p->lock, "flashpool read");
    rc = fp_flush_if_old(p);
    size_t have = off >= f->size ? 0 : (size_t)(f->size - off < n ? f->size - off : n);
    unsigned char *out = buf;
    for (size_t done = 0; rc == WALKIT_ST_OK && done < have;) {
        uint32_t c = have - done < 0x40000000u ? (uint32_t)(have - done) : 0x40000000u;
        rc = fp_map_read(p, f, off + done, out + done, c);
        done += c;
    }
    for (uint32_t i = 0; rc == WALKIT_ST_OK && i < p->npend; i++) {
        const fp_pend *q = &p->pend[i];
        if (q->f != f || q->off >= off + have || q->off + q->len <= off) continue;
        uint64_t s = q->off > off ? q->off : off;
        uint64_t t = q->off + q->len < off + have ? q->off + q->len : off + have;
        memcpy(out + (s - off), p->pend_buf + q->pos + (s - q->off), (size_t)(t - s));
    }
    walkit_mutex_leave(p->lock, "flashpool read");
    *got = rc == WALKIT_ST_OK ? have : 0;
    return rc;
}

static int fp_write(void *ctx, walkit_storage_file *h, uint64_t off, const void *buf, size_t n)
{
    fp_pool *p = ctx;
    int rc = WALKIT_ST_OK;
    if (h->readonly) return WALKIT_ST_ACCESS;
    if (off + n > (uint64_t)p->nblocks * p->bs) return WALKIT_ST_NOSPC;
    walkit_mutex_enter(p->lock, "flashpool write");
    fp_file *f = h->f;
    /* A gap between the end and off reads as zeros already (no extent there): only the size
     * moves, and it is implied by the record at off. */
    rc = fp_write_locked(p, f, off, buf, (uint32_t)n);
    walkit_mutex_leave(p->lock, "flashpool write");
    return rc;
}

static int fp_truncate(void *ctx, walkit_storage_file *h, uint64_t size)
{
    fp_pool *p = ctx;
    int rc;
    if (h->readonly) return WALKIT_ST_ACCESS;
    walkit_mutex_enter(p->lock, "flashpool truncate");
    fp_file *f = h->f;
    rc = fp_flush(p);
    if (rc == WALKIT_ST_OK && size != f->size) {
        unsigned char rec[17];
        uint64_t seq = p->next_seq++;
        rec[0] = (unsigned char)fp_slot(p, f);
        put64(rec + 1, size);
        put64(rec + 9, seq);
        rc = f->name ? fp_log(p, FPL_TRUNC, rec, 17) : WALKIT_ST_OK;
        if (rc == WALKIT_ST_OK) {
            /* Cutting [size, end of file) never splits an extent: no slot is added. */
            if (f->size > size) fp_ext_cut(p, f, size, f->size);
            f->trunc_size = size;
            f->trunc_seq = seq;
            f->size = size;
            rc = fp_free_dead(p);
        }
    }
    walkit_mutex_leave(p->lock, "flashpool truncate");
    return rc;
}

static int fp_sync(void *ctx, walkit_storage_file *h, int data_only)
{
    fp_pool *p = ctx;
    (void)h, (void)data_only;
    walkit_mutex_enter(p->lock, "flashpool sync");
    int rc = fp_flush(p);
    if (rc == WALKIT_ST_OK) rc = fp_barrier(p);
    walkit_mutex_leave(p->lock, "flashpool sync");
    return rc;
}

static int fp_size(void *ctx, walkit_storage_file *h, uint64_t *size)
{
    fp_pool *p = ctx;
    walkit_mutex_enter(p->lock, "flashpool size");
    int rc = fp_flush_if_old(p);
    *size = h->f->size;
    walkit_mutex_leave(p->lock, "flashpool size");
    return rc;
}

static int fp_remove(void *ctx, const char *path, int sync_dir)
{
    fp_pool *p = ctx;
    int rc;
    (void)sync_dir; /* every state-log record is durable when written */
    walkit_mutex_enter(p->lock, "flashpool remove");
    fp_file *f = fp_lookup(p, path);
    if (!f) {
        rc = WALKIT_ST_NOENT;
    } else {
        unsigned char rec[1] = {(unsigned char)fp_slot(p, f)};
        rc = fp_flush(p); /* open handles still read what was written */
        if (rc == WALKIT_ST_OK) rc = fp_log(p, FPL_DELETE, rec, 1);
        if (rc == WALKIT_ST_OK) {
            if (f->nopen) {
                walkit_free(f->name); /* open handles keep the slot and its blocks */
                f->name = NULL;
            } else {
                fp_file_clear(p, f);
            }
        }
    }
    walkit_mutex_leave(p->lock, "flashpool remove");
    return rc;
}

static int fp_exists(void *ctx, const char *path)
{
    fp_pool *p = ctx;
    walkit_mutex_enter(p->lock, "flashpool exists");
    int found = fp_lookup(p, path) != NULL;
    walkit_mutex_leave(p->lock, "flashpool exists");
    return found;
}

static void fp_free_pool(fp_pool *p)
{
    for (uint32_t s = 0; s < FP_FILES; s++) {
        walkit_free(p->files[s].name);
        walkit_free(p->files[s].ext);
        walkit_free(p->files[s].blocks);
    }
    walkit_free(p->blk);
    walkit_free(p->stage);
    walkit_free(p->bounce);
    walkit_free(p->gcbuf);
    walkit_free(p->snapbuf);
    walkit_free(p->pend_buf);
    walkit_free(p->pend);
    if (p->lock) walkit_os_mutex_destroy(p->lock);
    walkit_free(p);
}

static void fp_destroy(void *ctx)
{
    fp_pool *p = ctx;
    walkit_mutex_enter(p->lock, "flashpool destroy");
    (void)fp_flush(p);
    walkit_mutex_leave(p->lock, "flashpool destroy");
    fp_free_pool(p);
}

/* ---- mount */

/* How the records of a state-log area or of a data block end (fp_tail). */
enum { FP_TAIL_CLEAN, FP_TAIL_TORN, FP_TAIL_DAMAGED };

typedef struct fp_area_view {
    int hdr_ok, complete, tail;
    uint32_t gen, used, found; /* found: for FP_TAIL_DAMAGED, where the later data is */
} fp_area_view;

/* Whether a whole state-log record (its CRC checks out) starts at addr, within end. */
static int fp_log_whole(fp_pool *p, uint32_t addr, uint32_t end, int *whole)
{
    unsigned char h[FP_LHDR];
    int rc;
    *whole = 0;
    if (addr + FP_LHDR > end) return WALKIT_ST_OK;
    if ((rc = fp_read_raw(p, addr, h, FP_LHDR)) != WALKIT_ST_OK) return rc;
    uint32_t len = get16(h + 2), total = fp_align(p, FP_LHDR + len);
    if (all_ff(h, FP_LHDR) || h[1] != 0 || total > FP_BUF || addr + total > end) return WALKIT_ST_OK;
    if ((rc = fp_read_raw(p, addr + FP_LHDR, p->gcbuf, len)) != WALKIT_ST_OK) return rc;
    *whole = fp_crc(fp_crc(0, h, 4), p->gcbuf, len) == get32(h + 4);
    return WALKIT_ST_OK;
}

/* Whether the FP_DHDR bytes h are a whole data record header: its magic, its CRC. */
static int fp_dhdr_whole(const unsigned char *h)
{
    return get16(h) == FP_DATA_MAGIC && fp_crc(0, h, 28) == get32(h + 28);
}

/* Whether a whole data record header starts at addr, within end. */
static int fp_data_whole(fp_pool *p, uint32_t addr, uint32_t end, int *whole)
{
    unsigned char h[FP_DHDR];
    int rc;
    *whole = 0;
    if (addr + FP_DHDR > end) return WALKIT_ST_OK;
    if ((rc = fp_read_raw(p, addr, h, FP_DHDR)) != WALKIT_ST_OK) return rc;
    *whole = fp_dhdr_whole(h);
    return WALKIT_ST_OK;
}

/* Judges [addr, end) after a chain of records stopped at addr (a blank header, or a record
 * that does not check out): FP_TAIL_CLEAN if it is blank; FP_TAIL_TORN if what is not blank
 * lies within the `torn` bytes from addr that one cut program can leave and no whole record
 * starts in them from addr + skip on (skip >= P: the torn record's own bytes before that may
 * hold anything, a record header included); else FP_TAIL_DAMAGED (*found: where the later
 * record, or the first byte where nothing may be programmed, is).  A cut only ever tears the
 * last record programmed and nothing is programmed after a torn record (mount seals it, or
 * compacts the log away from it), so a whole record or data beyond it is damage. */
static int fp_tail(fp_pool *p, int log, uint32_t addr, uint32_t torn, uint32_t skip, uint32_t end,
                   int *tail, uint32_t *found)
{
    int blank, whole, rc;
    *found = addr;
    if ((rc = fp_is_blank(p, addr, end - addr, &blank)) != WALKIT_ST_OK) return rc;
    *tail = FP_TAIL_CLEAN;
    if (blank) return WALKIT_ST_OK;
#ifdef WALKIT_FLASHPOOL_PLANT_DAMAGE_AS_TORN
    /* A planted bug for tests/vfs/storage/test_flashpool.py: whatever follows a record that
     * does not check out is taken for a torn tail, and the records after it are dropped. */
    *tail = FP_TAIL_TORN;
    return WALKIT_ST_OK;
#endif
    uint32_t wend = end - addr < torn ? end : addr + torn;
    for (uint32_t x = skip < wend - addr ? addr + skip : wend; x < wend; x += p->P) {
        if ((rc = log ? fp_log_whole(p, x, end, &whole) : fp_data_whole(p, x, end, &whole)) != WALKIT_ST_OK)
            return rc;
        if (whole) {
            *tail = FP_TAIL_DAMAGED;
            *found = x;
            return WALKIT_ST_OK;
        }
    }
    if ((rc = fp_is_blank(p, wend, end - wend, &blank)) != WALKIT_ST_OK) return rc;
    *tail = blank ? FP_TAIL_TORN : FP_TAIL_DAMAGED;
    *found = wend;
    return WALKIT_ST_OK;
}

/* Applies one state-log record to the RAM state (replay).  WALKIT_ST_CORRUPT when it
 * contradicts the state or the geometry. */
static int fp_apply(fp_pool *p, int type, const unsigned char *d, uint32_t len)
{
    uint32_t s = len ? d[0] : 0, b;
    fp_file *f = s < FP_FILES ? &p->files[s] : NULL;
    switch (type) {
    case FPL_HDR:
        if (len != 36 || get32(d) != FP_AREA_MAGIC || get16(d + 4) != FP_VERSION ||
            get16(d + 6) != FP_FILES || get32(d + 12) != p->bs || get32(d + 16) != p->nblocks ||
            get32(d + 20) != p->area_blocks || get32(d + 24) != p->P)
            return WALKIT_ST_CORRUPT;
        if (get64(d + 28) > p->next_seq) p->next_seq = get64(d + 28);
        return WALKIT_ST_OK;
    case FPL_SNAP_FILE:
    case FPL_CREATE: {
        uint32_t at = type == FPL_CREATE ? 1 : 17;
        if (!f || len <= at || len - at > FP_NAME_MAX || f->used) return WALKIT_ST_CORRUPT;
        f->name = walkit_alloc(len - at + 1);
        if (!f->name) return WALKIT_ST_NOMEM;
        memcpy(f->name, d + at, len - at);
        f->name[len - at] = 0;
        f->used = 1;
        if (type == FPL_SNAP_FILE) f->trunc_size = get64(d + 1), f->trunc_seq = get64(d + 9);
        return WALKIT_ST_OK;
    }
    case FPL_SNAP_FLIST:
    case FPL_ALLOC: {
        uint32_t n = type == FPL_ALLOC ? 1 : (len - 1) / 4;
        if (!f || len < 5 || (type == FPL_ALLOC ? len != 9 : (len - 1) % 4 != 0))
            return WALKIT_ST_CORRUPT;
        for (uint32_t i = 0; i < n; i++) {
            b = get32(d + 1 + 4 * i);
            if (b < p->first_data || b >= p->nblocks || p->blk[b].owner != FP_NOOWNER)
                return WALKIT_ST_CORRUPT;
            if (type == FPL_ALLOC) p->blk[b].ec = get32(d + 5), p->blk[b].seal = FP_NOSEAL;
            if (!f->used) continue; /* written by a file already removed: the block is free */
            if (f->nblocks == f->cap_blocks) {
                uint32_t *nb = fp_grow(f->blocks, &f->cap_blocks, f->nblocks, sizeof *nb);
                if (!nb) return WALKIT_ST_NOMEM;
                f->blocks = nb;
            }
            f->blocks[f->nblocks++] = b;
            p->blk[b].owner = (uint8_t)s;
        }
        return WALKIT_ST_OK;
    }
    case FPL_SNAP_BLOCKS: {
        uint32_t first = len >= 4 ? get32(d) : 0, n = len >= 4 ? (len - 4) / 8 : 0;
        if (len < 4 || (len - 4) % 8 || first < p->first_data || first + n > p->nblocks)
            return WALKIT_ST_CORRUPT;
        for (uint32_t i = 0; i < n; i++) {
            p->blk[first + i].ec = get32(d + 4 + 8 * i);
            p->blk[first + i].seal = get32(d + 8 + 8 * i);
        }
        return WALKIT_ST_OK;
    }
    case FPL_SNAP_END:
        return len == 0 ? WALKIT_ST_OK : WALKIT_ST_CORRUPT;
    case FPL_DELETE:
        if (!f || len != 1 || !f->used) return WALKIT_ST_CORRUPT;
        fp_file_clear(p, f);
        return WALKIT_ST_OK;
    case FPL_FREE:
        if (len != 4 || (b = get32(d)) < p->first_data || b >= p->nblocks) return WALKIT_ST_CORRUPT;
        if (p->blk[b].owner != FP_NOOWNER) {
            fp_file *o = &p->files[p->blk[b].owner];
            uint32_t i = 0;
            while (i < o->nblocks && o->blocks[i] != b) i++;
            if (i == o->nblocks) return WALKIT_ST_CORRUPT;
            fp_file_drop_block(p, o, i);
        }
        return WALKIT_ST_OK;
    case FPL_TRUNC:
        if (!f || len != 17 || !f->used) return WALKIT_ST_CORRUPT;
        f->trunc_size = get64(d + 1);
        f->trunc_seq = get64(d + 9);
        if (f->trunc_seq >= p->next_seq) p->next_seq = f->trunc_seq + 1;
        return WALKIT_ST_OK;
    case FPL_SEAL:
        if (len != 8 || (b = get32(d)) < p->first_data || b >= p->nblocks || get32(d + 4) > p->bs)
            return WALKIT_ST_CORRUPT;
        p->blk[b].seal = get32(d + 4);
        return WALKIT_ST_OK;
    }
    return WALKIT_ST_CORRUPT;
}

/* Reads the records of one area: with apply, replays them into the RAM state.  The records
 * end at the first that is blank or does not check out; what follows is judged by fp_tail
 * (v->tail).  An area whose first record is not a whole HDR is no area (v->hdr_ok 0). */
static int fp_area_read(fp_pool *p, int area, int apply, fp_area_view *v)
{
    uint32_t at = 0, base = (uint32_t)area * p->area_bytes;
    unsigned char h[FP_LHDR];
    int rc;
    memset(v, 0, sizeof *v);
    while (at + FP_LHDR <= p->area_bytes) {
        if ((rc = fp_read_raw(p, base + at, h, FP_LHDR)) != WALKIT_ST_OK) return rc;
        if (all_ff(h, FP_LHDR)) break;
        uint32_t len = get16(h + 2), total = fp_align(p, FP_LHDR + len);
        if (h[1] != 0 || total > FP_BUF || at + total > p->area_bytes) break;
        if ((rc = fp_read_raw(p, base + at + FP_LHDR, p->gcbuf, len)) != WALKIT_ST_OK) return rc;
        if (fp_crc(fp_crc(0, h, 4), p->gcbuf, len) != get32(h + 4)) {
#ifndef WALKIT_FLASHPOOL_PLANT_NO_LOG_CRC
            /* (A planted bug for tests/host/campaign/test_campaign.py: a torn state-log record is
             * replayed as if it were whole.) */
            break;
#endif
        }
        if (at == 0) {
            if (h[0] != FPL_HDR || len != 36 || get32(p->gcbuf) != FP_AREA_MAGIC) return WALKIT_ST_OK;
            v->hdr_ok = 1;
            v->gen = get32(p->gcbuf + 8);
        }
        if (h[0] == FPL_SNAP_END) v->complete = 1;
        if (apply && (rc = fp_apply(p, h[0], p->gcbuf, len)) != WALKIT_ST_OK)
            return rc != WALKIT_ST_CORRUPT ? rc
                   : fp_damage(p, "state-log area %d offset %u: a record (type %u) that "
                               "contradicts the state or the partition's geometry", area, at, h[0]);
        at += total;
    }
    v->used = at;
    if (!v->hdr_ok) return WALKIT_ST_OK;
    rc = fp_tail(p, 1, base + at, FP_TORN_MAX, p->P, base + p->area_bytes, &v->tail, &v->found);
    v->found -= base;
    return rc;
}

/* Rebuilds f's extent map from its blocks' records and judges how each block's chain of
 * records ends.  A sealed block's chain must end exactly at its seal.  Any other block's
 * chain ends at a blank header or at a record that does not check out; fp_tail judges the
 * rest: clean (blank), a torn tail (only in the head block: *seal_at says where, mount seals
 * it), or damage.  A whole header (its CRC checks out) that does not fit the file is damage. */
static int fp_scan_file(fp_pool *p, fp_file *f, uint32_t *seal_at)
{
    unsigned char h[FP_DHDR];
    uint64_t last_seq = 0;
    int rc;
    *seal_at = FP_NOSEAL;
    f->head_closed = f->nblocks == 0;
    for (uint32_t i = 0; i < f->nblocks; i++) {
        uint32_t b = f->blocks[i], at = 0, seal = p->blk[b].seal;
        int head = i + 1 == f->nblocks;
        uint32_t limit = seal != FP_NOSEAL ? seal : p->bs;
        uint32_t torn = FP_TORN_MAX; /* how far from `at` a cut may have torn */
        uint32_t skip = p->P;        /* from where after `at` a whole header is damage */
        while (at + FP_DHDR <= limit) {
            uint32_t addr = b * p->bs + at;
            if ((rc = fp_read_raw(p, addr, h, FP_DHDR)) != WALKIT_ST_OK) return rc;
            if (all_ff(h, FP_DHDR)) break;
            if (!fp_dhdr_whole(h)) {
                /* A torn header.  The record's own bytes (its first program, header and data
                 * together) may hold a whole header: a file may store anything.  Its length
                 * field can only read more than was meant (a cut program leaves bits at 1
                 * that were to be cleared, never the reverse), so the record ends no later
                 * than that length says: a whole header before there may be its data. */
                uint64_t ends = (uint64_t)FP_DHDR + get32(h + 4);
                skip = ends >= torn ? torn : fp_align(p, (uint32_t)ends);
                if (skip < p->P) skip = p->P;
                break;
            }
            uint32_t len = get32(h + 4);
            uint64_t off = get64(h + 8), seq = get64(h + 16);
            /* (fp_write refuses to write past the partition's size: no record ends there.) */
            if (h[2] != fp_slot(p, f) || h[3] != 0 || len == 0 || len > limit - at - FP_DHDR ||
                seq <= last_seq || off > (uint64_t)p->nblocks * p->bs - len)
                return fp_damage(p, "data block %u (file %s) offset %u: a whole record header "
                                 "that does not fit the file", b, f->name, at);
            uint32_t crc = 0;
            for (uint32_t done = 0; done < len;) {
                uint32_t c = len - done < FP_BUF ? len - done : FP_BUF;
                if ((rc = fp_read_raw(p, addr + FP_DHDR + done, p->gcbuf, c)) != WALKIT_ST_OK) return rc;
                crc = fp_crc(crc, p->gcbuf, c);
                done += c;
            }
            if (crc != get32(h + 24)) { /* the header is whole: a cut tore this record only */
                torn = fp_align(p, FP_DHDR + len);
                skip = torn;
                break;
            }
            last_seq = seq;
            if (seq >= p->next_seq) p->next_seq = seq + 1;
            uint32_t keep = len;
            if (seq < f->trunc_seq) /* written before the last truncation: clipped to it */
                keep = off >= f->trunc_size ? 0 : (uint32_t)(f->trunc_size - off < len ? f->trunc_size - off : len);
            if ((rc = fp_ext_put(p, f, off, keep, addr + FP_DHDR)) != WALKIT_ST_OK) return rc;
            at += fp_align(p, FP_DHDR + len);
        }
        if (seal != FP_NOSEAL) {
            if (at != seal)
                return fp_damage(p, "data block %u (file %s) offset %u: damaged record before "
                                 "the block's seal at %u", b, f->name, at, seal);
            if (head) f->head_used = at, f->head_closed = 1;
            continue;
        }
        int tail;
        uint32_t found;
        if ((rc = fp_tail(p, 0, b * p->bs + at, torn, skip, (b + 1) * p->bs, &tail, &found)) != WALKIT_ST_OK)
            return rc;
        if (tail == FP_TAIL_DAMAGED)
            return fp_damage(p, "data block %u (file %s) offset %u: damaged record with data "
                             "after it (at offset %u)", b, f->name, at, found - b * p->bs);
        if (tail == FP_TAIL_TORN && !head)
            return fp_damage(p, "data block %u (file %s) offset %u: torn record in a block that "
                             "is not the file's last", b, f->name, at);
        if (head) {
            f->head_used = at;
#ifdef WALKIT_FLASHPOOL_PLANT_NO_SEAL
            /* A planted bug for tests/vfs/storage/test_flashpool.py: a torn tail is taken for
             * erased flash, so the next append programs over it. */
            tail = FP_TAIL_CLEAN;
#endif
            f->head_closed = tail == FP_TAIL_TORN;
            if (tail == FP_TAIL_TORN) *seal_at = at;
        }
    }
    f->size = f->trunc_size;
    if (f->next && f->ext[f->next - 1].off + f->ext[f->next - 1].len > f->size)
        f->size = f->ext[f->next - 1].off + f->ext[f->next - 1].len;
    return WALKIT_ST_OK;
}

static int fp_mount(fp_pool *p, int *state)
{
    fp_area_view v[2];
    int rc, use = -1, newest = -1;
    for (uint32_t b = 0; b < p->nblocks; b++) p->blk[b] = (fp_block){0, 0, FP_NOSEAL, FP_NOOWNER};
    for (int a = 0; a < 2; a++)
        if ((rc = fp_area_read(p, a, 0, &v[a])) != WALKIT_ST_OK) return rc;
    if (v[0].hdr_ok && v[1].hdr_ok) {
        if (v[0].gen == v[1].gen)
            return fp_damage(p, "state-log areas 0 and 1 both have generation %u", v[0].gen);
        newest = v[1].gen > v[0].gen;
    } else if (v[0].hdr_ok || v[1].hdr_ok) {
        newest = v[1].hdr_ok;
    }
    /* The state is the newest area if its snapshot is complete; if not, a cut ended its
     * compaction and the other area (the one it was compacted from) is still in force. */
    if (newest >= 0 && v[newest].complete) use = newest;
    else if (newest >= 0 && v[1 - newest].hdr_ok && v[1 - newest].complete) use = 1 - newest;
    if (use < 0) {
        /* Format only a blank partition, or one whose only content is a first format cut
         * before its end: area 0 generation 1 incomplete, or no whole HDR anywhere and
         * nothing programmed beyond area 0's first record (the format's first program, which
         * a cut tore; blank flash in it is an erased partition's). */
        int blank;
        uint32_t from = v[0].hdr_ok && v[0].gen == 1 && !v[1].hdr_ok ? p->area_bytes
                        : newest < 0                                ? fp_align(p, FP_LHDR + 36)
                                                                    : 0;
        if ((rc = fp_is_blank(p, from, p->nblocks * p->bs - from, &blank)) != WALKIT_ST_OK) return rc;
        if (!blank)
            return newest < 0 ? fp_damage(p, "neither a flash pool nor blank")
                              : fp_damage(p, "state-log area %d (generation %u) is incomplete and "
                                          "no other area is complete", newest, v[newest].gen);
        p->free_count = p->nblocks - p->first_data;
        p->active = 1;
        p->gen = 0;
        p->next_seq = 1;
        if ((rc = fp_compact(p)) != WALKIT_ST_OK) return rc;
        p->compactions = 0;
        *state = WALKIT_FLASHPOOL_FORMATTED;
        return WALKIT_ST_OK;
    }
    /* A cut leaves at most one torn record at the end of the area it was programming, blank
     * flash after it; the older area (superseded, or being erased) is not read further. */
    for (int a = newest; a >= 0; a = a == use ? -1 : use)
        if (v[a].tail == FP_TAIL_DAMAGED)
            return fp_damage(p, "state-log area %d (generation %u) offset %u: damaged record with "
                             "data after it (at offset %u)", a, v[a].gen, v[a].used, v[a].found);
    if (use != newest && v[newest].gen != v[use].gen + 1)
        return fp_damage(p, "state-log area %d (generation %u) is incomplete and area %d has "
                         "generation %u", newest, v[newest].gen, use, v[use].gen);
    p->next_seq = 1;
    if ((rc = fp_area_read(p, use, 1, &v[use])) != WALKIT_ST_OK) return rc;
    p->active = use;
    p->gen = v[use].gen;
    p->log_used = v[use].used;
    p->free_count = 0;
    for (uint32_t b = p->first_data; b < p->nblocks; b++)
        if (p->blk[b].owner == FP_NOOWNER) p->free_count++;
    uint32_t seal_at[FP_FILES];
    int need_seal = 0;
    for (uint32_t s = 0; s < FP_FILES; s++) {
        seal_at[s] = FP_NOSEAL;
        if (p->files[s].used && (rc = fp_scan_file(p, &p->files[s], &seal_at[s])) != WALKIT_ST_OK)
            return rc;
        need_seal |= seal_at[s] != FP_NOSEAL;
    }
    /* Everything checked out: now repair what a cut left (nothing was written before).  A
     * torn head is sealed (nothing is ever programmed after a torn record); a torn log tail
     * is left behind by a compaction into the other area. */
    if (v[use].tail == FP_TAIL_TORN) {
        for (uint32_t s = 0; s < FP_FILES; s++)
            if (seal_at[s] != FP_NOSEAL)
                p->blk[p->files[s].blocks[p->files[s].nblocks - 1]].seal = seal_at[s];
        if ((rc = fp_compact(p)) != WALKIT_ST_OK) return rc;
    } else if (need_seal) {
        for (uint32_t s = 0; s < FP_FILES; s++) {
            if (seal_at[s] == FP_NOSEAL) continue;
            fp_file *f = &p->files[s];
            f->head_used = seal_at[s];
            if ((rc = fp_close_head(p, f)) != WALKIT_ST_OK) return rc;
        }
    }
    p->dead_blocks = 1;
    *state = WALKIT_FLASHPOOL_MOUNTED;
    return WALKIT_ST_OK;
}

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

int walkit_storage_flashpool(const walkit_flashpool_config *cfg, const walkit_storage **out,
                             int *state)
{
    return walkit_storage_flashpool_why(cfg, out, state, NULL, 0);
}

int walkit_storage_flashpool_why(const walkit_flashpool_config *cfg, const walkit_storage **out,
                                 int *state, char *why, uint32_t why_size)
{
    const walkit_flashpool_bd *bd = cfg ? cfg->bd : NULL;
    int rc, st_dummy;
    if (!state) state = &st_dummy;
    if (!bd || !out || !bd->read || !bd->prog || !bd->erase || !is_pow2(bd->prog_size) ||
        bd->prog_size > FP_DHDR || !is_pow2(bd->read_size) || bd->read_size > bd->prog_size ||
        !is_pow2(bd->erase_block) || bd->erase_block < 1024 || bd->size % bd->erase_block ||
        cfg->relaxed_bytes > (16u << 20))
        return WALKIT_ST_INVAL;
    uint32_t nblocks = bd->size / bd->erase_block, P = bd->prog_size;
    /* The largest snapshot: header, every file with the longest name and every block listed
     * once, the per-block table, SNAP_END; each record padded.  An area holds two. */
    uint64_t chunks = nblocks / FP_BLOCKS_PER_REC + 1;
    uint64_t snap = (FP_LHDR + 36 + P) + FP_FILES * (FP_LHDR + 17 + FP_NAME_MAX + P) +
                    4ull * nblocks + (chunks + FP_FILES) * (FP_LHDR + 1 + P) + 8ull * nblocks +
                    chunks * (FP_LHDR + 4 + P) + FP_LHDR + P;
    uint32_t area_blocks = (uint32_t)((2 * snap + bd->erase_block - 1) / bd->erase_block);
    if (nblocks < 2 * area_blocks + FP_RESERVE + 2 || nblocks > 0xffffffffu / bd->erase_block)
        return WALKIT_ST_INVAL;
    fp_pool *p = walkit_alloc_zero(sizeof *p);
    if (!p) return WALKIT_ST_NOMEM;
    p->bd = *bd;
    p->bs = bd->erase_block;
    p->P = P;
    p->nblocks = nblocks;
    p->area_blocks = area_blocks;
    p->area_bytes = area_blocks * p->bs;
    p->first_data = 2 * area_blocks;
    p->relaxed_bytes = cfg->relaxed_bytes;
    p->relaxed_ms = cfg->relaxed_ms;
    p->lock = walkit_os_mutex_create();
    p->blk = walkit_alloc(nblocks * sizeof *p->blk);
    p->stage = walkit_alloc(FP_BUF);
    p->bounce = walkit_alloc(FP_BUF);
    p->gcbuf = walkit_alloc(FP_BUF);
    p->snapbuf = walkit_alloc(FP_BUF);
    p->pend_buf = p->relaxed_bytes ? walkit_alloc(p->relaxed_bytes) : NULL;
    if (!p->lock || !p->blk || !p->stage || !p->bounce || !p->gcbuf || !p->snapbuf ||
        (p->relaxed_bytes && !p->pend_buf)) {
        fp_free_pool(p);
        return WALKIT_ST_NOMEM;
    }
    p->why = why;
    p->why_size = why_size;
    if (why && why_size) why[0] = 0;
    rc = fp_mount(p, state);
    p->why = NULL;
    if (rc != WALKIT_ST_OK) {
        fp_free_pool(p);
        return rc;
    }
    p->st.ctx = p;
    p->st.name = "flashpool";
    p->st.open = fp_open;
    p->st.close = fp_close;
    p->st.read = fp_read;
    p->st.write = fp_write;
    p->st.truncate = fp_truncate;
    p->st.sync = fp_sync;
    p->st.size = fp_size;
    p->st.remove = fp_remove;
    p->st.exists = fp_exists;
    p->st.destroy = fp_destroy;
    p->st.sector_size = 512;
    p->st.caps = WALKIT_ST_CAP_SAFE_APPEND | WALKIT_ST_CAP_SEQUENTIAL |
                 WALKIT_ST_CAP_POWERSAFE_OVERWRITE;
    *out = &p->st;
    return WALKIT_ST_OK;
}

int walkit_flashpool_info_get(const walkit_storage *st, walkit_flashpool_info *out)
{
    if (!st || st->open != fp_open || !out) return WALKIT_ST_INVAL;
    fp_pool *p = st->ctx;
    memset(out, 0, sizeof *out);
    walkit_mutex_enter(p->lock, "flashpool info");
    out->data_blocks = p->nblocks - p->first_data;
    out->free_blocks = p->free_count;
    out->log_area_blocks = p->area_blocks;
    out->erase_min = UINT32_MAX;
    for (uint32_t b = p->first_data; b < p->nblocks; b++) {
        uint32_t ec = p->blk[b].ec;
        if (ec < out->erase_min) out->erase_min = ec;
        if (ec > out->erase_max) out->erase_max = ec;
        out->erase_total += ec;
    }
    out->gc_bytes = p->gc_bytes;
    out->compactions = p->compactions;
    out->pending_bytes = p->pend_used;
    for (uint32_t s = 0; s < FP_FILES; s++) out->files += p->files[s].used && p->files[s].name;
    walkit_mutex_leave(p->lock, "flashpool info");
    return WALKIT_ST_OK;
}
