"""A crash-safe store of database snapshots: full ones and incremental (compacted WAL) ones.

Layout of a store directory::

    manifest.json              the snapshots, oldest first (a copy of each one's meta.json)
    snapshots/000001/          a full snapshot: ``database`` (a checkpointed database file)
    snapshots/000002/          an incremental one: ``wal`` (one transaction that turns the
                               previous snapshot's database into this one's)
    snapshots/NNNNNN/meta.json what the snapshot is: kind, parent, hashes, device state
    snapshots/.staging-NNNNNN/ a snapshot being written (never part of the store)

Persist protocol (every step through :class:`~walkit.snapshot.fsops.FileOps`):

1. ``snapshots/.staging-N/``: write the data file and ``meta.json``, fsync each, fsync the dir.
2. Rename it to ``snapshots/N`` and fsync ``snapshots/``.  This rename is the commit point:
   a snapshot directory with its final name is complete (its files were durable before).
3. Write the new manifest to ``.manifest.json.tmp``, fsync, rename over ``manifest.json``,
   fsync the store directory.

Recovery, run whenever a store is opened: staging directories and a temporary manifest are
removed (the persist rolls back); a snapshot directory that the manifest does not list yet is
the next snapshot if its meta.json and hash check out, and is then added to the manifest (the
persist is finished), otherwise it is removed.  Every recovery step is idempotent, so a crash
during recovery is recovered by the next open.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import WalkitError
from ..wal import checkpoint, compact, db_info, parse_wal
from ..wal.format import Wal, WalFormatError
from ..wal.ops import sha256
from .fsops import FileOps

FORMAT = "walkit-snapshot-store"
VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_TMP = ".manifest.json.tmp"
SNAPSHOTS = "snapshots"
STAGING_PREFIX = ".staging-"
META = "meta.json"
DATA_FILE = {"full": "database", "incremental": "wal"}
_ID_DIR = re.compile(r"^\d{6}$")


def _dir_name(sid: int) -> str:
    return f"{sid:06d}"


def _dumps(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


@dataclass
class Taken:
    """What :meth:`SnapshotStore.take` stored, and why it chose that kind."""

    meta: dict
    reason: str  # why full or incremental (or why nothing was stored)
    notes: list[str]
    stored: bool = True


class SnapshotStore:
    """An open, recovered store; use :func:`open_store`.

    ``ops`` is the file-operation layer every change goes through (tests pass a
    :class:`~walkit.snapshot.fsops.FaultyOps`)."""

    def __init__(self, root: Path, ops: FileOps | None = None, create: bool = True) -> None:
        self.root = Path(root)
        self.ops = ops or FileOps()
        self.recovered: list[str] = []
        self._lock_fd: int | None = None
        if not self.root.is_dir():
            if not create:
                raise WalkitError(f"{self.root}: no snapshot store here")
            if self.root.exists():
                raise WalkitError(f"{self.root}: not a directory")
            if not self.root.parent.is_dir():
                raise WalkitError(f"{self.root.parent}: no such directory")
            self.ops.mkdir(self.root)
            self.ops.fsync_dir(self.root.parent)
        self._lock()
        try:
            self.snapshots: list[dict] = self._recover(create)
        except BaseException:
            self.close()  # the lock goes with the failed open, as it would with a dead process
            raise

    # -- locking ----------------------------------------------------------------------------

    def _lock(self) -> None:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WalkitError(f"{self.root}: snapshot store in use by another walkit") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (also after a crash: a dead process releases it too)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- recovery ---------------------------------------------------------------------------

    @property
    def _snapdir(self) -> Path:
        return self.root / SNAPSHOTS

    def _read_manifest(self) -> list[dict]:
        path = self.root / MANIFEST
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("format") != FORMAT:
                raise ValueError("not a walkit snapshot manifest")
            if doc.get("version") != VERSION:
                raise ValueError(f"manifest version {doc.get('version')}, this walkit reads {VERSION}")
            snaps = doc["snapshots"]
            if [s["id"] for s in snaps] != list(range(1, len(snaps) + 1)):
                raise ValueError("snapshot ids are not 1..n")
            return snaps
        except (ValueError, KeyError, TypeError) as e:
            raise WalkitError(f"{path}: damaged manifest: {e}") from None

    def _write_manifest(self, snaps: list[dict]) -> None:
        # replace_file: .manifest.json.tmp, fsync, rename over manifest.json, fsync the store dir
        tmp = self.root / MANIFEST_TMP
        if os.path.lexists(tmp):
            self.ops.unlink(tmp)
        self.ops.write_file(tmp, _dumps({"format": FORMAT, "version": VERSION, "snapshots": snaps}))
        self.ops.rename(tmp, self.root / MANIFEST)
        self.ops.fsync_dir(self.root)

    def _recover(self, create: bool) -> list[dict]:
        root, snapdir = self.root, self._snapdir
        if not (root / MANIFEST).exists():
            leftovers = [p.name for p in root.iterdir() if p.name not in (SNAPSHOTS, MANIFEST_TMP)]
            committed = [p.name for p in snapdir.iterdir() if _ID_DIR.match(p.name)] if snapdir.is_dir() else []
            if leftovers or committed:
                if committed:
                    raise WalkitError(f"{root}: snapshot directories but no {MANIFEST}: damaged store")
                raise WalkitError(f"{root}: not a snapshot store (holds {', '.join(sorted(leftovers)[:3])})")
            if not create:
                raise WalkitError(f"{root}: no snapshot store here")
            # A new store, or one whose creation was interrupted: (re)create it.
            if not snapdir.is_dir():
                self.ops.mkdir(snapdir)
            for p in sorted(snapdir.iterdir()):
                self._remove(p)
            self._write_manifest([])
            self.recovered.append("initialised the store")
            return []
        snaps = self._read_manifest()
        if not snapdir.is_dir():
            raise WalkitError(f"{snapdir}: missing: damaged store")
        if (root / MANIFEST_TMP).exists():
            self.ops.unlink(root / MANIFEST_TMP)
            self.recovered.append("removed an unfinished manifest update")
        listed = {_dir_name(s["id"]) for s in snaps}
        for p in sorted(snapdir.iterdir()):
            if p.name.startswith(STAGING_PREFIX):
                self._remove(p)
                self.recovered.append(f"rolled back unfinished snapshot {p.name[len(STAGING_PREFIX):]}")
            elif _ID_DIR.match(p.name) and p.name not in listed:
                meta = self._complete_meta(p, len(snaps) + 1, snaps[-1]["id"] if snaps else None)
                if meta is not None:
                    snaps = snaps + [meta]
                    self._write_manifest(snaps)
                    listed.add(p.name)
                    self.recovered.append(f"finished snapshot {meta['id']} (added to the manifest)")
                else:
                    self._remove(p)
                    self.recovered.append(f"removed incomplete snapshot directory {p.name}")
        return snaps

    def _remove(self, p: Path) -> None:
        if p.is_dir() and not p.is_symlink():
            self.ops.rmtree(p)
        else:
            self.ops.unlink(p)
        self.ops.fsync_dir(p.parent)

    def _complete_meta(self, d: Path, expect_id: int, parent: int | None) -> dict | None:
        """meta.json of ``d`` if ``d`` is the complete next snapshot, else None."""
        try:
            meta = json.loads((d / META).read_bytes())
            data = (d / DATA_FILE[meta["kind"]]).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        ok = (meta.get("id") == expect_id and d.name == _dir_name(expect_id)
              and meta.get("sha256") == sha256(data) and meta.get("size") == len(data)
              and (meta["kind"] == "full" or meta.get("parent") == parent))
        return meta if ok else None

    # -- reading ----------------------------------------------------------------------------

    def get(self, sid: int | str | None) -> dict:
        if not self.snapshots:
            raise WalkitError(f"{self.root}: no snapshots yet")
        if sid is None or sid == "latest":
            return self.snapshots[-1]
        try:
            n = int(sid)
        except ValueError:
            raise WalkitError(f"snapshot id {sid!r}: expected a number or 'latest'") from None
        if not 1 <= n <= len(self.snapshots):
            raise WalkitError(f"no snapshot {n} in {self.root} (1..{len(self.snapshots)})")
        return self.snapshots[n - 1]

    def _data(self, meta: dict) -> bytes:
        path = self._snapdir / _dir_name(meta["id"]) / DATA_FILE[meta["kind"]]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise WalkitError(f"{path}: cannot read: {e.strerror or e}") from None
        if sha256(data) != meta["sha256"]:
            raise WalkitError(f"{path}: content does not match its recorded sha256: damaged snapshot")
        return data

    def materialize(self, sid: int | str | None = None) -> bytes:
        """The database file as it was at snapshot ``sid``: the nearest full snapshot at or
        before it, with each incremental WAL checkpointed into it in order."""
        target = self.get(sid)
        chain = [target]
        while chain[-1]["kind"] != "full":
            chain.append(self.snapshots[chain[-1]["parent"] - 1])
        db = b""
        for meta in reversed(chain):
            data = self._data(meta)
            db = data if meta["kind"] == "full" else checkpoint(db, parse_wal(data, f"snapshot {meta['id']}"))
            if sha256(db) != meta["db_sha256"]:
                raise WalkitError(f"snapshot {meta['id']}: rebuilt database does not match its "
                                  f"recorded sha256: damaged store")
        return db

    def check(self) -> list[str]:
        """Problems found by rebuilding every snapshot (empty: all fine)."""
        problems = []
        for meta in self.snapshots:
            try:
                self.materialize(meta["id"])
            except WalkitError as e:  # WalFormatError included
                problems.append(f"snapshot {meta['id']}: {e}")
        return problems

    # -- taking -----------------------------------------------------------------------------

    def take(self, db: bytes, wal_data: bytes | None, source: str, *, full: bool = False) -> Taken:
        """Store the database ``db`` (+ its WAL) as the next snapshot: incremental when the
        device database file is unchanged since the previous snapshot and its WAL continues the
        one seen then, full otherwise (or when ``full``)."""
        notes: list[str] = []
        info = db_info(db, f"{source} database")
        wal: Wal | None = None
        if wal_data:
            try:
                wal = parse_wal(wal_data, f"{source} WAL")
            except WalFormatError as e:
                notes.append(f"{e}: the WAL is not part of the database")
        if wal is not None and info.size and info.page_size != wal.page_size:
            raise WalkitError(f"{source}: database page size {info.page_size}, WAL {wal.page_size}")
        if wal is not None:
            if wal.uncommitted:
                notes.append(f"excluded an uncommitted tail of {len(wal.uncommitted)} frames")
            if wal.ignored or wal.trailing:
                notes.append(f"excluded {len(wal.ignored)} frames after the valid WAL, which ends "
                             f"{wal.end_description()}")
        state = checkpoint(db, wal) if wal is not None else bytes(db)
        if not state:
            raise WalkitError(f"{source}: empty database and no committed WAL: nothing to snapshot")
        device = {
            "db_sha256": sha256(db),
            "wal": None if wal is None else {
                "salt1": wal.header.salt1, "salt2": wal.header.salt2,
                "checkpoint_seq": wal.header.checkpoint_seq, "byte_order": wal.header.byte_order,
                "committed_frames": wal.committed,
                "last_checksum": list(wal.frames[wal.committed - 1].checksum) if wal.committed else None,
            },
        }
        prev = self.snapshots[-1] if self.snapshots else None
        if prev is not None and not full and sha256(state) == prev["db_sha256"]:
            return Taken(prev, f"unchanged since snapshot {prev['id']}: nothing stored", notes, stored=False)
        after, reason = self._continuation(device, wal, full)
        if after is None:
            kind, data, extra = "full", state, {}
        else:
            # _continuation gives a frame count only when the WAL holds new committed frames
            # (otherwise the state would equal the previous one, handled above).
            c = compact(wal, after=after)
            kind, data = "incremental", c.data
        if kind == "incremental" and len(data) >= len(state):
            kind, data, extra = "full", state, {}
            reason = "an incremental snapshot would not be smaller than a full one"
        elif kind == "incremental":
            extra = {"parent": prev["id"], "frames": len(c.kept), "after_frame": after}
            rebuilt = checkpoint(self.materialize(prev["id"]), parse_wal(data, "incremental"))
            if rebuilt != state:
                raise WalkitError("internal error: the incremental snapshot does not rebuild the "
                                  "database; take a full one with --full")
        sid = len(self.snapshots) + 1
        page_size = db_info(state, f"{source} database after a checkpoint").page_size
        meta = {
            "id": sid, "kind": kind, "parent": None, "file": DATA_FILE[kind],
            "size": len(data), "sha256": sha256(data),
            "page_size": page_size, "db_pages": len(state) // page_size,
            "db_size": len(state), "db_sha256": sha256(state),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": source, "device": device, "notes": notes, **extra,
        }
        self._persist(meta, data)
        return Taken(meta, reason, notes)

    def _continuation(self, device: dict, wal: Wal | None, full: bool) -> tuple[int | None, str]:
        """(frames of the current WAL already in the previous snapshot, why), or (None, why)
        when the new snapshot must be full."""
        if full:
            return None, "full snapshot requested"
        if not self.snapshots:
            return None, "first snapshot in the store"
        prev = self.snapshots[-1]["device"]
        if prev["db_sha256"] != device["db_sha256"]:
            return None, "the device database file changed since the previous snapshot (a checkpoint ran)"
        pw, cw = prev["wal"], device["wal"]
        if wal is None or cw is None:
            return None, "the device has no usable WAL now"
        if pw is None or pw["committed_frames"] == 0:
            return 0, "database file unchanged; every committed frame of the WAL is new"
        k = pw["committed_frames"]
        if ((pw["salt1"], pw["salt2"]) == (cw["salt1"], cw["salt2"]) and wal.committed >= k
                and list(wal.frames[k - 1].checksum) == pw["last_checksum"]):
            return k, f"WAL continues the previous snapshot's after frame {k}"
        return None, "the WAL was restarted or rewritten since the previous snapshot"

    def _persist(self, meta: dict, data: bytes) -> None:
        name = _dir_name(meta["id"])
        staging = self._snapdir / (STAGING_PREFIX + name)
        final = self._snapdir / name
        if os.path.lexists(staging):
            self._remove(staging)
        self.ops.mkdir(staging)
        self.ops.write_file(staging / meta["file"], data)
        self.ops.write_file(staging / META, _dumps(meta))
        self.ops.fsync_dir(staging)
        self.ops.rename(staging, final)  # commit point
        self.ops.fsync_dir(self._snapdir)
        self._write_manifest(self.snapshots + [meta])
        self.snapshots = self.snapshots + [meta]

    def restore(self, sid: int | str | None, out: Path, *, force: bool = False) -> dict:
        meta = self.get(sid)
        db = self.materialize(meta["id"])
        out = Path(out)
        if out.exists() and not force:
            raise WalkitError(f"{out}: already exists (use --force to replace it)")
        if out.is_dir():
            raise WalkitError(f"{out}: is a directory")
        for stale in (Path(f"{out}-wal"), Path(f"{out}-shm")):
            if stale.exists():
                raise WalkitError(f"{stale} exists and SQLite would apply it to the restored "
                                  f"database; remove it first")
        try:
            FileOps().replace_file(out, db)
        except OSError as e:
            raise WalkitError(f"{out}: cannot write: {e.strerror or e}") from None
        return meta


class open_store:
    """``with open_store(path) as store:`` opens (creating it if ``create``) and recovers a
    store, and releases its lock at the end whatever happens."""

    def __init__(self, root: str | os.PathLike, ops: FileOps | None = None, *, create: bool = True):
        self.args = (Path(root), ops, create)
        self.store: SnapshotStore | None = None

    def __enter__(self) -> SnapshotStore:
        self.store = SnapshotStore(*self.args)
        return self.store

    def __exit__(self, *exc) -> None:
        if self.store is not None:
            self.store.close()
