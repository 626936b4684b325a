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
from ..inputs import os_problem, read_input, show
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
_ID_DIR = re.compile(r"[0-9]{6}")  # fullmatch only
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_JSON = 64 << 20  # a manifest holds ~1 KiB per snapshot; a larger file is not one


class DamagedStore(WalkitError):
    """The store's own files contradict its layout or schema (``snapshot check``: exit 2)."""


class _Bad(ValueError):
    """A manifest or meta.json that does not follow the schema (the message says where)."""


def _int(v, what: str, lo: int = 0, hi: int | None = None) -> int:
    if type(v) is not int or v < lo or (hi is not None and v > hi):  # bool and 1.0 are not ids
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _Bad(f"{what} is {json.dumps(v)[:40]}, expected an integer {rng}")
    return v


def _str(v, what: str, pattern: re.Pattern | None = None) -> str:
    if not isinstance(v, str) or (pattern is not None and not pattern.fullmatch(v)):
        raise _Bad(f"{what} is {json.dumps(v)[:40]}, expected "
                   + ("a sha256 hex digest" if pattern is _HEX64 else "a string"))
    return v


def _dict(v, what: str) -> dict:
    if not isinstance(v, dict):
        raise _Bad(f"{what} is {json.dumps(v)[:40]}, expected an object")
    return v


def _field(m: dict, key: str, what: str):
    if key not in m:
        raise _Bad(f"{what} has no {key!r}")
    return m[key]


def check_meta(m, sid: int) -> dict:
    """``m`` if it is a well-formed description of snapshot ``sid``, else :class:`_Bad`.

    Every field the store and the CLI read is checked for type and range.  The invariant that
    makes every walk over parents finite: a full snapshot has no parent, an incremental one's
    parent is an earlier snapshot (1 <= parent < id), so a chain from snapshot ``sid`` is at
    most ``sid`` long and never revisits a snapshot."""
    what = f"snapshot {sid}"
    m = _dict(m, what)
    _int(_field(m, "id", what), f"{what}: id", sid, sid)
    kind = _field(m, "kind", what)
    if not isinstance(kind, str) or kind not in DATA_FILE:
        raise _Bad(f"{what}: kind is {json.dumps(kind)[:40]}, expected one of {', '.join(DATA_FILE)}")
    if _field(m, "file", what) != DATA_FILE[kind]:
        raise _Bad(f"{what}: file is {json.dumps(m['file'])[:40]}, a {kind} snapshot has {DATA_FILE[kind]!r}")
    parent = _field(m, "parent", what)
    if kind == "full":
        if parent is not None:
            raise _Bad(f"{what}: a full snapshot has parent {json.dumps(parent)[:40]}, expected null")
    else:
        _int(parent, f"{what}: parent", 1, sid - 1)
        _int(_field(m, "frames", what), f"{what}: frames")
        _int(_field(m, "after_frame", what), f"{what}: after_frame")
    _int(_field(m, "size", what), f"{what}: size")
    _str(_field(m, "sha256", what), f"{what}: sha256", _HEX64)
    ps = _int(_field(m, "page_size", what), f"{what}: page_size", 512, 65536)
    if ps & (ps - 1):
        raise _Bad(f"{what}: page_size {ps} is not a power of two")
    _int(_field(m, "db_pages", what), f"{what}: db_pages")
    _int(_field(m, "db_size", what), f"{what}: db_size")
    _str(_field(m, "db_sha256", what), f"{what}: db_sha256", _HEX64)
    _str(_field(m, "created", what), f"{what}: created")
    _str(_field(m, "source", what), f"{what}: source")
    notes = _field(m, "notes", what)
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _Bad(f"{what}: notes is not a list of strings")
    dev = _dict(_field(m, "device", what), f"{what}: device")
    _str(_field(dev, "db_sha256", f"{what}: device"), f"{what}: device.db_sha256", _HEX64)
    w = _field(dev, "wal", f"{what}: device")
    if w is not None:
        w = _dict(w, f"{what}: device.wal")
        for key in ("salt1", "salt2", "checkpoint_seq"):
            _int(_field(w, key, f"{what}: device.wal"), f"{what}: device.wal.{key}", 0, 0xFFFFFFFF)
        _str(_field(w, "byte_order", f"{what}: device.wal"), f"{what}: device.wal.byte_order")
        k = _int(_field(w, "committed_frames", f"{what}: device.wal"), f"{what}: device.wal.committed_frames")
        ck = _field(w, "last_checksum", f"{what}: device.wal")
        if k == 0:
            if ck is not None:
                raise _Bad(f"{what}: device.wal.last_checksum set with no committed frames")
        elif not (isinstance(ck, list) and len(ck) == 2):
            raise _Bad(f"{what}: device.wal.last_checksum is not a pair of integers")
        else:
            for c in ck:
                _int(c, f"{what}: device.wal.last_checksum", 0, 0xFFFFFFFF)
    return m


