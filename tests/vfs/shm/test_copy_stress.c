/* test_copy_stress.c: the pooled-connection stress for the WAL-index modes, in the pattern of
 * ncruces/go-sqlite3's wal_stress_test.go, with the data checks that catch a broken WAL-index.
 * Driven by tests/vfs/shm/test_copy_stress.py (and walkit.native.copy for full-size runs).
 *
 *   test_copy_stress ROOT_DIR heap|copy WORKERS TXNS READERS SEED
 *
 * A pool of connections (WORKERS of them) is shared by WORKERS threads: each takes any idle
 * connection, and one time in 8 closes it and opens a fresh one instead (connections opened
 * and closed all the time); one time in 3 a thread first runs a read transaction (the ledger
 * check below) on a pooled connection, so every connection both reads and writes.  Each transaction (BEGIN IMMEDIATE) is either small (1-3 rows) or,
 * one in 6, large (120 rows of 600 bytes on cache_size=8 pages, so the pager spills frames to
 * the WAL before the commit); a third of the large ones roll back after the spill.  Every
 * transaction inserts rows tagged with its unique id and adds their count and tag sum to one
 * ledger row.  Once more than RETAIN committed transactions have rows in the table, each
 * transaction also deletes the rows of the oldest of them (a range of rowids) and takes their
 * count and sum off the ledger: the table stays bounded however long the run (the readers'
 * full scans cost the same at 10^5 transactions as at 10^3), freed pages are reused by later
 * inserts, and a delete that finds other than the rows that transaction committed is a failed
 * data check (bad_deletes).  A committed transaction is recorded in memory; every 24th commit runs a
 * checkpoint (PASSIVE, RESTART, TRUNCATE in turn: the
 * last two reset the WAL, so the next transaction writes frame 1 again), and that thread's next
 * transaction is a large one that rolls back.  READERS threads hold read transactions
 * (snapshots) across a short sleep and check the ledger against the rows twice.
 * At the end every connection is closed (the WAL-index is discarded), and a cold connection
 * checks integrity_check, the ledger against the table, that every committed transaction's rows
 * are there, and that no rolled-back one's are.  One line:
 *   RESULT ok|FAIL key=value ...
 * Exit status 0 only if all of it holds and no SQLite call failed with anything but BUSY. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"
#include "walkit.h"

#define SMALL_MAX 3
#define LARGE_ROWS 120
#define PAD_BYTES 600
#define CKPT_EVERY 24
#ifndef RETAIN
#define RETAIN 256 /* committed transactions whose rows stay in the table */
#endif

static int nworkers, txns_per_worker, nreaders;
static unsigned seed0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards everything below */
static sqlite3 **pool;
static int npool;
static long commits, rollbacks, spilled_rollbacks, large_commits, busy, reads, bad_reads, ckpts, ckpt_full, reopens,
    errors, deletes, bad_deletes;
static int writers_left;
static char first_error[256];
/* Per transaction id: rows it inserted if committed, -1 if rolled back, DELETED if a later
 * commit deleted its rows, 0 if never run. */
#define DELETED (-2)
static int *outcome;
static int ntx;
/* Committed transactions whose rows are in the table, oldest first: a ring of ntx + 1 slots
 * (each transaction is in it at most once). */
static int *live, live_head, live_len;

static void live_push(int tx) /* lock held */
{
    live[(live_head + live_len++) % (ntx + 1)] = tx;
}

/* The oldest committed transaction once more than RETAIN are live, else 0 (lock held).  The
 * caller deletes its rows, or gives it back with live_push when its transaction did not commit. */
static int live_pop_victim(void)
{
    if (live_len <= RETAIN) return 0;
    int tx = live[live_head];
    live_head = (live_head + 1) % (ntx + 1);
    live_len--;
    return tx;
}

/* The rowids of transaction tx's rows: one range per transaction, scattered over the table. */
static sqlite3_int64 row_id(int tx, int k)
{
    return (sqlite3_int64)((uint64_t)((uint32_t)tx * 2654435761u) << 16 | (unsigned)k);
}

