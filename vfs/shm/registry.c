/* registry.c: WAL-index nodes (regions + lock slots) per database path, and the connections
 * attached to them.  See registry.h for the contract. */
#include <string.h>

#include "shm/registry.h"
#include "sqlite3.h"
#include "walkit_int.h"

/* ThreadSanitizer derives happens-before only from operations on the same location, and it
 * does not model stand-alone fences at all (GCC says so with -Wtsan).  The hardware gives
 * more: every slot operation is a seq_cst read-modify-write and the barrier a full fence, and
 * each orders all of the caller's memory accesses around it, which is what SQLite's protocol
 * relies on between lock calls on different slots (os_unix.c gets the same from its node
 * mutex).  So, in sanitizer builds only, each lock call and barrier also does one seq_cst
 * read-modify-write of a word per node (TSAN_SYNC), which tells ThreadSanitizer exactly that
 * ordering and nothing more; only those builds pay the shared cache line. */
#if defined(__SANITIZE_THREAD__)
#define WALKIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WALKIT_TSAN 1
#endif
#endif
#if defined(WALKIT_TSAN)
#define TSAN_SYNC(node) ((void)__atomic_fetch_add(&(node)->tsan_sync, 1u, __ATOMIC_SEQ_CST))
#else
#define TSAN_SYNC(node) ((void)0)
#endif

/* One database file's WAL-index.
 *   next, nref: guarded by the registry's mutex (attach/detach); path is immutable.
 *   lock guards the regions table (never the regions' contents, which SQLite reads and writes
 *   under its own protocol of slots and barriers), the attached connections, the waiter list
 *   and every waiter's queue fields, and it serialises the writers of wait_mask and
 *   starve_mask.
 *   slot[i]: 0 free, n > 0 held SHARED by n connections, -1 held EXCLUSIVE by one (os_unix.c's
 *   aLock[] convention).  Changed only by atomic read-modify-writes (see "Memory ordering"
 *   below), with or without lock held; a connection's masks follow its own changes, so once
 *   no lock call is in progress the masks add up to exactly these values.
 *   wait_mask: the slots some queued waiter that a release should wake (one not parked)
 *   wants; starve_mask: the slots a starving waiter (one that has waited past the starvation
 *   bound) wants.  Written under lock, read without it by the lock-free paths.
 *   regions[0..nregion): 32 KiB blocks, zeroed when allocated, freed only with the node. */
struct walkit_shm_node {
    walkit_shm_node *next;
    char *path;
    int nref;
    walkit_os_mutex *lock;
    void **regions;
    int nregion, cap, size;
    int slot[WALKIT_SHM_NLOCK];
    uint32_t wait_mask, starve_mask;
    uint32_t tsan_sync; /* ThreadSanitizer builds only: see TSAN_SYNC */
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

/* Memory ordering of the slots (the fast paths below take no mutex).
 *   - Taking a slot (SHARED: CAS n -> n + 1 from n >= 0; EXCLUSIVE: CAS 0 -> -1 on each slot)
 *     is an acquire: what earlier holders did before they let go is visible to the taker, as
 *     with a mutex.  Letting go (SHARED: fetch_sub; EXCLUSIVE: exchange -> 0) is a release.
 *     Shared releases are read-modify-writes, so all of them belong to the release sequence
 *     that an exclusive taker's CAS reads 0 from: it sees every reader's accesses as finished.
 *   - No lost wake-up.  A waiter publishes its slots in wait_mask (seq_cst) and then tries the
 *     slots again (seq_cst) before it sleeps, in one critical section with its queueing; a
 *     releaser frees the slot (seq_cst) and then reads wait_mask (seq_cst).  seq_cst
 *     operations have one total order, so either the waiter's retry comes after the release
 *     (it finds the slot free) or the releaser's read comes after the publication (it sees the
 *     waiter, takes the node lock, where the waiter is already queued, and wakes it).
 *   Hence every slot operation is SEQ_CST (on the targets walkit knows a seq_cst
 *   read-modify-write costs what an acquire or release one does); reads that only choose a
 *   path (wait_mask before waking, starve_mask, the spin's look) are re-checked by a CAS or
 *   under the node lock, so they may be stale.  WALKIT_PLANT_RACY_SLOTS=1 (tests only) makes
 *   the shared count a plain read-modify-write, the race ThreadSanitizer must report. */
#define SLOT_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define SLOT_CAS(p, expected, desired)                                                      \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_SEQ_CST,            \
                                __ATOMIC_SEQ_CST)
