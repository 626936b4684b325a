/* vxemu.c: the VxWorks kernel calls declared in this folder, emulated on POSIX threads, so
 * walkit's vfs/os/vxworks.c runs unchanged in host unit tests (the approach of NASA cFS OSAL's
 * VxWorks coverage tests).  Semantics follow the comments in semLib.h and taskLib.h.
 *
 * A semaphore is never freed: semDelete marks it dead, so every later use of the id is
 * detected (S_objLib_OBJ_ID_ERROR) instead of touching freed memory.  Tests are short-lived. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "errnoLib.h"
#include "memLib.h"
#include "semLib.h"
#include "sysLib.h"
#include "taskLib.h"
#include "tickLib.h"
#include "vxemu.h"

/* A task: its error status.  Threads not created by taskSpawn get one on first use. */
struct vxemu_tcb {
    int err;
};

static __thread struct vxemu_tcb *current;
static __thread struct vxemu_tcb implicit_tcb;

static struct vxemu_tcb *self(void)
{
    if (!current) current = &implicit_tcb;
    return current;
}

TASK_ID taskIdSelf(void) { return self(); }
int errnoGet(void) { return self()->err; }
STATUS errnoSet(int e)
{
    self()->err = e;
    return OK;
}

static STATUS fail(int e)
{
    errnoSet(e);
    return ERROR;
}

/* ---- clock */

static int clk_rate = 60;

int sysClkRateGet(void) { return clk_rate; }
STATUS sysClkRateSet(int r)
{
    if (r <= 0) return fail(EINVAL);
    clk_rate = r;
    return OK;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

UINT64 tick64Get(void) { return now_ns() / (1000000000u / (uint64_t)clk_rate); }
ULONG tickGet(void) { return (ULONG)tick64Get(); }

/* When `ticks` more tick interrupts will have happened.  As on VxWorks, a delay counts tick
 * interrupts, not time: the first may come at once, so n ticks last between n - 1 and n tick
 * periods (a port that converts a time to ticks must add one to wait at least that long). */
static struct timespec deadline_after_ticks(_Vx_ticks_t ticks)
{
    uint64_t period = 1000000000u / (uint64_t)clk_rate;
    uint64_t ns = (now_ns() / period + (uint64_t)ticks) * period;
    struct timespec t = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    return t;
}

STATUS taskDelay(_Vx_ticks_t ticks)
{
    if (ticks <= 0) {
        sched_yield();
        return OK;
    }
    struct timespec d = deadline_after_ticks(ticks);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR) { }
    return OK;
}

/* ---- tasks */

struct spawn {
    struct vxemu_tcb *tcb;
    FUNCPTR entry;
    _Vx_usr_arg_t a[10];
};

static void *task_main(void *p)
{
    struct spawn s = *(struct spawn *)p;
    free(p);
    current = s.tcb;
    ((int (*)(_Vx_usr_arg_t, _Vx_usr_arg_t, _Vx_usr_arg_t, _Vx_usr_arg_t, _Vx_usr_arg_t,
              _Vx_usr_arg_t, _Vx_usr_arg_t, _Vx_usr_arg_t, _Vx_usr_arg_t,
              _Vx_usr_arg_t))s.entry)(s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5], s.a[6],
                                      s.a[7], s.a[8], s.a[9]);
    return NULL;
}

TASK_ID taskSpawn(char *name, int priority, int options, size_t stackSize, FUNCPTR entryPt,
                  _Vx_usr_arg_t a1, _Vx_usr_arg_t a2, _Vx_usr_arg_t a3, _Vx_usr_arg_t a4,
                  _Vx_usr_arg_t a5, _Vx_usr_arg_t a6, _Vx_usr_arg_t a7, _Vx_usr_arg_t a8,
                  _Vx_usr_arg_t a9, _Vx_usr_arg_t a10)
{
    (void)name, (void)priority, (void)options, (void)stackSize;
    struct spawn *s = malloc(sizeof *s);
    struct vxemu_tcb *tcb = calloc(1, sizeof *tcb); /* lives as long as the process */
    pthread_t th;
    if (!s || !tcb) {
        free(s);
        free(tcb);
        fail(S_memLib_NOT_ENOUGH_MEMORY);
        return TASK_ID_ERROR;
    }
    *s = (struct spawn){ tcb, entryPt, { a1, a2, a3, a4, a5, a6, a7, a8, a9, a10 } };
    if (pthread_create(&th, NULL, task_main, s) != 0) {
        free(s);
        free(tcb);
        fail(S_memLib_NOT_ENOUGH_MEMORY);
        return TASK_ID_ERROR;
    }
    pthread_detach(th);
    return tcb;
}

/* ---- semaphores */

enum { SEM_KIND_BINARY, SEM_KIND_MUTEX };

