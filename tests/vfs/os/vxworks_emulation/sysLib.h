/* sysLib.h (host emulation): the system clock rate (60 Hz by default, as a VxWorks BSP). */
#ifndef VXEMU_SYSLIB_H
#define VXEMU_SYSLIB_H

#include "vxWorks.h"

int sysClkRateGet(void);
STATUS sysClkRateSet(int ticksPerSecond);

#endif
