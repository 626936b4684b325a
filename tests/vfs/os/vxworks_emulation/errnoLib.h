/* errnoLib.h (host emulation): the per-task error status. */
#ifndef VXEMU_ERRNOLIB_H
#define VXEMU_ERRNOLIB_H

#include "vxWorks.h"

int errnoGet(void);
STATUS errnoSet(int errorValue);

#endif
