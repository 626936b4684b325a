/* stress.c: concurrent WAL workload on the walkit VFS (heap WAL-index), as one process so it
 * can be built with -fsanitize=thread.  Driven by tests/scenarios/test_stress.py.
 *
 *   stress ROOT_DIR WRITERS TXNS READERS [ACCOUNTS] [BUSY_TIMEOUT_MS] [CHECKPOINT_MS]
 *
 * WRITERS threads each commit TXNS transfers between random accounts (the sum of balances is
 * invariant); READERS threads repeatedly check the invariant inside a read transaction while
 * the writers run; one checkpointer thread cycles through PASSIVE, FULL, RESTART and TRUNCATE
 * every CHECKPOINT_MS (default 2; 0: no checkpointer, SQLite's auto-checkpoint only).
 * At the end: integrity_check, the invariant, and one line
 *   RESULT ok|FAIL key=value ...
 * Exit status 0 only if every transaction committed, every read saw the invariant, the
 * checkpointer saw no error other than SQLITE_BUSY and the database is intact. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"
#include "walkit.h"

#define BALANCE 1000

static int accounts = 50, busy_timeout = 10000, checkpoint_ms = 2;
static int writers_left;         /* guarded by state_lock */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static long commits, retries, reads, bad_reads, ckpt_ok, ckpt_busy, errors;
/* Commit latencies (first BEGIN attempt to successful COMMIT, retries included) in
 * microseconds, one per commit: latency[0..nlatency) of room for WRITERS x TXNS; guarded by
 * state_lock. */
static float *latency;
static long nlatency;
static char first_error[256];

