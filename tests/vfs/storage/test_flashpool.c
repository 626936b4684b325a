/* test_flashpool.c: the flash pool storage backend (vfs/storage/flashpool.c) on an emulated NOR
 * partition (nor_emu.c): the file layer's checks (tests/support/vfs_file_checks.c), format only
 * when blank, remount, out-of-place overwrites, truncate/remove persisting, corruption reported
 * with nothing written, a full pool, state-log compaction, persisted erase counts, write
 * amplification of 1-row autocommit inserts at synchronous=FULL on 4 KiB and 256 KiB blocks,
 * and a power cut at every program/erase of a small SQLite workload: at FULL every acknowledged
 * commit survives; with relaxed durability at NORMAL at most the configured bound is lost.
 * Driven by tests/vfs/storage/test_flashpool.py.  Prints "ok <check>" or "FAIL <check>: why";
 * "# ..." lines are figures; exit status = failures; --list prints the checks.
 *   test_flashpool [all|cut-full|cut-relaxed|cut-cache|cut-cleaner [STEP]|amp]   (default: all but
 *   the cut campaigns; cut-cache: the device has a write-back cache that loses unsynced blocks
 *   out of order; cut-cleaner cuts at every STEPth operation, default 7) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKS_MAIN
#include "checks.h"
#include "nor_emu.h"
#include "sqlite3.h"
#include "vfs_file_checks.h"
#include "vfs_helpers.h"
#include "walkit.h"
#include "walkit_flashpool.h"

#include "storage/storage.h"

#define KB 1024u
#define POOL_CAPS (SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE)

typedef struct outcome {
    int ok;
    char why[240];
} outcome;

static const walkit_storage *mount(nor_emu *e, uint32_t relaxed_bytes, int *rc, int *state)
{
    walkit_flashpool_config cfg = {&e->bd, relaxed_bytes, 0};
    const walkit_storage *st = NULL;
    *rc = walkit_storage_flashpool(&cfg, &st, state);
    return *rc == WALKIT_ST_OK ? st : NULL;
}

/* ---- storage-level helpers */

static int put(const walkit_storage *st, const char *path, uint64_t off, const void *buf, size_t n)
{
    walkit_storage_file *f;
    int rc = st->open(st->ctx, path, WALKIT_ST_CREATE, &f);
    if (rc) return rc;
    rc = st->write(st->ctx, f, off, buf, n);
    if (!rc) rc = st->sync(st->ctx, f, 0);
    st->close(st->ctx, f);
    return rc;
}

/* Reads the whole file into buf (cap bytes); returns its size or a negative code. */
static long get(const walkit_storage *st, const char *path, void *buf, size_t cap)
{
    walkit_storage_file *f;
    uint64_t size;
    size_t got = 0;
    int rc = st->open(st->ctx, path, 0, &f);
    if (rc) return rc;
    rc = st->size(st->ctx, f, &size);
    if (!rc && size <= cap) rc = st->read(st->ctx, f, 0, buf, (size_t)size, &got);
    st->close(st->ctx, f);
    return rc ? rc : size > cap ? WALKIT_ST_INVAL : (long)got;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 8)) & 0xff);
}

/* ---- checks */

static void check_file_layer(void)
{
    nor_emu *e = nor_emu_new(1024 * KB, 4 * KB, 16, 16);
    int rc, state;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    if (!st) {
        FAIL_REPORT("file_layer_mount", "rc %d", rc);
        return;
    }
    file_layer_checks("flashpool", st, 512, POOL_CAPS);
    CHECK("nor_rule_kept_by_file_layer", e->refused == 0, "%llu refused", (unsigned long long)e->refused);
    nor_emu_free(e);
}

