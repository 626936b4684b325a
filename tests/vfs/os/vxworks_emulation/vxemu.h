/* vxemu.h: controls of the host emulation itself (not VxWorks API), for tests. */
#ifndef VXEMU_CONTROL_H
#define VXEMU_CONTROL_H

/* The next `count` semMCreate/semBCreate calls fail as VxWorks does when the kernel heap is
 * exhausted: NULL with errno S_memLib_NOT_ENOUGH_MEMORY. */
void vxemu_fail_sem_create(int count);

/* The next `count` semTake calls (by any task) fail at once as on an invalid id: ERROR with
 * errno S_objLib_OBJ_ID_ERROR. */
void vxemu_fail_sem_take(int count);

/* Semaphores currently alive (created and not deleted). */
int vxemu_live_semaphores(void);

/* Tasks inside semTake on s, past its checks: waiting, or about to wait under s's lock (so a
 * semDelete after a nonzero answer finds them pending). */
struct vxemu_semaphore;
int vxemu_pending(struct vxemu_semaphore *s);

#endif
