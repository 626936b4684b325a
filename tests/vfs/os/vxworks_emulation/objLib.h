/* objLib.h (host emulation): the object-layer error numbers pending calls report. */
#ifndef VXEMU_OBJLIB_H
#define VXEMU_OBJLIB_H

#define M_objLib (61 << 16)
#define S_objLib_OBJ_ID_ERROR (M_objLib | 1)     /* not a live object (e.g. deleted) */
#define S_objLib_OBJ_UNAVAILABLE (M_objLib | 2)  /* NO_WAIT and not available */
#define S_objLib_OBJ_DELETED (M_objLib | 3)      /* deleted while the caller was pending */
#define S_objLib_OBJ_TIMEOUT (M_objLib | 4)      /* the timeout expired */

#endif
