/* ram.c: a volatile storage backend in heap memory (tests, the smoke image, scratch data).
 *
 * Files are byte arrays that grow by doubling.  A failed allocation while growing is a full
 * medium (WALKIT_ST_NOSPC, i.e. SQLITE_FULL): memory is this backend's disk.  Nothing survives
 * a reset, so every WALKIT_ST_CAP_* guarantee about power loss holds trivially and sync has
 * nothing to do.  Each walkit_storage_ram() call makes a new, empty filesystem.
 */
#include <string.h>

#include "storage/storage.h"
#include "walkit_int.h"

/* One file.  path is NULL once removed (then only open handles keep it alive: nopen). */
typedef struct ram_node {
    struct ram_node *next;
    char *path;
    unsigned char *data;
    uint64_t size, cap;
    int nopen;
} ram_node;

/* The filesystem.  lock guards the file list and every field of every node: the RAM
 * backend's speed is memcpy's, so one mutex costs nothing worth a finer scheme. */
typedef struct ram_fs {
    walkit_storage st; /* first: the public handle is &fs->st */
    walkit_os_mutex *lock;
    ram_node *files;
} ram_fs;

struct walkit_storage_file {
    ram_node *node;
    int readonly;
};

static ram_node **ram_find(ram_fs *fs, const char *path)
{
    ram_node **pp = &fs->files;
    while (*pp && strcmp((*pp)->path, path) != 0) pp = &(*pp)->next;
    return pp;
}

static void ram_node_free(ram_node *n)
{
    walkit_free(n->path);
    walkit_free(n->data);
    walkit_free(n);
}

static int ram_open(void *ctx, const char *path, unsigned flags, walkit_storage_file **out)
{
    ram_fs *fs = ctx;
    int rc = WALKIT_ST_OK;
    walkit_storage_file *f = walkit_alloc(sizeof *f);
    if (!f) return WALKIT_ST_NOMEM;
    walkit_mutex_enter(fs->lock, "ram open");
    ram_node *n = *ram_find(fs, path);
    if (n && (flags & WALKIT_ST_CREATE) && (flags & WALKIT_ST_EXCL)) {
        rc = WALKIT_ST_EXIST;
    } else if (!n && !(flags & WALKIT_ST_CREATE)) {
        rc = WALKIT_ST_NOENT;
    } else if (!n) {
        n = walkit_alloc_zero(sizeof *n);
        if (n) n->path = walkit_strdup(path);
        if (!n || !n->path) {
            walkit_free(n);
            rc = WALKIT_ST_NOMEM;
        } else {
            n->next = fs->files;
            fs->files = n;
        }
    }
    if (rc == WALKIT_ST_OK) {
        n->nopen++;
        f->node = n;
        f->readonly = (flags & WALKIT_ST_READONLY) != 0;
        *out = f;
    }
    walkit_mutex_leave(fs->lock, "ram open");
    if (rc != WALKIT_ST_OK) walkit_free(f);
    return rc;
}

static int ram_close(void *ctx, walkit_storage_file *f)
{
    ram_fs *fs = ctx;
    walkit_mutex_enter(fs->lock, "ram close");
    ram_node *n = f->node;
    if (--n->nopen == 0 && n->path == NULL) ram_node_free(n);
    walkit_mutex_leave(fs->lock, "ram close");
    walkit_free(f);
    return WALKIT_ST_OK;
}

static int ram_read(void *ctx, walkit_storage_file *f, uint64_t off, void *buf, size_t n,
                    size_t *got)
{
    ram_fs *fs = ctx;
    walkit_mutex_enter(fs->lock, "ram read");
    ram_node *node = f->node;
    size_t have = off >= node->size ? 0 : (size_t)(node->size - off < n ? node->size - off : n);
    if (have) memcpy(buf, node->data + off, have);
    walkit_mutex_leave(fs->lock, "ram read");
    *got = have;
    return WALKIT_ST_OK;
}

/* Makes room for size bytes (fs->lock held); new bytes up to size are zero. */
static int ram_resize(ram_node *n, uint64_t size)
{
    if (size > n->cap) {
        uint64_t cap = n->cap ? n->cap : 4096;
        while (cap < size) cap *= 2;
        if (cap != (size_t)cap) return WALKIT_ST_NOSPC;
        unsigned char *data = walkit_alloc((size_t)cap);
        if (!data) return WALKIT_ST_NOSPC;
        if (n->size) memcpy(data, n->data, (size_t)n->size);
        walkit_free(n->data);
        n->data = data;
        n->cap = cap;
    }
    if (size > n->size) memset(n->data + n->size, 0, (size_t)(size - n->size));
    n->size = size;
    return WALKIT_ST_OK;
}