static void check_mount_format(void)
{
    nor_emu *e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    int rc, state = -1;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    CHECK("blank_is_formatted", st && state == WALKIT_FLASHPOOL_FORMATTED, "rc %d state %d", rc, state);
    if (!st) return;
    static unsigned char a[20000], b[20000];
    fill(a, sizeof a, 1);
    rc = put(st, "/dir/a.bin", 0, a, sizeof a);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    long n = st ? get(st, "/dir/a.bin", b, sizeof b) : -1;
    CHECK("remount_keeps_file", st && state == WALKIT_FLASHPOOL_MOUNTED && n == (long)sizeof a &&
          memcmp(a, b, sizeof a) == 0, "rc %d state %d n %ld", rc, state, n);
    if (!st) return;

    /* Overwrites of programmed bytes go out of place: new bytes win, the rest is intact. */
    unsigned char patch[3000];
    fill(patch, sizeof patch, 9);
    rc = put(st, "/dir/a.bin", 5000, patch, sizeof patch);
    memcpy(a + 5000, patch, sizeof patch);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    n = st ? get(st, "/dir/a.bin", b, sizeof b) : -1;
    CHECK("overwrite_survives_remount", n == (long)sizeof a && memcmp(a, b, sizeof a) == 0, "n %ld", n);
    if (!st) return;

    /* Truncate then write beyond: the gap reads as zeros, old bytes past the cut are gone. */
    walkit_storage_file *f;
    st->open(st->ctx, "/dir/a.bin", 0, &f);
    rc = st->truncate(st->ctx, f, 1000);
    unsigned char tail[100];
    fill(tail, sizeof tail, 3);
    if (!rc) rc = st->write(st->ctx, f, 3000, tail, sizeof tail);
    st->close(st->ctx, f);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    n = st ? get(st, "/dir/a.bin", b, sizeof b) : -1;
    int zeros = 1;
    for (int i = 1000; i < 3000 && n > 0; i++) zeros &= b[i] == 0;
    CHECK("truncate_survives_remount", n == 3100 && memcmp(a, b, 1000) == 0 && zeros &&
          memcmp(b + 3000, tail, sizeof tail) == 0, "n %ld zeros %d", n, zeros);
    if (!st) return;

    rc = st->remove(st->ctx, "/dir/a.bin", 1);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    CHECK("remove_survives_remount", st && st->exists(st->ctx, "/dir/a.bin") == 0, "rc %d", rc);

    /* Many state-log records: compactions into the other area, state kept. */
    walkit_flashpool_info info0, info1;
    walkit_flashpool_info_get(st, &info0);
    char name[32];
    for (int i = 0; i < 4000 && rc == 0; i++) {
        snprintf(name, sizeof name, "/c%d", i % 20);
        rc = put(st, name, 0, a, 100 + (size_t)i);
        if (rc == 0 && i % 5 == 0) rc = st->remove(st->ctx, name, 1);
    }
    walkit_flashpool_info_get(st, &info1);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    n = st ? get(st, "/c18", b, sizeof b) : -1;
    CHECK("log_compaction_keeps_state", info1.compactions > info0.compactions && n == 100 + 3998 &&
          memcmp(a, b, (size_t)n) == 0 && st->exists(st->ctx, "/c15") == 0,
          "%llu compactions, n %ld, rc %d", (unsigned long long)info1.compactions, n, rc);
    walkit_flashpool_info_get(st, &info0);
    CHECK("erase_counts_persist", info0.erase_total == info1.erase_total && info1.erase_total > 0,
          "%llu before remount, %llu after", (unsigned long long)info1.erase_total,
          (unsigned long long)info0.erase_total);
    CHECK("nor_rule_kept", e->refused == 0, "%llu refused", (unsigned long long)e->refused);
    walkit_storage_destroy(st);
    nor_emu_free(e);
}

static void check_corruption(void)
{
    int rc, state;
    /* Not blank, not a pool: refused, nothing written. */
    nor_emu *e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    memset(e->mem + 300 * KB, 0x5a, 10);
    const walkit_storage *st = mount(e, 0, &rc, &state);
    CHECK("foreign_data_is_corrupt", !st && rc == WALKIT_ST_CORRUPT && e->prog_ops == 0 &&
          e->erase_ops == 0, "rc %d, %llu programs", rc, (unsigned long long)e->prog_ops);
    nor_emu_free(e);

    /* A damaged record in a block that is not a file's last: reported, nothing written. */
    e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    st = mount(e, 0, &rc, &state);
    static unsigned char a[30000];
    fill(a, sizeof a, 5);
    put(st, "/big", 0, a, sizeof a);
    walkit_flashpool_info info;
    walkit_flashpool_info_get(st, &info);
    walkit_storage_destroy(st);
    uint32_t first_data = 2 * info.log_area_blocks;
    e->mem[first_data * 4 * KB + 100] ^= 0x01; /* inside the first data block's first record */
    nor_emu_reset_counters(e);
    st = mount(e, 0, &rc, &state);
    CHECK("damaged_record_is_corrupt", !st && rc == WALKIT_ST_CORRUPT && e->prog_ops == 0 &&
          e->erase_ops == 0, "rc %d", rc);
    e->mem[first_data * 4 * KB + 100] ^= 0x01;

    /* Another geometry (the board's table changed): refused, not reformatted. */
    e->bd.erase_block = 8 * KB;
    st = mount(e, 0, &rc, &state);
    CHECK("other_geometry_is_corrupt", !st && rc == WALKIT_ST_CORRUPT && e->prog_ops == 0, "rc %d", rc);
    e->bd.erase_block = 4 * KB;
    st = mount(e, 0, &rc, &state);
    CHECK("repaired_mounts", st && state == WALKIT_FLASHPOOL_MOUNTED, "rc %d", rc);
    if (st) walkit_storage_destroy(st);
    nor_emu_free(e);
}

/* Mounts with the reason a mount that fails gives (walkit_storage_flashpool_why). */
static const walkit_storage *mount_why(nor_emu *e, int *rc, char *why, size_t n)
{
    walkit_flashpool_config cfg = {&e->bd, 0, 0};
    const walkit_storage *st = NULL;
    int state;
    *rc = walkit_storage_flashpool_why(&cfg, &st, &state, why, (uint32_t)n);
    return *rc == WALKIT_ST_OK ? st : NULL;
}

/* Offsets of the state-log records of the area at base (docs/flashpool.md): up to max. */
static int log_records(const nor_emu *e, uint32_t base, uint32_t area_bytes, uint32_t *at, int max)
{
    int n = 0;
    for (uint32_t o = 0; o + 8 <= area_bytes && n < max;) {
        const unsigned char *h = e->mem + base + o;
        if (h[0] == 0xff && h[1] == 0xff) break;
        at[n++] = o;
        o += (8u + (h[2] | (uint32_t)h[3] << 8) + 15u) & ~15u;
    }
    return n;
}