#define MASK_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MASK_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Spins (polls) before a blocking waiter sleeps: long enough to catch a release that is a few
 * microseconds away (a reader finishing, a commit's last store), short enough not to matter
 * when the holder is descheduled.  0 on a single-core target. */
#ifndef WALKIT_SHM_SPIN
#define WALKIT_SHM_SPIN 200
#endif
/* Starvation bound: a waiter that has waited this long becomes starving: new requests that
 * would conflict with it are refused (or queue behind it) until it is served.  Until then a
 * waiter that was woken and found its slots taken again (by a connection that never waited,
 * typically the one that just released them and went on with its next transaction) parks:
 * it drops out of wait_mask, so the running connection keeps the slots across its next
 * transactions without a wake (a system call, and the page cache the woken one would have to
 * re-read) per release, and it sleeps until the bound.  So slots change hands at most about
 * once per bound while connections that never sleep are waiting (throughput of barging, as
 * with busy-handler retries), and a waiter's wait stays bounded by the bound plus the
 * transactions of the starving waiters queued before it. */
#ifndef WALKIT_SHM_STARVE_US
#define WALKIT_SHM_STARVE_US 10000
#endif

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield");
#endif
}

#define SLOTS(ofst, n) ((uint32_t)(((1u << (n)) - 1u) << (ofst)))
#define STARVE_EXCL_SHIFT 8 /* starve_mask: bits 0-7 any starving request, 8-15 exclusive ones */

/* Whether a request fits the slot values in slot[]. */
static int fits(const int *slot, int ofst, int n, int exclusive)
{
    if (!exclusive) return slot[ofst] >= 0;
    for (int i = ofst; i < ofst + n; i++)
        if (slot[i] != 0) return 0;
    return 1;
}

/* Whether a request would pass over a starving waiter: an exclusive request conflicts with
 * any starving request on its slots, a shared one only with starving exclusive ones.  starve
 * is a value of starve_mask. */
static int passes_starving(uint32_t starve, uint32_t mask, int exclusive)
{
    return exclusive ? (starve & mask) != 0 : ((starve >> STARVE_EXCL_SHIFT) & mask) != 0;
}

/* Recomputes wait_mask and starve_mask from the waiter list (node lock held). */
static void publish_waiters(walkit_shm_node *n)
{
    uint32_t wait = 0, starve = 0;
    for (walkit_shm_conn *w = n->waiters; w; w = w->next_waiter) {
        uint32_t m = SLOTS(w->want_ofst, w->want_n);
        if (!w->parked) wait |= m;
        if (w->starving) starve |= m | (w->want_excl ? m << STARVE_EXCL_SHIFT : 0);
    }
    __atomic_store_n(&n->wait_mask, wait, __ATOMIC_SEQ_CST);
    __atomic_store_n(&n->starve_mask, starve, __ATOMIC_SEQ_CST);
}

/* Wakes, in queue order, the waiters whose requests the slots as they are now can grant
 * together (node lock held).  Nothing is reserved for them: a woken waiter retries like any
 * other caller, and a connection that never waited may get there first (it is already
 * running, which saves a context switch per hand-off).  A woken waiter stays queued until it
 * is served or gives up, so a later release wakes it again; the starvation bound (see
 * walkit_shm_lock) keeps the number of such rounds finite.  A waiter that a starving one
 * would refuse is not woken, nor one already woken that has not yet retried (woken): it will
 * retry anyway, and a second wake would only cost the releaser another system call; nor a
 * parked one, which sleeps to its bound (see WALKIT_SHM_STARVE_US). */
static void wake_waiters(walkit_shm_node *n)
{
    int sim[WALKIT_SHM_NLOCK];
    for (int i = 0; i < WALKIT_SHM_NLOCK; i++) sim[i] = SLOT_LOAD(&n->slot[i]);
    uint32_t starve = __atomic_load_n(&n->starve_mask, __ATOMIC_SEQ_CST);
    for (walkit_shm_conn *w = n->waiters; w; w = w->next_waiter) {
        uint32_t m = SLOTS(w->want_ofst, w->want_n);
        if (!fits(sim, w->want_ofst, w->want_n, w->want_excl)) continue;
        if (w->parked || (!w->starving && passes_starving(starve, m, w->want_excl))) continue;
        for (int i = w->want_ofst; i < w->want_ofst + w->want_n; i++)
            sim[i] = w->want_excl ? -1 : sim[i] + 1;
        if (w->woken) continue;
        w->woken = 1;
        int rc = walkit_os_sem_give(w->wake);
        if (rc != WALKIT_OS_OK) walkit_os_failed("shm wake", rc);
    }
}

