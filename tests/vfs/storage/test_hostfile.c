/* test_hostfile.c: the hostfile storage backend (vfs/storage/hostfile.c) under the file layer's
 * checks (tests/support/vfs_file_checks.c), rooted at a host folder.  Driven by
 * tests/vfs/storage/test_hostfile.py:  test_hostfile HOST_ROOT_DIR
 * Prints "ok <check>" or "FAIL <check>: why"; exit status = failures; --list prints the checks. */
#include <stdio.h>
#include <unistd.h>

#include <sys/stat.h>

#define CHECKS_MAIN
#include "checks.h"
#include "sqlite3.h"
#include "vfs_file_checks.h"
#include "vfs_helpers.h"
#include "walkit.h"

static const char *dir_root;

static int host_dir_op(const char *path, int make)
{
    char full[4096];
    snprintf(full, sizeof full, "%s%s", dir_root, path);
    return make ? mkdir(full, 0755) : rmdir(full);
}

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST_ROOT_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (walkit_init() != SQLITE_OK) return 2;
    CHECK("hostfile_missing_root", walkit_storage_hostfile("/no/such/dir") == NULL, "");
    dir_root = argv[1];
    backend_dir = host_dir_op;
    file_layer_checks("hostfile", walkit_storage_hostfile(argv[1]), 4096,
                      SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    backend_dir = NULL;
    return checks_done();
}
