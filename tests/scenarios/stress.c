/* stress.c: concurrent WAL workload on the walkit VFS (heap WAL-index).  The workload is
 * stress_run() (stress.h); its tasks are started through stress.h's task contract, which this
 * file implements with pthreads for the host program below (built with STRESS_HOST_MAIN by
 * walkit.native.stress, also under -fsanitize=thread; driven by tests/scenarios/test_stress.py)
 * and firmware/tasks.c implements with one task per core on a multi-core board (the .stress
 * console command; tests/boards/qemu-virt-a15-smp/test_stress_target.py).
 *
 *   stress ROOT_DIR WRITERS TXNS READERS [ACCOUNTS] [BUSY_TIMEOUT_MS] [CHECKPOINT_MS]
 *
 * WRITERS tasks each commit TXNS transfers between random accounts (the sum of balances is
 * invariant); READERS tasks repeatedly check the invariant inside a read transaction while
 * the writers run; one checkpointer task cycles through PASSIVE, FULL, RESTART and TRUNCATE
 * every CHECKPOINT_MS (default 2; 0: no checkpointer, SQLite's auto-checkpoint only).
 * At the end: integrity_check, the invariant, and (host program) one line
 *   RESULT ok|FAIL key=value ...
 * The run passes only if every transaction committed, every read saw the invariant, the
 * checkpointer saw no error other than SQLITE_BUSY and the database is intact. */
#ifdef STRESS_HOST_MAIN
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"
#include "stress.h"

#define BALANCE 1000

/* One run's shared state: set up by stress_run before any task starts; the counters and
 * writers_left are guarded by `lock`, the rest is read-only while tasks run. */
static struct {
    stress_params p;
    sqlite3_mutex *lock;
    int writers_left;
    stress_result *r;
    /* Commit latencies (first BEGIN attempt to successful COMMIT, retries included) in
     * microseconds, one per commit: latency[0..nlatency) of room for writers x txns. */
    float *latency;
    long nlatency;
} st;

typedef struct writer_arg { int id; } writer_arg;

static void note_error(const char *what, sqlite3 *db, int rc)
{
    sqlite3_mutex_enter(st.lock);
    if (st.r->errors++ == 0)
        snprintf(st.r->first_error, sizeof st.r->first_error, "%s: %d %s", what, rc,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_mutex_leave(st.lock);
}

static void count(long *field)
{
    sqlite3_mutex_enter(st.lock);
    (*field)++;
    sqlite3_mutex_leave(st.lock);
}

static int writers_running(void)
{
    sqlite3_mutex_enter(st.lock);
    int n = st.writers_left;
    sqlite3_mutex_leave(st.lock);
    return n > 0;
}

static sqlite3 *connect(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(st.p.path, &db, SQLITE_OPEN_READWRITE, st.p.vfs);
    if (rc != SQLITE_OK) {
        note_error("open", db, rc);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, st.p.busy_timeout_ms);
    if (st.p.synchronous) {
        char *sql = sqlite3_mprintf("PRAGMA synchronous=%s", st.p.synchronous);
        rc = sql ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
        sqlite3_free(sql);
        if (rc != SQLITE_OK) {
            note_error("synchronous", db, rc);
            sqlite3_close(db);
            return NULL;
        }
    }
    return db;
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static void note_latency(double us)
{
    sqlite3_mutex_enter(st.lock);
    st.latency[st.nlatency++] = (float)us;
    sqlite3_mutex_leave(st.lock);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of the commit latencies (us), after sorting them; 0 if there are none. */
static double latency_quantile(double q)
{
    return st.nlatency ? st.latency[(long)((double)(st.nlatency - 1) * q)] : 0;
}

static void writer(void *arg)
{
    int id = ((writer_arg *)arg)->id;
    unsigned seed = (unsigned)id * 2654435761u + 17u;
    sqlite3 *db = connect();
    sqlite3_stmt *upd = NULL;
    if (db && sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                                 -1, &upd, NULL) != SQLITE_OK) {
        note_error("prepare", db, sqlite3_errcode(db));
    }
    double t_first = stress_now_us();
    for (int i = 0; db && upd && i < st.p.txns;) {
        int from = (int)(rand_r(&seed) % (unsigned)st.p.accounts) + 1;
        int to = (int)(rand_r(&seed) % (unsigned)st.p.accounts) + 1;
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
            double t = stress_now_us();
            note_latency(t - t_first);
            t_first = t;
            count(&st.r->commits);
        } else if ((rc & 0xff) == SQLITE_BUSY) {
            exec(db, "ROLLBACK");
            count(&st.r->retries);
        } else {
            note_error("writer", db, rc);
            exec(db, "ROLLBACK");
            break;
        }
    }
    sqlite3_finalize(upd);
    sqlite3_close(db);
    sqlite3_mutex_enter(st.lock);
    st.writers_left--;
    sqlite3_mutex_leave(st.lock);
}

/* One read transaction: the sum and the count, which must be constant. */
static int check_invariant(sqlite3 *db, long *sum_out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT sum(balance), count(*) FROM accounts", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        *sum_out = (long)sqlite3_column_int64(q, 0);
        rc = sqlite3_column_int(q, 1) == st.p.accounts ? SQLITE_OK : SQLITE_CORRUPT;
    }
    sqlite3_finalize(q);
    return rc;
}

