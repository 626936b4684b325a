/* test_copy.c: checks of the copy mode's contracts that need C (vfs/shm/copy.c): the transport
 * carries every word, one mode per file, one transport per file, registration errors, memory
 * exhaustion in xShmMap, the rollback-after-reset case of docs/vfs.md's rule 4, and the fence
 * contract of every lock call and barrier (one check per rule).  Driven by
 * tests/vfs/shm/test_copy.py (tests/support/checks.h conventions). */
#define CHECKS_MAIN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "sqlite3.h"
#include "walkit.h"

static char why[256];

/* Inside a check function: on a false condition, record why and return 0. */
#define EXPECT(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            snprintf(why, sizeof why, __VA_ARGS__);                                            \
            return 0;                                                                          \
        }                                                                                      \
    } while (0)

/* ---- a transport of the test's own: counts every call, keeps its words in its own memory */

typedef struct test_area {
    uint32_t *regions[64];
    int nregion;
    int locked;
} test_area;

static struct {
    int opens, closes, locks, reads, writes, grows, misuse;
} tc;

static void *t_open(void *arg, const char *path)
{
    (void)arg, (void)path;
    tc.opens++;
    return calloc(1, sizeof(test_area));
}
static void t_close(void *area)
{
    test_area *a = area;
    tc.closes++;
    for (int i = 0; i < a->nregion; i++) free(a->regions[i]);
    free(a);
}
static void t_lock(void *area)
{
    test_area *a = area;
    if (a->locked) tc.misuse++; /* one task at a time here: nested brackets are a bug */
    a->locked = 1;
    tc.locks++;
}
static void t_unlock(void *area)
{
    test_area *a = area;
    if (!a->locked) tc.misuse++;
    a->locked = 0;
}
static int t_nregion(void *area)
{
    test_area *a = area;
    if (!a->locked) tc.misuse++;
    return a->nregion;
}
static int t_grow(void *area, int n)
{
    test_area *a = area;
    if (!a->locked) tc.misuse++;
    tc.grows++;
    while (a->nregion < n && a->nregion < 64)
        a->regions[a->nregion++] = calloc(WALKIT_SHM_REGION_WORDS, 4);
    return a->nregion >= n ? 0 : 1;
}
static void t_read(void *area, int region, uint32_t word, uint32_t n, uint32_t *dst)
{
    test_area *a = area;
    if (!a->locked || region >= a->nregion || word + n > WALKIT_SHM_REGION_WORDS) tc.misuse++;
    else memcpy(dst, a->regions[region] + word, n * 4);
    tc.reads++;
}
static void t_write(void *area, int region, uint32_t word, uint32_t n, const uint32_t *src)
{
    test_area *a = area;
    if (!a->locked || region >= a->nregion || word + n > WALKIT_SHM_REGION_WORDS) tc.misuse++;
    else memcpy(a->regions[region] + word, src, n * 4);
    tc.writes++;
}
static const walkit_shm_transport counting = {
    t_open, t_close, t_lock, t_unlock, t_nregion, t_grow, t_read, t_write, NULL,
};

/* ---- helpers */

static sqlite3 *open_db(const char *vfs, const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    return db;
}

static long long one_int(sqlite3 *db, const char *sql, int *rc_out)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) rc = sqlite3_extended_errcode(db);
    sqlite3_finalize(st);
    if (rc_out) *rc_out = rc;
    return v;
}

static int reg(const char *name, const walkit_storage *st, walkit_shm_mode mode,
               const walkit_shm_transport *t)
{
    walkit_config c = WALKIT_CONFIG_DEFAULT;
    c.vfs_name = name;
    c.storage = st;
    c.shm_mode = mode;
    c.make_default = 0;
    c.shm_transport = t;
    return walkit_register(&c);
}

/* ---- checks */

