/* shm_bench: one SQLite amalgamation, two OS layers, the same workloads.
 *
 * Built twice by `walkit bench shm` from the same sqlite3.c and the same walkit_sqlite_config.h:
 *   stock  -DSQLITE_OS_OTHER=0: SQLite's unix VFS (WAL-index in an mmap'd -shm file, fcntl locks)
 *   walkit -DBENCH_WALKIT: the walkit VFS (heap WAL-index, OS-layer locks, hostfile storage)
 * Prints one JSON object per run on stdout.  Timing is wall clock (throughput); instruction
 * counts come from running it under callgrind with a fixed amount of work.
 *
 * usage: shm_bench DIR WORKLOAD THREADS OPS [SECONDS]
 *   write  THREADS writer connections, OPS short write transactions each, plus THREADS/2 readers
 *          running point queries until the writers finish
 *   read   THREADS reader connections, OPS point queries each
 *   bulk   one connection, OPS rows inserted in transactions of 1000
 * With SECONDS > 0 the amount of work is time instead: every thread works until SECONDS have
 * passed (OPS is ignored), long enough for a lock convoy to form if one can.
 * Writers record each commit's latency (first BEGIN attempt to COMMIT done, retries included);
 * the JSON has its p50, p99 and max in microseconds. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sqlite3.h"
#ifdef BENCH_WALKIT
#include "walkit.h"
#endif

#define ROWS 1000

static const char *g_path;
static int g_ops;
static double g_seconds;       /* > 0: run until g_stop instead of g_ops */
static volatile int g_writers_done;
static volatile int g_stop;    /* set by main after g_seconds */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "shm_bench: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(2);
}

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    if (sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL))
        die(db, "open");
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", 0, 0, 0))
        die(db, "pragma");
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, 0, 0, 0)) die(db, sql);
}

static unsigned rnd(unsigned *s) { *s = *s * 1103515245u + 12345u; return (*s >> 16) & 0x7fff; }

/* One thread's work.  limit: queries a reader runs; 0 = until the writers are done.
 * lat[0..nlat): a writer's commit latencies in microseconds (capacity cap, grown as needed). */
typedef struct { long ops; long busy; long limit; unsigned seed; float *lat; long nlat, cap; } Result;

static int stopped(void) { return __atomic_load_n(&g_stop, __ATOMIC_RELAXED); }

static void note_latency(Result *r, double us)
{
    if (r->nlat == r->cap) {
        long cap = r->cap ? r->cap * 2 : 4096;
        float *p = realloc(r->lat, (size_t)cap * sizeof *p);
        if (!p) { fprintf(stderr, "shm_bench: out of memory\n"); exit(2); }
        r->lat = p;
        r->cap = cap;
    }
    r->lat[r->nlat++] = (float)us;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void *writer(void *arg)
{
    Result *r = arg;
    sqlite3 *db = open_db();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE t SET v = v + 1 WHERE id = ?", -1, &st, 0)) die(db, "prepare");
    for (int i = 0; g_seconds > 0 ? !stopped() : i < g_ops; i++) {
        int rc;
        double t0 = now();
        while ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0)) == SQLITE_BUSY) r->busy++;
        if (rc) die(db, "begin");
        sqlite3_bind_int(st, 1, (int)(rnd(&r->seed) % ROWS) + 1);
        if (sqlite3_step(st) != SQLITE_DONE) die(db, "update");
        sqlite3_reset(st);
        while ((rc = sqlite3_exec(db, "COMMIT", 0, 0, 0)) == SQLITE_BUSY) r->busy++;
        if (rc) die(db, "commit");
        note_latency(r, (now() - t0) * 1e6);
        r->ops++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static void point_query(sqlite3 *db, sqlite3_stmt *st, Result *r)
{
    sqlite3_bind_int(st, 1, (int)(rnd(&r->seed) % ROWS) + 1);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) die(db, "select");
}

