/* stress.h: the concurrent WAL workload of stress.c, and the tiny task contract its host
 * implements.
 *
 * stress_run() is the whole workload (writers transferring between accounts, readers checking
 * the sum inside read transactions, a checkpointer) over any registered walkit VFS.  It starts
 * its tasks through stress_task_start() and waits for all of them with stress_task_join_all():
 *   - on a host, stress.c's own main() implements them with pthreads;
 *   - on a multi-core board, the firmware implements them with one task per core
 *     (firmware/tasks.c, the .stress console command).
 * The workload's shared counters are guarded by an SQLite mutex (SQLITE_MUTEX_FAST), so the
 * same code runs on both. */
#ifndef WALKIT_STRESS_H
#define WALKIT_STRESS_H

#include <stddef.h>

typedef struct stress_params {
    const char *vfs;     /* registered VFS name */
    const char *path;    /* database file; it and its -wal are deleted first */
    int writers, txns, readers, accounts, busy_timeout_ms;
    int checkpoint_ms;   /* checkpointer period; 0: no checkpointer (auto-checkpoint only) */
    const char *synchronous; /* PRAGMA synchronous of every task's connection (off, normal,
                                full, extra); NULL: SQLite's default (FULL) */
} stress_params;

/* While the tasks run, the counters change under the workload's lock; the task contract may
 * read them without it (whole words, for a watchdog that needs progress only). */
typedef struct stress_result {
    int ok;              /* every commit, every read saw the invariant, integrity ok */
    long commits, retries, reads, bad_reads, ckpt_ok, ckpt_busy, errors;
    long sum;            /* final sum of balances (-1: unreadable) */
    char integrity[128]; /* first row of PRAGMA integrity_check */
    double elapsed_us;   /* from the first task started to the last one joined */
    double latency_p50_us, latency_p99_us, latency_max_us; /* exact, from every commit */
    char first_error[256];
} stress_result;

/* Returns 0 when the run took place (r->ok tells whether it passed), -1 for bad parameters or
 * a failed set-up (r->first_error says why).  Not re-entrant: one run at a time. */
int stress_run(const stress_params *p, stress_result *r);

/* The task contract, implemented by whoever runs stress_run(). */
int stress_task_start(void (*fn)(void *), void *arg); /* 0, or -1: no task could be started */
/* 0: every started task has returned.  -1: the implementation stopped waiting for a task that
 * made no progress (its watchdog); that task may still run, so stress_run() then frees
 * nothing the tasks share, skips the final check and reports the run failed, and the caller
 * must keep the stress_result alive (the task may still count into it). */
int stress_task_join_all(void);
double stress_now_us(void);                           /* monotonic */

#endif