/* What a cut can leave is discarded; damage is reported (docs/flashpool.md, "Mount").  A file
 * "/f" of five 100-byte records in one block (records at 0, 144, 288, 432, 576; its chain
 * ends at 720), then: a cut tearing a sixth record (header whole) and a torn header alone:
 * mounted, the file as before, later appends go on (in a new block: the torn one is sealed)
 * and survive; a flipped bit in the data or the header of the third record, with two whole
 * records after it: reported with block and offset, nothing written; the same for a state-log
 * record in the middle of the active area; a torn log tail: mounted (compacted into the other
 * area); then damage in that newest area's snapshot: reported, never a silent fall back to
 * the older area. */
static void check_torn_or_damaged(void)
{
    int rc, state;
    char why[200];
    nor_emu *e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    const walkit_storage *st = mount(e, 0, &rc, &state);
    static unsigned char a[1000], b[2000], *good;
    fill(a, sizeof a, 4);
    for (int i = 0; i < 5 && st; i++) put(st, "/f", (uint64_t)i * 100, a + i * 100, 100);
    walkit_flashpool_info info;
    walkit_flashpool_info_get(st, &info);
    walkit_storage_destroy(st);
    uint32_t area_bytes = info.log_area_blocks * 4 * KB, blk = 2 * info.log_area_blocks;
    unsigned char *head = e->mem + blk * 4 * KB;
    good = malloc(512 * KB);
    memcpy(good, e->mem, 512 * KB);
    CHECK("torn_setup_one_block", head[0] == 0x57 && head[576] == 0x57 && head[720] == 0xff &&
          head[721] == 0xff, "unexpected layout");

    /* A real cut: the program of a sixth record keeps half its words (the header whole). */
    st = mount(e, 0, &rc, &state);
    e->cut_at = e->seq + 1;
    int prc = st ? put(st, "/f", 500, a + 500, 100) : -1;
    walkit_storage_destroy(st);
    nor_emu_revive(e);
    nor_emu_reset_counters(e);
    st = mount_why(e, &rc, why, sizeof why);
    long n = st ? get(st, "/f", b, sizeof b) : -1;
    CHECK("torn_tail_is_discarded", prc != 0 && st && head[720] != 0xff && n == 500 &&
          memcmp(a, b, 500) == 0, "put %d, rc %d (%s), n %ld", prc, rc, why, n);
    rc = st ? put(st, "/f", 500, a + 500, 200) : -1;
    walkit_storage_destroy(st);
    st = mount_why(e, &rc, why, sizeof why);
    n = st ? get(st, "/f", b, sizeof b) : -1;
    CHECK("appends_after_a_torn_tail_survive", st && n == 700 && memcmp(a, b, 700) == 0 &&
          e->refused == 0, "rc %d (%s), n %ld, %llu refused", rc, why, n,
          (unsigned long long)e->refused);
    walkit_storage_destroy(st);

    /* A torn header alone (its first 16 bytes: the CRC does not check out), blank after. */
    memcpy(e->mem, good, 512 * KB);
    memcpy(head + 720, head + 576, 16);
    st = mount_why(e, &rc, why, sizeof why);
    n = st ? get(st, "/f", b, sizeof b) : -1;
    CHECK("torn_header_is_discarded", st && n == 500 && memcmp(a, b, 500) == 0, "rc %d (%s), n %ld",
          rc, why, n);
    walkit_storage_destroy(st);

    /* Damage with whole records after it: the data, then the header of the third record. */
    int hit_ok[2];
    char hit_why[2][200];
    for (int i = 0; i < 2; i++) {
        memcpy(e->mem, good, 512 * KB);
        head[i == 0 ? 288 + 40 : 288 + 10] ^= 0x10;
        nor_emu_reset_counters(e);
        st = mount_why(e, &rc, why, sizeof why);
        char want[80];
        snprintf(want, sizeof want, "data block %u (file /f) offset 288: damaged record", blk);
        hit_ok[i] = !st && rc == WALKIT_ST_CORRUPT && e->prog_ops == 0 && e->erase_ops == 0 &&
                    strstr(why, want) && strstr(why, "at offset 432");
        snprintf(hit_why[i], sizeof hit_why[i], "rc %d: %s", rc, why);
        if (st) walkit_storage_destroy(st);
    }
    CHECK("damaged_data_mid_block_is_corrupt", hit_ok[0], "%s", hit_why[0]);
    CHECK("damaged_header_mid_block_is_corrupt", hit_ok[1], "%s", hit_why[1]);

    /* The state log: a flipped bit in a record with records after it. */
    memcpy(e->mem, good, 512 * KB);
    uint32_t at[64];
    int nrec = log_records(e, 0, area_bytes, at, 64);
    e->mem[at[nrec - 2] + 9] ^= 0x01;
    nor_emu_reset_counters(e);
    st = mount_why(e, &rc, why, sizeof why);
    char want[80];
    snprintf(want, sizeof want, "state-log area 0 (generation 1) offset %u: damaged record", at[nrec - 2]);
    CHECK("damaged_log_record_mid_area_is_corrupt", nrec >= 4 && !st && rc == WALKIT_ST_CORRUPT &&
          e->prog_ops == 0 && e->erase_ops == 0 && strstr(why, want), "%d records, rc %d: %s", nrec,
          rc, why);
    if (st) walkit_storage_destroy(st);

    /* A torn log tail: the first 8 bytes of an ALLOC record whose CRC does not check out. */
    memcpy(e->mem, good, 512 * KB);
    uint32_t end = at[nrec - 1] + 32; /* an ALLOC: 8 + 9 bytes, padded to 32 */
    static const unsigned char torn_alloc[16] = {18, 0, 9, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(e->mem + end, torn_alloc, sizeof torn_alloc);
    st = mount_why(e, &rc, why, sizeof why);
    walkit_flashpool_info_get(st, &info);
    n = st ? get(st, "/f", b, sizeof b) : -1;
    CHECK("torn_log_tail_is_discarded", e->mem[at[nrec - 1]] == 18 && st && n == 500 &&
          memcmp(a, b, 500) == 0 && info.compactions == 1, "rc %d (%s), n %ld", rc, why, n);
    walkit_storage_destroy(st);

    /* The newest area (1, generation 2) damaged in its snapshot: reported, not rolled back to
     * area 0 (generation 1, complete, older). */
    nrec = log_records(e, area_bytes, area_bytes, at, 64);
    e->mem[area_bytes + at[1] + 9] ^= 0x01;
    nor_emu_reset_counters(e);
    st = mount_why(e, &rc, why, sizeof why);
    snprintf(want, sizeof want, "state-log area 1 (generation 2) offset %u: damaged record", at[1]);
    CHECK("damaged_newest_area_is_corrupt_not_rolled_back", nrec >= 3 && !st &&
          rc == WALKIT_ST_CORRUPT && e->prog_ops == 0 && strstr(why, want), "rc %d: %s", rc, why);
    if (st) walkit_storage_destroy(st);
    free(good);
    nor_emu_free(e);
}

static void check_full(void)
{
    nor_emu *e = nor_emu_new(256 * KB, 4 * KB, 16, 16);
    int rc, state;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    static unsigned char a[4096], b[4096];
    fill(a, sizeof a, 7);
    rc = put(st, "/keep", 0, a, sizeof a);
    walkit_storage_file *f;
    st->open(st->ctx, "/fill", WALKIT_ST_CREATE, &f);
    uint64_t off = 0;
    while ((rc = st->write(st->ctx, f, off, a, 1000)) == 0 && off < 10u * 1024 * 1024) off += 1000;
    st->close(st->ctx, f);
    CHECK("full_is_nospc", rc == WALKIT_ST_NOSPC && off > 50 * KB, "rc %d at %llu", rc, (unsigned long long)off);
    long n = get(st, "/keep", b, sizeof b);
    CHECK("full_keeps_data", n == (long)sizeof a && memcmp(a, b, sizeof a) == 0, "n %ld", n);
    rc = st->remove(st->ctx, "/fill", 1);
    if (!rc) rc = put(st, "/after", 0, a, sizeof a);
    CHECK("space_back_after_remove", rc == 0, "rc %d", rc);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    n = st ? get(st, "/keep", b, sizeof b) : -1;
    CHECK("full_keeps_data_after_remount", n == (long)sizeof a && memcmp(a, b, sizeof a) == 0, "n %ld", n);
    CHECK("nor_rule_kept_when_full", e->refused == 0, "%llu", (unsigned long long)e->refused);
    if (st) walkit_storage_destroy(st);
    nor_emu_free(e);
}

static void check_relaxed_time_bound(void)
{
    nor_emu *e = nor_emu_new(256 * KB, 4 * KB, 16, 16);
    walkit_flashpool_config cfg = {&e->bd, 8192, 5};
    const walkit_storage *st = NULL;
    int state, rc = walkit_storage_flashpool(&cfg, &st, &state);
    walkit_storage_file *f;
    walkit_flashpool_info i1, i2;
    unsigned char a[100] = {1};
    uint64_t size;
    st->open(st->ctx, "/r", WALKIT_ST_CREATE, &f);
    rc = st->write(st->ctx, f, 0, a, sizeof a);
    walkit_flashpool_info_get(st, &i1);
    sqlite3_sleep(20);
    st->size(st->ctx, f, &size);
    walkit_flashpool_info_get(st, &i2);
    CHECK("relaxed_holds_then_flushes_after_ms", rc == 0 && i1.pending_bytes == 100 &&
          i2.pending_bytes == 0, "pending %u then %u", i1.pending_bytes, i2.pending_bytes);
    st->close(st->ctx, f);
    walkit_storage_destroy(st);
    nor_emu_free(e);
}

/* ---- SQLite workloads */

static int vfs_up(const walkit_storage *st)
{
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "pool";
    cfg.storage = st;
    cfg.make_default = 0;
    return walkit_register(&cfg);
}

static void vfs_down(const walkit_storage *st)
{
    walkit_unregister("pool");
    walkit_storage_destroy(st);
}

/* Random page rewrites of two files on a small pool: blocks end up partly live, so the cleaner
 * must copy live bytes forward; the contents always equal a shadow copy, also after remount. */
static void check_cleaner(void)
{
    enum { FSZ = 96 * 1024, PG = 1024 };
    nor_emu *e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    int rc, state;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    static unsigned char shadow[2][FSZ], buf[FSZ], pg[PG];
    const char *names[2] = {"/a", "/b"};
    walkit_storage_file *f[2];
    rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        fill(shadow[k], FSZ, (unsigned)k + 11);
        rc = st->open(st->ctx, names[k], WALKIT_ST_CREATE, &f[k]);
        if (!rc) rc = st->write(st->ctx, f[k], 0, shadow[k], FSZ);
    }
    unsigned seed = 12345;
    for (int i = 0; i < 3000 && !rc; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 16) & 1;
        uint32_t at = ((seed >> 4) % (FSZ / PG)) * PG;
        fill(pg, PG, (unsigned)i);
        memcpy(shadow[k] + at, pg, PG);
        rc = st->write(st->ctx, f[k], at, pg, PG);
    }
    walkit_flashpool_info info;
    walkit_flashpool_info_get(st, &info);
    size_t got = 0;
    int same = !rc;
    for (int k = 0; k < 2 && same; k++)
        same = st->read(st->ctx, f[k], 0, buf, FSZ, &got) == 0 && got == FSZ && memcmp(buf, shadow[k], FSZ) == 0;
    CHECK("cleaner_copies_live_bytes", rc == 0 && info.gc_bytes > 0 && same, "rc %d gc %llu same %d", rc,
          (unsigned long long)info.gc_bytes, same);
    for (int k = 0; k < 2; k++) st->close(st->ctx, f[k]);
    walkit_storage_destroy(st);
    st = mount(e, 0, &rc, &state);
    same = st != NULL;
    for (int k = 0; k < 2 && same; k++)
        same = get(st, names[k], buf, FSZ) == FSZ && memcmp(buf, shadow[k], FSZ) == 0;
    CHECK("cleaner_result_survives_remount", same, "rc %d", rc);
    CHECK("cleaner_nor_rule_kept", e->refused == 0, "%llu", (unsigned long long)e->refused);
    if (st) walkit_storage_destroy(st);
    nor_emu_free(e);
}

