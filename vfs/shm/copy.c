/* copy.c: WALKIT_SHM_COPY, the WAL-index for connections that must not share memory.
 *
 * SQLite never sees shared memory here.  Each connection maps a private copy of every region
 * it asks for (what SQLite reads and writes) and keeps a shadow (the region as it was at this
 * connection's last synchronisation).  The shared area of the file is reached only through a
 * walkit_shm_transport (walkit.h), inside its lock/unlock bracket:
 *   release: every word where private != shadow is written to the area (runs of changed
 *            words, one write call each) and to the shadow;
 *   acquire: every word where area != shadow is copied into private and shadow.
 * Lock slots, attachment and the per-file node are registry.c's, exactly as in heap mode.
 *
 * The rules (docs/vfs.md "Copy mode" gives the argument for each, against wal.c):
 *   release before every unlock (shared or exclusive); acquire after every xShmLock call,
 *   whatever its result (granted, refused, or an unlock); every xShmBarrier: release then
 *   acquire; xShmMap of a region not mapped yet: copy it from the area; xShmUnmap: release.
 *   Every acquire diffs every mapped region in full.  So after each lock call and barrier the
 *   connection's view is the area, and before each unlock and barrier the area has its writes.
 * One optimisation, exact by construction: the node counts releases that changed the area
 * (gen); an acquire by a connection that saw the current gen has nothing to copy and skips
 * reading the area.
 *
 * Compile-time switches, for tests (each disables what it names; docs/vfs.md):
 *   WALKIT_SHM_COPY_RULES: a mask of the COPY_* rule bits below (default: all).  Bits off
 *     give weaker variants; COPY_RULES_NCRUCES is the rule set of ncruces/go-sqlite3's
 *     shm_copy.go (acquire only after a granted lock and at map, release only before an
 *     exclusive unlock and at unmap, a barrier acquires then releases, an acquire is skipped
 *     when region 0's 136-byte header is unchanged), kept to show that the stress catches it.
 *   WALKIT_SHM_COPY_DEBUG=1: every bracket first checks a checksum of the whole area taken at
 *     the end of the previous bracket, and aborts (after sqlite3_log) on a mismatch: anything
 *     but the transport that touched the area is caught at the next synchronisation.
 *   WALKIT_SHM_COPY_PLANT_STRAY=1: a planted bug for the debug build's test: after each
 *     granted exclusive lock, one word of the default transport's memory is changed directly.
 *
 * Threads: a connection's copy_conn is used only by the task driving that connection (SQLite
 * serialises the calls on one file).  copy_node's fields other than t/area/tag are guarded by
 * the transport's bracket. */
#include <string.h>
#if WALKIT_SHM_COPY_DEBUG
#include <stdlib.h>
#if WALKIT_HOSTED
#include <stdio.h>
#endif
#endif

#include "shm/registry.h"
#include "vfs.h"

#define COPY_ACQUIRE_AFTER_GRANTED 0x01  /* acquire after a granted lock request */
#define COPY_RELEASE_BEFORE_EXCL_UNLOCK 0x02 /* release before an exclusive unlock */
#define COPY_BARRIER_SYNC 0x04          /* a barrier releases and acquires */
#define COPY_RELEASE_BEFORE_SHARED_UNLOCK 0x08 /* release before a shared unlock too */
#define COPY_ACQUIRE_AFTER_REFUSED 0x10 /* acquire after a refused lock request too */
#define COPY_ACQUIRE_AFTER_UNLOCK 0x20  /* acquire after an unlock too */
#define COPY_BARRIER_RELEASE_FIRST 0x40 /* a barrier releases before it acquires */
#define COPY_FULL_REGIONS 0x80          /* never skip an acquire on an unchanged header */
#define COPY_GENERATION 0x100           /* skip reading an area nobody changed (exact) */
#define COPY_RULES_ALL 0x1ff
/* shm_copy.go's rule set, for the test that shows the stress catches it. */
#define COPY_RULES_NCRUCES (COPY_ACQUIRE_AFTER_GRANTED | COPY_RELEASE_BEFORE_EXCL_UNLOCK | COPY_BARRIER_SYNC)