static int check_transport_carries_every_word(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st && reg("t-count", st, WALKIT_SHM_COPY, &counting) == SQLITE_OK, "register");
    sqlite3 *a = open_db("t-count", "/c.db"), *b = open_db("t-count", "/c.db");
    EXPECT(a && b, "open");
    EXPECT(sqlite3_exec(a, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);"
                          "INSERT INTO t VALUES (1), (2), (3)", 0, 0, 0) == SQLITE_OK,
          "write: %s", sqlite3_errmsg(a));
    EXPECT(tc.opens == 1 && tc.writes > 0 && tc.reads > 0 && tc.grows > 0,
          "the transport was not used: opens %d writes %d reads %d", tc.opens, tc.writes,
          tc.reads);
    int rc;
    EXPECT(one_int(b, "SELECT sum(x) FROM t", &rc) == 6 && rc == SQLITE_OK,
          "the second connection does not see the first's commit through the transport");
    EXPECT(sqlite3_exec(b, "INSERT INTO t VALUES (4)", 0, 0, 0) == SQLITE_OK, "write b");
    EXPECT(one_int(a, "SELECT sum(x) FROM t", &rc) == 10, "a does not see b's commit");
    sqlite3_close(a);
    EXPECT(tc.closes == 0, "the area closed while a connection still has it");
    sqlite3_close(b);
    EXPECT(tc.closes == 1, "the area not closed after the last connection: %d", tc.closes);
    EXPECT(tc.misuse == 0, "%d transport calls outside a bracket or out of bounds", tc.misuse);
    EXPECT(walkit_unregister("t-count") == SQLITE_OK, "unregister");
    walkit_storage_destroy(st);
    return 1;
}

static int check_one_mode_per_file(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st && reg("m-heap", st, WALKIT_SHM_HEAP, NULL) == SQLITE_OK &&
              reg("m-copy", st, WALKIT_SHM_COPY, NULL) == SQLITE_OK, "register");
    sqlite3 *h = open_db("m-heap", "/m.db"), *c = open_db("m-copy", "/m.db");
    EXPECT(h && c, "open");
    EXPECT(sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (7)",
                       0, 0, 0) == SQLITE_OK, "heap write");
    int rc;
    one_int(c, "SELECT x FROM t", &rc);
    EXPECT(rc == SQLITE_IOERR_SHMOPEN, "copy connection beside a heap one: rc %d, want %d", rc,
          SQLITE_IOERR_SHMOPEN);
    sqlite3_close(h);
    EXPECT(one_int(c, "SELECT x FROM t", &rc) == 7 && rc == SQLITE_OK,
          "copy connection once the heap one is gone: rc %d", rc);
    h = open_db("m-heap", "/m.db");
    one_int(h, "SELECT x FROM t", &rc);
    EXPECT(rc == SQLITE_IOERR_SHMOPEN, "heap connection beside a copy one: rc %d", rc);
    sqlite3_close(h);
    sqlite3_close(c);
    EXPECT(walkit_unregister("m-heap") == SQLITE_OK && walkit_unregister("m-copy") == SQLITE_OK,
          "unregister");
    walkit_storage_destroy(st);
    return 1;
}

static int check_one_transport_per_file(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st && reg("x-own", st, WALKIT_SHM_COPY, NULL) == SQLITE_OK &&
              reg("x-count", st, WALKIT_SHM_COPY, &counting) == SQLITE_OK, "register");
    sqlite3 *a = open_db("x-own", "/x.db"), *b = open_db("x-count", "/x.db");
    EXPECT(a && b, "open");
    EXPECT(sqlite3_exec(a, "PRAGMA journal_mode=WAL; CREATE TABLE t(x)", 0, 0, 0) == SQLITE_OK,
          "write");
    int rc;
    one_int(b, "SELECT count(*) FROM t", &rc);
    EXPECT(rc == SQLITE_IOERR_SHMOPEN, "a second transport on one file: rc %d", rc);
    sqlite3_close(a);
    sqlite3_close(b);
    EXPECT(walkit_unregister("x-own") == SQLITE_OK && walkit_unregister("x-count") == SQLITE_OK,
          "unregister");
    walkit_storage_destroy(st);
    return 1;
}