/* The cleaner under power cuts: the rewrite workload of check_cleaner, cut at every `step`th
 * program/erase.  After each reboot the pool mounts and each file holds every acknowledged
 * write; each byte of the write in flight at the cut is old or new, no other byte changed. */
enum { CL_FSZ = 64 * 1024, CL_PG = 1024, CL_WRITES = 1200 };

static void cleaner_write(int i, int *k, uint32_t *at, unsigned char *pg)
{
    unsigned seed = 12345u + (unsigned)i * 2654435761u;
    seed = seed * 1103515245u + 12345u;
    *k = (seed >> 16) & 1;
    *at = ((seed >> 4) % (CL_FSZ / CL_PG)) * CL_PG;
    fill(pg, CL_PG, (unsigned)i + 100);
}

static int cleaner_workload(const walkit_storage *st, const nor_emu *e, int *acked)
{
    static unsigned char init[CL_FSZ], pg[CL_PG];
    const char *names[2] = {"/a", "/b"};
    walkit_storage_file *f[2] = {NULL, NULL};
    int rc = 0;
    *acked = -2; /* -2: not even the files; -1: files written, no rewrite yet */
    for (int k = 0; k < 2 && !rc; k++) {
        fill(init, CL_FSZ, (unsigned)k + 11);
        rc = st->open(st->ctx, names[k], WALKIT_ST_CREATE, &f[k]);
        if (!rc) rc = st->write(st->ctx, f[k], 0, init, CL_FSZ);
        if (!rc) rc = st->sync(st->ctx, f[k], 0);
    }
    if (!rc && !e->dead) *acked = -1;
    for (int i = 0; i < CL_WRITES && !rc && !e->dead; i++) {
        int k;
        uint32_t at;
        cleaner_write(i, &k, &at, pg);
        rc = st->write(st->ctx, f[k], at, pg, CL_PG);
        if (!rc && !e->dead) *acked = i;
    }
    for (int k = 0; k < 2; k++)
        if (f[k]) st->close(st->ctx, f[k]);
    return rc;
}

