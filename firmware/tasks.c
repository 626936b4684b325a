/* tasks.c: see tasks.h.  The stress driver's task contract (tests/scenarios/stress.h) and
 * connections' statements on the board's cores (firmware/cores.h). */
#include "tasks.h"

#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "flash.h"
#include "log.h"
#include "sqlite3.h"
#include "walkit.h"

#if WALKIT_BOARD_SMP
#include <setjmp.h>

#include "cores.h"
#include "stress.h"
#include "walkit_os_bare.h"

/* A stress run without a commit (or a task's error) for this long, plus the checkpointer's
 * period, has stopped.  Commits, not every counter: writers that retry for ever on a lock a
 * stuck task holds, and readers that loop while a stuck writer keeps them going, move their
 * counters without the run getting anywhere.  A commit takes well under a second even on
 * littlefs under load, and a writer waits at most its busy timeout (10 s) before it retries. */
#define WATCHDOG_US (60u * 1000000u)

int tasks_cores(void) { return board_cores(fw_log); }

int tasks_run_on(int core, void (*fn)(void *), void *arg)
{
    if (core == 0) {
        fn(arg);
        return 0;
    }
    if (core < 0 || core >= tasks_cores() || board_core_run(core, fn, arg) != 0) return -1;
    board_core_wait(core, -1);
    return 0;
}

/* The run in progress (core 0 only: start and join are called by the driver on core 0). */
static int next_core;                 /* the core the next task goes to */
static int ncores;
static void (*core0_fn)(void *);      /* the task core 0 runs itself at join, or NULL */
static void *core0_arg;
static uint64_t watchdog_us;          /* WATCHDOG_US plus the checkpointer's period */
/* The result the tasks count into.  Static: after the watchdog gave up, a task that never
 * returned may still write to it. */
static stress_result result;

int stress_task_start(void (*fn)(void *), void *arg)
{
    if (next_core < ncores) return board_core_run(next_core++, fn, arg);
    if (core0_fn) return -1;
    core0_fn = fn;
    core0_arg = arg;
    return 0;
}

/* What the watchdog watches (WATCHDOG_US).  Word loads without the workload's lock
 * (stress.h allows it). */
static long progress(void)
{
    return __atomic_load_n(&result.commits, __ATOMIC_RELAXED) +
           __atomic_load_n(&result.errors, __ATOMIC_RELAXED);
}

/* The watchdog's state: the progress last seen and when it last moved (core 0 only). */
static long last_progress;
static uint64_t last_moved_us;

/* Whether no commit came for watchdog_us (and notes any progress). */
static int stalled(void)
{
    long now = progress();
    if (now != last_progress) {
        last_progress = now;
        last_moved_us = board_time_us();
        return 0;
    }
    return board_time_us() - last_moved_us >= watchdog_us;
}

/* Core 0's own task is abandoned through this when the run stalls: the OS port calls
 * core0_watch from every wait of core 0 (walkit_os_bare_smp_watch), so between the
 * checkpointer's checkpoints (its sleep) and inside any wait of its checkpoint, including one
 * for a mutex a stuck core holds for ever.  What the task held stays held (as a stuck core's
 * locks do); the run is failed and nothing the tasks share is freed (stress.h). */
static jmp_buf core0_escape;

static void core0_watch(void)
{
    if (stalled()) longjmp(core0_escape, 1);
}

/* Core 0 watches the others while they run, and its own task too when it has one (above):
 * 0 when every task returned, -1 when no commit came for watchdog_us (the cores still running
 * are logged and stay busy until the next boot). */
