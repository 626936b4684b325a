/* tasks.h: work the console (core 0) puts on the other cores of a multi-core board.
 *
 * Two uses, one rule: a worker core runs only while the console waits for it, except after a
 * stress run the watchdog gave up on (below), so a console command never runs beside a worker
 * that is still making progress; .ls and .stats nonetheless take the storage's own lock
 * (with a bounded wait), so they stay safe beside a task that never returned.
 *
 *   - .stress runs the C stress driver (tests/scenarios/stress.c, the same source the host runs
 *     with pthreads) with one task per core: tasks go to cores 1..N-1 in the order the driver
 *     starts them, and one more runs on core 0 itself while the console waits.  Core 0
 *     watches the run: a run in which no commit comes for 60 s (plus the checkpointer's
 *     period) is reported as failed (the cores whose tasks did not return are named in the
 *     log, and stay busy until the next boot).  When core 0 runs a task of its own, the check
 *     is made from that task's waits and sleeps (walkit_os_bare_smp_watch), and a stalled run
 *     abandons it where it waits, its locks still held, so the console may then find the
 *     stress database's locks taken, as it may with a stuck core's;
 *   - a connection bound to a core (.core NAME K) has every SQL request run on core K by
 *     tasks_run_on(): the console hands the request over, waits, and the reply goes out from
 *     core K through the same sink, so connections on different cores are different tasks
 *     (their own locks, the WAL-index shared between cores' caches).
 * A log line a worker prints (fw_log) is written whole under the output lock.
 * On a board with one core, .stress answers an error and only core 0 exists. */
#ifndef WALKIT_TASKS_H
#define WALKIT_TASKS_H

#include "console.h"

/* Cores the console can run work on, core 0 included (1 on a single-core board). */
int tasks_cores(void);

/* Runs fn(arg) on `core` (0: here, on the console's core) and waits until it returns, however
 * long that is (a statement's own time; the host interrupts it through the console's watch,
 * which then runs on that core).  Returns 0, or -1 when the core does not exist or is still
 * running a stress task the watchdog gave up on (nothing ran). */
int tasks_run_on(int core, void (*fn)(void *), void *arg);

/* .stress WRITERS TXNS [READERS [CHECKPOINT_MS]] [vfs=NAME] [sync=off|normal|full|extra]:
 * argv[0] is ".stress".  The reply is a (counter, value) table: the driver's results, the VFS
 * and flash counters accumulated during the run, then done; or an error (bad arguments, one
 * core, more tasks than cores, a core still busy). */
void tasks_stress(int argc, char **argv, con_sink *sink);

#endif