static outcome cut_cleaner(int step)
{
    outcome o = {1, ""};
    nor_emu *e = nor_emu_new(384 * KB, 4 * KB, 16, 16);
    int rc, state, acked;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    unsigned char *blank = malloc(384 * KB);
    memcpy(blank, e->mem, 384 * KB);
    uint64_t base = e->seq;
    rc = cleaner_workload(st, e, &acked);
    walkit_flashpool_info info;
    walkit_flashpool_info_get(st, &info);
    walkit_storage_destroy(st);
    uint64_t total = e->seq - base;
    if (rc || acked != CL_WRITES - 1 || info.gc_bytes == 0) {
        snprintf(o.why, sizeof o.why, "dry run: rc %d acked %d gc %llu", rc, acked,
                 (unsigned long long)info.gc_bytes);
        o.ok = 0;
    }
    static unsigned char shadow[2][CL_FSZ], buf[CL_FSZ], pg[CL_PG];
    int runs = 0;
    for (uint64_t n = 1; n <= total && o.ok; n += (uint64_t)step) {
        memcpy(e->mem, blank, 384 * KB);
        nor_emu_revive(e);
        e->seq = 0;
        e->cut_at = n;
        st = mount(e, 0, &rc, &state);
        cleaner_workload(st, e, &acked);
        walkit_storage_destroy(st);
        nor_emu_revive(e);
        st = mount(e, 0, &rc, &state);
        runs++;
        if (!st) {
            snprintf(o.why, sizeof o.why, "cut at %llu: mount rc %d", (unsigned long long)n, rc);
            o.ok = 0;
            break;
        }
        if (acked >= -1) {
            for (int k = 0; k < 2; k++) fill(shadow[k], CL_FSZ, (unsigned)k + 11);
            for (int i = 0; i <= acked; i++) {
                int k;
                uint32_t at;
                cleaner_write(i, &k, &at, pg);
                memcpy(shadow[k] + at, pg, CL_PG);
            }
            int k2 = -1;
            uint32_t at2 = 0;
            if (acked + 1 < CL_WRITES) cleaner_write(acked + 1, &k2, &at2, pg);
            for (int k = 0; k < 2 && o.ok; k++) {
                const char *name = k ? "/b" : "/a";
                long got = get(st, name, buf, CL_FSZ);
                int same = got == CL_FSZ;
                /* Bytes of the write in flight are old or new (it may be split over two blocks,
                 * and only the first part landed: not ATOMIC); every other byte is as acked. */
                for (uint32_t b = 0; same && b < CL_FSZ; b++)
                    same = buf[b] == shadow[k][b] ||
                           (k == k2 && b >= at2 && b < at2 + CL_PG && buf[b] == pg[b - at2]);
                if (!same) {
                    snprintf(o.why, sizeof o.why, "cut at %llu: %s differs (acked %d, got %ld)",
                             (unsigned long long)n, name, acked, got);
                    o.ok = 0;
                }
            }
        }
        walkit_storage_destroy(st);
    }
    if (o.ok) snprintf(o.why, sizeof o.why, "%d cut points of %llu", runs, (unsigned long long)total);
    printf("# cut_cleaner: %s, refused %llu\n", o.why, (unsigned long long)e->refused);
    if (e->refused) {
        o.ok = 0;
        snprintf(o.why, sizeof o.why, "%llu programs refused", (unsigned long long)e->refused);
    }
    free(blank);
    nor_emu_free(e);
    return o;
}