int stress_task_join_all(void)
{
    volatile int abandoned = 0;
    int stuck = 0;
    last_progress = progress();
    last_moved_us = board_time_us();
    if (core0_fn) {
        if (setjmp(core0_escape) == 0) {
            walkit_os_bare_smp_watch(core0_watch);
            core0_fn(core0_arg);
        } else {
            abandoned = stuck = 1;
        }
        walkit_os_bare_smp_watch(NULL);
    }
    core0_fn = NULL;
    for (int core = 1; core < next_core && !stuck; core++)
        while (!stuck && board_core_wait(core, 100) != 0) stuck = stalled();
    if (stuck) {
        char busy[64] = "";
        for (int core = 1; core < next_core; core++) {
            if (board_core_wait(core, 0) == 0) continue;
            size_t n = strlen(busy);
            sqlite3_snprintf((int)(sizeof busy - n), busy + n, "%s%d", n ? ", " : "", core);
        }
        fw_log("stress watchdog: no commit for %lu s; %sstill running on core %s until the "
               "next boot", (unsigned long)(watchdog_us / 1000000u),
               abandoned ? "core 0's task abandoned; " : "", busy[0] ? busy : "none");
    }
    next_core = 1;
    return stuck ? -1 : 0;
}

double stress_now_us(void) { return (double)board_time_us(); }

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* argv[1..]: up to four numbers, then vfs=NAME and sync=MODE in any order.  0 or -1. */
static int parse_args(int argc, char **argv, stress_params *p)
{
    static const char *const syncs[] = { "off", "normal", "full", "extra", NULL };
    int *num[] = { &p->writers, &p->txns, &p->readers, &p->checkpoint_ms };
    static const int lo[] = { 1, 1, 0, 0 }, hi[] = { 255, 1 << 22, 255, 60000 };
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "vfs=", 4) == 0 && a[4]) {
            p->vfs = a + 4;
        } else if (strncmp(a, "sync=", 5) == 0) {
            p->synchronous = NULL;
            for (int k = 0; syncs[k]; k++)
                if (strcmp(a + 5, syncs[k]) == 0) p->synchronous = syncs[k];
            if (!p->synchronous) return -1;
        } else if (n < 4 && !strchr(a, '=') && parse_int(a, lo[n], hi[n], num[n]) == 0) {
            n++;
        } else {
            return -1;
        }
    }
    return n >= 2 ? 0 : -1;
}

