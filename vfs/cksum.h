/* cksum.h: optional per-page checksums of main database files (vfs/cksum.c), the approach of
 * SQLite's ext/misc/cksumvfs.c: an 8-byte checksum in each page's reserved bytes, written by
 * xWrite and verified by xRead.  Internal to the VFS: vfs.c calls these around its storage
 * calls when the VFS was registered with walkit_config.page_checksums. */
#ifndef WALKIT_CKSUM_H
#define WALKIT_CKSUM_H

#include "sqlite3.h"

#define WALKIT_CKSUM_RESERVE 8 /* reserved bytes per page a checksummed database has */

/* A read or write of the database header (offset 0, at least 100 bytes of an SQLite
 * database): 1 if its pages carry checksums (reserved bytes == 8), 0 if not; -1 when buf is
 * not the header (nothing learnt). */
int walkit_cksum_header(const void *buf, int amt, sqlite3_int64 off);

/* Whether amt bytes are one whole page (a power of two from 512 to 65536). */
int walkit_cksum_is_page(int amt);

/* Writes the checksum of page[0 .. n-8) into page[n-8 .. n).  The reserved bytes belong to
 * the VFS: SQLite never reads them back for itself, so the page buffer is sealed in place. */
void walkit_cksum_seal(void *page, int n);

/* 1 if page's last 8 bytes are the checksum of the rest. */
int walkit_cksum_ok(const void *page, int n);

/* The auto-extension vfs.c installs when page checksums are on: a new (empty) main
 * database opened through such a walkit VFS gets 8 reserved bytes per page. */
int walkit_cksum_autoext(sqlite3 *db, char **err, const void *api);

#endif /* WALKIT_CKSUM_H */