/* SQLite on a full pool: SQLITE_FULL, every committed row intact, also after a remount. */
static void check_sqlite_full(void)
{
    nor_emu *e = nor_emu_new(384 * KB, 4 * KB, 16, 16);
    int rc, state, ok = 0;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    vfs_up(st);
    sqlite3 *db = open_db("/full.db", "pool");
    rc = exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)");
    while (rc == SQLITE_OK && ok < 100000) {
        rc = exec(db, "INSERT INTO t(v) VALUES (randomblob(2000))");
        ok += rc == SQLITE_OK;
    }
    CHECK("sqlite_full_is_sqlite_full", (rc & 0xff) == SQLITE_FULL && ok > 10, "rc %d after %d rows", rc, ok);
    CHECK("sqlite_full_keeps_rows", query_int(db, "SELECT count(*) FROM t") == ok, "%d rows, %d committed",
          query_int(db, "SELECT count(*) FROM t"), ok);
    sqlite3_close(db);
    vfs_down(st);
    st = mount(e, 0, &rc, &state);
    if (!st || vfs_up(st) != SQLITE_OK) {
        CHECK("sqlite_full_intact_after_remount", 0, "mount rc %d", rc);
        return;
    }
    db = open_db("/full.db", "pool");
    int n = query_int(db, "SELECT count(*) FROM t");
    sqlite3_stmt *q = NULL;
    char integrity[64] = "";
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        snprintf(integrity, sizeof integrity, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    CHECK("sqlite_full_intact_after_remount", n == ok && strcmp(integrity, "ok") == 0, "%d rows of %d, %s",
          n, ok, integrity);
    CHECK("sqlite_full_nor_rule_kept", e->refused == 0, "%llu", (unsigned long long)e->refused);
    sqlite3_close(db);
    vfs_down(st);
    nor_emu_free(e);
}

/* 1-row autocommit inserts at synchronous=FULL: bytes programmed and erased per commit over
 * `measure` commits, once twice the partition's bytes have been programmed (steady state: WAL
 * restarts, checkpoints, blocks recycled, no blank block left to take for free). */
static outcome amplification(const char *name, uint32_t size, uint32_t bs, int measure)
{
    outcome out = {0, ""};
    nor_emu *e = nor_emu_new(size, bs, 16, 16);
    int rc, state;
    const walkit_storage *st = mount(e, 0, &rc, &state);
    if (!st || vfs_up(st) != SQLITE_OK) {
        snprintf(out.why, sizeof out.why, "set-up rc %d", rc);
        return out;
    }
    sqlite3 *db = open_db("/amp.db", "pool");
    rc = exec(db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                  "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)");
    sqlite3_stmt *ins = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (randomblob(100))", -1, &ins, NULL);
    walkit_flashpool_info i0, i1;
    int warmed = 0, done = 0;
    for (int i = 0; done < measure && rc == SQLITE_OK && i < 100000; i++) {
        if (!warmed && e->prog_bytes >= 2ull * size) {
            walkit_flashpool_info_get(st, &i0);
            warmed = i;
            nor_emu_reset_counters(e);
        }
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(ins);
        done += warmed > 0;
    }
    if (done < measure && rc == SQLITE_OK) rc = SQLITE_ERROR; /* never reached steady state */
    walkit_flashpool_info_get(st, &i1);
    sqlite3_finalize(ins);
    double unit = 4096.0 + 24.0;
    double prog = (double)e->prog_bytes / measure / unit, erase = (double)e->erase_bytes / measure / unit;
    printf("# %s: %d commits after %d: programmed %.3f x (page+24), erased %.3f x, erase counts %u..%u, "
           "gc %llu bytes, %llu compactions\n", name, measure, warmed, prog, erase, i1.erase_min,
           i1.erase_max, (unsigned long long)(i1.gc_bytes - i0.gc_bytes),
           (unsigned long long)(i1.compactions - i0.compactions));
    out.ok = rc == SQLITE_OK && prog <= 1.5 && erase <= 1.5 && e->refused == 0;
    snprintf(out.why, sizeof out.why, "rc %d programmed %.3f erased %.3f refused %llu", rc, prog,
             erase, (unsigned long long)e->refused);
    sqlite3_close(db);
    vfs_down(st);
    nor_emu_free(e);
    return out;
}