#ifndef WALKIT_SHM_COPY_RULES
#define WALKIT_SHM_COPY_RULES COPY_RULES_ALL
#endif
#define RULE(bit) ((WALKIT_SHM_COPY_RULES & (bit)) != 0)

#define WORDS WALKIT_SHM_REGION_WORDS
#define HDR_WORDS 34   /* wal.c's 136-byte header: two WalIndexHdr, WalCkptInfo */
#define CHUNK 256      /* words read per transport call while diffing (stack buffer) */

/* One file's shared area, as the copy mode sees it (the registry node's mode data).
 *   t, area: set at creation, immutable.
 *   gen: releases that changed the area; guarded by the bracket.
 *   sum (debug): checksum of the area at the end of the last bracket; guarded by the bracket. */
typedef struct copy_node {
    const walkit_shm_transport *t;
    void *area;
    uint32_t gen;
#if WALKIT_SHM_COPY_DEBUG
    uint32_t sum;
    const char *path; /* the node's, lives as long as it */
#endif
} copy_node;

/* One connection's copies (registry conn's mode_data).  priv[i], shadow[i]: WORDS words each,
 * for regions 0..nregion-1; seen: node->gen when the private copy last equalled the area. */
typedef struct copy_conn {
    copy_node *node;
    int nregion, cap;
    uint32_t **priv, **shadow;
    uint32_t seen;
} copy_conn;

/* ------------------------------------------------------------------ the default transport */

/* Memory walkit owns: regions[0..nregion) of WORDS words, under lock. */
typedef struct heap_area {
    walkit_os_mutex *lock;
    uint32_t **regions;
    int nregion, cap;
} heap_area;

static void *ht_open(void *arg, const char *path)
{
    (void)arg, (void)path;
    heap_area *a = walkit_alloc_zero(sizeof *a);
    if (a && !(a->lock = walkit_os_mutex_create())) {
        walkit_free(a);
        a = NULL;
    }
    return a;
}

static void ht_close(void *area)
{
    heap_area *a = area;
    for (int i = 0; i < a->nregion; i++) walkit_free(a->regions[i]);
    walkit_free(a->regions);
    walkit_os_mutex_destroy(a->lock);
    walkit_free(a);
}

static void ht_lock(void *area) { walkit_mutex_enter(((heap_area *)area)->lock, "shm copy"); }
static void ht_unlock(void *area) { walkit_mutex_leave(((heap_area *)area)->lock, "shm copy"); }
static int ht_nregion(void *area) { return ((heap_area *)area)->nregion; }

static int ht_grow(void *area, int n)
{
    heap_area *a = area;
    if (n > a->cap) {
        int cap = a->cap ? a->cap : 4;
        while (cap < n) cap *= 2;
        uint32_t **table = walkit_alloc(sizeof(uint32_t *) * (size_t)cap);
        if (!table) return SQLITE_NOMEM;
        if (a->nregion) memcpy(table, a->regions, sizeof(uint32_t *) * (size_t)a->nregion);
        walkit_free(a->regions);
        a->regions = table;
        a->cap = cap;
    }
    while (a->nregion < n) {
        uint32_t *mem = walkit_alloc_zero(WORDS * sizeof(uint32_t));
        if (!mem) return SQLITE_NOMEM;
        a->regions[a->nregion++] = mem;
    }
    return SQLITE_OK;
}

static void ht_read(void *area, int region, uint32_t word, uint32_t n, uint32_t *dst)
{
    memcpy(dst, ((heap_area *)area)->regions[region] + word, n * sizeof(uint32_t));
}

static void ht_write(void *area, int region, uint32_t word, uint32_t n, const uint32_t *src)
{
    memcpy(((heap_area *)area)->regions[region] + word, src, n * sizeof(uint32_t));
}

const walkit_shm_transport walkit_shm_transport_heap = {
    ht_open, ht_close, ht_lock, ht_unlock, ht_nregion, ht_grow, ht_read, ht_write, NULL,
};

/* ------------------------------------------------------------------ the node's area */

static void *node_create(void *arg, const char *path)
{
    const walkit_shm_transport *t = arg;
    copy_node *cn = walkit_alloc_zero(sizeof *cn);
    if (!cn) return NULL;
    cn->t = t;
    if (!(cn->area = t->open(t->arg, path))) {
        walkit_free(cn);
        return NULL;
    }
#if WALKIT_SHM_COPY_DEBUG
    cn->path = path;
    cn->sum = 2166136261u; /* the checksum of an area without regions */
#endif
    return cn;
}