void tasks_stress(int argc, char **argv, con_sink *sink)
{
    static const char *const names[] = { "counter", "value" };
    stress_params p = { "walkit", "/stress.db", 0, 0, 0, 50, 10000, 0, NULL };
    if (parse_args(argc, argv, &p) != 0) {
        sink->error(sink, SQLITE_MISUSE, "usage: .stress WRITERS TXNS [READERS [CHECKPOINT_MS]] "
                                         "[vfs=NAME] [sync=off|normal|full|extra]");
        return;
    }
    ncores = tasks_cores();
    int tasks = p.writers + p.readers + (p.checkpoint_ms > 0);
    if (tasks > ncores) {
        char *m = sqlite3_mprintf("%d tasks but %d cores (one task per core, core 0 included)",
                                  tasks, ncores);
        sink->error(sink, SQLITE_MISUSE, m ? m : "more tasks than cores");
        sqlite3_free(m);
        return;
    }
    for (int core = 1; core < ncores; core++) {
        if (board_core_wait(core, 0) != 0) {
            /* No allocation: the tasks still running may hold the allocator's lock. */
            char m[96];
            sqlite3_snprintf(sizeof m, m, "core %d still runs a task of a stress run the "
                             "watchdog stopped: reboot first", core);
            sink->error(sink, SQLITE_MISUSE, m);
            return;
        }
    }
    if (!sqlite3_vfs_find(p.vfs)) {
        char *m = sqlite3_mprintf("no VFS named %s", p.vfs);
        sink->error(sink, SQLITE_MISUSE, m ? m : "no such VFS");
        sqlite3_free(m);
        return;
    }
    next_core = 1;
    watchdog_us = WATCHDOG_US + (uint64_t)p.checkpoint_ms * 1000u;
    walkit_stats before, after;
    flash_dev *flash = board_flash(fw_log);
    flash_counters fbefore = flash ? flash->counters : (flash_counters){ 0 };
    walkit_get_stats(&before);
    stress_result *r = &result;
    int rc = stress_run(&p, r);
    walkit_get_stats(&after);
    flash_counters fafter = flash ? flash->counters : (flash_counters){ 0 };
    if (rc != 0) {
        sink->error(sink, SQLITE_ERROR, r->first_error[0] ? r->first_error : "stress set-up failed");
        return;
    }
    /* An OS-layer failure the VFS could not return (a mutex released by a task that does not
     * hold it: two cores took it at once) fails the run even when the data came through. */
    uint64_t os_errors = after.os_errors - before.os_errors;
    int ok = r->ok && os_errors == 0;
    if (r->ok && !ok)
        sqlite3_snprintf(sizeof r->first_error, r->first_error, "%llu OS-layer failures during "
                         "the run (vfs.os_errors; the log says which)", (unsigned long long)os_errors);
    int64_t elapsed_us = (int64_t)r->elapsed_us;
    sink->columns(sink, 2, names);
    stat_row_text(sink, "result", ok ? "ok" : "FAIL");
    stat_row_text(sink, "vfs", p.vfs);
    stat_row_text(sink, "synchronous", p.synchronous ? p.synchronous : "default");
    stat_row(sink, "cores", ncores);
    stat_row(sink, "tasks", tasks);
    stat_row(sink, "commits", r->commits);
    stat_row(sink, "retries", r->retries);
    stat_row(sink, "reads", r->reads);
    stat_row(sink, "bad_reads", r->bad_reads);
    stat_row(sink, "ckpt_ok", r->ckpt_ok);
    stat_row(sink, "ckpt_busy", r->ckpt_busy);
    stat_row(sink, "sum", r->sum);
    stat_row_text(sink, "integrity", r->integrity);
    stat_row(sink, "elapsed_us", elapsed_us);
    stat_row(sink, "commits_per_s", elapsed_us > 0 ? (int64_t)r->commits * 1000000 / elapsed_us : 0);
    stat_row(sink, "latency_p50_us", (int64_t)r->latency_p50_us);
    stat_row(sink, "latency_p99_us", (int64_t)r->latency_p99_us);
    stat_row(sink, "latency_max_us", (int64_t)r->latency_max_us);
    stat_row(sink, "vfs.shm_lock_calls", (int64_t)(after.shm_lock_calls - before.shm_lock_calls));
    stat_row(sink, "vfs.shm_lock_busy", (int64_t)(after.shm_lock_busy - before.shm_lock_busy));
    stat_row(sink, "vfs.shm_lock_waits", (int64_t)(after.shm_lock_waits - before.shm_lock_waits));
    stat_row(sink, "vfs.file_lock_busy", (int64_t)(after.file_lock_busy - before.file_lock_busy));
    stat_row(sink, "vfs.os_errors", (int64_t)os_errors);
    /* The flash work of the run (the setup's and the final check's included). */
    stat_row(sink, "flash.prog_bytes", (int64_t)(fafter.prog_bytes - fbefore.prog_bytes));
    stat_row(sink, "flash.prog_ops", (int64_t)(fafter.prog_ops - fbefore.prog_ops));
    stat_row(sink, "flash.erase_ops", (int64_t)(fafter.erase_ops - fbefore.erase_ops));
    stat_row(sink, "flash.read_bytes", (int64_t)(fafter.read_bytes - fbefore.read_bytes));
    stat_row_text(sink, "error", r->first_error);
    sink->done(sink, 0, 0);
}

#else

int tasks_cores(void) { return 1; }

int tasks_run_on(int core, void (*fn)(void *), void *arg)
{
    if (core != 0) return -1;
    fn(arg);
    return 0;
}

void tasks_stress(int argc, char **argv, con_sink *sink)
{
    (void)argc, (void)argv;
    sink->error(sink, SQLITE_MISUSE, "this board has one core: .stress needs a multi-core board");
}

#endif