static void note_error(const char *what, sqlite3 *db, int rc)
{
    pthread_mutex_lock(&lock);
    if (errors++ == 0)
        snprintf(first_error, sizeof first_error, "%s: %d %s", what, rc,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    pthread_mutex_unlock(&lock);
}

static const char *vfs_name = "copystress";

static sqlite3 *connect(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2("/stress.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             vfs_name);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, "PRAGMA cache_size=8; PRAGMA synchronous=NORMAL", 0, 0, 0);
    }
    if (rc != SQLITE_OK) {
        note_error("open", db, rc);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, 0, 0, 0); }

/* Runs a query that returns one integer row. */
static int query_int(sqlite3 *db, const char *sql, long long *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_CORRUPT; /* a row was expected */
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* The ledger's count and sum against the table's: SQLITE_OK and *match set. */
static int check_ledger(sqlite3 *db, int *match)
{
    long long ln = 0, ls = 0, n = 0, s = 0;
    int rc = query_int(db, "SELECT n FROM ledger", &ln);
    if (rc == SQLITE_OK) rc = query_int(db, "SELECT s FROM ledger", &ls);
    if (rc == SQLITE_OK) rc = query_int(db, "SELECT count(*) FROM t", &n);
    if (rc == SQLITE_OK) rc = query_int(db, "SELECT coalesce(sum(tx), 0) FROM t", &s);
    *match = ln == n && ls == s;
    return rc;
}

static int check_ledger(sqlite3 *db, int *match);

static sqlite3 *pool_take(unsigned *seed)
{
    sqlite3 *db = NULL;
    unsigned pick = (unsigned)rand_r(seed);
    pthread_mutex_lock(&lock);
    if (npool > 0) { /* any idle connection, as a pool hands them out */
        int i = (int)(pick % (unsigned)npool);
        db = pool[i];
        pool[i] = pool[--npool];
    }
    pthread_mutex_unlock(&lock);
    if (db && rand_r(seed) % 8 == 0) { /* a pooled connection retired, a fresh one opened */
        sqlite3_close(db);
        db = NULL;
        pthread_mutex_lock(&lock);
        reopens++;
        pthread_mutex_unlock(&lock);
    }
    return db ? db : connect();
}

static void pool_give(sqlite3 *db)
{
    pthread_mutex_lock(&lock);
    pool[npool++] = db;
    pthread_mutex_unlock(&lock);
}

/* One transaction with id tx, which also deletes the rows of transaction victim (0: none);
 * *deleted is the count it deleted.  SQLITE_OK (committed or rolled back as planned),
 * SQLITE_BUSY (retry), or an error. */
static int run_tx(sqlite3 *db, int tx, int rows, int rollback, int victim, int *deleted)
{
    /* Keys scattered over the whole table: each transaction writes leaves that later ones
     * mostly leave alone, so a frame the WAL-index loses stays lost (appending at the end, every
     * commit would rewrite the same last leaf and hide it). */
    static const char *ins = "INSERT INTO t(id, tx, k, pad) VALUES (?4, ?1, ?2, randomblob(?3))";
    sqlite3_stmt *st = NULL;
    int spills0 = 0, spills1 = 0, hi = 0;
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &spills0, &hi, 0);
    int rc = exec(db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, ins, -1, &st, NULL);
    for (int k = 0; k < rows && rc == SQLITE_OK; k++) {
        sqlite3_bind_int(st, 1, tx);
        sqlite3_bind_int(st, 2, k);
        sqlite3_bind_int(st, 3, rows > SMALL_MAX ? PAD_BYTES : 16);
        sqlite3_bind_int64(st, 4, row_id(tx, k));
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    *deleted = 0;
    if (rc == SQLITE_OK && victim) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM t WHERE id BETWEEN %lld AND %lld",
                 (long long)row_id(victim, 0), (long long)row_id(victim, 0xffff));
        rc = exec(db, sql);
        if (rc == SQLITE_OK) *deleted = sqlite3_changes(db);
    }
    if (rc == SQLITE_OK) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE ledger SET n = n + %d, s = s + %lld", rows - *deleted,
                 (long long)tx * rows - (long long)victim * *deleted);
        rc = exec(db, sql);
    }
    sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &spills1, &hi, 0);
    if (rc == SQLITE_OK) rc = exec(db, rollback ? "ROLLBACK" : "COMMIT");
    if (rc == SQLITE_OK && rollback && spills1 > spills0) {
        pthread_mutex_lock(&lock);
        spilled_rollbacks++;
        pthread_mutex_unlock(&lock);
    }
    if (rc != SQLITE_OK) {
        int e = rc;
        exec(db, "ROLLBACK");
        return e;
    }
    return SQLITE_OK;
}

