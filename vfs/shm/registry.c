/* registry.c: WAL-index nodes (regions + lock slots) per database path, and the connections
 * attached to them.  See registry.h for the contract. */
#include <string.h>

#include "shm/registry.h"
#include "sqlite3.h"
#include "walkit_int.h"

/* One database file's WAL-index.
 *   next, nref: guarded by the registry's mutex (attach/detach); path is immutable.
 *   Every other field is guarded by lock: the regions table (never the regions' contents,
 *   which SQLite reads and writes under its own protocol of slots and barriers), the slots,
 *   the attached connections and the waiters.
 *   slot[i]: 0 free, n > 0 held SHARED by n connections, -1 held EXCLUSIVE by one (os_unix.c's
 *   aLock[] convention).  The connections' masks always add up to exactly these values.
 *   regions[0..nregion): 32 KiB blocks, zeroed when allocated, freed only with the node. */
struct walkit_shm_node {
    walkit_shm_node *next;
    char *path;
    int nref;
    walkit_os_mutex *lock;
    void **regions;
    int nregion, cap, size;
    int slot[WALKIT_SHM_NLOCK];
    walkit_shm_conn *conns;
    walkit_shm_conn *waiters;
    int mode;                         /* walkit_shm_mode of every attachment: set at creation */
    void *mode_data;                  /* walkit_shm_node_data(); freed by mode_free */
    void (*mode_free)(void *data);
};

/* All nodes of one storage.  lock guards nodes and every node's next and nref.  Lock order:
 * registry lock before a node lock (attach/detach); lock calls take only the node lock. */
struct walkit_shm_registry {
    walkit_os_mutex *lock;
    walkit_shm_node *nodes;
};

walkit_shm_registry *walkit_shm_registry_create(void)
{
    walkit_shm_registry *r = walkit_alloc_zero(sizeof *r);
    if (r && !(r->lock = walkit_os_mutex_create())) {
        walkit_free(r);
        r = NULL;
    }
    return r;
}

void walkit_shm_registry_destroy(walkit_shm_registry *r)
{
    if (!r) return;
    walkit_os_mutex_destroy(r->lock);
    walkit_free(r);
}

static void node_free(walkit_shm_node *n)
{
    if (n->mode_data) n->mode_free(n->mode_data);
    for (int i = 0; i < n->nregion; i++) walkit_free(n->regions[i]);
    if (n->nregion) WALKIT_STAT_SUB(shm_regions, (uint32_t)n->nregion);
    walkit_free(n->regions);
    walkit_os_mutex_destroy(n->lock);
    walkit_free(n->path);
    walkit_free(n);
}