/* Lets go of c's hold on the slots in mask (no lock needed; only c's owner calls it).
 * Returns the slots that became free and that some waiter wants: the caller must then wake
 * waiters under the node lock. */
static uint32_t release_slots(walkit_shm_conn *c, uint32_t mask)
{
    walkit_shm_node *n = c->node;
    uint32_t excl = MASK_LOAD(&c->excl_mask), shared = MASK_LOAD(&c->shared_mask), freed = 0;
    for (int i = 0; i < WALKIT_SHM_NLOCK; i++) {
        uint32_t bit = 1u << i;
        if (!(mask & bit)) continue;
        if (excl & bit) {
            __atomic_exchange_n(&n->slot[i], 0, __ATOMIC_SEQ_CST);
            freed |= bit;
        } else if (shared & bit) {
            if (__atomic_fetch_sub(&n->slot[i], 1, __ATOMIC_SEQ_CST) == 1) freed |= bit;
        }
    }
    MASK_STORE(&c->excl_mask, (uint16_t)(excl & ~mask));
    MASK_STORE(&c->shared_mask, (uint16_t)(shared & ~mask));
    return freed ? freed & __atomic_load_n(&n->wait_mask, __ATOMIC_SEQ_CST) : 0;
}

void walkit_shm_detach(walkit_shm_registry *r, walkit_shm_conn *c)
{
    walkit_shm_node *n = c->node;
    uint32_t wake = release_slots(c, (1u << WALKIT_SHM_NLOCK) - 1u);
    walkit_mutex_enter(n->lock, "shm detach");
    if (wake) wake_waiters(n);
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

/* Grants the request if no other connection's hold conflicts and it would not pass over a
 * starving waiter (c itself may be that waiter).  No lock needed; only c's owner calls it.
 * Returns SQLITE_OK or SQLITE_BUSY; *wake is set when a multi-slot exclusive attempt took
 * and gave back slots that a waiter wants (the caller wakes waiters under the node lock: one
 * may have been refused by the attempt). */
static int try_acquire(walkit_shm_conn *c, int ofst, int n, int exclusive, uint32_t *wake)
{
    walkit_shm_node *node = c->node;
    uint32_t mask = SLOTS(ofst, n);
    if (!c->starving &&
        passes_starving(__atomic_load_n(&node->starve_mask, __ATOMIC_RELAXED), mask, exclusive))
        return SQLITE_BUSY;
    if (!exclusive) {
        uint16_t held = MASK_LOAD(&c->shared_mask);
        if (held & mask) return SQLITE_OK; /* already held: SQLite may re-ask */
#if defined(WALKIT_PLANT_RACY_SLOTS) && WALKIT_PLANT_RACY_SLOTS
        /* The planted bug: a plain, non-atomic count, a read and then a store.  The spin
         * between them stands for the taker being stalled there (preempted where tasks share a
         * core, an interrupt, a cache miss).  Without it the two are adjacent instructions:
         * the target stress under QEMU's MTTCG (tests/boards/qemu-virt-a15-smp/
         * test_stress_target.py) hits that window only late, its runs failing when the WAL
         * that a slot left held kept from restarting had filled the pool (~3,700 commits), and
         * 3 writers alone passed 6,000 commits; with it an exclusive CAS or another shared
         * take lands in the window sooner, and SQLite gives up on a read lock.  The host's
         * ThreadSanitizer test needs no window: it reports the race itself. */
        int v = node->slot[ofst];
        if (v < 0) return SQLITE_BUSY;
#ifndef WALKIT_PLANT_RACY_SLOTS_WINDOW
#define WALKIT_PLANT_RACY_SLOTS_WINDOW 200 /* loop iterations of the spin */
#endif
        for (volatile int i = 0; i < WALKIT_PLANT_RACY_SLOTS_WINDOW; i++) { }
        node->slot[ofst] = v + 1;
#else
        int v = SLOT_LOAD(&node->slot[ofst]);
        do {
            if (v < 0) return SQLITE_BUSY;
        } while (!SLOT_CAS(&node->slot[ofst], &v, v + 1));
#endif
        MASK_STORE(&c->shared_mask, (uint16_t)(held | mask));
        return SQLITE_OK;
    }
    for (int i = ofst; i < ofst + n; i++) {
        int zero = 0;
        if (SLOT_CAS(&node->slot[i], &zero, -1)) continue;
        for (int j = ofst; j < i; j++) __atomic_exchange_n(&node->slot[j], 0, __ATOMIC_SEQ_CST);
        if (i > ofst) *wake |= SLOTS(ofst, i - ofst) & __atomic_load_n(&node->wait_mask, __ATOMIC_SEQ_CST);
        return SQLITE_BUSY;
    }
    MASK_STORE(&c->excl_mask, (uint16_t)(MASK_LOAD(&c->excl_mask) | mask));
    return SQLITE_OK;
}

/* Whether a connection driven by the task `me` other than c holds a slot that conflicts with
 * the request (node lock held, so the list is stable).  Such a holder cannot release while
 * its own task waits, so waiting would only burn the timeout (or hang, without one).  Its
 * masks and task are read exactly: only `me` changes them, and `me` is here. */
static int own_task_conflicts(walkit_shm_conn *c, int ofst, int n, int exclusive, uintptr_t me)
{
    uint32_t mask = SLOTS(ofst, n);
    for (walkit_shm_conn *o = c->node->conns; o; o = o->next) {
        if (o == c || MASK_LOAD(&o->task) != me) continue;
        uint32_t held = MASK_LOAD(&o->excl_mask);
        if (exclusive) held |= MASK_LOAD(&o->shared_mask);
        if (held & mask) return 1;
    }
    return 0;
}

/* Puts c on the node's waiter list for the request and publishes it (node lock held). */
static void enqueue(walkit_shm_conn *c, int ofst, int n_slots, int exclusive)
{
    walkit_shm_node *n = c->node;
    c->want_ofst = (uint8_t)ofst;
    c->want_n = (uint8_t)n_slots;
    c->want_excl = (uint8_t)exclusive;
    /* a wake left over from an earlier wait (given after c was served) is not for this one */
    (void)walkit_os_sem_take(c->wake, WALKIT_OS_NO_WAIT);
    c->starving = 0;
    c->parked = 0;
    c->woken = 0;
    c->waiting = 1;
    c->next_waiter = NULL;
    walkit_shm_conn **tail = &n->waiters;
    while (*tail) tail = &(*tail)->next_waiter;
    *tail = c;
    publish_waiters(n);
}

/* Takes c off the waiter list (node lock held). */
static void dequeue(walkit_shm_conn *c)
{
    walkit_shm_node *n = c->node;
    walkit_shm_conn **pp = &n->waiters;
    while (*pp != c) pp = &(*pp)->next_waiter;
    *pp = c->next_waiter;
    c->next_waiter = NULL;
    c->waiting = 0;
    c->starving = 0;
    c->parked = 0;
    publish_waiters(n);
}

/* The blocking path of walkit_shm_lock: spin, then queue and sleep until the request is
 * granted, the deadline passes, or waiting is pointless.  Returns SQLITE_OK or SQLITE_BUSY;
 * *futile is set when a conflicting holder is driven by the calling task. */
static int lock_blocking(walkit_shm_conn *c, int ofst, int n_slots, int exclusive,
                         int timeout_ms, uintptr_t me, int *futile)
{
    walkit_shm_node *n = c->node;
    uint32_t wake = 0;
    int rc = SQLITE_BUSY, woken = 0;
    for (int i = 0; i < WALKIT_SHM_SPIN; i++) {
        cpu_relax();
        int now[WALKIT_SHM_NLOCK];
        for (int k = ofst; k < ofst + n_slots; k++) now[k] = SLOT_LOAD(&n->slot[k]);
        if (fits(now, ofst, n_slots, exclusive) &&
            (rc = try_acquire(c, ofst, n_slots, exclusive, &wake)) == SQLITE_OK)
            break;
    }
    uint64_t start = walkit_os_monotonic_us();
    uint64_t deadline = timeout_ms > 0 ? start + (uint64_t)timeout_ms * 1000u : 0;
    walkit_mutex_enter(n->lock, "shm lock");
    if (rc != SQLITE_OK && own_task_conflicts(c, ofst, n_slots, exclusive, me)) {
        *futile = 1; /* not even queued: waiting could not help */
    } else if (rc != SQLITE_OK) {
        if (!c->wake && !(c->wake = walkit_os_sem_create())) timeout_ms = 0; /* no memory */
        enqueue(c, ofst, n_slots, exclusive);
        WALKIT_STAT_ADD(shm_lock_waits, 1);
        for (;;) {
            /* After the publication: the retry that makes a concurrent release visible. */
            if ((rc = try_acquire(c, ofst, n_slots, exclusive, &wake)) == SQLITE_OK) break;
            if (own_task_conflicts(c, ofst, n_slots, exclusive, me)) {
                *futile = 1;
                break;
            }
            if (wake) {
                wake_waiters(n);
                wake = 0;
            }
            uint64_t now = walkit_os_monotonic_us();
            if (timeout_ms == 0 || (timeout_ms > 0 && now >= deadline)) break;
            if (!c->starving && now - start >= WALKIT_SHM_STARVE_US) {
                c->starving = 1; /* from now on served before newcomers, and woken again */
                c->parked = 0;
                publish_waiters(n);
                continue; /* the retry after the publication: no lost wake-up */
            }
            if (!c->starving && !c->parked && woken > 0) {
                c->parked = 1; /* woken and beaten to the slots: sleep to the bound */
                publish_waiters(n);
            }
            int32_t ms = timeout_ms < 0 ? WALKIT_OS_FOREVER
                                        : (int32_t)((deadline - now + 999u) / 1000u);
            if (!c->starving && (timeout_ms > 0 || c->parked)) {
                /* wake up in time to become starving even if nobody releases (a parked
                 * waiter is woken by nothing else) */
                uint64_t left = start + WALKIT_SHM_STARVE_US - now;
                int32_t bound = (int32_t)((left + 999u) / 1000u);
                if (ms == WALKIT_OS_FOREVER || ms > bound) ms = bound;
            }
            walkit_mutex_leave(n->lock, "shm lock wait");
            int trc = walkit_os_sem_take(c->wake, ms);
            walkit_mutex_enter(n->lock, "shm lock wait");
            c->woken = 0; /* retrying now: the next release may wake it again */
            if (trc == WALKIT_OS_OK) {
                woken++;
            } else if (trc != WALKIT_OS_TIMEOUT) {
                walkit_os_failed("shm lock wait", trc);
                break;
            }
        }
        int was_starving = c->starving;
        dequeue(c);
        /* Leaving unserved after a wake (a wake meant for c may have passed over others), or
         * leaving the starving state (requests it held back may proceed): let whoever can
         * proceed now proceed. */
        if (wake || was_starving || (rc != SQLITE_OK && woken)) wake_waiters(n);
    } else if (wake) {
        wake_waiters(n);
    }
    walkit_mutex_leave(n->lock, "shm lock");
    return rc;
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
    uint32_t mask = SLOTS(ofst, n), wake = 0;
    uintptr_t me = walkit_os_task_id();
    int rc = SQLITE_OK, futile = 0;
    if (MASK_LOAD(&c->task) != me) MASK_STORE(&c->task, me);
    TSAN_SYNC(node);
    if (unlock) {
        wake = release_slots(c, mask);
    } else if ((rc = try_acquire(c, ofst, n, exclusive, &wake)) == SQLITE_BUSY) {
        if (timeout_ms != 0) {
            rc = lock_blocking(c, ofst, n, exclusive, timeout_ms, me, &futile);
            wake = 0; /* handled there */
        }
    }
    if (wake) { /* slots became free that a waiter wants */
        walkit_mutex_enter(node->lock, "shm lock");
        wake_waiters(node);
        walkit_mutex_leave(node->lock, "shm lock");
    }
    TSAN_SYNC(node);
    if (rc == SQLITE_BUSY) {
        WALKIT_STAT_ADD(shm_lock_busy, 1);
#if defined(SQLITE_ENABLE_SETLK_TIMEOUT) && SQLITE_ENABLE_SETLK_TIMEOUT == 1
        /* SQLite asked us to wait (a busy timeout is set) and waiting cannot or did not help.
         * SQLITE_BUSY_TIMEOUT tells it the waiting is done: plain SQLITE_BUSY would make its
         * busy handler sleep and retry for the whole timeout, against a holder that is either
         * this very task (it cannot release meanwhile) or has already had the time. */
        if (timeout_ms != 0 || futile) rc = SQLITE_BUSY_TIMEOUT;
#endif
    }
    (void)futile;
    return rc;
}

/* xShmBarrier: a full fence and nothing more.  SQLite orders its WAL-index accesses with it
 * (a writer: hash entries, header copy 2, barrier, copy 1; a reader: copy 1, barrier, copy 2,
 * then the entries): message passing through a fence on each side.  The lock slots order
 * themselves (see "Memory ordering"), so no pass through a mutex is needed. */
void walkit_shm_barrier(walkit_shm_conn *c)
{
    if (c) TSAN_SYNC(c->node);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
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
