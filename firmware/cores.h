/* cores.h: the board contract for boards with more than one core (beside board.h).
 *
 * One task per core: core 0 runs the firmware (console); each other core runs one function at
 * a time, posted by core 0.  Only boards whose OS port is bare_smp implement this (CMake then
 * defines WALKIT_BOARD_SMP=1 for the firmware); the firmware's tasks.c is the only caller.
 * All calls are made by core 0. */
#ifndef WALKIT_CORES_H
#define WALKIT_CORES_H

#include <stdint.h>

#include "board.h"

/* How many cores there are in all, core 0 included (found on the first call; a core the board
 * cannot use is reported through the log once). */
int board_cores(board_log_fn *log);

/* Runs fn(arg) on core `core` (1..board_cores()-1), which must be idle (a board may power a
 * core only while it runs a function); returns 0, or -1 when the core does not exist, is still
 * running a previous function or could not be started. */
int board_core_run(int core, void (*fn)(void *), void *arg);

/* Waits up to timeout_ms (-1: forever) for `core`'s function to return; 0 when it has (the
 * core is idle again, and everything fn wrote is visible to the caller), -1 on timeout. */
int board_core_wait(int core, int32_t timeout_ms);

#endif
