/* test_ram.c: the ram storage backend (vfs/storage/ram.c) under the file layer's checks
 * (tests/support/vfs_file_checks.c).  Driven by tests/vfs/storage/test_ram.py.  Prints "ok
 * <check>" or "FAIL <check>: why"; exit status = failures; --list prints the checks. */
#include <stdio.h>

#define CHECKS_MAIN
#include "checks.h"
#include "sqlite3.h"
#include "vfs_file_checks.h"
#include "vfs_helpers.h"
#include "walkit.h"

int main(int argc, char **argv)
{
    checks_list_if_asked(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (walkit_init() != SQLITE_OK) return 2;
    file_layer_checks("ram", walkit_storage_ram(), 512,
                      SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
                          SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    return checks_done();
}
