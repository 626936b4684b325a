/* semLib.h (host emulation): binary and mutual-exclusion semaphores.
 *
 * Semantics emulated (VxWorks API reference, semLib / semMLib / semBLib):
 *  - semMCreate: the owner may take a mutex again (recursively); only the owner may give it
 *    (else ERROR, S_semLib_INVALID_OPERATION).  SEM_INVERSION_SAFE requires SEM_Q_PRIORITY
 *    (else NULL, S_semLib_INVALID_OPTION).
 *  - semBCreate: SEM_EMPTY or SEM_FULL; any task may give; giving a full one keeps it full.
 *  - semTake: OK, or ERROR with errno S_objLib_OBJ_UNAVAILABLE (NO_WAIT), S_objLib_OBJ_TIMEOUT
 *    (timeout in ticks expired), S_objLib_OBJ_DELETED (deleted while pending),
 *    S_objLib_OBJ_ID_ERROR (not a live semaphore, e.g. already deleted).
 *  - semDelete: wakes every pending task with S_objLib_OBJ_DELETED; the id is dead afterwards.
 * Priority queueing and inversion safety are accepted and not modelled (host threads have no
 * VxWorks priorities). */
#ifndef VXEMU_SEMLIB_H
#define VXEMU_SEMLIB_H

#include "vxWorks.h"
#include "objLib.h"

#define SEM_Q_FIFO 0x00
#define SEM_Q_PRIORITY 0x01
#define SEM_DELETE_SAFE 0x04
#define SEM_INVERSION_SAFE 0x08

typedef enum { SEM_EMPTY = 0, SEM_FULL = 1 } SEM_B_STATE;

#define M_semLib (22 << 16)
#define S_semLib_INVALID_STATE (M_semLib | 101)
#define S_semLib_INVALID_OPTION (M_semLib | 102)
#define S_semLib_INVALID_QUEUE_TYPE (M_semLib | 103)
#define S_semLib_INVALID_OPERATION (M_semLib | 104)

SEM_ID semMCreate(int options);
SEM_ID semBCreate(int options, SEM_B_STATE initialState);
STATUS semTake(SEM_ID semId, _Vx_ticks_t timeout);
STATUS semGive(SEM_ID semId);
STATUS semDelete(SEM_ID semId);

#endif