static void note_error(const char *what, sqlite3 *db, int rc)
{
    pthread_mutex_lock(&state_lock);
    if (errors++ == 0)
        snprintf(first_error, sizeof first_error, "%s: %d %s", what, rc,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    pthread_mutex_unlock(&state_lock);
}

static int writers_running(void)
{
    pthread_mutex_lock(&state_lock);
    int n = writers_left;
    pthread_mutex_unlock(&state_lock);
    return n > 0;
}

static sqlite3 *connect(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2("/stress.db", &db, SQLITE_OPEN_READWRITE, "stress");
    if (rc != SQLITE_OK) {
        note_error("open", db, rc);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_timeout);
    return db;
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void note_latency(double us)
{
    pthread_mutex_lock(&state_lock);
    latency[nlatency++] = (float)us;
    pthread_mutex_unlock(&state_lock);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of the commit latencies (us), after sorting them; 0 if there are none. */
static double latency_quantile(double q)
{
    return nlatency ? latency[(long)((double)(nlatency - 1) * q)] : 0;
}

static void *writer(void *arg)
{
    int txns = *(int *)arg >> 8, id = *(int *)arg & 0xff;
    unsigned seed = (unsigned)id * 2654435761u + 17u;
    sqlite3 *db = connect();
    sqlite3_stmt *upd = NULL;
    if (db && sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                                 -1, &upd, NULL) != SQLITE_OK) {
        note_error("prepare", db, sqlite3_errcode(db));
    }
    double t_first = now_us();
    for (int i = 0; db && upd && i < txns;) {
        int from = (int)(rand_r(&seed) % (unsigned)accounts) + 1;
        int to = (int)(rand_r(&seed) % (unsigned)accounts) + 1;
        int amount = (int)(rand_r(&seed) % 100u) + 1;
        int rc = exec(db, "BEGIN IMMEDIATE");
        for (int k = 0; k < 2 && rc == SQLITE_OK; k++) {
            sqlite3_bind_int(upd, 1, k ? to : from);
            sqlite3_bind_int(upd, 2, k ? amount : -amount);
            rc = sqlite3_step(upd);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
            sqlite3_reset(upd);
        }
        if (rc == SQLITE_OK) rc = exec(db, "COMMIT");
        if (rc == SQLITE_OK) {
            i++;
            double t = now_us();
            note_latency(t - t_first);
            t_first = t;
            pthread_mutex_lock(&state_lock);
            commits++;
            pthread_mutex_unlock(&state_lock);
        } else if ((rc & 0xff) == SQLITE_BUSY) {
            exec(db, "ROLLBACK");
            pthread_mutex_lock(&state_lock);
            retries++;
            pthread_mutex_unlock(&state_lock);
        } else {
            note_error("writer", db, rc);
            exec(db, "ROLLBACK");
            break;
        }
    }
    sqlite3_finalize(upd);
    sqlite3_close(db);
    pthread_mutex_lock(&state_lock);
    writers_left--;
    pthread_mutex_unlock(&state_lock);
    return NULL;
}

/* One read transaction: the sum and the count, which must be constant. */
static int check_invariant(sqlite3 *db, long *sum_out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT sum(balance), count(*) FROM accounts", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *sum_out = (long)sqlite3_column_int64(st, 0);
        rc = sqlite3_column_int(st, 1) == accounts ? SQLITE_OK : SQLITE_CORRUPT;
    }
    sqlite3_finalize(st);
    return rc;
}

static void *reader(void *arg)
{
    (void)arg;
    sqlite3 *db = connect();
    while (db && writers_running()) {
        long sum = 0;
        int rc = exec(db, "BEGIN");
        if (rc == SQLITE_OK) rc = check_invariant(db, &sum);
        if (rc == SQLITE_OK) {
            /* Read twice in the same transaction: the snapshot must not move. */
            long again = 0;
            rc = check_invariant(db, &again);
            if (rc == SQLITE_OK && again != sum) sum = -1;
        }
        exec(db, "COMMIT");
        if (rc == SQLITE_OK) {
            pthread_mutex_lock(&state_lock);
            reads++;
            if (sum != (long)accounts * BALANCE) bad_reads++;
            pthread_mutex_unlock(&state_lock);
        } else if ((rc & 0xff) != SQLITE_BUSY) {
            note_error("reader", db, rc);
            break;
        }
    }
    sqlite3_close(db);
    return NULL;
}

static void *checkpointer(void *arg)
{
    (void)arg;
    static const int modes[] = { SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_FULL,
                                 SQLITE_CHECKPOINT_RESTART, SQLITE_CHECKPOINT_TRUNCATE };
    sqlite3 *db = connect();
    if (db) sqlite3_busy_timeout(db, 20); /* a checkpointer gives way quickly */
    for (int i = 0; db && writers_running(); i++) {
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, modes[i % 4], NULL, NULL);
        pthread_mutex_lock(&state_lock);
        if (rc == SQLITE_OK) ckpt_ok++;
        else if ((rc & 0xff) == SQLITE_BUSY) ckpt_busy++;
        pthread_mutex_unlock(&state_lock);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
            note_error("checkpoint", db, rc);
            break;
        }
        struct timespec t = { checkpoint_ms / 1000, (long)(checkpoint_ms % 1000) * 1000000L };
        nanosleep(&t, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

static int setup(void)
{
    sqlite3 *db = NULL;
    char sql[128];
    int rc = sqlite3_open_v2("/stress.db", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             "stress");
    if (rc == SQLITE_OK)
        rc = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
                      "BEGIN");
    for (int i = 1; i <= accounts && rc == SQLITE_OK; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO accounts VALUES (%d, %d)", i, BALANCE);
        rc = exec(db, sql);
    }
    if (rc == SQLITE_OK) rc = exec(db, "COMMIT");
    if (rc != SQLITE_OK) note_error("setup", db, rc);
    sqlite3_close(db);
    return rc;
}

static int final_check(long *sum, char *integrity, size_t cap)
{
    sqlite3 *db = connect();
    sqlite3_stmt *st = NULL;
    int rc = db ? check_invariant(db, sum) : SQLITE_CANTOPEN;
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(integrity, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ROOT_DIR WRITERS TXNS READERS [ACCOUNTS] [BUSY_TIMEOUT_MS] "
                        "[CHECKPOINT_MS]\n", argv[0]);
        return 2;
    }
    int nw = atoi(argv[2]), txns = atoi(argv[3]), nr = atoi(argv[4]);
    if (argc > 5) accounts = atoi(argv[5]);
    if (argc > 6) busy_timeout = atoi(argv[6]);
    if (argc > 7) checkpoint_ms = atoi(argv[7]);
    if (nw < 1 || nw > 255 || txns < 1 || txns > (1 << 22) || nr < 0 || accounts < 2 ||
        checkpoint_ms < 0) {
        fprintf(stderr, "stress: bad arguments\n");
        return 2;
    }
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "stress";
    cfg.make_default = 0;
    cfg.storage = walkit_storage_hostfile(argv[1]);
    if (walkit_init() != SQLITE_OK || !cfg.storage || walkit_register(&cfg) != SQLITE_OK) {
        fprintf(stderr, "stress: cannot set up walkit on %s\n", argv[1]);
        return 2;
    }
    if (setup() != SQLITE_OK) {
        printf("RESULT FAIL setup: %s\n", first_error);
        return 1;
    }

    int nc = checkpoint_ms > 0 ? 1 : 0;
    pthread_t *th = calloc((size_t)(nw + nr + 1), sizeof *th);
    int *warg = calloc((size_t)nw, sizeof *warg);
    latency = calloc((size_t)nw * (size_t)txns, sizeof *latency);
    if (!th || !warg || !latency) {
        fprintf(stderr, "stress: out of memory\n");
        return 2;
    }
    writers_left = nw;
    double t0 = now_s();
    for (int i = 0; i < nw; i++) {
        warg[i] = (txns << 8) | i;
        pthread_create(&th[i], NULL, writer, &warg[i]);
    }
    for (int i = 0; i < nr; i++) pthread_create(&th[nw + i], NULL, reader, NULL);
    if (nc) pthread_create(&th[nw + nr], NULL, checkpointer, NULL);
    for (int i = 0; i < nw + nr + nc; i++) pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;

    long sum = -1;
    char integrity[128] = "?";
    int rc = final_check(&sum, integrity, sizeof integrity);
    walkit_stats s;
    walkit_get_stats(&s);
    qsort(latency, (size_t)nlatency, sizeof *latency, cmp_float);
    int ok = rc == SQLITE_OK && errors == 0 && bad_reads == 0 && commits == (long)nw * txns &&
             sum == (long)accounts * BALANCE && strcmp(integrity, "ok") == 0;
    printf("RESULT %s commits=%ld retries=%ld reads=%ld bad_reads=%ld ckpt_ok=%ld ckpt_busy=%ld "
           "sum=%ld integrity=%s elapsed_ms=%.0f commits_per_s=%.0f shm_lock_calls=%llu "
           "shm_lock_busy=%llu shm_lock_waits=%llu file_lock_busy=%llu os_errors=%llu "
           "latency_p50_us=%.0f latency_p99_us=%.0f latency_max_us=%.0f blocking=%d error=\"%s\"\n",
           ok ? "ok" : "FAIL", commits, retries, reads, bad_reads, ckpt_ok, ckpt_busy, sum,
           integrity, elapsed * 1000, (double)commits / elapsed,
           (unsigned long long)s.shm_lock_calls, (unsigned long long)s.shm_lock_busy,
           (unsigned long long)s.shm_lock_waits, (unsigned long long)s.file_lock_busy,
           (unsigned long long)s.os_errors, latency_quantile(0.5), latency_quantile(0.99),
           latency_quantile(1.0), sqlite3_compileoption_used("ENABLE_SETLK_TIMEOUT"),
           first_error);
    free(th);
    free(warg);
    free(latency);
    return ok ? 0 : 1;
}
