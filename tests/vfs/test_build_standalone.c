/* test_build_standalone.c: a user's program on the walkit VFS lifted out of this project: it
 * sees only the public walkit.h and SQLite's own header.  WAL in NORMAL locking mode with two
 * connections to one database: a reader keeps its snapshot while the writer commits, which
 * needs the WAL-index the VFS shares between connections.  With the bare port
 * (STANDALONE_PORT_BARE) it also gives the port its clock, as an image's start-up does.  Built by test_build_standalone.py.
 * Prints "ok <name>" / "FAIL <name>: why"; exit status = failures.  --list prints the check
 * names (CHECKS below, the one place they are written) and exits. */
#include <stdio.h>
#include <string.h>

#include "sqlite3.h"
#include "walkit.h"

#if STANDALONE_PORT_BARE
#include <time.h>

#include "walkit_os_bare.h"

static uint64_t host_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}
#endif

#define CHECKS(X)                                                                               \
    X(init) X(register) X(open_two) X(locking_normal) X(journal_wal) X(write)                   \
    X(reader_snapshot) X(write_beside_reader) X(snapshot_kept) X(commit_seen) X(integrity)

#define CHECK_ID(n) CK_##n,
enum { CHECKS(CHECK_ID) CK_COUNT };
#define CHECK_NAME(n) #n,
static const char *const check_names[] = { CHECKS(CHECK_NAME) };

static int failures;
static int reached[CK_COUNT];
#define CHECK(name, cond, ...)                                                                  \
    do {                                                                                        \
        reached[CK_##name] = 1;                                                                 \
        if (cond) printf("ok %s\n", #name);                                                     \
        else { printf("FAIL %s: ", #name); printf(__VA_ARGS__); printf("\n"); failures++; }    \
    } while (0)

/* The first column of the first row of sql on db, as text ("" when there is none). */
static const char *one(sqlite3 *db, const char *sql)
{
    static char out[64];
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < CK_COUNT; i++) printf("%s\n", check_names[i]);
        return 0;
    }
    sqlite3 *a = NULL, *b = NULL;
    walkit_config cfg = WALKIT_CONFIG_DEFAULT;
#if STANDALONE_PORT_BARE
    static const walkit_os_bare_hooks hooks = { host_us, 0 };
    walkit_os_bare_init(&hooks);
#endif
    CHECK(init, walkit_init() == SQLITE_OK, "walkit_init failed");
    cfg.storage = walkit_storage_ram();
    CHECK(register, cfg.storage && walkit_register(&cfg) == SQLITE_OK, "no VFS");
    CHECK(open_two, sqlite3_open("/lifted.db", &a) == SQLITE_OK &&
                          sqlite3_open("/lifted.db", &b) == SQLITE_OK, "open failed");
    CHECK(locking_normal, strcmp(one(a, "PRAGMA locking_mode"), "normal") == 0, "%s",
          one(a, "PRAGMA locking_mode"));
    CHECK(journal_wal, strcmp(one(a, "PRAGMA journal_mode=WAL"), "wal") == 0, "%s",
          one(a, "PRAGMA journal_mode"));
    int rc = sqlite3_exec(a, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);", 0, 0, 0);
    CHECK(write, rc == SQLITE_OK, "%s", sqlite3_errmsg(a));
    rc = sqlite3_exec(b, "BEGIN", 0, 0, 0);
    CHECK(reader_snapshot, rc == SQLITE_OK && strcmp(one(b, "SELECT count(*) FROM t"), "2") == 0,
          "%s", sqlite3_errmsg(b));
    rc = sqlite3_exec(a, "INSERT INTO t VALUES (3)", 0, 0, 0);
    CHECK(write_beside_reader, rc == SQLITE_OK, "%s", sqlite3_errmsg(a));
    CHECK(snapshot_kept, strcmp(one(b, "SELECT count(*) FROM t"), "2") == 0, "%s",
          one(b, "SELECT count(*) FROM t"));
    sqlite3_exec(b, "COMMIT", 0, 0, 0);
    CHECK(commit_seen, strcmp(one(b, "SELECT count(*) FROM t"), "3") == 0, "%s",
          one(b, "SELECT count(*) FROM t"));
    CHECK(integrity, strcmp(one(b, "PRAGMA integrity_check"), "ok") == 0, "%s",
          one(b, "PRAGMA integrity_check"));
    sqlite3_close(b);
    sqlite3_close(a);
    for (int i = 0; i < CK_COUNT; i++)
        if (!reached[i]) { printf("FAIL %s: not reached\n", check_names[i]); failures++; }
    printf("%d failures\n", failures);
    return failures;
}