static void *writer(void *arg)
{
    int id = (int)(long)arg;
    unsigned seed = seed0 * 2654435761u + (unsigned)id * 40503u + 1u;
    int after_checkpoint = 0;
    for (int i = 0; i < txns_per_worker; i++) {
        int tx = id * txns_per_worker + i + 1;
        int large = after_checkpoint || rand_r(&seed) % 5 == 0;
        int rows = large ? LARGE_ROWS : 1 + (int)(rand_r(&seed) % SMALL_MAX);
        int rollback = large && (after_checkpoint || rand_r(&seed) % 2 == 0);
        after_checkpoint = 0;
        if (rand_r(&seed) % 3 == 0) { /* a pooled read between the writes */
            sqlite3 *rdb = pool_take(&seed);
            if (!rdb) break;
            int match = 0, rrc = exec(rdb, "BEGIN");
            if (rrc == SQLITE_OK) rrc = check_ledger(rdb, &match);
            exec(rdb, "COMMIT");
            pthread_mutex_lock(&lock);
            if (rrc == SQLITE_OK) reads++;
            if (rrc == SQLITE_OK && !match) bad_reads++;
            pthread_mutex_unlock(&lock);
            if (rrc != SQLITE_OK && (rrc & 0xff) != SQLITE_BUSY) note_error("pooled read", rdb, rrc);
            pool_give(rdb);
        }
        sqlite3 *db = pool_take(&seed);
        if (!db) break;
        pthread_mutex_lock(&lock);
        int victim = live_pop_victim(), expect = victim ? outcome[victim] : 0;
        pthread_mutex_unlock(&lock);
        int rc, tries = 0, deleted = 0;
        while ((rc = run_tx(db, tx, rows, rollback, victim, &deleted)) != SQLITE_OK &&
               (rc & 0xff) == SQLITE_BUSY &&
               ++tries < 200) { /* each try waited up to the busy timeout: give up eventually */
            pthread_mutex_lock(&lock);
            busy++;
            pthread_mutex_unlock(&lock);
        }
        if (rc != SQLITE_OK) {
            note_error(rollback ? "writer (rolled back)" : "writer", db, rc);
            pool_give(db);
            break;
        }
        pthread_mutex_lock(&lock);
        if (deleted != expect) bad_deletes++; /* victim's commit is older than this snapshot */
        if (victim && rollback) live_push(victim); /* its rows are back: still live */
        if (victim && !rollback) {
            outcome[victim] = DELETED;
            deletes++;
        }
        if (!rollback) live_push(tx);
        outcome[tx] = rollback ? -1 : rows;
        long c = rollback ? commits : ++commits;
        if (rollback) rollbacks++;
        else if (large) large_commits++;
        pthread_mutex_unlock(&lock);
        if (!rollback && c % CKPT_EVERY == 0) {
            static const int modes[] = { SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_RESTART,
                                         SQLITE_CHECKPOINT_TRUNCATE };
            int nlog = -1, nckpt = -1;
            rc = sqlite3_wal_checkpoint_v2(db, NULL, modes[(c / CKPT_EVERY) % 3], &nlog, &nckpt);
            if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) note_error("checkpoint", db, rc);
            pthread_mutex_lock(&lock);
            ckpts++;
            if (rc == SQLITE_OK && nlog == nckpt) ckpt_full++; /* the next writer resets the WAL */
            pthread_mutex_unlock(&lock);
            /* A bulk change that fails right after the checkpoint: the first frames after a
             * WAL reset, spilled and rolled back (what the header-skip rule loses). */
            after_checkpoint = 1;
        }
        pool_give(db);
    }
    pthread_mutex_lock(&lock);
    writers_left--;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int writers_running(void)
{
    pthread_mutex_lock(&lock);
    int n = writers_left;
    pthread_mutex_unlock(&lock);
    return n > 0;
}

static void *reader(void *arg)
{
    (void)arg;
    sqlite3 *db = connect();
    while (db && writers_running()) {
        int m1 = 0, m2 = 0;
        long long n1 = 0, n2 = 0;
        int rc = exec(db, "BEGIN");
        if (rc == SQLITE_OK) rc = check_ledger(db, &m1);
        if (rc == SQLITE_OK) rc = query_int(db, "SELECT count(*) FROM t", &n1);
        if (rc == SQLITE_OK) { /* hold the snapshot while writers and checkpoints go on */
            struct timespec t = { 0, 300000 };
            nanosleep(&t, NULL);
            rc = check_ledger(db, &m2);
        }
        if (rc == SQLITE_OK) rc = query_int(db, "SELECT count(*) FROM t", &n2);
        exec(db, "COMMIT");
        if (rc == SQLITE_OK) {
            pthread_mutex_lock(&lock);
            reads++;
            if (!m1 || !m2 || n1 != n2) bad_reads++;
            pthread_mutex_unlock(&lock);
        } else if ((rc & 0xff) != SQLITE_BUSY) {
            note_error("reader", db, rc);
            break;
        }
    }
    sqlite3_close(db);
    return NULL;
}