static void *reader(void *arg)
{
    Result *r = arg;
    sqlite3 *db = open_db();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT v FROM t WHERE id = ?", -1, &st, 0)) die(db, "prepare");
    while (r->limit ? (g_seconds > 0 ? !stopped() : r->ops < r->limit)
                    : !__atomic_load_n(&g_writers_done, __ATOMIC_ACQUIRE)) {
        point_query(db, st, r);
        r->ops++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static void setup(void)
{
    sqlite3 *db = open_db();
    exec(db, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    exec(db, "BEGIN");
    char sql[96];
    for (int i = 1; i <= ROWS; i++) {
        snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO t VALUES (%d, 0)", i);
        exec(db, sql);
    }
    exec(db, "COMMIT");
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
}

/* In SECONDS mode: lets the threads run for g_seconds, then tells them to stop. */
static void timed_stop(void)
{
    if (g_seconds <= 0) return;
    struct timespec t = { (time_t)g_seconds, (long)((g_seconds - (double)(time_t)g_seconds) * 1e9) };
    while (nanosleep(&t, &t) != 0) { }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s DIR write|read|bulk THREADS OPS [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *workload = argv[2];
    int threads = atoi(argv[3]);
    g_ops = atoi(argv[4]);
    g_seconds = argc == 6 ? atof(argv[5]) : 0;
    if (threads < 1 || threads > 64 || g_ops < 1) { fprintf(stderr, "shm_bench: bad THREADS/OPS\n"); return 2; }
    static char path[4096];
    const char *vfs;
#ifdef BENCH_WALKIT
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    if (walkit_init()) { fprintf(stderr, "shm_bench: walkit_init failed\n"); return 2; }
    cfg.storage = walkit_storage_hostfile(dir);
    if (!cfg.storage || walkit_register(&cfg)) { fprintf(stderr, "shm_bench: walkit_register failed\n"); return 2; }
    snprintf(path, sizeof path, "/bench.db");
    vfs = "walkit";
#else
    snprintf(path, sizeof path, "%s/bench.db", dir);
    vfs = "unix";
#endif
    g_path = path;
    setup();

    pthread_t tid[96];
    Result res[96];
    memset(res, 0, sizeof res);
    int nthreads = 0;
    double t0 = now();
    if (!strcmp(workload, "bulk")) {
        sqlite3 *db = open_db();
        sqlite3_stmt *st;
        exec(db, "CREATE TABLE IF NOT EXISTS bulk(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)");
        if (sqlite3_prepare_v2(db, "INSERT INTO bulk(a, b) VALUES (?, ?)", -1, &st, 0)) die(db, "prepare");
        int i;
        for (i = 0; g_seconds > 0 ? i % 1000 != 0 || now() - t0 < g_seconds : i < g_ops; i++) {
            if (i % 1000 == 0) exec(db, "BEGIN");
            sqlite3_bind_int(st, 1, i);
            sqlite3_bind_text(st, 2, "walkit bulk load row payload", -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) die(db, "insert");
            sqlite3_reset(st);
            if (i % 1000 == 999 || (g_seconds <= 0 && i == g_ops - 1)) exec(db, "COMMIT");
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        res[0].ops = i;
    } else if (!strcmp(workload, "write")) {
        for (int i = 0; i < threads; i++) {
            res[i].seed = (unsigned)i + 1;
            pthread_create(&tid[nthreads++], 0, writer, &res[i]);
        }
        for (int i = 0; i < threads / 2; i++) {
            res[threads + i].seed = 100u + (unsigned)i; /* limit 0: until the writers are done */
            pthread_create(&tid[nthreads++], 0, reader, &res[threads + i]);
        }
        timed_stop();
        for (int i = 0; i < threads; i++) pthread_join(tid[i], 0);
        __atomic_store_n(&g_writers_done, 1, __ATOMIC_RELEASE);
        for (int i = threads; i < nthreads; i++) pthread_join(tid[i], 0);
    } else if (!strcmp(workload, "read")) {
        for (int i = 0; i < threads; i++) {
            res[i].seed = (unsigned)i + 1;
            res[i].limit = g_ops;
            pthread_create(&tid[nthreads++], 0, reader, &res[i]);
        }
        timed_stop();
        for (int i = 0; i < threads; i++) pthread_join(tid[i], 0);
    } else {
        fprintf(stderr, "shm_bench: unknown workload %s\n", workload);
        return 2;
    }
    double secs = now() - t0;
    long ops = 0, busy = 0, reads = 0;
    int nw = !strcmp(workload, "write") ? threads : (!strcmp(workload, "bulk") ? 1 : threads);
    long nlat = 0;
    for (int i = 0; i < nw; i++) { ops += res[i].ops; busy += res[i].busy; nlat += res[i].nlat; }
    for (int i = nw; i < nthreads; i++) reads += res[i].ops;
    double p50 = 0, p99 = 0, pmax = 0;
    if (nlat) {
        float *all = malloc((size_t)nlat * sizeof *all);
        if (!all) { fprintf(stderr, "shm_bench: out of memory\n"); return 2; }
        long k = 0;
        for (int i = 0; i < nw; i++)
            for (long j = 0; j < res[i].nlat; j++) all[k++] = res[i].lat[j];
        qsort(all, (size_t)nlat, sizeof *all, cmp_float);
        p50 = all[(nlat - 1) / 2];
        p99 = all[(long)((double)(nlat - 1) * 0.99)];
        pmax = all[nlat - 1];
        free(all);
    }
    printf("{\"vfs\": \"%s\", \"workload\": \"%s\", \"threads\": %d, \"ops\": %ld, \"seconds\": %.6f, "
           "\"busy_retries\": %ld, \"background_reads\": %ld, \"lat_p50_us\": %.1f, "
           "\"lat_p99_us\": %.1f, \"lat_max_us\": %.1f}\n", vfs, workload, threads, ops, secs, busy,
           reads, p50, p99, pmax);
    return 0;
}