int walkit_shm_attach(walkit_shm_registry *r, const char *path, int mode, walkit_shm_conn **out)
{
    walkit_shm_conn *c = walkit_alloc_zero(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    walkit_mutex_enter(r->lock, "shm attach");
    walkit_shm_node *n = r->nodes;
    while (n && strcmp(n->path, path) != 0) n = n->next;
    if (!n) {
        n = walkit_alloc_zero(sizeof *n);
        if (n && (!(n->path = walkit_strdup(path)) || !(n->lock = walkit_os_mutex_create()))) {
            node_free(n);
            n = NULL;
        }
        if (n) {
            n->mode = mode;
            n->next = r->nodes;
            r->nodes = n;
            WALKIT_STAT_ADD(shm_nodes, 1);
        }
    }
    int other_mode = n && n->mode != mode;
    if (n && !other_mode) n->nref++;
    walkit_mutex_leave(r->lock, "shm attach");
    if (!n || other_mode) {
        walkit_free(c);
        if (!other_mode) return SQLITE_NOMEM;
        sqlite3_log(SQLITE_IOERR_SHMOPEN, "walkit: %s: its WAL-index is open in shm mode %d, "
                    "cannot also use mode %d (close the other connections first)", path,
                    n->mode, mode);
        return SQLITE_IOERR_SHMOPEN;
    }
    c->node = n;
    walkit_mutex_enter(n->lock, "shm attach");
    c->next = n->conns;
    n->conns = c;
    walkit_mutex_leave(n->lock, "shm attach");
    *out = c;
    return SQLITE_OK;
}

/* Whether a request fits the slot values in slot[]. */
static int fits(const int *slot, int ofst, int n, int exclusive)
{
    if (!exclusive) return slot[ofst] >= 0;
    for (int i = ofst; i < ofst + n; i++)
        if (slot[i] != 0) return 0;
    return 1;
}

/* Wakes, in queue order, the waiters whose requests can now be granted together (node lock
 * held).  Each woken one is assumed to take its lock, so a second writer behind the first stays
 * asleep instead of waking only to find the slot taken again.  The assumption can fail: a
 * connection that never waited may take a slot between the wake and the woken task's retry.
 * A woken waiter refused that way calls this again before it queues again (at the tail) or
 * gives up, so a waiter it was assumed to block is not left asleep. */
static void wake_waiters(walkit_shm_node *n)
{
    int sim[WALKIT_SHM_NLOCK];
    memcpy(sim, n->slot, sizeof sim);
    walkit_shm_conn **pp = &n->waiters;
    while (*pp) {
        walkit_shm_conn *w = *pp;
        if (!fits(sim, w->want_ofst, w->want_n, w->want_excl)) {
            pp = &w->next_waiter;
            continue;
        }
        for (int i = w->want_ofst; i < w->want_ofst + w->want_n; i++)
            sim[i] = w->want_excl ? -1 : sim[i] + 1;
        *pp = w->next_waiter;
        w->next_waiter = NULL;
        w->waiting = 0;
        int rc = walkit_os_sem_give(w->wake);
        if (rc != WALKIT_OS_OK) walkit_os_failed("shm wake", rc);
    }
}

/* Releases c's hold on the slots in mask (node lock held); wakes waiters if any slot got
 * freer. */
static void release_slots(walkit_shm_conn *c, uint16_t mask)
{
    walkit_shm_node *n = c->node;
    int freed = 0;
    for (int i = 0; i < WALKIT_SHM_NLOCK; i++) {
        uint16_t bit = (uint16_t)(1u << i);
        if (!(mask & bit)) continue;
        if (c->excl_mask & bit) {
            n->slot[i] = 0;
            freed = 1;
        } else if (c->shared_mask & bit) {
            n->slot[i]--;
            freed = 1;
        }
    }
    c->excl_mask &= (uint16_t)~mask;
    c->shared_mask &= (uint16_t)~mask;
    if (freed) wake_waiters(n);
}

void walkit_shm_detach(walkit_shm_registry *r, walkit_shm_conn *c)
{
    walkit_shm_node *n = c->node;
    walkit_mutex_enter(n->lock, "shm detach");
    release_slots(c, (uint16_t)((1u << WALKIT_SHM_NLOCK) - 1));
    walkit_shm_conn **pp = &n->conns;
    while (*pp != c) pp = &(*pp)->next;
    *pp = c->next;
    walkit_mutex_leave(n->lock, "shm detach");
    walkit_os_sem_destroy(c->wake);
    walkit_free(c);

    walkit_mutex_enter(r->lock, "shm detach");
    if (--n->nref == 0) {
        walkit_shm_node **np = &r->nodes;
        while (*np != n) np = &(*np)->next;
        *np = n->next;
        node_free(n);
        WALKIT_STAT_SUB(shm_nodes, 1);
    }
    walkit_mutex_leave(r->lock, "shm detach");
}

int walkit_shm_region(walkit_shm_conn *c, int region, int size, int extend, void **pp)
{
    walkit_shm_node *n = c->node;
    int rc = SQLITE_OK;
    *pp = NULL;
    if (region < 0 || size <= 0) return SQLITE_IOERR_SHMMAP;
    walkit_mutex_enter(n->lock, "shm map");
    if (n->nregion > 0 && size != n->size) {
        rc = SQLITE_IOERR_SHMSIZE;
    } else if (region >= n->nregion && extend) {
        if (region >= n->cap) {
            int cap = n->cap ? n->cap : 4;
            while (cap <= region) cap *= 2;
            void **table = walkit_alloc(sizeof(void *) * (size_t)cap);
            if (!table) {
                rc = SQLITE_NOMEM;
            } else {
                if (n->nregion) memcpy(table, n->regions, sizeof(void *) * (size_t)n->nregion);
                walkit_free(n->regions);
                n->regions = table;
                n->cap = cap;
            }
        }
        /* Each region is published only once allocated, so running out of memory half-way
         * leaves fewer, complete regions: the state SQLite saw before the call. */
        while (rc == SQLITE_OK && n->nregion <= region) {
            void *mem = walkit_alloc_zero((size_t)size);
            if (!mem) {
                rc = SQLITE_NOMEM;
                break;
            }
            n->regions[n->nregion++] = mem;
            n->size = size;
            WALKIT_STAT_ADD(shm_regions, 1);
        }
    }
    if (rc == SQLITE_OK && region < n->nregion) *pp = n->regions[region];
    walkit_mutex_leave(n->lock, "shm map");
    return rc;
}

/* Grants the request if no other connection's hold conflicts (node lock held).  Returns
 * SQLITE_OK or SQLITE_BUSY. */
static int try_acquire(walkit_shm_conn *c, int ofst, int n, int exclusive)
{
    walkit_shm_node *node = c->node;
    uint16_t mask = (uint16_t)(((1u << n) - 1u) << ofst);
    if (!exclusive) {
        if (c->shared_mask & mask) return SQLITE_OK; /* already held: SQLite may re-ask */
        if (node->slot[ofst] < 0) return SQLITE_BUSY;
        node->slot[ofst]++;
        c->shared_mask |= mask;
        return SQLITE_OK;
    }
    if (!fits(node->slot, ofst, n, 1)) return SQLITE_BUSY;
    for (int i = ofst; i < ofst + n; i++) node->slot[i] = -1;
    c->excl_mask |= mask;
    return SQLITE_OK;
}

/* Whether a connection driven by the task `me` other than c holds a slot that conflicts with
 * the request (node lock held).  Such a holder cannot release while its own task waits, so
 * waiting would only burn the timeout (or hang, without one). */
static int own_task_conflicts(walkit_shm_conn *c, int ofst, int n, int exclusive, uintptr_t me)
{
    uint16_t mask = (uint16_t)(((1u << n) - 1u) << ofst);
    for (walkit_shm_conn *o = c->node->conns; o; o = o->next) {
        if (o == c || o->task != me) continue;
        uint16_t held = exclusive ? (uint16_t)(o->shared_mask | o->excl_mask) : o->excl_mask;
        if (held & mask) return 1;
    }
    return 0;
}

/* Waits (node lock held on entry and on return) until a release wakes c or deadline_us passes.
 * Returns 1 if woken (or spuriously, which the caller's retry loop absorbs), 0 on timeout or
 * when waiting is impossible. */
static int wait_for_release(walkit_shm_conn *c, int ofst, int n_slots, int exclusive,
                            int forever, uint64_t deadline_us)
{
    walkit_shm_node *n = c->node;
    int32_t ms = WALKIT_OS_FOREVER;
    if (!forever) {
        uint64_t now = walkit_os_monotonic_us();
        if (now >= deadline_us) return 0;
        ms = (int32_t)((deadline_us - now + 999u) / 1000u);
    }
    if (!c->wake && !(c->wake = walkit_os_sem_create())) return 0; /* no memory: don't block */
    c->want_ofst = (uint8_t)ofst;
    c->want_n = (uint8_t)n_slots;
    c->want_excl = (uint8_t)exclusive;
    c->waiting = 1;
    c->next_waiter = NULL;
    walkit_shm_conn **tail = &n->waiters;
    while (*tail) tail = &(*tail)->next_waiter;
    *tail = c;
    WALKIT_STAT_ADD(shm_lock_waits, 1);
    walkit_mutex_leave(n->lock, "shm lock wait");
    int rc = walkit_os_sem_take(c->wake, ms);
    walkit_mutex_enter(n->lock, "shm lock wait");
    if (c->waiting) { /* nobody woke us: leave the list */
        walkit_shm_conn **pp = &n->waiters;
        while (*pp != c) pp = &(*pp)->next_waiter;
        *pp = c->next_waiter;
        c->waiting = 0;
    }
    if (rc == WALKIT_OS_OK) return 1;
    if (rc != WALKIT_OS_TIMEOUT) {
        walkit_os_failed("shm lock wait", rc);
        return 0;
    }
    return !forever && walkit_os_monotonic_us() < deadline_us; /* a wake raced the timeout */
}

int walkit_shm_lock(walkit_shm_conn *c, int ofst, int n, int flags, int timeout_ms)
{
    int unlock = (flags & SQLITE_SHM_UNLOCK) != 0;
    int exclusive = (flags & SQLITE_SHM_EXCLUSIVE) != 0;
    int kinds = (flags & (SQLITE_SHM_SHARED | SQLITE_SHM_EXCLUSIVE));
    int ops = (flags & (SQLITE_SHM_LOCK | SQLITE_SHM_UNLOCK));
    WALKIT_STAT_ADD(shm_lock_calls, 1);
    if (ofst < 0 || n < 1 || ofst + n > WALKIT_SHM_NLOCK || flags != (kinds | ops) ||
        (kinds != SQLITE_SHM_SHARED && kinds != SQLITE_SHM_EXCLUSIVE) ||
        (ops != SQLITE_SHM_LOCK && ops != SQLITE_SHM_UNLOCK) || (!exclusive && n != 1)) {
        sqlite3_log(SQLITE_IOERR_SHMLOCK, "walkit: malformed xShmLock(%d, %d, 0x%x)", ofst, n,
                    flags);
        return SQLITE_IOERR_SHMLOCK;
    }
    walkit_shm_node *node = c->node;
    uint16_t mask = (uint16_t)(((1u << n) - 1u) << ofst);
    uintptr_t me = walkit_os_task_id();
    int rc = SQLITE_OK, waited = 0, futile = 0;
    uint64_t deadline = 0;
    walkit_mutex_enter(node->lock, "shm lock");
    c->task = me;
    if (unlock) {
        release_slots(c, mask);
    } else {
        if (timeout_ms > 0) deadline = walkit_os_monotonic_us() + (uint64_t)timeout_ms * 1000u;
        while ((rc = try_acquire(c, ofst, n, exclusive)) == SQLITE_BUSY && timeout_ms != 0) {
            /* A holder driven by this very task can only release after we return. */
            if (own_task_conflicts(c, ofst, n, exclusive, me)) {
                futile = 1;
                break;
            }
            /* Woken, yet refused: pass the wake on before queueing again (see wake_waiters). */
            if (waited && node->waiters) wake_waiters(node);
            waited = 1;
            if (!wait_for_release(c, ofst, n, exclusive, timeout_ms < 0, deadline)) {
                rc = try_acquire(c, ofst, n, exclusive); /* a last look after the deadline */
                break;
            }
        }
        /* Leaving without the lock after a wait: a wake meant for us may have passed over
         * others, so let whoever can proceed now proceed. */
        if (rc == SQLITE_BUSY && waited && node->waiters) wake_waiters(node);
    }
    walkit_mutex_leave(node->lock, "shm lock");
    if (rc == SQLITE_BUSY) {
        WALKIT_STAT_ADD(shm_lock_busy, 1);
#if defined(SQLITE_ENABLE_SETLK_TIMEOUT) && SQLITE_ENABLE_SETLK_TIMEOUT == 1
        /* SQLite asked us to wait (a busy timeout is set) and waiting cannot or did not help.
         * SQLITE_BUSY_TIMEOUT tells it the waiting is done: plain SQLITE_BUSY would make its
         * busy handler sleep and retry for the whole timeout, against a holder that is either
         * this very task (it cannot release meanwhile) or has already had the time. */
        if (waited || futile) rc = SQLITE_BUSY_TIMEOUT;
#endif
    }
    (void)waited, (void)futile;
    return rc;
}

void walkit_shm_barrier(walkit_shm_conn *c)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (c) { /* and the mutex, as os_unix.c does, so a barrier also orders with lock calls */
        walkit_mutex_enter(c->node->lock, "shm barrier");
        walkit_mutex_leave(c->node->lock, "shm barrier");
    }
}

void *walkit_shm_node_data(walkit_shm_conn *c, void *(*create)(void *arg, const char *path),
                           void (*destroy)(void *data), void *arg)
{
    walkit_shm_node *n = c->node;
    walkit_mutex_enter(n->lock, "shm node data");
    if (!n->mode_data && (n->mode_data = create(arg, n->path)) != NULL) n->mode_free = destroy;
    void *data = n->mode_data;
    walkit_mutex_leave(n->lock, "shm node data");
    return data;
}
