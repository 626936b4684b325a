/* hostfile.c: storage backend on plain POSIX files under a root directory (hosted builds only:
 * host-sim and the host-native test build).  pread/pwrite/ftruncate/fsync, never mmap: the point
 * is to run the same VFS code paths as on a target, with files a developer can inspect.
 *
 * VFS path "/a/b.db" is the host file <root>/a/b.db.  Separate handles on one path are separate
 * descriptors; the kernel's page cache makes every write visible to all of them at once, as
 * storage.h requires.  Properties reported as SQLite's unix VFS would: 4096-byte sectors,
 * powersafe overwrite.
 */
#ifdef WALKIT_HOSTED
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"
#include "walkit_int.h"

/* Immutable after creation: root is read by every callback without a lock. */
typedef struct host_fs {
    walkit_storage st; /* first: the public handle is &fs->st */
    char *root;        /* no trailing '/' */
} host_fs;

/* readonly: opened WALKIT_ST_READONLY; writes are refused here (WALKIT_ST_ACCESS, i.e.
 * SQLITE_READONLY, as the other backends do) rather than left to fail with EBADF. */
struct walkit_storage_file {
    int fd;
    int readonly;
};

static int host_err(int e)
{
    switch (e) {
    case 0: return WALKIT_ST_OK;
    case ENOENT: return WALKIT_ST_NOENT;
    case EEXIST: return WALKIT_ST_EXIST;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return WALKIT_ST_NOSPC;
    case ENOMEM: return WALKIT_ST_NOMEM;
    case EACCES:
    case EPERM:
    case EROFS: return WALKIT_ST_ACCESS;
    case EISDIR:
    case ENOTDIR:
    case ENAMETOOLONG:
    case EINVAL: return WALKIT_ST_INVAL;
    default: return WALKIT_ST_IO;
    }
}

/* <root><path> into out (PATH_MAX-sized); INVAL when it does not fit. */
static int host_path(const host_fs *fs, const char *path, char *out, size_t cap)
{
    size_t a = strlen(fs->root), b = strlen(path);
    if (a + b + 1 > cap) return WALKIT_ST_INVAL;
    memcpy(out, fs->root, a);
    memcpy(out + a, path, b + 1);
    return WALKIT_ST_OK;
}

#define HOST_PATH_MAX 4096

static int host_open(void *ctx, const char *path, unsigned flags, walkit_storage_file **out)
{
    char full[HOST_PATH_MAX];
    int rc = host_path(ctx, path, full, sizeof full);
    if (rc != WALKIT_ST_OK) return rc;
    walkit_storage_file *f = walkit_alloc(sizeof *f);
    if (!f) return WALKIT_ST_NOMEM;
    int of = (flags & WALKIT_ST_READONLY) ? O_RDONLY : O_RDWR;
    if (flags & WALKIT_ST_CREATE) of |= O_CREAT;
    if (flags & WALKIT_ST_EXCL) of |= O_EXCL;
    do {
        f->fd = open(full, of | O_CLOEXEC, 0644);
    } while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        rc = host_err(errno);
        walkit_free(f);
        return rc;
    }
    f->readonly = (flags & WALKIT_ST_READONLY) != 0;
    *out = f;
    return WALKIT_ST_OK;
}

static int host_close(void *ctx, walkit_storage_file *f)
{
    (void)ctx;
    int rc = close(f->fd) == 0 ? WALKIT_ST_OK : host_err(errno);
    walkit_free(f);
    return rc;
}

static int host_read(void *ctx, walkit_storage_file *f, uint64_t off, void *buf, size_t n,
                     size_t *got)
{
    (void)ctx;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { *got = done; return host_err(errno); }
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return WALKIT_ST_OK;
}

static int host_write(void *ctx, walkit_storage_file *f, uint64_t off, const void *buf, size_t n)
{
    (void)ctx;
    size_t done = 0;
    if (f->readonly) return WALKIT_ST_ACCESS;
    while (done < n) {
        ssize_t w = pwrite(f->fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return host_err(errno);
        if (w == 0) return WALKIT_ST_NOSPC;
        done += (size_t)w;
    }
    return WALKIT_ST_OK;
}

static int host_truncate(void *ctx, walkit_storage_file *f, uint64_t size)
{
    (void)ctx;
    int r;
    if (f->readonly) return WALKIT_ST_ACCESS;
    do { r = ftruncate(f->fd, (off_t)size); } while (r != 0 && errno == EINTR);
    return r == 0 ? WALKIT_ST_OK : host_err(errno);
}

static int host_sync(void *ctx, walkit_storage_file *f, int data_only)
{
    (void)ctx;
    int r = data_only ? fdatasync(f->fd) : fsync(f->fd);
    return r == 0 ? WALKIT_ST_OK : host_err(errno);
}

static int host_size(void *ctx, walkit_storage_file *f, uint64_t *size)
{
    (void)ctx;
    struct stat st;
    if (fstat(f->fd, &st) != 0) return host_err(errno);
    *size = (uint64_t)st.st_size;
    return WALKIT_ST_OK;
}

static int host_remove(void *ctx, const char *path, int sync_dir)
{
    char full[HOST_PATH_MAX];
    int rc = host_path(ctx, path, full, sizeof full);
    if (rc != WALKIT_ST_OK) return rc;
    if (unlink(full) != 0) return host_err(errno);
    if (sync_dir) {
        char *slash = strrchr(full, '/');
        if (slash && slash != full) *slash = '\0';
        int dfd = open(full, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            rc = fsync(dfd) == 0 ? WALKIT_ST_OK : host_err(errno);
            close(dfd);
        }
    }
    return rc;
}

static int host_exists(void *ctx, const char *path)
{
    char full[HOST_PATH_MAX];
    struct stat st;
    int rc = host_path(ctx, path, full, sizeof full);
    if (rc != WALKIT_ST_OK) return rc;
    if (stat(full, &st) == 0) return S_ISREG(st.st_mode) ? 1 : 0; /* a directory is no file */
    return errno == ENOENT || errno == ENOTDIR ? 0 : host_err(errno);
}

static void host_destroy(void *ctx)
{
    host_fs *fs = ctx;
    walkit_free(fs->root);
    walkit_free(fs);
}

const walkit_storage *walkit_storage_hostfile(const char *root_dir)
{
    struct stat st;
    if (!root_dir || stat(root_dir, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    host_fs *fs = walkit_alloc_zero(sizeof *fs);
    if (!fs) return NULL;
    fs->root = walkit_strdup(root_dir);
    if (!fs->root) {
        walkit_free(fs);
        return NULL;
    }
    size_t n = strlen(fs->root);
    while (n > 1 && fs->root[n - 1] == '/') fs->root[--n] = '\0';
    if (n == 1 && fs->root[0] == '/') fs->root[0] = '\0'; /* root "/" joins as "" + "/x" */
    fs->st.ctx = fs;
    fs->st.name = "hostfile";
    fs->st.open = host_open;
    fs->st.close = host_close;
    fs->st.read = host_read;
    fs->st.write = host_write;
    fs->st.truncate = host_truncate;
    fs->st.sync = host_sync;
    fs->st.size = host_size;
    fs->st.remove = host_remove;
    fs->st.exists = host_exists;
    fs->st.destroy = host_destroy;
    fs->st.sector_size = 4096;
    fs->st.caps = WALKIT_ST_CAP_POWERSAFE_OVERWRITE;
    return &fs->st;
}
#endif /* WALKIT_HOSTED */
