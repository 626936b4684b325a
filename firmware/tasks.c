/* tasks.c: see tasks.h.  The stress driver's task contract (tests/scenarios/stress.h) on the
 * board's cores (firmware/cores.h). */
#include "tasks.h"

#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"

#if WALKIT_BOARD_SMP
#include "cores.h"
#include "stress.h"

/* The run in progress (core 0 only: start and join are called by the driver on core 0). */
static int next_core;                 /* the core the next task goes to */
static int ncores;
static void (*core0_fn)(void *);      /* the task core 0 runs itself at join, or NULL */
static void *core0_arg;

int stress_task_start(void (*fn)(void *), void *arg)
{
    if (next_core < ncores) return board_core_run(next_core++, fn, arg);
    if (core0_fn) return -1;
    core0_fn = fn;
    core0_arg = arg;
    return 0;
}

void stress_task_join_all(void)
{
    if (core0_fn) core0_fn(core0_arg);
    core0_fn = NULL;
    for (int core = 1; core < next_core; core++) board_core_wait(core, -1);
    next_core = 1;
}

double stress_now_us(void) { return (double)board_time_us(); }

static void row_int(con_sink *sink, const char *name, int64_t value)
{
    con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_INTEGER } };
    v[0].p = (const uint8_t *)name;
    v[0].n = strlen(name);
    v[1].i = value;
    sink->row(sink, 2, v);
}

static void row_text(con_sink *sink, const char *name, const char *value)
{
    con_value v[2] = { { .type = SQLITE_TEXT }, { .type = SQLITE_TEXT } };
    v[0].p = (const uint8_t *)name;
    v[0].n = strlen(name);
    v[1].p = (const uint8_t *)value;
    v[1].n = strlen(value);
    sink->row(sink, 2, v);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

void tasks_stress(int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "counter", "value" };
    stress_params p = { "walkit", "/stress.db", 0, 0, 0, 50, 10000, 0 };
    if (argc < 3 || argc > 5 || parse_int(argv[1], 1, 255, &p.writers) ||
        parse_int(argv[2], 1, 1 << 22, &p.txns) ||
        (argc > 3 && parse_int(argv[3], 0, 255, &p.readers)) ||
        (argc > 4 && parse_int(argv[4], 0, 60000, &p.checkpoint_ms))) {
        sink->error(sink, SQLITE_MISUSE, "usage: .stress WRITERS TXNS [READERS [CHECKPOINT_MS]]");
        return;
    }
    ncores = board_cores(fw_log);
    int tasks = p.writers + p.readers + (p.checkpoint_ms > 0);
    if (tasks > ncores) {
        char *m = sqlite3_mprintf("%d tasks but %d cores (one task per core, core 0 included)",
                                  tasks, ncores);
        sink->error(sink, SQLITE_MISUSE, m ? m : "more tasks than cores");
        sqlite3_free(m);
        return;
    }
    next_core = 1;
    walkit_stats before, after;
    walkit_get_stats(&before);
    stress_result r;
    int rc = stress_run(&p, &r);
    walkit_get_stats(&after);
    if (rc != 0) {
        sink->error(sink, SQLITE_ERROR, r.first_error[0] ? r.first_error : "stress set-up failed");
        return;
    }
    int64_t elapsed_us = (int64_t)r.elapsed_us;
    sink->columns(sink, 2, names);
    row_text(sink, "result", r.ok ? "ok" : "FAIL");
    row_int(sink, "cores", ncores);
    row_int(sink, "tasks", tasks);
    row_int(sink, "commits", r.commits);
    row_int(sink, "retries", r.retries);
    row_int(sink, "reads", r.reads);
    row_int(sink, "bad_reads", r.bad_reads);
    row_int(sink, "ckpt_ok", r.ckpt_ok);
    row_int(sink, "ckpt_busy", r.ckpt_busy);
    row_int(sink, "sum", r.sum);
    row_text(sink, "integrity", r.integrity);
    row_int(sink, "elapsed_us", elapsed_us);
    row_int(sink, "commits_per_s", elapsed_us > 0 ? (int64_t)r.commits * 1000000 / elapsed_us : 0);
    row_int(sink, "latency_p50_us", (int64_t)r.latency_p50_us);
    row_int(sink, "latency_p99_us", (int64_t)r.latency_p99_us);
    row_int(sink, "latency_max_us", (int64_t)r.latency_max_us);
    row_int(sink, "vfs.shm_lock_calls", (int64_t)(after.shm_lock_calls - before.shm_lock_calls));
    row_int(sink, "vfs.shm_lock_busy", (int64_t)(after.shm_lock_busy - before.shm_lock_busy));
    row_int(sink, "vfs.shm_lock_waits", (int64_t)(after.shm_lock_waits - before.shm_lock_waits));
    row_int(sink, "vfs.file_lock_busy", (int64_t)(after.file_lock_busy - before.file_lock_busy));
    row_int(sink, "vfs.os_errors", (int64_t)(after.os_errors - before.os_errors));
    row_text(sink, "error", r.first_error);
    sink->done(sink, 0, 0);
}

#else

void tasks_stress(int argc, char **argv, con_sink *sink)
{
    (void)argc, (void)argv;
    sink->error(sink, SQLITE_MISUSE, "this board has one core: .stress needs a multi-core board");
}

#endif