/* The cut campaign's workload: a table, then CUT_ROWS autocommit inserts of row k = 1..
 * *acked: the last commit that returned OK before the power was cut (the CREATE is 0, rows are
 * k; -1 = none).  Code keeps running on the emulator after the cut, which no board does, so a
 * commit that returns after it is not acknowledged. */
#define CUT_ROWS 24
static int workload(sqlite3 *db, const char *sync, const nor_emu *e, int *acked)
{
    char sql[200];
    *acked = -1;
    snprintf(sql, sizeof sql, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "PRAGMA wal_autocheckpoint=6", sync);
    if (exec(db, sql) != SQLITE_OK) return 1;
    if (exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)") != SQLITE_OK || e->dead) return 1;
    *acked = 0;
    for (int k = 1; k <= CUT_ROWS; k++) {
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d, printf('%%.100c', char(64 + %d)))", k, k % 26);
        if (exec(db, sql) != SQLITE_OK || e->dead) return 1;
        *acked = k;
    }
    return 0;
}

/* Cuts the power at every program/erase of the workload.  After each cut: the pool mounts, the
 * database passes integrity_check, holds rows 1..n with their values, n >= acknowledged -
 * max_lost, and takes new commits.  Returns the number of cut points. */
typedef struct cut_result {
    outcome dry, mounts, kept, after, nor, reverted;
} cut_result;

/* cache: the device has a write-back cache (nor_emu_set_cache): at each cut, blocks written
 * since the pool's last barrier may revert. */
