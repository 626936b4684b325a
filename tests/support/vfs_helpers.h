/* vfs_helpers.h: helpers over the VFS for the check programs (no checks of their own). */
#ifndef WALKIT_TESTS_VFS_HELPERS_H
#define WALKIT_TESTS_VFS_HELPERS_H

#include "sqlite3.h"

#define MAIN_DB (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)

/* A file opened through v's xOpen (malloc'd; NULL with *rc set on failure), closed and freed. */
sqlite3_file *open_file(sqlite3_vfs *v, const char *path, int flags, int *rc);
void close_file(sqlite3_file *f);
int lockstate(sqlite3_file *f);

int exec(sqlite3 *db, const char *sql);
int query_int(sqlite3 *db, const char *sql);
sqlite3 *open_db(const char *path, const char *vfs);
double seconds(void);

#endif
