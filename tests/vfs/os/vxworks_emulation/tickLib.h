/* tickLib.h (host emulation): the kernel tick counter, from the host's monotonic clock at
 * sysClkRateGet() ticks per second. */
#ifndef VXEMU_TICKLIB_H
#define VXEMU_TICKLIB_H

#include "vxWorks.h"

ULONG tickGet(void);
UINT64 tick64Get(void);

#endif