static cut_result cut_campaign(const char *prefix, const char *sync, uint32_t relaxed, int max_lost,
                               int cache)
{
    cut_result r;
    memset(&r, 0, sizeof r);
    nor_emu *e = nor_emu_new(512 * KB, 4 * KB, 16, 16);
    int rc, state, acked;
    nor_emu_set_cache(e, cache);
    /* A dry run counts the operations. */
    const walkit_storage *st = mount(e, relaxed, &rc, &state);
    unsigned char *blank = malloc(512 * KB);
    memcpy(blank, e->mem, 512 * KB); /* the formatted, empty pool */
    uint64_t base = e->seq;
    vfs_up(st);
    sqlite3 *db = open_db("/c.db", "pool");
    rc = workload(db, sync, e, &acked);
    sqlite3_close(db);
    vfs_down(st);
    uint64_t total = e->seq - base;
    r.dry.ok = rc == 0 && acked == CUT_ROWS && total > 20;
    snprintf(r.dry.why, sizeof r.dry.why, "rc %d acked %d ops %llu", rc, acked, (unsigned long long)total);
    int bad_mount = 0, bad_db = 0, bad_after = 0, worst_lost = 0;
    char why[200] = "";
    for (uint64_t n = 1; n <= total; n++) {
        memcpy(e->mem, blank, 512 * KB);
        nor_emu_revive(e);
        e->seq = 0;
        e->cut_at = n;
        st = mount(e, relaxed, &rc, &state);
        vfs_up(st);
        db = open_db("/c.db", "pool");
        workload(db, sync, e, &acked);
        sqlite3_close(db);
        vfs_down(st);
        /* Reboot. */
        nor_emu_revive(e);
        st = mount(e, relaxed, &rc, &state);
        if (!st) {
            if (!bad_mount++) snprintf(why, sizeof why, "cut at %llu: mount rc %d", (unsigned long long)n, rc);
            continue;
        }
        vfs_up(st);
        db = open_db("/c.db", "pool");
        int count = query_int(db, "SELECT count(*) FROM t");
        int good = query_int(db, "SELECT count(*) FROM t WHERE v = printf('%.100c', char(64 + k % 26))");
        int maxk = query_int(db, "SELECT coalesce(max(k), 0) FROM t");
        sqlite3_stmt *q = NULL;
        char integrity[64] = "";
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            snprintf(integrity, sizeof integrity, "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        /* Commits: the CREATE and one per row; without t (count < 0) none survived. */
        int lost = (acked + 1) - (count < 0 ? 0 : count + 1);
        if (lost > worst_lost) worst_lost = lost;
        if (lost > max_lost || (count >= 0 && (strcmp(integrity, "ok") != 0 || good != count ||
                                                maxk != count))) {
            if (!bad_db++)
                snprintf(why, sizeof why, "cut at %llu: acked %d, count %d good %d max %d, %s",
                         (unsigned long long)n, acked, count, good, maxk, integrity);
        } else {
            rc = exec(db, "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT);"
                          "INSERT INTO t(v) VALUES ('after'); INSERT INTO t(v) VALUES ('cut')");
            if (rc != SQLITE_OK && !bad_after++)
                snprintf(why, sizeof why, "cut at %llu: new commits after reboot: %s",
                         (unsigned long long)n, sqlite3_errmsg(db));
        }
        sqlite3_close(db);
        vfs_down(st);
    }
    printf("# %s: %llu cut points, worst loss %d acknowledged commits (bound %d); %llu syncs, "
           "%llu blocks reverted\n", prefix, (unsigned long long)total, worst_lost, max_lost,
           (unsigned long long)e->syncs, (unsigned long long)e->reverted);
    r.mounts.ok = bad_mount == 0;
    r.kept.ok = bad_db == 0;
    r.after.ok = bad_after == 0;
    r.nor.ok = e->refused == 0;
    r.reverted.ok = e->reverted > 0 && e->syncs > 0;
    snprintf(r.reverted.why, sizeof r.reverted.why, "%llu blocks reverted, %llu syncs",
             (unsigned long long)e->reverted, (unsigned long long)e->syncs);
    snprintf(r.mounts.why, sizeof r.mounts.why, "%d of %llu: %s", bad_mount, (unsigned long long)total, why);
    snprintf(r.kept.why, sizeof r.kept.why, "%d of %llu: %s", bad_db, (unsigned long long)total, why);
    snprintf(r.after.why, sizeof r.after.why, "%d of %llu: %s", bad_after, (unsigned long long)total, why);
    snprintf(r.nor.why, sizeof r.nor.why, "%llu refused", (unsigned long long)e->refused);
    free(blank);
    nor_emu_free(e);
    return r;
}

#define CHECK_OUTCOME(name, o) CHECK(name, (o).ok, "%s", (o).why)

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "all";
    if (walkit_init() != SQLITE_OK) return 2;
    if (strcmp(what, "all") == 0) {
        check_file_layer();
        check_mount_format();
        check_corruption();
        check_torn_or_damaged();
        check_full();
        check_relaxed_time_bound();
        check_sqlite_full();
        check_cleaner();
    }
    if (strcmp(what, "all") == 0 || strcmp(what, "amp") == 0) {
        outcome o = amplification("4k", 8192 * KB, 4 * KB, 4000);
        CHECK_OUTCOME("amplification_full_4k_blocks", o);
        o = amplification("256k", 16384 * KB, 256 * KB, 4000);
        CHECK_OUTCOME("amplification_full_256k_blocks", o);
    }
    /* Each workload commit at NORMAL puts one 1024-byte page and a 24-byte frame header into
     * the queue: a bound of 3 frames loses at most 3 commits, plus one whose frame straddles. */
    if (strcmp(what, "cut-full") == 0) {
        cut_result r = cut_campaign("cut_full", "FULL", 0, 0, 0);
        CHECK_OUTCOME("cut_full_dry_run", r.dry);
        CHECK_OUTCOME("cut_full_every_cut_mounts", r.mounts);
        CHECK_OUTCOME("cut_full_every_acknowledged_commit_kept", r.kept);
        CHECK_OUTCOME("cut_full_commits_after_every_cut", r.after);
        CHECK_OUTCOME("cut_full_nor_rule_kept", r.nor);
    }
    /* A write-back cache that loses what was not synced, out of order: the pool's barriers
     * keep every acknowledged commit at FULL. */
    if (strcmp(what, "cut-cache") == 0) {
        cut_result r = cut_campaign("cut_cache_full", "FULL", 0, 0, 1);
        CHECK_OUTCOME("cut_cache_dry_run", r.dry);
        CHECK_OUTCOME("cut_cache_every_cut_mounts", r.mounts);
        CHECK_OUTCOME("cut_cache_every_acknowledged_commit_kept", r.kept);
        CHECK_OUTCOME("cut_cache_commits_after_every_cut", r.after);
        CHECK_OUTCOME("cut_cache_nor_rule_kept", r.nor);
        CHECK_OUTCOME("cut_cache_cuts_reverted_blocks", r.reverted);
    }
    if (strcmp(what, "cut-cleaner") == 0) {
        outcome o = cut_cleaner(argc > 2 ? atoi(argv[2]) : 7);
        CHECK_OUTCOME("cut_cleaner_every_acknowledged_write_kept", o);
    }
    if (strcmp(what, "cut-relaxed") == 0) {
        cut_result r = cut_campaign("cut_relaxed_normal", "NORMAL", 3 * 1048, 4, 0);
        CHECK_OUTCOME("cut_relaxed_dry_run", r.dry);
        CHECK_OUTCOME("cut_relaxed_every_cut_mounts", r.mounts);
        CHECK_OUTCOME("cut_relaxed_loses_at_most_the_bound", r.kept);
        CHECK_OUTCOME("cut_relaxed_commits_after_every_cut", r.after);
        CHECK_OUTCOME("cut_relaxed_nor_rule_kept", r.nor);
    }
    return checks_done();
}