static int ram_write(void *ctx, walkit_storage_file *f, uint64_t off, const void *buf, size_t n)
{
    ram_fs *fs = ctx;
    int rc = WALKIT_ST_OK;
    if (f->readonly) return WALKIT_ST_ACCESS;
    walkit_mutex_enter(fs->lock, "ram write");
    ram_node *node = f->node;
    if (off + n > node->size) rc = ram_resize(node, off + n);
    if (rc == WALKIT_ST_OK) memcpy(node->data + off, buf, n);
    walkit_mutex_leave(fs->lock, "ram write");
    return rc;
}

static int ram_truncate(void *ctx, walkit_storage_file *f, uint64_t size)
{
    ram_fs *fs = ctx;
    if (f->readonly) return WALKIT_ST_ACCESS;
    walkit_mutex_enter(fs->lock, "ram truncate");
    int rc = ram_resize(f->node, size);
    walkit_mutex_leave(fs->lock, "ram truncate");
    return rc;
}

static int ram_sync(void *ctx, walkit_storage_file *f, int data_only)
{
    (void)ctx, (void)f, (void)data_only;
    return WALKIT_ST_OK;
}

static int ram_size(void *ctx, walkit_storage_file *f, uint64_t *size)
{
    ram_fs *fs = ctx;
    walkit_mutex_enter(fs->lock, "ram size");
    *size = f->node->size;
    walkit_mutex_leave(fs->lock, "ram size");
    return WALKIT_ST_OK;
}

static int ram_remove(void *ctx, const char *path, int sync_dir)
{
    ram_fs *fs = ctx;
    int rc = WALKIT_ST_OK;
    (void)sync_dir;
    walkit_mutex_enter(fs->lock, "ram remove");
    ram_node **pp = ram_find(fs, path), *n = *pp;
    if (!n) {
        rc = WALKIT_ST_NOENT;
    } else {
        *pp = n->next;
        walkit_free(n->path);
        n->path = NULL;
        if (n->nopen == 0) ram_node_free(n);
    }
    walkit_mutex_leave(fs->lock, "ram remove");
    return rc;
}

static int ram_exists(void *ctx, const char *path)
{
    ram_fs *fs = ctx;
    walkit_mutex_enter(fs->lock, "ram exists");
    int found = *ram_find(fs, path) != NULL;
    walkit_mutex_leave(fs->lock, "ram exists");
    return found;
}

static void ram_destroy(void *ctx)
{
    ram_fs *fs = ctx;
    while (fs->files) {
        ram_node *n = fs->files;
        fs->files = n->next;
        ram_node_free(n);
    }
    walkit_os_mutex_destroy(fs->lock);
    walkit_free(fs);
}

const walkit_storage *walkit_storage_ram(void)
{
    ram_fs *fs = walkit_alloc_zero(sizeof *fs);
    if (!fs) return NULL;
    fs->lock = walkit_os_mutex_create();
    if (!fs->lock) {
        walkit_free(fs);
        return NULL;
    }
    fs->st.ctx = fs;
    fs->st.name = "ram";
    fs->st.open = ram_open;
    fs->st.close = ram_close;
    fs->st.read = ram_read;
    fs->st.write = ram_write;
    fs->st.truncate = ram_truncate;
    fs->st.sync = ram_sync;
    fs->st.size = ram_size;
    fs->st.remove = ram_remove;
    fs->st.exists = ram_exists;
    fs->st.destroy = ram_destroy;
    /* Writes are memcpy under one mutex: atomic at any size, in order, never torn; a power
     * loss erases everything, so no guarantee about surviving data can be broken. */
    fs->st.sector_size = 512;
    fs->st.caps = WALKIT_ST_CAP_ATOMIC | WALKIT_ST_CAP_SAFE_APPEND | WALKIT_ST_CAP_SEQUENTIAL |
                  WALKIT_ST_CAP_POWERSAFE_OVERWRITE;
    return &fs->st;
}