/* The cold check: rows per committed transaction, none of a rolled-back one. */
static int final_check(char *integrity, size_t cap, long *missing, long *ghost, int *ledger_ok)
{
    sqlite3 *db = connect();
    sqlite3_stmt *st = NULL;
    if (!db) return SQLITE_CANTOPEN;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(integrity, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_OK) rc = check_ledger(db, ledger_ok);
    int *seen = calloc((size_t)ntx + 1, sizeof *seen);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "SELECT tx, count(*) FROM t GROUP BY tx",
                                                 -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int tx = sqlite3_column_int(st, 0);
        if (tx >= 1 && tx <= ntx) seen[tx] = sqlite3_column_int(st, 1);
        else (*ghost)++;
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(st);
    for (int tx = 1; tx <= ntx; tx++) {
        if (outcome[tx] > 0 && seen[tx] != outcome[tx]) (*missing)++;
        if (outcome[tx] <= 0 && seen[tx] != 0) (*ghost)++; /* rolled back, deleted or never run */
    }
    free(seen);
    sqlite3_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s ROOT_DIR heap|copy WORKERS TXNS READERS SEED\n", argv[0]);
        return 2;
    }
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    if (!strcmp(argv[2], "copy")) cfg.shm_mode = WALKIT_SHM_COPY;
    else if (strcmp(argv[2], "heap")) {
        fprintf(stderr, "copy_stress: mode %s: heap or copy\n", argv[2]);
        return 2;
    }
    nworkers = atoi(argv[3]);
    txns_per_worker = atoi(argv[4]);
    nreaders = atoi(argv[5]);
    seed0 = (unsigned)strtoul(argv[6], NULL, 10);
    if (nworkers < 1 || nworkers > 256 || txns_per_worker < 1 || nreaders < 0 ||
        (long)nworkers * txns_per_worker > 50000000L) {
        fprintf(stderr, "copy_stress: bad sizes\n");
        return 2;
    }
    cfg.vfs_name = vfs_name;
    cfg.make_default = 0;
    cfg.storage = walkit_storage_hostfile(argv[1]);
    if (walkit_init() != SQLITE_OK || !cfg.storage || walkit_register(&cfg) != SQLITE_OK) {
        fprintf(stderr, "copy_stress: cannot set up walkit on %s\n", argv[1]);
        return 2;
    }
    ntx = nworkers * txns_per_worker;
    outcome = calloc((size_t)ntx + 1, sizeof *outcome);
    pool = calloc((size_t)nworkers, sizeof *pool);
    live = calloc((size_t)ntx + 1, sizeof *live);
    sqlite3 *db = connect();
    if (!db || exec(db, "PRAGMA journal_mode=WAL;"
                        "CREATE TABLE t(id INTEGER PRIMARY KEY, tx INTEGER, k INTEGER, pad BLOB);"
                        "CREATE TABLE ledger(n INTEGER, s INTEGER);"
                        "INSERT INTO ledger VALUES (0, 0)") != SQLITE_OK) {
        printf("RESULT FAIL setup: %s\n", db ? sqlite3_errmsg(db) : first_error);
        return 1;
    }
    pool[npool++] = db;
    for (int i = 1; i < nworkers; i++)
        if ((db = connect())) pool[npool++] = db;

    pthread_t *th = calloc((size_t)(nworkers + nreaders), sizeof *th);
    writers_left = nworkers;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nworkers; i++) pthread_create(&th[i], NULL, writer, (void *)(long)i);
    for (int i = 0; i < nreaders; i++) pthread_create(&th[nworkers + i], NULL, reader, NULL);
    for (int i = 0; i < nworkers + nreaders; i++) pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    while (npool > 0) sqlite3_close(pool[--npool]); /* the last close discards the WAL-index */

    char integrity[256] = "?";
    long missing = 0, ghost = 0;
    int ledger_ok = 0;
    int rc = final_check(integrity, sizeof integrity, &missing, &ghost, &ledger_ok);
    if (rc != SQLITE_OK) note_error("final check", NULL, rc);
    long done = commits + rollbacks;
    int ok = errors == 0 && bad_reads == 0 && bad_deletes == 0 && done == (long)ntx && missing == 0 && ghost == 0 &&
             ledger_ok && strcmp(integrity, "ok") == 0;
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    for (char *p = integrity; *p; p++)
        if (*p == '\n' || *p == '"') *p = ' ';
    for (char *p = first_error; *p; p++)
        if (*p == '\n' || *p == '"') *p = ' ';
    printf("RESULT %s mode=%s txns=%ld commits=%ld rollbacks=%ld spilled_rollbacks=%ld large_commits=%ld busy=%ld "
           "reads=%ld bad_reads=%ld deletes=%ld bad_deletes=%ld ckpts=%ld ckpt_full=%ld reopens=%ld missing=%ld ghost=%ld ledger=%s "
           "integrity=\"%s\" errors=%ld elapsed_ms=%.0f txns_per_s=%.0f error=\"%s\"\n",
           ok ? "ok" : "FAIL", argv[2], done, commits, rollbacks, spilled_rollbacks, large_commits, busy, reads,
           bad_reads, deletes, bad_deletes, ckpts, ckpt_full, reopens, missing, ghost, ledger_ok ? "ok" : "bad", integrity,
           errors, secs * 1000, (double)done / secs, first_error);
    free(th);
    free(pool);
    free(outcome);
    free(live);
    return ok ? 0 : 1;
}