/* lock guards every field; cond is broadcast on every give and on delete. */
struct vxemu_semaphore {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int kind, options, deleted;
    int full;       /* binary */
    TASK_ID owner;  /* mutex: NULL when free */
    int depth;      /* mutex: recursive takes by the owner */
    int pending;    /* tasks in semTake's wait (vxemu_pending) */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static int fail_creates, fail_takes, live;

void vxemu_fail_sem_create(int count)
{
    pthread_mutex_lock(&registry_lock);
    fail_creates = count;
    pthread_mutex_unlock(&registry_lock);
}

void vxemu_fail_sem_take(int count)
{
    pthread_mutex_lock(&registry_lock);
    fail_takes = count;
    pthread_mutex_unlock(&registry_lock);
}

int vxemu_pending(SEM_ID s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->pending;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int vxemu_live_semaphores(void)
{
    pthread_mutex_lock(&registry_lock);
    int n = live;
    pthread_mutex_unlock(&registry_lock);
    return n;
}

static SEM_ID sem_new(int kind, int options)
{
    pthread_mutex_lock(&registry_lock);
    int refuse = fail_creates > 0;
    if (refuse) fail_creates--;
    pthread_mutex_unlock(&registry_lock);
    if (refuse) {
        errnoSet(S_memLib_NOT_ENOUGH_MEMORY);
        return SEM_ID_NULL;
    }
    SEM_ID s = calloc(1, sizeof *s);
    if (!s) {
        errnoSet(S_memLib_NOT_ENOUGH_MEMORY);
        return SEM_ID_NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->kind = kind;
    s->options = options;
    pthread_mutex_lock(&registry_lock);
    live++;
    pthread_mutex_unlock(&registry_lock);
    return s;
}

SEM_ID semMCreate(int options)
{
    int known = SEM_Q_PRIORITY | SEM_DELETE_SAFE | SEM_INVERSION_SAFE;
    if ((options & ~known) || ((options & SEM_INVERSION_SAFE) && !(options & SEM_Q_PRIORITY))) {
        errnoSet(S_semLib_INVALID_OPTION);
        return SEM_ID_NULL;
    }
    return sem_new(SEM_KIND_MUTEX, options);
}

SEM_ID semBCreate(int options, SEM_B_STATE state)
{
    if ((options & ~SEM_Q_PRIORITY) || (state != SEM_EMPTY && state != SEM_FULL)) {
        errnoSet(options & ~SEM_Q_PRIORITY ? S_semLib_INVALID_OPTION : S_semLib_INVALID_STATE);
        return SEM_ID_NULL;
    }
    SEM_ID s = sem_new(SEM_KIND_BINARY, options);
    if (s) s->full = state == SEM_FULL;
    return s;
}

static int available(SEM_ID s)
{
    return s->kind == SEM_KIND_BINARY ? s->full : s->owner == NULL;
}

STATUS semTake(SEM_ID s, _Vx_ticks_t timeout)
{
    pthread_mutex_lock(&registry_lock);
    int refuse = fail_takes > 0;
    if (refuse) fail_takes--;
    pthread_mutex_unlock(&registry_lock);
    if (!s || refuse) return fail(S_objLib_OBJ_ID_ERROR);
    pthread_mutex_lock(&s->lock);
    int err = 0;
    if (s->deleted) {
        err = S_objLib_OBJ_ID_ERROR;
    } else if (s->kind == SEM_KIND_MUTEX && s->owner == taskIdSelf()) {
        s->depth++;
    } else {
        struct timespec d = deadline_after_ticks(timeout > 0 ? timeout : 0);
        s->pending++;
        while (!available(s) && !s->deleted && !err) {
            if (timeout == NO_WAIT) err = S_objLib_OBJ_UNAVAILABLE;
            else if (timeout == WAIT_FOREVER) pthread_cond_wait(&s->cond, &s->lock);
            else if (pthread_cond_timedwait(&s->cond, &s->lock, &d) == ETIMEDOUT && !available(s))
                err = S_objLib_OBJ_TIMEOUT;
        }
        s->pending--;
        if (!err && s->deleted) err = S_objLib_OBJ_DELETED;
        if (!err && s->kind == SEM_KIND_BINARY) s->full = 0;
        if (!err && s->kind == SEM_KIND_MUTEX) {
            s->owner = taskIdSelf();
            s->depth = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return err ? fail(err) : OK;
}

STATUS semGive(SEM_ID s)
{
    if (!s) return fail(S_objLib_OBJ_ID_ERROR);
    pthread_mutex_lock(&s->lock);
    int err = 0;
    if (s->deleted) {
        err = S_objLib_OBJ_ID_ERROR;
    } else if (s->kind == SEM_KIND_BINARY) {
        s->full = 1;
        pthread_cond_broadcast(&s->cond);
    } else if (s->owner != taskIdSelf()) {
        err = S_semLib_INVALID_OPERATION;
    } else if (--s->depth == 0) {
        s->owner = NULL;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return err ? fail(err) : OK;
}

STATUS semDelete(SEM_ID s)
{
    if (!s) return fail(S_objLib_OBJ_ID_ERROR);
    pthread_mutex_lock(&s->lock);
    int was = s->deleted;
    s->deleted = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (was) return fail(S_objLib_OBJ_ID_ERROR);
    pthread_mutex_lock(&registry_lock);
    live--;
    pthread_mutex_unlock(&registry_lock);
    return OK;
}