static int check_registration_errors(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st, "storage");
    EXPECT(reg("r-bad", st, WALKIT_SHM_HEAP, &counting) == SQLITE_MISUSE,
          "a transport on a heap-mode registration is accepted");
    EXPECT(reg("r-bad", st, (walkit_shm_mode)7, NULL) == SQLITE_MISUSE, "shm mode 7 accepted");
    EXPECT(sqlite3_vfs_find("r-bad") == NULL, "a refused registration left a VFS behind");
    walkit_storage_destroy(st);
    return 1;
}

static int check_map_out_of_memory(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st && reg("o-copy", st, WALKIT_SHM_COPY, NULL) == SQLITE_OK, "register");
    int saw_nomem = 0;
    for (int skip = 0; skip < 12; skip++) {
        sqlite3 *db = open_db("o-copy", "/o.db");
        EXPECT(db, "open");
        walkit_fault_alloc(skip, 1);
        int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x);"
                                  "INSERT INTO t VALUES (1)", 0, 0, 0);
        walkit_fault_alloc(0, 0);
        if (rc != SQLITE_OK) {
            int e = sqlite3_extended_errcode(db);
            EXPECT((e & 0xff) == SQLITE_NOMEM || (e & 0xff) == SQLITE_IOERR, "rc %d", e);
            saw_nomem = 1;
        }
        EXPECT(sqlite3_exec(db, "INSERT INTO t VALUES (2)", 0, 0, 0) == SQLITE_OK ||
                  sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x)",
                               0, 0, 0) == SQLITE_OK,
              "no recovery after an allocation failure at %d: %s", skip, sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    EXPECT(saw_nomem, "no allocation failure was ever reported");
    sqlite3 *db = open_db("o-copy", "/o.db");
    char *err = NULL;
    int rc;
    EXPECT(one_int(db, "SELECT count(*) > 0 FROM t", &rc) == 1, "table lost");
    sqlite3_stmt *s = NULL;
    EXPECT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW &&
              strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0,
          "integrity");
    sqlite3_finalize(s);
    sqlite3_free(err);
    sqlite3_close(db);
    EXPECT(walkit_unregister("o-copy") == SQLITE_OK, "unregister");
    walkit_storage_destroy(st);
    return 1;
}

/* A rollback of a transaction that spilled frames right after a WAL reset changes the
 * WAL-index hash tables (wal.c walIndexAppend zeroes the first hash page at frame 1, and
 * sqlite3WalUndo's walCleanupHash returns early when mxFrame is 0) but not the 136-byte header.
 * A connection that skipped its acquire because the header looked unchanged then commits frame
 * 1 = page 2, the page frame 1 held before the reset: its words equal its stale shadow, are
 * never published, and the area keeps the rolled-back transaction's page numbers.  A fresh
 * connection then misses the commit (or reads a wrong page).  Fails with COPY_FULL_REGIONS off. */
