/* workload.c: the built-in self-verifying campaign workload (contract in workload.h). */
#include <string.h>
#include "lfs_util.h"
#include "sqlite3.h"
#include "workload.h"

/* Row ids 0..WL_IDS-1; bodies up to WL_BODY_MAX bytes.  With 4 KiB pages a "grow" transaction
 * adds 8 rows of 4-8 KiB, so after a few dozen transactions the database spans several 256 KiB
 * erase blocks. */
#define WL_IDS 160
#define WL_BODY_MAX 8192
#define WL_OPS_MAX 8

/* The generator's view of table t after some transaction: what every row holds. */
typedef struct wl_gen {
    uint64_t seed;
    uint8_t present[WL_IDS];
    uint32_t ver[WL_IDS], len[WL_IDS], crc[WL_IDS];
    uint64_t digest; /* sum of crc[] over present rows */
} wl_gen;

typedef struct wl_op {
    int del;
    uint32_t id, len;
} wl_op;

static uint8_t body[WL_BODY_MAX]; /* the row being written or checked (console task only) */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* zlib's CRC-32 of le64(id) || le64(ver) || b[0..n) (lfs_crc is the same polynomial, without
 * the final inversion). */
static uint32_t row_crc(uint64_t id, uint64_t ver, const uint8_t *b, uint32_t n)
{
    uint8_t head[16];
    le64(head, id);
    le64(head + 8, ver);
    uint32_t crc = lfs_crc(0xffffffffu, head, sizeof head);
    return ~lfs_crc(crc, b, n);
}

/* Fills body[] with the contents of row (id, ver) and returns its CRC. */
static uint32_t make_body(uint64_t seed, uint32_t id, uint32_t ver, uint32_t len)
{
    uint64_t x = mix(seed ^ ((uint64_t)id << 40) ^ ((uint64_t)ver << 8));
    for (uint32_t i = 0; i < len; i += 8) {
        x = mix(x);
        for (uint32_t j = 0; j < 8 && i + j < len; j++) body[i + j] = (uint8_t)(x >> (8 * j));
    }
    return row_crc(id, ver, body, len);
}

/* Transaction k's changes, a function of the seed, k and which rows exist. */
static int plan(const wl_gen *g, int64_t k, wl_op *ops)
{
    uint64_t r = mix(g->seed ^ mix((uint64_t)k));
    uint32_t kind = (uint32_t)(r % 10), n, lo, hi;
    if (kind < 5) { n = 1; lo = 16; hi = 400; }                          /* small */
    else if (kind < 8) { n = 3 + (uint32_t)((r >> 8) % 4); lo = 1500; hi = 6000; } /* multi-page */
    else if (kind == 8) { n = 1 + (uint32_t)((r >> 8) % 3); lo = hi = 0; } /* delete */
    else { n = 8; lo = 4000; hi = WL_BODY_MAX; }                          /* grow */
    for (uint32_t i = 0; i < n; i++) {
        uint64_t q = mix(r + i + 1);
        ops[i].id = (uint32_t)(q % WL_IDS);
        ops[i].del = hi == 0;
        ops[i].len = hi ? lo + (uint32_t)((q >> 20) % (hi - lo)) : 0;
        if (ops[i].del && !g->present[ops[i].id]) { /* delete the next present row, if any */
            for (uint32_t j = 1; j < WL_IDS; j++) {
                uint32_t id = (ops[i].id + j) % WL_IDS;
                if (g->present[id]) { ops[i].id = id; break; }
            }
        }
    }
    return (int)n;
}

/* Applies op to the generator (body[] then holds the new row). */
static void apply(wl_gen *g, const wl_op *op, int64_t k)
{
    uint32_t id = op->id;
    if (g->present[id]) g->digest -= g->crc[id];
    g->present[id] = 0;
    if (op->del) return;
    g->present[id] = 1;
    g->ver[id] = (uint32_t)k;
    g->len[id] = op->len;
    g->crc[id] = make_body(g->seed, id, (uint32_t)k, op->len);
    g->digest += g->crc[id];
}

