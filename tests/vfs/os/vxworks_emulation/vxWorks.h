/* vxWorks.h (host emulation): the basic types and constants of the VxWorks kernel API that
 * walkit's vfs/os/vxworks.c uses, so that port compiles and runs on a development host.
 * Written from the VxWorks API reference; values match VxWorks 6.9/7 where walkit depends on
 * them.  Not a VxWorks header: only what the port and its tests touch. */
#ifndef VXEMU_VXWORKS_H
#define VXEMU_VXWORKS_H

#include <stddef.h>
#include <stdint.h>

typedef int STATUS;
typedef int BOOL;
typedef unsigned long ULONG;
typedef unsigned int UINT;
typedef uint64_t UINT64;
typedef long _Vx_ticks_t;
typedef long long _Vx_ticks64_t;
typedef long _Vx_usr_arg_t;
typedef int (*FUNCPTR)();

#define OK 0
#define ERROR (-1)
#define TRUE 1
#define FALSE 0

/* Timeouts, in ticks, of every pending call. */
#define WAIT_FOREVER (-1)
#define NO_WAIT 0

/* Task and semaphore ids are opaque pointers (VxWorks 7 style). */
typedef struct vxemu_tcb *TASK_ID;
typedef struct vxemu_semaphore *SEM_ID;
#define TASK_ID_ERROR ((TASK_ID)-1)
#define SEM_ID_NULL ((SEM_ID)0)

#endif