static int check_rollback_after_reset_is_seen(void)
{
    const walkit_storage *st = walkit_storage_ram();
    EXPECT(st && reg("u-copy", st, WALKIT_SHM_COPY, NULL) == SQLITE_OK, "register");
    sqlite3 *a = open_db("u-copy", "/u.db"), *b = NULL, *c = NULL;
    EXPECT(a, "open a");
    EXPECT(sqlite3_exec(a, "PRAGMA journal_mode=WAL; PRAGMA cache_size=4;"
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                          "CREATE TABLE t2(id INTEGER PRIMARY KEY, v BLOB);"
                          "PRAGMA wal_checkpoint(TRUNCATE);"
                          "INSERT INTO t VALUES (1, 'before');"  /* frame 1 = page 2 */
                          "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0) == SQLITE_OK,
          "setup: %s", sqlite3_errmsg(a));
    b = open_db("u-copy", "/u.db");
    int rc;
    EXPECT(b && one_int(b, "SELECT count(*) FROM t", &rc) == 1, "b reads");
    int spills0 = 0, cur = 0, hi = 0;
    sqlite3_db_status(a, SQLITE_DBSTATUS_CACHE_SPILL, &spills0, &hi, 0);
    EXPECT(sqlite3_exec(a, "BEGIN;"
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                          "WHERE i < 300) INSERT INTO t2(v) SELECT zeroblob(1000) FROM n",
                       0, 0, 0) == SQLITE_OK, "spill: %s", sqlite3_errmsg(a));
    sqlite3_db_status(a, SQLITE_DBSTATUS_CACHE_SPILL, &cur, &hi, 0);
    EXPECT(cur > spills0, "the large transaction did not spill (%d)", cur);
    EXPECT(sqlite3_exec(a, "ROLLBACK", 0, 0, 0) == SQLITE_OK, "rollback");
    EXPECT(sqlite3_exec(b, "INSERT INTO t VALUES (2, 'after')", 0, 0, 0) == SQLITE_OK,
          "b writes: %s", sqlite3_errmsg(b));
    c = open_db("u-copy", "/u.db");
    long long n = c ? one_int(c, "SELECT count(*) FROM t", &rc) : -1;
    EXPECT(n == 2 && rc == SQLITE_OK, "a fresh connection sees %lld rows of 2 (rc %d)", n, rc);
    n = one_int(c, "SELECT count(*) FROM t2", &rc);
    EXPECT(n == 0 && rc == SQLITE_OK, "rolled-back rows visible: %lld (rc %d)", n, rc);
    sqlite3_stmt *s = NULL;
    EXPECT(sqlite3_prepare_v2(c, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
              sqlite3_step(s) == SQLITE_ROW, "integrity_check");
    int intact = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    EXPECT(intact, "integrity_check failed");
    sqlite3_close(a);
    sqlite3_close(b);
    sqlite3_close(c);
    EXPECT(walkit_unregister("u-copy") == SQLITE_OK, "unregister");
    walkit_storage_destroy(st);
    return 1;
}

/* ---- the fence contract, on the xShm* methods directly
 *
 * With a shared mapping (os_unix.c) every xShmLock call, granted, refused or an unlock, and
 * every xShmBarrier order a connection's loads and stores against every other connection's.
 * Each check below is one sequence of calls whose outcome a shared mapping fixes; each fails
 * when the copy-mode rule it names is dropped (test_copy.py builds those variants), whether or
 * not today's wal.c depends on that sequence. */

#define WORD 1000 /* a word past the 136-byte header, in region 0 */
#define SLOT_A 3
#define SLOT_B 4
#define SLOT_C 5

typedef struct shm_conn {
    sqlite3_file *f;
    volatile uint32_t *r0;
} shm_conn;

static int shm_open(sqlite3_vfs *vfs, const char *path, shm_conn *c)
{
    c->f = calloc(1, (size_t)vfs->szOsFile);
    int out = 0;
    if (!c->f || vfs->xOpen(vfs, path, c->f, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE |
                                                 SQLITE_OPEN_CREATE, &out) != SQLITE_OK)
        return 0;
    void volatile *p = NULL;
    if (c->f->pMethods->xShmMap(c->f, 0, 32768, 1, &p) != SQLITE_OK || !p) return 0;
    c->r0 = p;
    return 1;
}

static void shm_close(shm_conn *c)
{
    if (c->f && c->f->pMethods) {
        c->f->pMethods->xShmUnmap(c->f, 0);
        c->f->pMethods->xClose(c->f);
    }
    free(c->f);
}

static int shm_lock(shm_conn *c, int slot, int flags)
{
    return c->f->pMethods->xShmLock(c->f, slot, 1, flags);
}

#define EXCL (SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE)
#define SHARED (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED)
#define UNLOCK_EXCL (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE)
#define UNLOCK_SHARED (SQLITE_SHM_UNLOCK | SQLITE_SHM_SHARED)

/* Three connections a, b, c of one file of a fresh copy-mode VFS, all mapped before the
 * sequence starts (so each holds a shadow of the area as it was then). */
typedef struct trio {
    const walkit_storage *st;
    shm_conn a, b, c;
} trio;

static int trio_open(trio *t, const char *vfs_name)
{
    memset(t, 0, sizeof *t);
    t->st = walkit_storage_ram();
    if (!t->st || reg(vfs_name, t->st, WALKIT_SHM_COPY, NULL) != SQLITE_OK) return 0;
    sqlite3_vfs *vfs = sqlite3_vfs_find(vfs_name);
    return vfs && shm_open(vfs, "/fence.db", &t->a) && shm_open(vfs, "/fence.db", &t->b) &&
           shm_open(vfs, "/fence.db", &t->c);
}

static void trio_close(trio *t, const char *vfs_name)
{
    shm_close(&t->a);
    shm_close(&t->b);
    shm_close(&t->c);
    walkit_unregister(vfs_name);
    walkit_storage_destroy(t->st);
}

/* Stores v at WORD under x's exclusive slot, then unlocks it (a writer's whole transaction).
 * 1 if both lock calls succeeded. */
static int publish(shm_conn *x, int slot, uint32_t v)
{
    if (shm_lock(x, slot, EXCL) != SQLITE_OK) return 0;
    x->r0[WORD] = v;
    return shm_lock(x, slot, UNLOCK_EXCL) == SQLITE_OK;
}

/* WORD as x reads it under a shared slot (a reader's whole transaction); *ok is cleared if a
 * lock call failed. */
static uint32_t read_shared(shm_conn *x, int slot, int *ok)
{
    if (shm_lock(x, slot, SHARED) != SQLITE_OK) *ok = 0;
    uint32_t v = x->r0[WORD];
    shm_lock(x, slot, UNLOCK_SHARED);
    return v;
}

/* c publishes under its exclusive slot: a's next granted lock sees the store.
 * Needs RELEASE_BEFORE_EXCL_UNLOCK (c publishes) and ACQUIRE_AFTER_GRANTED (a refreshes). */
static int check_fence_exclusive_unlock_then_granted_lock(void)
{
    trio t;
    EXPECT(trio_open(&t, "f-1"), "set-up");
    int ok = publish(&t.c, SLOT_C, 0xc1);
    uint32_t seen = read_shared(&t.a, SLOT_A, &ok);
    trio_close(&t, "f-1");
    EXPECT(ok, "a lock call failed");
    EXPECT(seen == 0xc1, "after c's exclusive unlock, a's granted lock reads %#x, not c's 0xc1",
           seen);
    return 1;
}

/* a stores under a shared slot only and unlocks it: b's next granted lock sees the store.
 * Needs RELEASE_BEFORE_SHARED_UNLOCK (wal.c makes no such store today; a mapping allows it). */
static int check_fence_shared_unlock_publishes(void)
{
    trio t;
    EXPECT(trio_open(&t, "f-2"), "set-up");
    int ok = shm_lock(&t.a, SLOT_A, SHARED) == SQLITE_OK;
    t.a.r0[WORD] = 0xa1;
    ok = ok && shm_lock(&t.a, SLOT_A, UNLOCK_SHARED) == SQLITE_OK;
    uint32_t seen = read_shared(&t.b, SLOT_B, &ok);
    trio_close(&t, "f-2");
    EXPECT(ok, "a lock call failed");
    EXPECT(seen == 0xa1, "after a's shared unlock, b's granted lock reads %#x, not a's 0xa1",
           seen);
    return 1;
}

/* c publishes a store; then b's lock request on a slot a holds is refused: b's reads after
 * the refusal see c's store (wal.c's checkpointer reads aReadMark[] after a refused READ(i)).
 * Needs ACQUIRE_AFTER_REFUSED. */
static int check_fence_refused_lock_acquires(void)
{
    trio t;
    EXPECT(trio_open(&t, "f-3"), "set-up");
    int ok = shm_lock(&t.a, SLOT_A, EXCL) == SQLITE_OK;
    ok = publish(&t.c, SLOT_C, 0xc3) && ok;
    int refused = shm_lock(&t.b, SLOT_A, EXCL);
    uint32_t seen = t.b.r0[WORD];
    shm_lock(&t.a, SLOT_A, UNLOCK_EXCL);
    trio_close(&t, "f-3");
    EXPECT(ok, "a lock call failed");
    EXPECT(refused == SQLITE_BUSY, "b's lock on a's exclusive slot: rc %d, not SQLITE_BUSY",
           refused);
    EXPECT(seen == 0xc3, "after a refused lock, b reads %#x, not c's published 0xc3", seen);
    return 1;
}

/* b holds a shared slot while c publishes a store; b's unlock is followed by reads that see
 * it (walTryBeginRead's retry starts reading right after an unlock).  Needs
 * ACQUIRE_AFTER_UNLOCK. */
static int check_fence_unlock_acquires(void)
{
    trio t;
    EXPECT(trio_open(&t, "f-4"), "set-up");
    int ok = shm_lock(&t.b, SLOT_B, SHARED) == SQLITE_OK;
    ok = publish(&t.c, SLOT_C, 0xc4) && ok;
    ok = shm_lock(&t.b, SLOT_B, UNLOCK_SHARED) == SQLITE_OK && ok;
    uint32_t seen = t.b.r0[WORD];
    trio_close(&t, "f-4");
    EXPECT(ok, "a lock call failed");
    EXPECT(seen == 0xc4, "after its unlock, b reads %#x, not c's published 0xc4", seen);
    return 1;
}

/* c publishes a store to the word; a stores to the same word after that and calls the
 * barrier: a's store is the newer one, so a (and then b) must read it, as with a mapping.
 * Needs BARRIER_SYNC and BARRIER_RELEASE_FIRST (acquiring first overwrites a's newer store
 * with c's older one). */
static int check_fence_barrier_keeps_the_newer_store(void)
{
    trio t;
    EXPECT(trio_open(&t, "f-5"), "set-up");
    int ok = publish(&t.c, SLOT_C, 0xc5);
    t.a.r0[WORD] = 0xa5;
    t.a.f->pMethods->xShmBarrier(t.a.f);
    uint32_t a_sees = t.a.r0[WORD];
    uint32_t b_sees = read_shared(&t.b, SLOT_B, &ok);
    trio_close(&t, "f-5");
    EXPECT(ok, "a lock call failed");
    EXPECT(a_sees == 0xa5, "after its barrier, a reads %#x, not its own newer store 0xa5",
           a_sees);
    EXPECT(b_sees == 0xa5, "after a's barrier, b reads %#x, not a's 0xa5", b_sees);
    return 1;
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    if (walkit_init() != SQLITE_OK) {
        FAIL_REPORT("init", "walkit_init");
        return checks_done();
    }
    CHECK("transport_carries_every_word", check_transport_carries_every_word(), "%s", why);
    CHECK("one_mode_per_file", check_one_mode_per_file(), "%s", why);
    CHECK("one_transport_per_file", check_one_transport_per_file(), "%s", why);
    CHECK("registration_errors", check_registration_errors(), "%s", why);
    CHECK("map_out_of_memory", check_map_out_of_memory(), "%s", why);
    CHECK("rollback_after_reset_is_seen", check_rollback_after_reset_is_seen(), "%s", why);
    CHECK("fence_exclusive_unlock_then_granted_lock",
          check_fence_exclusive_unlock_then_granted_lock(), "%s", why);
    CHECK("fence_shared_unlock_publishes", check_fence_shared_unlock_publishes(), "%s", why);
    CHECK("fence_refused_lock_acquires", check_fence_refused_lock_acquires(), "%s", why);
    CHECK("fence_unlock_acquires", check_fence_unlock_acquires(), "%s", why);
    CHECK("fence_barrier_keeps_the_newer_store", check_fence_barrier_keeps_the_newer_store(),
          "%s", why);
    return checks_done();
}
