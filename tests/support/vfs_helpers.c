/* vfs_helpers.c: helpers over the VFS for the check programs (vfs_helpers.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include "sqlite3.h"
#include "vfs_helpers.h"
#include "walkit.h"

int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, 0, 0, 0); }

sqlite3_file *open_file(sqlite3_vfs *v, const char *path, int flags, int *rc)
{
    sqlite3_file *f = calloc(1, (size_t)v->szOsFile);
    int out = 0;
    *rc = v->xOpen(v, path, f, flags, &out);
    if (*rc != SQLITE_OK) {
        free(f);
        return NULL;
    }
    return f;
}

void close_file(sqlite3_file *f)
{
    if (!f) return;
    f->pMethods->xClose(f);
    free(f);
}

int lockstate(sqlite3_file *f)
{
    int s = -1;
    f->pMethods->xFileControl(f, SQLITE_FCNTL_LOCKSTATE, &s);
    return s;
}

int query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    sqlite3_extended_result_codes(db, 1);
    return db;
}

double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