def load_json(path: Path):
    """The JSON document in the regular file ``path`` (read with the bounded reader); a
    :class:`_Bad` for anything that is not JSON."""
    data = read_input(path)
    if len(data) > MAX_JSON:
        raise _Bad(f"{len(data)} bytes, larger than any walkit store writes")
    try:
        return json.loads(data)
    except RecursionError:
        raise _Bad("JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an overlong number
        raise _Bad(f"not JSON: {e}") from None


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
                raise WalkitError(f"{show(self.root)}: no snapshot store here")
            if os.path.lexists(self.root):
                raise WalkitError(f"{show(self.root)}: not a directory")
            if not self.root.parent.is_dir():
                raise WalkitError(f"{show(self.root.parent)}: no such directory")
            try:
                self.ops.mkdir(self.root)
                self.ops.fsync_dir(self.root.parent)
            except OSError as e:
                raise WalkitError(f"{show(self.root)}: cannot create the store: {os_problem(e)}") from None
        self._lock()
        try:
            self.snapshots: list[dict] = self._recover(create)
        except OSError as e:  # the store's own files: unreadable, or not what the layout says
            self.close()
            raise DamagedStore(f"{show(e.filename or self.root)}: {os_problem(e)}: damaged or "
                               f"inaccessible store") from None
        except BaseException:
            self.close()  # the lock goes with the failed open, as it would with a dead process
            raise

    # -- locking ----------------------------------------------------------------------------

    def _lock(self) -> None:
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise WalkitError(f"{show(self.root)}: {os_problem(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WalkitError(f"{show(self.root)}: snapshot store in use by another walkit") from None
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
        """The one loader of ``manifest.json``: a regular file, JSON, this format and version,
        snapshots 1..n in order, each one passing :func:`check_meta`."""
        path = self.root / MANIFEST
        try:
            doc = _dict(load_json(path), "the manifest")
            if doc.get("format") != FORMAT:
                raise _Bad("not a walkit snapshot manifest")
            if doc.get("version") != VERSION:
                raise _Bad(f"manifest version {json.dumps(doc.get('version'))[:40]}, "
                           f"this walkit reads {VERSION}")
            snaps = _field(doc, "snapshots", "the manifest")
            if not isinstance(snaps, list):
                raise _Bad("snapshots is not a list")
            return [check_meta(m, i) for i, m in enumerate(snaps, 1)]
        except (_Bad, WalkitError) as e:
            raise DamagedStore(f"{show(path)}: damaged manifest: "
                              f"{str(e).removeprefix(show(path) + ': ')}") from None

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
        if not os.path.lexists(root / MANIFEST):
            leftovers = [p.name for p in root.iterdir() if p.name not in (SNAPSHOTS, MANIFEST_TMP)]
            committed = [p.name for p in snapdir.iterdir() if _ID_DIR.fullmatch(p.name)] if snapdir.is_dir() else []
            if leftovers or committed:
                if committed:
                    raise DamagedStore(f"{show(root)}: snapshot directories but no {MANIFEST}: damaged store")
                raise WalkitError(f"{show(root)}: not a snapshot store (holds "
                                  f"{', '.join(show(n) for n in sorted(leftovers)[:3])})")
            if not create:
                raise WalkitError(f"{show(root)}: no snapshot store here")
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
            raise DamagedStore(f"{show(snapdir)}: missing or not a directory: damaged store")
        if os.path.lexists(root / MANIFEST_TMP):
            self.ops.unlink(root / MANIFEST_TMP)
            self.recovered.append("removed an unfinished manifest update")
        listed = {_dir_name(s["id"]) for s in snaps}
        for p in sorted(snapdir.iterdir()):
            if p.name.startswith(STAGING_PREFIX):
                self._remove(p)
                self.recovered.append(f"rolled back unfinished snapshot {show(p.name[len(STAGING_PREFIX):])}")
            elif _ID_DIR.fullmatch(p.name) and p.name not in listed:
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
            meta = check_meta(load_json(d / META), expect_id)
            data = read_input(d / DATA_FILE[meta["kind"]])
        except (_Bad, WalkitError):
            return None
        ok = (d.name == _dir_name(expect_id) and meta["sha256"] == sha256(data)
              and meta["size"] == len(data) and (meta["kind"] == "full" or meta["parent"] == parent))
        return meta if ok else None

    # -- reading ----------------------------------------------------------------------------

    def get(self, sid: int | str | None) -> dict:
        if not self.snapshots:
            raise WalkitError(f"{show(self.root)}: no snapshots yet")
        if sid is None or sid == "latest":
            return self.snapshots[-1]
        try:
            n = int(sid)
        except ValueError:
            raise WalkitError(f"snapshot id {show(sid)!r}: expected a number or 'latest'") from None
        if not 1 <= n <= len(self.snapshots):
            raise WalkitError(f"no snapshot {n} in {show(self.root)} (1..{len(self.snapshots)})")
        return self.snapshots[n - 1]

    def _data(self, meta: dict) -> bytes:
        path = self._snapdir / _dir_name(meta["id"]) / DATA_FILE[meta["kind"]]
        data = read_input(path)
        if len(data) != meta["size"]:
            raise WalkitError(f"{show(path)}: {len(data)} bytes, its recorded size is {meta['size']}: "
                              f"damaged snapshot")
        if sha256(data) != meta["sha256"]:
            raise WalkitError(f"{show(path)}: content does not match its recorded sha256: damaged snapshot")
        return data

    def materialize(self, sid: int | str | None = None) -> bytes:
        """The database file as it was at snapshot ``sid``: the nearest full snapshot at or
        before it, with each incremental WAL checkpointed into it in order."""
        target = self.get(sid)
        chain = [target]
        while chain[-1]["kind"] != "full":
            parent = chain[-1]["parent"]
            assert parent < chain[-1]["id"], "check_meta: a parent is an earlier snapshot"
            chain.append(self.snapshots[parent - 1])
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
        src = show(source)
        info = db_info(db, f"{src} database")
        wal: Wal | None = None
        if wal_data:
            try:
                wal = parse_wal(wal_data, f"{src} WAL")
            except WalFormatError as e:
                notes.append(f"{e}: the WAL is not part of the database")
        if wal is not None and info.size and info.page_size != wal.page_size:
            raise WalkitError(f"{src}: database page size {info.page_size}, WAL {wal.page_size}")
        if wal is not None:
            if wal.uncommitted:
                notes.append(f"excluded an uncommitted tail of {len(wal.uncommitted)} frames")
            if wal.ignored or wal.trailing:
                notes.append(f"excluded {len(wal.ignored)} frames after the valid WAL, which ends "
                             f"{wal.end_description()}")
        state = checkpoint(db, wal) if wal is not None else bytes(db)
        if not state:
            raise WalkitError(f"{src}: empty database and no committed WAL: nothing to snapshot")
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
        page_size = db_info(state, f"{src} database after a checkpoint").page_size
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
            raise WalkitError(f"{show(out)}: already exists (use --force to replace it)")
        if out.is_dir():
            raise WalkitError(f"{show(out)}: is a directory")
        for stale in (Path(f"{out}-wal"), Path(f"{out}-shm")):
            if stale.exists():
                raise WalkitError(f"{show(stale)} exists and SQLite would apply it to the restored "
                                  f"database; remove it first")
        try:
            FileOps().replace_file(out, db)
        except OSError as e:
            raise WalkitError(f"{show(out)}: cannot write: {os_problem(e)}") from None
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
