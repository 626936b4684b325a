/* workload.h: the built-in self-verifying workload of power-cut campaigns (console .workload).
 *
 * A seed defines a sequence of transactions 1, 2, ... (transaction 0 creates the schema).  Each
 * transaction changes rows of table t(id, ver, body), where body is a function of (seed, id,
 * ver), and records its number k and the digest of the whole table in table meta in the same
 * transaction.  The digest is the sum (mod 2^64) over the rows of CRC-32 (zlib's) of
 * le64(id) || le64(ver) || body, so the host computes it from an image with Python alone.
 *
 * workload_run runs transactions from the one after the database's meta.k up to `txns` on three
 * connections to the same file in WAL mode with NORMAL locking: two writers taking turns, and a
 * reader that holds a snapshot over several transactions and checks that it does not move;
 * checkpoints are automatic (wal_autocheckpoint) and explicit (PASSIVE, RESTART, TRUNCATE) at
 * fixed transactions, so the WAL restarts.  After each COMMIT returns it streams one row
 * (k, digest): the acknowledgement.
 *
 * workload_check opens the file alone and answers one row: integrity_check's first line, meta.k
 * (-1: no committed schema), the digest stored in meta, the digest of the rows as read, and the
 * digest transaction k must leave (replayed from the seed without SQL).  The three digests are
 * equal exactly when the database is the state after transactions 0..k, nothing more or less.
 */
#ifndef WALKIT_WORKLOAD_H
#define WALKIT_WORKLOAD_H

#include <stdint.h>
#include "console.h"

/* path: a file name or a URI filename, which picks the storage (file:/wl.db?vfs=pool: the
 * flash pool); sync: "full" or "normal" (PRAGMA synchronous of every connection). */
void workload_run(const char *path, uint64_t seed, int64_t txns, const char *sync, con_sink *sink);
void workload_check(const char *path, uint64_t seed, con_sink *sink);

#endif