static void node_destroy(void *data)
{
    copy_node *cn = data;
    cn->t->close(cn->area);
    walkit_free(cn);
}

#if WALKIT_SHM_COPY_DEBUG
/* FNV-1a over every word of every region, read through the transport (bracket held). */
static uint32_t area_sum(copy_node *cn)
{
    uint32_t buf[CHUNK], h = 2166136261u;
    int nr = cn->t->nregion(cn->area);
    for (int r = 0; r < nr; r++) {
        for (uint32_t w = 0; w < WORDS; w += CHUNK) {
            cn->t->read(cn->area, r, w, CHUNK, buf);
            for (int i = 0; i < CHUNK; i++) h = (h ^ buf[i]) * 16777619u;
        }
        h = (h ^ (uint32_t)r) * 16777619u;
    }
    return h;
}
#endif

/* Opens a bracket on the area; the debug build checks nothing touched it since the last. */
static void bracket_open(copy_node *cn)
{
    cn->t->lock(cn->area);
#if WALKIT_SHM_COPY_DEBUG
    if (area_sum(cn) != cn->sum) {
        sqlite3_log(SQLITE_CORRUPT, "walkit: copy mode: the shared area of %s was changed "
                    "outside the transport", cn->path);
#if WALKIT_HOSTED
        fprintf(stderr, "walkit: copy mode: the shared area of %s was changed outside the "
                "transport\n", cn->path);
#endif
        abort();
    }
#endif
}

static void bracket_close(copy_node *cn)
{
#if WALKIT_SHM_COPY_DEBUG
    cn->sum = area_sum(cn);
#endif
    cn->t->unlock(cn->area);
}

/* ------------------------------------------------------------------ release and acquire */

/* Writes c's changed words to the area (bracket held). */
static void release(copy_conn *c)
{
    copy_node *cn = c->node;
    int current = c->seen == cn->gen, wrote = 0;
    for (int r = 0; r < c->nregion; r++) {
        uint32_t *p = c->priv[r], *s = c->shadow[r];
        for (uint32_t i = 0; i < WORDS;) {
            /* Unchanged chunks are skipped by memcmp (vectorised), changed words found one
             * by one; a run may cross into the next chunk. */
            if (i % CHUNK == 0 && memcmp(p + i, s + i, CHUNK * sizeof(uint32_t)) == 0) {
                i += CHUNK;
                continue;
            }
            if (p[i] == s[i]) {
                i++;
                continue;
            }
            uint32_t start = i;
            while (i < WORDS && p[i] != s[i]) i++;
            cn->t->write(cn->area, r, start, i - start, p + start);
            memcpy(s + start, p + start, (i - start) * sizeof(uint32_t));
            wrote = 1;
        }
    }
    if (wrote) {
        cn->gen++;
        if (current) c->seen = cn->gen; /* the area changed by our words only */
    }
}

/* Copies region r's words that differ from the shadow into private and shadow. */
static void acquire_region(copy_conn *c, int r)
{
    copy_node *cn = c->node;
    uint32_t buf[CHUNK];
    uint32_t *p = c->priv[r], *s = c->shadow[r];
    for (uint32_t w = 0; w < WORDS; w += CHUNK) {
        cn->t->read(cn->area, r, w, CHUNK, buf);
        if (memcmp(buf, s + w, sizeof buf) == 0) continue;
        for (uint32_t i = 0; i < CHUNK; i++)
            if (buf[i] != s[w + i]) p[w + i] = s[w + i] = buf[i];
    }
}

/* Brings every mapped region of c up to the area (bracket held). */
static void acquire(copy_conn *c)
{
    copy_node *cn = c->node;
    if (c->nregion == 0) return;
    if (RULE(COPY_GENERATION) && c->seen == cn->gen) return;
    if (!RULE(COPY_FULL_REGIONS)) {
        uint32_t hdr[HDR_WORDS];
        cn->t->read(cn->area, 0, 0, HDR_WORDS, hdr);
        if (memcmp(hdr, c->shadow[0], sizeof hdr) == 0) return;
    }
    for (int r = 0; r < c->nregion; r++) acquire_region(c, r);
    c->seen = cn->gen;
}

