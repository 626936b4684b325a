/* tasks.h: work the console (core 0) starts on the other cores of a multi-core board.
 *
 * `.stress` runs the C stress driver (tests/scenarios/stress.c, the same source the host runs
 * with pthreads) with one task per core: tasks go to cores 1..N-1 in the order the driver
 * starts them, and one more runs on core 0 itself while the console waits.  The console does
 * nothing else until every task has returned, so no worker ever runs beside a console command
 * (.ls, .stats and the replies' output never interleave with workers' littlefs or SQLite
 * calls); a log line a worker prints (fw_log) is written whole under the output lock.
 * On a board with one core the command answers an error. */
#ifndef WALKIT_TASKS_H
#define WALKIT_TASKS_H

#include "console.h"

/* .stress WRITERS TXNS [READERS [CHECKPOINT_MS]]: argv[0] is ".stress".  The reply is a
 * (counter, value) table: the driver's results and the VFS counters accumulated during the
 * run, then done; or an error (bad arguments, one core, more tasks than cores). */
void tasks_stress(int argc, char **argv, con_sink *sink);

#endif
