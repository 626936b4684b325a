/* memLib.h (host emulation): the allocation error number. */
#ifndef VXEMU_MEMLIB_H
#define VXEMU_MEMLIB_H

#define M_memLib (17 << 16)
#define S_memLib_NOT_ENOUGH_MEMORY (M_memLib | 1)

#endif