static void reader(void *arg)
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
            sqlite3_mutex_enter(st.lock);
            st.r->reads++;
            if (sum != (long)st.p.accounts * BALANCE) st.r->bad_reads++;
            sqlite3_mutex_leave(st.lock);
        } else if ((rc & 0xff) != SQLITE_BUSY) {
            note_error("reader", db, rc);
            break;
        }
    }
    sqlite3_close(db);
}

static void checkpointer(void *arg)
{
    (void)arg;
    static const int modes[] = { SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_FULL,
                                 SQLITE_CHECKPOINT_RESTART, SQLITE_CHECKPOINT_TRUNCATE };
    sqlite3 *db = connect();
    if (db) sqlite3_busy_timeout(db, 20); /* a checkpointer gives way quickly */
    for (int i = 0; db && writers_running(); i++) {
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, modes[i % 4], NULL, NULL);
        if (rc == SQLITE_OK) count(&st.r->ckpt_ok);
        else if ((rc & 0xff) == SQLITE_BUSY) count(&st.r->ckpt_busy);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
            note_error("checkpoint", db, rc);
            break;
        }
        sqlite3_sleep(st.p.checkpoint_ms);
    }
    sqlite3_close(db);
}

static int setup(void)
{
    sqlite3 *db = NULL;
    char sql[128];
    sqlite3_vfs *vfs = sqlite3_vfs_find(st.p.vfs);
    int rc = vfs ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) { /* a fresh database: the previous run's, if any, goes first */
        char wal[256];
        snprintf(wal, sizeof wal, "%s-wal", st.p.path);
        vfs->xDelete(vfs, wal, 0);
        vfs->xDelete(vfs, st.p.path, 0);
        rc = sqlite3_open_v2(st.p.path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, st.p.vfs);
    }
    if (rc == SQLITE_OK)
        rc = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
                      "BEGIN");
    for (int i = 1; i <= st.p.accounts && rc == SQLITE_OK; i++) {
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
    sqlite3_stmt *q = NULL;
    int rc = db ? check_invariant(db, sum) : SQLITE_CANTOPEN;
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        snprintf(integrity, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

int stress_run(const stress_params *p, stress_result *r)
{
    memset(r, 0, sizeof *r);
    r->sum = -1;
    snprintf(r->integrity, sizeof r->integrity, "?");
    if (p->writers < 1 || p->writers > 255 || p->txns < 1 || p->txns > (1 << 22) ||
        p->readers < 0 || p->accounts < 2 || p->checkpoint_ms < 0 || !p->vfs || !p->path) {
        snprintf(r->first_error, sizeof r->first_error, "bad arguments");
        return -1;
    }
    memset(&st, 0, sizeof st);
    st.p = *p;
    st.r = r;
    st.lock = sqlite3_mutex_alloc(SQLITE_MUTEX_FAST);
    if (!st.lock) {
        snprintf(r->first_error, sizeof r->first_error, "no mutex");
        return -1;
    }
    st.latency = malloc((size_t)p->writers * (size_t)p->txns * sizeof *st.latency);
    if (!st.latency || setup() != SQLITE_OK) {
        if (!st.latency) snprintf(r->first_error, sizeof r->first_error, "out of memory");
        free(st.latency);
        sqlite3_mutex_free(st.lock);
        return -1;
    }
    writer_arg *wargs = sqlite3_malloc(p->writers * (int)sizeof *wargs);
    int started = 0, tasks = p->writers + p->readers + (p->checkpoint_ms > 0);
    st.writers_left = p->writers;
    double t0 = stress_now_us();
    for (int i = 0; wargs && i < p->writers; i++) {
        wargs[i].id = i;
        started += stress_task_start(writer, &wargs[i]) == 0;
    }
    for (int i = 0; i < p->readers; i++) started += stress_task_start(reader, NULL) == 0;
    if (p->checkpoint_ms > 0) started += stress_task_start(checkpointer, NULL) == 0;
    if (started != tasks) {
        /* Writers that never started never finish: count them out so the rest can end. */
        note_error("task start", NULL, SQLITE_ERROR);
        sqlite3_mutex_enter(st.lock);
        st.writers_left = 0;
        sqlite3_mutex_leave(st.lock);
    }
    if (stress_task_join_all() != 0) {
        /* A task may still run and hold any lock, st.lock included (the watchdog cannot
         * tell a deadlock from a broken lock): nothing the tasks share is freed or locked,
         * and no final check is made. */
        r->elapsed_us = stress_now_us() - t0;
        r->errors++;
        snprintf(r->first_error, sizeof r->first_error,
                 "watchdog: the tasks stopped committing; no final check");
        r->ok = 0;
        return 0;
    }
    r->elapsed_us = stress_now_us() - t0;
    sqlite3_free(wargs);

    int rc = final_check(&r->sum, r->integrity, sizeof r->integrity);
    qsort(st.latency, (size_t)st.nlatency, sizeof *st.latency, cmp_float);
    r->latency_p50_us = latency_quantile(0.5);
    r->latency_p99_us = latency_quantile(0.99);
    r->latency_max_us = latency_quantile(1.0);
    free(st.latency);
    r->ok = rc == SQLITE_OK && r->errors == 0 && r->bad_reads == 0 &&
            r->commits == (long)p->writers * p->txns &&
            r->sum == (long)p->accounts * BALANCE && strcmp(r->integrity, "ok") == 0;
    sqlite3_mutex_free(st.lock);
    st.lock = NULL;
    return 0;
}

#ifdef STRESS_HOST_MAIN
/* ---- the host program: the task contract on pthreads ------------------------------------- */
#include <pthread.h>
#include <time.h>

#include "walkit.h"

enum { MAX_TASKS = 1024 };
static pthread_t threads[MAX_TASKS];
static struct task { void (*fn)(void *); void *arg; } task_args[MAX_TASKS];
static int nthreads; /* only the main thread starts and joins */

static void *thread_main(void *arg)
{
    struct task *t = arg;
    t->fn(t->arg);
    return NULL;
}

int stress_task_start(void (*fn)(void *), void *arg)
{
    if (nthreads == MAX_TASKS) return -1;
    task_args[nthreads] = (struct task){ fn, arg };
    if (pthread_create(&threads[nthreads], NULL, thread_main, &task_args[nthreads]) != 0) return -1;
    nthreads++;
    return 0;
}

int stress_task_join_all(void)
{
    for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);
    nthreads = 0;
    return 0;
}

double stress_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s ROOT_DIR WRITERS TXNS READERS [ACCOUNTS] [BUSY_TIMEOUT_MS] "
                        "[CHECKPOINT_MS]\n", argv[0]);
        return 2;
    }
    stress_params p = { "stress", "/stress.db", atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                        argc > 5 ? atoi(argv[5]) : 50, argc > 6 ? atoi(argv[6]) : 10000,
                        argc > 7 ? atoi(argv[7]) : 2 };
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    cfg.vfs_name = "stress";
    cfg.make_default = 0;
    cfg.storage = walkit_storage_hostfile(argv[1]);
    if (walkit_init() != SQLITE_OK || !cfg.storage || walkit_register(&cfg) != SQLITE_OK) {
        fprintf(stderr, "stress: cannot set up walkit on %s\n", argv[1]);
        return 2;
    }
    stress_result r;
    if (stress_run(&p, &r) != 0) {
        if (strcmp(r.first_error, "bad arguments") == 0) {
            fprintf(stderr, "stress: bad arguments\n");
            return 2;
        }
        printf("RESULT FAIL setup: %s\n", r.first_error);
        return 1;
    }
    walkit_stats s;
    walkit_get_stats(&s);
    double elapsed = r.elapsed_us / 1e6;
    printf("RESULT %s commits=%ld retries=%ld reads=%ld bad_reads=%ld ckpt_ok=%ld ckpt_busy=%ld "
           "sum=%ld integrity=%s elapsed_ms=%.0f commits_per_s=%.0f shm_lock_calls=%llu "
           "shm_lock_busy=%llu shm_lock_waits=%llu file_lock_busy=%llu os_errors=%llu "
           "latency_p50_us=%.0f latency_p99_us=%.0f latency_max_us=%.0f blocking=%d error=\"%s\"\n",
           r.ok ? "ok" : "FAIL", r.commits, r.retries, r.reads, r.bad_reads, r.ckpt_ok,
           r.ckpt_busy, r.sum, r.integrity, elapsed * 1000, (double)r.commits / elapsed,
           (unsigned long long)s.shm_lock_calls, (unsigned long long)s.shm_lock_busy,
           (unsigned long long)s.shm_lock_waits, (unsigned long long)s.file_lock_busy,
           (unsigned long long)s.os_errors, r.latency_p50_us, r.latency_p99_us,
           r.latency_max_us, sqlite3_compileoption_used("ENABLE_SETLK_TIMEOUT"), r.first_error);
    return r.ok ? 0 : 1;
}
#endif
