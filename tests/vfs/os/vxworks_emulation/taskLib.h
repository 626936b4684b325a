/* taskLib.h (host emulation): tasks are POSIX threads.  Priorities and options are accepted and
 * ignored; taskSpawn returns TASK_ID_ERROR when the thread cannot be created. */
#ifndef VXEMU_TASKLIB_H
#define VXEMU_TASKLIB_H

#include "vxWorks.h"

TASK_ID taskIdSelf(void);
STATUS taskDelay(_Vx_ticks_t ticks);
TASK_ID taskSpawn(char *name, int priority, int options, size_t stackSize, FUNCPTR entryPt,
                  _Vx_usr_arg_t arg1, _Vx_usr_arg_t arg2, _Vx_usr_arg_t arg3,
                  _Vx_usr_arg_t arg4, _Vx_usr_arg_t arg5, _Vx_usr_arg_t arg6,
                  _Vx_usr_arg_t arg7, _Vx_usr_arg_t arg8, _Vx_usr_arg_t arg9,
                  _Vx_usr_arg_t arg10);

#endif
