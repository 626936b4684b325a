/* walkit-smoke: the smallest image that proves the kit: SQLite with the walkit VFS opens an
 * in-memory database, runs a query, prints one line and exits with the query's answer (42) as
 * its status, so the host reads a value that only a working SQLite can produce. */
#include <stdio.h>
#include <string.h>
#include "sqlite3.h"
#include "walkit.h"

static int answer(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(db, "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (6), (7);", 0, 0, 0);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT sqlite_version(), "
                                    "(SELECT x FROM t WHERE x = 6) * (SELECT x FROM t WHERE x = 7)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *out = sqlite3_column_int(st, 1);
        printf("walkit-smoke: SQLite %s, mmap size limit %d, answer %d\n", v,
               (int)SQLITE_MAX_MMAP_SIZE, *out);
        rc = strcmp(v, SQLITE_VERSION) == 0 ? SQLITE_OK : SQLITE_MISMATCH;
    }
    sqlite3_finalize(st);
    return rc;
}

int main(void)
{
    sqlite3 *db = NULL;
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
    int rc = walkit_init(), result = 0;
    cfg.storage = walkit_storage_ram();
    if (rc == SQLITE_OK) rc = walkit_register(&cfg);
    if (rc == SQLITE_OK) rc = sqlite3_open(":memory:", &db);
    if (rc == SQLITE_OK) rc = answer(db, &result);
    if (rc != SQLITE_OK) {
        printf("walkit-smoke: error %d: %s\n", rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        result = 1;
    }
    sqlite3_close(db);
    fflush(stdout);
    return result;
}
