/* registry.h: the WAL-index state walkit shares between connections of one address space,
 * independent of how a mode hands it to SQLite.
 *
 * One registry per storage backend (vfs.c's walkit_storage_state), shared by every VFS name
 * registered on it.  Per database file (keyed by its normalised path within that storage) a
 * node holds the 32 KiB regions and the 8 lock slots of SQLite's xShm* contract; per connection
 * an attachment records which slots it holds.  heap.c gives SQLite the node's regions directly;
 * copy.c never gives SQLite any shared memory: it keeps a private copy per attachment
 * (mode_data) and synchronises it with a shared area of its own (the node's mode data,
 * walkit_shm_node_data) around these same slots.  A node serves one mode at a time (the mode
 * of its first attachment).
 *
 * Locks: each slot is an atomic counter (os_unix.c's aLock[] convention: n readers, or -1 for
 * one writer), so taking and letting go of an uncontended slot, and the barrier, touch no
 * mutex: readers in different threads do not serialise on anything.  A request that
 * conflicts fails at once with SQLITE_BUSY, or, when the caller passes a timeout
 * (SQLITE_ENABLE_SETLK_TIMEOUT builds, through SQLITE_FCNTL_LOCK_TIMEOUT), spins briefly and
 * then waits for a release on the connection's own semaphore, returning SQLITE_BUSY_TIMEOUT if
 * the time runs out.  A release wakes waiters without reserving the slot for them (a running
 * caller may take it first); a waiter that loses the slot that way parks: releases no longer
 * wake it, so the running caller keeps the slot (and its warm page cache) without paying a
 * wake per release, until the starvation bound, when the waiter becomes starving and is then
 * served before new requests that conflict with it.  No mutex is held while waiting.
 * It never waits for a holder driven by the calling task itself (two connections used by one
 * task, or every conflict on a single-task port): that holder cannot release while its task
 * waits, so such a conflict fails at once, whatever the timeout.
 */
#ifndef WALKIT_SHM_REGISTRY_H
#define WALKIT_SHM_REGISTRY_H

#include <stdint.h>

#include "os/os.h"

#define WALKIT_SHM_NLOCK 8           /* SQLITE_SHM_NLOCK: WRITE, CKPT, RECOVER, READ(0..4) */
#define WALKIT_SHM_REGION_SIZE 32768 /* WALINDEX_PGSZ: the only size SQLite asks for */

typedef struct walkit_shm_registry walkit_shm_registry;
typedef struct walkit_shm_node walkit_shm_node;
typedef struct walkit_shm_conn walkit_shm_conn;

/* One connection's attachment to a node.
 *   node: set at attach, immutable.  next: guarded by node's mutex.
 *   shared_mask, excl_mask, task: written only by the task driving the connection (SQLite
 *     serialises the calls on one connection), read by others with relaxed atomic loads (the
 *     same-task rule, which reads them exactly for connections of its own task).
 *   task: walkit_os_task_id() of the task that made the connection's latest xShmLock call, i.e.
 *     the task driving the connection.  It is what tells a holder the caller could never wait
 *     for (see walkit_shm_lock).
 *   waiting, starving, parked, woken, next_waiter, want_*: written under node's mutex,
 *     waiting, starving and parked only by the owner (which may read them without it).
 *   wake: created by the owner on its first blocking wait; taken only by the owner, given by
 *     releasers under node's mutex.
 *   mode_data: the WAL-index mode's per-connection state; used by the owner only. */
struct walkit_shm_conn {
    walkit_shm_node *node;
    walkit_shm_conn *next;
    uint16_t shared_mask;      /* slot i held SHARED by this connection: bit i */
    uint16_t excl_mask;        /* slot i held EXCLUSIVE by this connection: bit i */
    uintptr_t task;            /* the task driving this connection (0 before its first lock) */
    int waiting;               /* on node's waiter list (FIFO) */
    int starving;              /* waited past the starvation bound: served before newcomers */
    int parked;                /* woken, lost the slot: sleeps to the starvation bound, unwoken */
    int woken;                 /* its semaphore was given and it has not retried since */
    walkit_shm_conn *next_waiter;
    uint8_t want_ofst, want_n, want_excl; /* the request it waits for */
    walkit_os_sem *wake;
    void *mode_data;
};

walkit_shm_registry *walkit_shm_registry_create(void);
void walkit_shm_registry_destroy(walkit_shm_registry *r); /* r empty, or NULL */

/* Attaches a new connection to path's node, creating the node (no regions, no locks, tagged
 * with `mode`, a walkit_shm_mode) for the first one.  SQLITE_OK, SQLITE_NOMEM (nothing
 * changed), or SQLITE_IOERR_SHMOPEN (logged) if the node's connections use another mode: a
 * heap connection would write memory a copy connection never looks at, and back. */
int walkit_shm_attach(walkit_shm_registry *r, const char *path, int mode, walkit_shm_conn **out);

/* The node's mode data (copy.c's shared area): made by create(arg, path) for the first caller,
 * freed by destroy() with the node (after its last detach).  NULL if create returned NULL (it
 * is asked again next time).  Called from the mode's xShmMap; no node lock held by the caller. */
void *walkit_shm_node_data(walkit_shm_conn *c, void *(*create)(void *arg, const char *path),
                           void (*destroy)(void *data), void *arg);

/* Releases every slot c holds, detaches and frees it; the last connection frees the node and
 * its regions (the next attach starts from zeroed memory and SQLite recovers from the WAL). */
void walkit_shm_detach(walkit_shm_registry *r, walkit_shm_conn *c);

/* Region `region` of c's node: if it exists, *pp points at it (the address never changes while
 * the node lives).  If not and extend is 0, SQLITE_OK with *pp = NULL.  If not and extend is
 * nonzero, regions up to `region` are allocated zeroed.  SQLITE_NOMEM: `region` does not exist
 * and *pp is NULL; regions allocated before memory ran out stay (complete and zeroed, exactly
 * what SQLite would find had it asked for them one at a time), nothing else changed.
 * SQLITE_IOERR_SHMSIZE if size differs from the node's region size. */
int walkit_shm_region(walkit_shm_conn *c, int region, int size, int extend, void **pp);

/* SQLite's xShmLock on slots [ofst, ofst+n): flags is SQLITE_SHM_LOCK or SQLITE_SHM_UNLOCK
 * with SQLITE_SHM_SHARED or SQLITE_SHM_EXCLUSIVE.  timeout_ms: 0 fail at once, > 0 wait up to
 * that long, WALKIT_OS_FOREVER wait without limit.  Returns SQLITE_OK, SQLITE_BUSY (no wait
 * asked for), SQLITE_BUSY_TIMEOUT (a wait was asked for and came to nothing: it expired, or
 * was pointless because a conflicting holder is driven by the calling task), or
 * SQLITE_IOERR_SHMLOCK for a malformed request. */
int walkit_shm_lock(walkit_shm_conn *c, int ofst, int n, int flags, int timeout_ms);

/* A full memory barrier (and nothing else: the slots order themselves). */
void walkit_shm_barrier(walkit_shm_conn *c);

#endif /* WALKIT_SHM_REGISTRY_H */
