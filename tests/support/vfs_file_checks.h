/* vfs_file_checks.h: the file-layer checks every storage backend passes (vfs_file_checks.c). */
#ifndef WALKIT_TESTS_VFS_FILE_CHECKS_H
#define WALKIT_TESTS_VFS_FILE_CHECKS_H

#include "sqlite3.h"
#include "walkit.h"

/* Makes (make = 1) or removes (0) a directory in the backend under test; NULL: none (ram). */
extern int (*backend_dir)(const char *path, int make);

/* Registers st as VFS `name`, runs paths, I/O, the five-level lock, randomness/time/sleep and
 * unregister checks on it, then destroys st.  sector and iocap: what xSectorSize and
 * xDeviceCharacteristics must say. */
void file_layer_checks(const char *name, const walkit_storage *st, unsigned sector, unsigned iocap);

#endif