enum { SYNC_RELEASE = 1, SYNC_ACQUIRE = 2, SYNC_ACQUIRE_FIRST = 4 };

static void sync_area(copy_conn *c, int what)
{
    bracket_open(c->node);
    if ((what & SYNC_ACQUIRE) && (what & SYNC_ACQUIRE_FIRST)) acquire(c);
    if (what & SYNC_RELEASE) release(c);
    if ((what & SYNC_ACQUIRE) && !(what & SYNC_ACQUIRE_FIRST)) acquire(c);
    bracket_close(c->node);
}

/* ------------------------------------------------------------------ sqlite3_io_methods */

static void conn_free(copy_conn *c)
{
    for (int r = 0; r < c->nregion; r++) {
        walkit_free(c->priv[r]);
        walkit_free(c->shadow[r]);
    }
    walkit_free(c->priv);
    walkit_free(c->shadow);
    walkit_free(c);
}

/* Attaches f and finds or makes its node's area (first xShmMap). */
static int copy_attach(walkit_file *f)
{
    const walkit_shm_transport *t = f->vfs->shm_transport;
    int rc = walkit_shm_attach(f->vfs->shm, f->path, WALKIT_SHM_COPY, &f->shm);
    if (rc != SQLITE_OK) return rc;
    copy_conn *c = walkit_alloc_zero(sizeof *c);
    copy_node *cn = c ? walkit_shm_node_data(f->shm, node_create, node_destroy, (void *)t) : NULL;
    if (cn && cn->t != t) {
        sqlite3_log(SQLITE_IOERR_SHMOPEN, "walkit: %s: its WAL-index is open through another "
                    "copy-mode transport", f->path);
        rc = SQLITE_IOERR_SHMOPEN;
    } else if (!cn) {
        rc = SQLITE_NOMEM;
    }
    if (rc != SQLITE_OK) {
        walkit_free(c);
        walkit_shm_detach(f->vfs->shm, f->shm);
        f->shm = NULL;
        return rc;
    }
    c->node = cn;
    c->seen = (uint32_t)-1; /* nothing mapped: the first acquire must not be skipped */
    f->shm->mode_data = c;
    return SQLITE_OK;
}

/* Makes c's table hold at least n regions' pointers. */
static int conn_reserve(copy_conn *c, int n)
{
    if (n <= c->cap) return SQLITE_OK;
    int cap = c->cap ? c->cap : 4;
    while (cap < n) cap *= 2;
    uint32_t **priv = walkit_alloc(sizeof(uint32_t *) * (size_t)cap);
    uint32_t **shadow = walkit_alloc(sizeof(uint32_t *) * (size_t)cap);
    if (!priv || !shadow) {
        walkit_free(priv);
        walkit_free(shadow);
        return SQLITE_NOMEM;
    }
    if (c->nregion) {
        memcpy(priv, c->priv, sizeof(uint32_t *) * (size_t)c->nregion);
        memcpy(shadow, c->shadow, sizeof(uint32_t *) * (size_t)c->nregion);
    }
    walkit_free(c->priv);
    walkit_free(c->shadow);
    c->priv = priv;
    c->shadow = shadow;
    c->cap = cap;
    return SQLITE_OK;
}

