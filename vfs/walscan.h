/* walscan.h: the first opener's check of a WAL for damage (vfs/walscan.c). */
#ifndef WALKIT_WALSCAN_H
#define WALKIT_WALSCAN_H

#include "storage/storage.h"

/* Reads the WAL `h` (path for messages) frame by frame and reports damage: a frame that breaks
 * the checksum chain followed by a valid commit frame of the same salts.  SQLite's recovery
 * stops at the first bad frame and drops everything after it, indistinguishable from a torn
 * tail; a later valid commit proves the bad frame was once whole, so the transactions after it
 * are being lost.  Reports through sqlite3_log(SQLITE_CORRUPT) and walkit_stats.wal_damage.
 * Returns 1 if damaged, 0 if not (also when the WAL is empty, unreadable or has no valid
 * header: then there is nothing SQLite would recover either).  Memory: one frame. */
int walkit_wal_scan(const walkit_storage *st, walkit_storage_file *h, const char *path);

#endif /* WALKIT_WALSCAN_H */