static void gen_replay(wl_gen *g, uint64_t seed, int64_t upto)
{
    wl_op ops[WL_OPS_MAX];
    memset(g, 0, sizeof *g);
    g->seed = seed;
    for (int64_t k = 1; k <= upto; k++) {
        int n = plan(g, k, ops);
        for (int i = 0; i < n; i++) apply(g, &ops[i], k);
    }
}

/* ---- SQL helpers ------------------------------------------------------------------------ */

typedef struct wl_ctx {
    con_sink *sink;
    int failed;
} wl_ctx;

static int fail(wl_ctx *c, sqlite3 *db, int rc, const char *what, int64_t k)
{
    char *m = sqlite3_mprintf("workload: transaction %lld: %s: %s", (long long)k, what,
                              db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    c->sink->error(c->sink, rc, m ? m : what);
    sqlite3_free(m);
    c->failed = 1;
    return rc;
}

static int open_conn(const char *path, const char *sync, int create, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI |
                                           (create ? SQLITE_OPEN_CREATE : 0), NULL);
    if (rc != SQLITE_OK) return rc;
    char *sql = sqlite3_mprintf("PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; "
                                "PRAGMA wal_autocheckpoint=16;", sync);
    rc = sql ? sqlite3_exec(*db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    return rc;
}

/* One integer from the first row of sql, or `dflt` when there is no row. */
static int query_i64(sqlite3 *db, const char *sql, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : dflt;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    sqlite3_finalize(st);
    return rc;
}

static void ack(con_sink *sink, int64_t k, uint64_t digest)
{
    con_value v[2] = { { .type = SQLITE_INTEGER }, { .type = SQLITE_INTEGER } };
    v[0].i = k;
    v[1].i = (int64_t)digest;
    sink->row(sink, 2, v);
}

/* Writes transaction k's changes on db (inside BEGIN IMMEDIATE ... COMMIT) and updates g. */
static int run_txn(wl_ctx *c, sqlite3 *db, wl_gen *g, int64_t k)
{
    wl_op ops[WL_OPS_MAX];
    sqlite3_stmt *put = NULL, *del = NULL, *meta = NULL;
    int n = plan(g, k, ops), rc;
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return fail(c, db, rc, "BEGIN", k);
    rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t(id, ver, body) VALUES (?, ?, ?)", -1,
                            &put, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "DELETE FROM t WHERE id = ?", -1, &del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "UPDATE meta SET k = ?, digest = ?", -1, &meta, NULL);
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        apply(g, &ops[i], k);
        sqlite3_stmt *st = ops[i].del ? del : put;
        sqlite3_bind_int64(st, 1, ops[i].id);
        if (!ops[i].del) {
            sqlite3_bind_int64(st, 2, k);
            sqlite3_bind_blob(st, 3, body, (int)ops[i].len, SQLITE_STATIC);
        }
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? sqlite3_reset(st) : rc;
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(meta, 1, k);
        sqlite3_bind_int64(meta, 2, (int64_t)g->digest);
        rc = sqlite3_step(meta);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    sqlite3_finalize(meta);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fail(c, db, rc, "write", k);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

void workload_run(const char *path, uint64_t seed, int64_t txns, const char *sync, con_sink *sink)
{
    static const char *const names[] = { "k", "digest" };
    static wl_gen g;
    wl_ctx c = { sink, 0 };
    sqlite3 *w[2] = { NULL, NULL }, *rd = NULL;
    int64_t k0 = 0, snap = -1;
    int rc;
    if (strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0) {
        sink->error(sink, SQLITE_MISUSE, "workload: synchronous must be full or normal");
        return;
    }
    rc = open_conn(path, sync, 1, &w[0]);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(w[0], "BEGIN IMMEDIATE;"
                                "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, "
                                "ver INTEGER NOT NULL, body BLOB NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS meta(k INTEGER NOT NULL, "
                                "digest INTEGER NOT NULL);"
                                "INSERT INTO meta SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM meta);"
                                "COMMIT;", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = query_i64(w[0], "SELECT k FROM meta", 0, &k0);
    if (rc == SQLITE_OK) rc = open_conn(path, sync, 0, &w[1]);
    if (rc == SQLITE_OK) rc = open_conn(path, sync, 0, &rd);
    if (rc != SQLITE_OK) {
        fail(&c, w[0], rc, "setup", 0);
        goto out;
    }
    gen_replay(&g, seed, k0);
    sink->columns(sink, 2, names);
    if (k0 == 0) ack(sink, 0, 0);
    for (int64_t k = k0 + 1; k <= txns; k++) {
        /* The reader: a snapshot taken before transaction k%9==2, checked unmoved at 6. */
        if (k % 9 == 2 && snap < 0) {
            rc = sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL);
            if (rc == SQLITE_OK) rc = query_i64(rd, "SELECT k FROM meta", -1, &snap);
            if (rc != SQLITE_OK) { fail(&c, rd, rc, "reader snapshot", k); break; }
        } else if (k % 9 == 6 && snap >= 0) {
            int64_t again = -1;
            rc = query_i64(rd, "SELECT k FROM meta", -1, &again);
            if (rc != SQLITE_OK) { fail(&c, rd, rc, "reader snapshot", k); break; }
            if (again != snap) {
                fail(&c, NULL, SQLITE_CORRUPT, "the reader's snapshot moved", k);
                break;
            }
            sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
            snap = -1;
        }
        sqlite3 *db = w[k & 1];
        if (run_txn(&c, db, &g, k) != SQLITE_OK) break;
        ack(sink, k, g.digest);
        /* Explicit checkpoints (BUSY while the reader holds its snapshot is expected). */
        int mode = k % 11 == 4 ? SQLITE_CHECKPOINT_PASSIVE
                 : k % 11 == 7 ? SQLITE_CHECKPOINT_RESTART
                 : k % 11 == 10 ? SQLITE_CHECKPOINT_TRUNCATE : -1;
        if (mode >= 0) {
            rc = sqlite3_wal_checkpoint_v2(db, NULL, mode, NULL, NULL);
            if (rc != SQLITE_OK && rc != SQLITE_BUSY) { fail(&c, db, rc, "checkpoint", k); break; }
        }
    }
out:
    if (snap >= 0) sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(rd);
    sqlite3_close(w[1]);
    sqlite3_close(w[0]);
    if (!c.failed) sink->done(sink, 0, 0);
}

void workload_check(const char *path, uint64_t seed, con_sink *sink)
{
    static const char *const names[] = { "integrity", "k", "stored", "scanned", "expected" };
    static wl_gen g;
    wl_ctx c = { sink, 0 };
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char integrity[128] = "missing";
    int64_t k = -1, stored = 0, tables = 0;
    uint64_t scanned = 0;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, NULL);
    if (rc == SQLITE_CANTOPEN) { /* never created: the state before transaction 0 */
        sqlite3_close(db);
        db = NULL;
        rc = SQLITE_OK;
        goto answer;
    }
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            sqlite3_snprintf(sizeof integrity, integrity, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == SQLITE_OK)
        rc = query_i64(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", 0, &tables);
    if (rc == SQLITE_OK && tables > 0) {
        rc = query_i64(db, "SELECT k FROM meta", -1, &k);
        if (rc == SQLITE_OK) rc = query_i64(db, "SELECT digest FROM meta", 0, &stored);
        if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "SELECT id, ver, body FROM t", -1, &st, NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const void *b = sqlite3_column_blob(st, 2);
            scanned += row_crc((uint64_t)sqlite3_column_int64(st, 0),
                               (uint64_t)sqlite3_column_int64(st, 1), b,
                               (uint32_t)sqlite3_column_bytes(st, 2));
            rc = SQLITE_OK;
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
answer:
    if (rc != SQLITE_OK) {
        fail(&c, db, rc, "check", k);
        sqlite3_close(db);
        return;
    }
    gen_replay(&g, seed, k < 0 ? 0 : k);
    sqlite3_close(db);
    sink->columns(sink, 5, names);
    con_value v[5] = { { .type = SQLITE_TEXT }, { .type = SQLITE_INTEGER },
                       { .type = SQLITE_INTEGER }, { .type = SQLITE_INTEGER },
                       { .type = SQLITE_INTEGER } };
    v[0].p = (const uint8_t *)integrity;
    v[0].n = strlen(integrity);
    v[1].i = k;
    v[2].i = stored;
    v[3].i = (int64_t)scanned;
    v[4].i = (int64_t)g.digest;
    sink->row(sink, 5, v);
    sink->done(sink, 0, 0);
}
