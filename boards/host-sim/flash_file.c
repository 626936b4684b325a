/* host-sim: a file standing in for NOR flash, with the same driver contract as the CFI bank.
 *
 * Byte i of the device is byte i of the file.  Programs and erases are pwrite() calls, so every
 * byte the firmware programmed is in the file even when the process is killed right after
 * (SIGKILL = power cut): the kernel's page cache belongs to the file, not to the process.  That
 * is the property QEMU's pflash gives its image file, which makes power-cut results comparable
 * between the two boards.
 *
 * The file is named by --flash FILE (see board.c).  A missing file is created blank (0xFF); an
 * existing file must be exactly WALKIT_FLASH_SIZE bytes: it is never resized, because a file of
 * another size is a different flash (or not a flash image at all).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "board.h"
#include "flash.h"

/* From board.c: the --flash argument (NULL when absent). */
const char *host_sim_flash_path(void);

#ifndef WALKIT_FLASH_SIZE
#error "WALKIT_FLASH_* come from board.toml [flash] through CMake"
#endif

static int flash_fd = -1;

static int io_all(int write, uint32_t off, void *buf, uint32_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write ? pwrite(flash_fd, p, n, off) : pread(flash_fd, p, n, off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return FLASH_E_DEVICE;
        p += k;
        off += (uint32_t)k;
        n -= (uint32_t)k;
    }
    return FLASH_OK;
}

static int file_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    (void)ctx;
    return io_all(0, off, buf, n);
}

static int file_prog(void *ctx, uint32_t off, const void *buf, uint32_t n)
{
    (void)ctx;
    return io_all(1, off, (void *)buf, n);
}

static int file_erase(void *ctx, uint32_t off)
{
    uint8_t ff[4096];
    uint32_t done = 0;
    int rc = FLASH_OK;
    (void)ctx;
    memset(ff, 0xFF, sizeof ff);
    while (rc == FLASH_OK && done < WALKIT_FLASH_ERASE_BLOCK) {
        uint32_t k = WALKIT_FLASH_ERASE_BLOCK - done;
        if (k > sizeof ff) k = sizeof ff;
        rc = io_all(1, off + done, ff, k);
        done += k;
    }
    return rc;
}

static const flash_ops file_ops = { file_read, file_prog, file_erase };

static flash_dev dev = {
    .name = "file",
    .base = 0,
    FLASH_DEV_BOARD_GEOMETRY,
    .ops = &file_ops,
    .ctx = NULL,
};

/* Creates a blank image: the whole file 0xFF, as a new chip comes from the factory. */
static int create_blank(const char *path)
{
    uint8_t ff[65536];
    uint32_t done = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return -1;
    memset(ff, 0xFF, sizeof ff);
    while (done < WALKIT_FLASH_SIZE) {
        ssize_t k = write(fd, ff, sizeof ff);
        if (k <= 0) { close(fd); unlink(path); return -1; }
        done += (uint32_t)k;
    }
    return fd;
}

flash_dev *board_flash(board_log_fn *report)
{
    static int probed;
    static flash_dev *result;
    const char *path = host_sim_flash_path();
    struct stat st;
    if (probed) return result;
    probed = 1;
    if (!path) {
        report("flash: no flash file (run with --flash FILE)");
        return NULL;
    }
    flash_fd = open(path, O_RDWR | O_CLOEXEC);
    if (flash_fd < 0 && errno == ENOENT) {
        flash_fd = create_blank(path);
        if (flash_fd >= 0) report("flash: created blank flash file %s", path);
    }
    if (flash_fd < 0) {
        report("flash: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(flash_fd, &st) != 0 || st.st_size != (off_t)WALKIT_FLASH_SIZE) {
        report("flash: %s is %lu bytes; board.toml says %lu", path, (unsigned long)st.st_size,
               (unsigned long)WALKIT_FLASH_SIZE);
        close(flash_fd);
        flash_fd = -1;
        return NULL;
    }
    result = &dev;
    return result;
}