int walkit_copy_shm_map(sqlite3_file *pf, int region, int size, int extend, void volatile **pp)
{
    walkit_file *f = (walkit_file *)pf;
    WALKIT_STAT_ADD(shm_map_calls, 1);
    *pp = NULL;
    if (region < 0) return SQLITE_IOERR_SHMMAP;
    if (size != WORDS * (int)sizeof(uint32_t)) return SQLITE_IOERR_SHMSIZE;
    if (!f->shm) {
        int rc = copy_attach(f);
        if (rc != SQLITE_OK) return rc;
    }
    copy_conn *c = f->shm->mode_data;
    if (region < c->nregion) {
        *pp = c->priv[region];
        return SQLITE_OK;
    }
    /* The new private regions are allocated before the bracket; those the area turns out
     * not to have are freed again. */
    int have = c->nregion, got = have;
    int rc = conn_reserve(c, region + 1);
    while (rc == SQLITE_OK && got <= region) {
        c->priv[got] = walkit_alloc(WORDS * sizeof(uint32_t));
        c->shadow[got] = walkit_alloc(WORDS * sizeof(uint32_t));
        if (!c->priv[got] || !c->shadow[got]) {
            walkit_free(c->priv[got]);
            walkit_free(c->shadow[got]);
            rc = SQLITE_NOMEM;
            break;
        }
        got++;
    }
    copy_node *cn = c->node;
    if (rc == SQLITE_OK) {
        bracket_open(cn);
        int exists = cn->t->nregion(cn->area);
        if (exists <= region && extend) {
            if (cn->t->grow(cn->area, region + 1) != 0) rc = SQLITE_NOMEM;
            exists = cn->t->nregion(cn->area);
        }
        int upto = exists < region + 1 ? exists : region + 1;
        for (int r = have; r < upto; r++) {
            /* The region as the area has it now: a copy taken at any moment since our last
             * synchronisation is one a shared mapping could have shown (docs/vfs.md). */
            cn->t->read(cn->area, r, 0, WORDS, c->shadow[r]);
            memcpy(c->priv[r], c->shadow[r], WORDS * sizeof(uint32_t));
        }
        if (upto > have) c->nregion = upto;
        if (!RULE(COPY_FULL_REGIONS) && upto > have) acquire(c); /* shm_copy.go does */
        bracket_close(cn);
    }
    for (int r = c->nregion; r < got; r++) {
        walkit_free(c->priv[r]);
        walkit_free(c->shadow[r]);
    }
    if (region < c->nregion) *pp = c->priv[region];
    return *pp ? SQLITE_OK : rc;
}

int walkit_copy_shm_lock(sqlite3_file *pf, int ofst, int n, int flags)
{
    walkit_file *f = (walkit_file *)pf;
    if (!f->shm) return SQLITE_IOERR_SHMLOCK; /* SQLite maps before it locks */
    copy_conn *c = f->shm->mode_data;
    int unlock = (flags & SQLITE_SHM_UNLOCK) != 0;
    int exclusive = (flags & SQLITE_SHM_EXCLUSIVE) != 0;
    int rel = unlock && RULE(exclusive ? COPY_RELEASE_BEFORE_EXCL_UNLOCK
                                       : COPY_RELEASE_BEFORE_SHARED_UNLOCK);
    if (rel) sync_area(c, SYNC_RELEASE);
    int rc = walkit_shm_lock(f->shm, ofst, n, flags, f->lock_timeout_ms);
    int acq = unlock           ? RULE(COPY_ACQUIRE_AFTER_UNLOCK)
              : rc == SQLITE_OK ? RULE(COPY_ACQUIRE_AFTER_GRANTED)
                                : RULE(COPY_ACQUIRE_AFTER_REFUSED);
    if (acq) sync_area(c, SYNC_ACQUIRE);
#if WALKIT_SHM_COPY_PLANT_STRAY
    if (!unlock && exclusive && rc == SQLITE_OK && c->node->t == &walkit_shm_transport_heap &&
        ((heap_area *)c->node->area)->nregion > 0)
        ((heap_area *)c->node->area)->regions[0][WORDS - 1] ^= 1u; /* the planted stray write */
#endif
    return rc;
}

void walkit_copy_shm_barrier(sqlite3_file *pf)
{
    walkit_file *f = (walkit_file *)pf;
    WALKIT_STAT_ADD(shm_barrier_calls, 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!f->shm || !RULE(COPY_BARRIER_SYNC)) return;
    sync_area(f->shm->mode_data, SYNC_RELEASE | SYNC_ACQUIRE |
                                     (RULE(COPY_BARRIER_RELEASE_FIRST) ? 0 : SYNC_ACQUIRE_FIRST));
}

int walkit_copy_shm_unmap(sqlite3_file *pf, int delete_flag)
{
    walkit_file *f = (walkit_file *)pf;
    /* delete_flag: the area goes with the node when the last connection detaches. */
    (void)delete_flag;
    if (!f->shm) return SQLITE_OK;
    copy_conn *c = f->shm->mode_data;
    sync_area(c, SYNC_RELEASE);
    walkit_shm_detach(f->vfs->shm, f->shm);
    f->shm = NULL;
    conn_free(c);
    return SQLITE_OK;
}
