"""walkit's VFS running natively on the host, through cffi: the ``walkit.sql`` protocol.

``open_session(root_dir)`` registers a walkit VFS (hostfile backend rooted at ``root_dir``,
posix OS port, the same ``vfs/`` code and SQLite options as the boards) and returns a
:class:`NativeSession`; its connections are real SQLite connections inside this process, so
several Python threads can drive several connections at once (cffi releases the GIL during each
SQLite call).

``open_session(root_dir, storage="pool")`` puts the files in the flash pool
(vfs/storage/flashpool.c) on an emulated NOR partition in memory (nor_emu.c: NOR's program rules
enforced) of host-sim's pool geometry (POOL_GEOMETRY).  The partition is loaded from
``root_dir/pool.img`` when that exists and saved there when the session closes, so a second
session on the same folder mounts what the first left (``saved_pool`` reads it on the host).

A connection is used by one thread at a time (as SQLite connections are); sessions and
connections may be created and closed from any thread.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import WalkitError
from ..sql import SqlError
from .build import load_module

SHM_MODES = {"heap": 0, "none": 1, "copy": 2}
STORAGES = ("hostfile", "pool")
# host-sim's pool partition (boards/host-sim/board.toml [flash]): 4096 blocks of 4 KiB.
POOL_GEOMETRY = {"size": 16 << 20, "erase_block": 4096, "prog_size": 16, "read_size": 16}
POOL_IMAGE = "pool.img"

_names = itertools.count()
_names_lock = threading.Lock()


def _module():
    return load_module()


@dataclass
class Stats:
    """walkit_get_stats(): process-wide counters (all sessions)."""

    shm_map_calls: int
    shm_lock_calls: int
    shm_lock_busy: int
    shm_barrier_calls: int
    shm_nodes: int
    shm_regions: int
    file_lock_busy: int
    shm_lock_waits: int
    os_errors: int
    alloc_faults: int


def stats() -> Stats:
    m = _module()
    s = m.ffi.new("walkit_stats *")
    m.lib.walkit_get_stats(s)
    return Stats(**{f: int(getattr(s, f)) for f in Stats.__dataclass_fields__})


def fault_alloc(skip: int, fail: int) -> None:
    """Arms walkit_fault_alloc(): of walkit's own allocations, ``skip`` succeed, then ``fail``
    fail.  ``fault_alloc(0, 0)`` disarms."""
    _module().lib.walkit_fault_alloc(skip, fail)


def compile_option(name: str) -> bool:
    """Whether SQLite was built with option ``name`` (e.g. "ENABLE_SETLK_TIMEOUT")."""
    return bool(_module().lib.sqlite3_compileoption_used(name.encode()))


class NativeConnection:
    """One SQLite connection (walkit.sql.Connection)."""

    def __init__(self, session: "NativeSession", path: str):
        m = _module()
        self._ffi, self._lib = m.ffi, m.lib
        self.session = session
        self.path = path
        pdb = self._ffi.new("sqlite3 **")
        flags = self._lib.SQLITE_OPEN_READWRITE | self._lib.SQLITE_OPEN_CREATE
        rc = self._lib.sqlite3_open_v2(session.vfs_path(path).encode(), pdb, flags,
                                       session.vfs_name.encode())
        self._db = pdb[0]
        if rc != 0:
            msg = self._ffi.string(self._lib.sqlite3_errmsg(self._db)).decode() if self._db \
                else self._ffi.string(self._lib.sqlite3_errstr(rc)).decode()
            self._lib.sqlite3_close_v2(self._db)
            self._db = self._ffi.NULL
            raise SqlError(rc, msg)
        self._lib.sqlite3_extended_result_codes(self._db, 1)

    def _error(self, rc: int, sql: str | None) -> SqlError:
        code = self._lib.sqlite3_extended_errcode(self._db) or rc
        return SqlError(code, self._ffi.string(self._lib.sqlite3_errmsg(self._db)).decode(), sql)

    def _bind(self, st, params: Sequence[Any], sql: str) -> None:
        ffi, lib = self._ffi, self._lib
        n = lib.sqlite3_bind_parameter_count(st)
        if n != len(params):
            raise SqlError(25, f"{len(params)} parameters given, statement has {n}", sql)
        transient = ffi.cast("void(*)(void *)", -1)  # SQLITE_TRANSIENT: SQLite copies
        for i, v in enumerate(params, 1):
            if v is None:
                rc = lib.sqlite3_bind_null(st, i)
            elif isinstance(v, bool) or isinstance(v, int):
                rc = lib.sqlite3_bind_int64(st, i, int(v))
            elif isinstance(v, float):
                rc = lib.sqlite3_bind_double(st, i, v)
            elif isinstance(v, str):
                b = v.encode()
                rc = lib.sqlite3_bind_text(st, i, b, len(b), transient)
            elif isinstance(v, (bytes, bytearray, memoryview)):
                b = bytes(v)
                rc = lib.sqlite3_bind_blob(st, i, b, len(b), transient)
            else:
                raise TypeError(f"cannot bind {type(v).__name__} (parameter {i})")
            if rc != 0:
                raise self._error(rc, sql)

    def _row(self, st, ncol: int) -> tuple:
        ffi, lib = self._ffi, self._lib
        out = []
        for i in range(ncol):
            t = lib.sqlite3_column_type(st, i)
            if t == lib.SQLITE_INTEGER:
                out.append(int(lib.sqlite3_column_int64(st, i)))
            elif t == lib.SQLITE_FLOAT:
                out.append(float(lib.sqlite3_column_double(st, i)))
            elif t == lib.SQLITE_TEXT:
                p = lib.sqlite3_column_text(st, i)
                out.append(ffi.unpack(ffi.cast("char *", p), lib.sqlite3_column_bytes(st, i)).decode())
            elif t == lib.SQLITE_BLOB:
                p = lib.sqlite3_column_blob(st, i)
                n = lib.sqlite3_column_bytes(st, i)
                out.append(bytes(ffi.buffer(p, n)) if n else b"")
            else:
                out.append(None)
        return tuple(out)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Runs every statement in ``sql``; ``params`` bind the last one.  Returns the rows of
        the last statement.  Errors raise SqlError with the extended result code."""
        if not self._db:
            raise SqlError(21, "connection is closed", sql)
        ffi, lib = self._ffi, self._lib
        buf = ffi.new("char[]", sql.encode())
        tail = ffi.new("const char **", buf)
        pst = ffi.new("sqlite3_stmt **")
        rows: list[tuple] = []
        while True:
            rc = lib.sqlite3_prepare_v2(self._db, tail[0], -1, pst, tail)
            if rc != 0:
                raise self._error(rc, sql)
            st = pst[0]
            if st == ffi.NULL:  # only whitespace or comments were left
                break
            try:
                last = not ffi.string(tail[0]).strip()
                if last:
                    self._bind(st, params, sql)
                rows = []
                ncol = lib.sqlite3_column_count(st)
                while (rc := lib.sqlite3_step(st)) == lib.SQLITE_ROW:
                    rows.append(self._row(st, ncol))
                if rc != lib.SQLITE_DONE:
                    raise self._error(rc, sql)
            finally:
                lib.sqlite3_finalize(st)
            if last:
                break
        return rows

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """sqlite3_wal_checkpoint_v2: (result code, frames in WAL, frames checkpointed);
        SQLITE_BUSY is a result here, not an exception (as the C API reports it)."""
        lib = self._lib
        m = {"PASSIVE": lib.SQLITE_CHECKPOINT_PASSIVE, "FULL": lib.SQLITE_CHECKPOINT_FULL,
             "RESTART": lib.SQLITE_CHECKPOINT_RESTART, "TRUNCATE": lib.SQLITE_CHECKPOINT_TRUNCATE}
        if mode.upper() not in m:
            raise ValueError(f"checkpoint mode {mode!r}: one of {', '.join(m)}")
        nlog, nckpt = self._ffi.new("int *"), self._ffi.new("int *")
        rc = lib.sqlite3_wal_checkpoint_v2(self._db, self._ffi.NULL, m[mode.upper()], nlog, nckpt)
        if rc not in (0, 5):
            raise self._error(rc, f"checkpoint {mode}")
        return rc, nlog[0], nckpt[0]

    def close(self) -> None:
        if self._db:
            rc = self._lib.sqlite3_close_v2(self._db)
            self._db = self._ffi.NULL
            self.session._forget(self)
            if rc != 0:
                raise SqlError(rc, self._ffi.string(self._lib.sqlite3_errstr(rc)).decode())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NativeSession:
    """A walkit VFS over a host folder, or over a flash pool saved in it (walkit.sql.Session).
    Paths are relative to the session ("test.db", "sub/x.db"); SQLite sees them as "/test.db",
    "/sub/x.db"."""

    def __init__(self, root_dir: str | os.PathLike, shm_mode: str = "heap",
                 storage: str = "hostfile"):
        if shm_mode not in SHM_MODES:
            raise ValueError(f"shm_mode {shm_mode!r}: one of {', '.join(SHM_MODES)}")
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r}: one of {', '.join(STORAGES)}")
        self.root = Path(root_dir).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"session root {self.root} is not a folder")
        m = _module()
        self._ffi, self._lib = m.ffi, m.lib
        with _names_lock:
            self.vfs_name = f"walkit-native-{next(_names)}"
        self.shm_mode = shm_mode
        self.storage = storage
        self._emu = None
        if storage == "pool":
            self._storage = self._mount_pool()
        else:
            self._storage = self._lib.walkit_storage_hostfile(str(self.root).encode())
            if self._storage == self._ffi.NULL:
                raise SqlError(7, f"walkit_storage_hostfile({self.root}) failed")
        cfg = self._ffi.new("walkit_config *")
        name = self._ffi.new("char[]", self.vfs_name.encode())
        cfg.vfs_name = name
        cfg.storage = self._storage
        cfg.shm_mode = SHM_MODES[shm_mode]
        cfg.make_default = 0
        rc = self._lib.walkit_register(cfg)
        if rc != 0:
            self._lib.walkit_storage_destroy(self._storage)
            self._release_pool(save=False)
            raise SqlError(rc, f"walkit_register({self.vfs_name}) failed")
        self._conns: set[NativeConnection] = set()
        self._lock = threading.Lock()

    def _mount_pool(self):
        """The flash pool on a new emulated NOR, loaded from POOL_IMAGE when there is one."""
        ffi, lib, g = self._ffi, self._lib, POOL_GEOMETRY
        image = self.root / POOL_IMAGE
        data = image.read_bytes() if image.exists() else None
        if data is not None and len(data) != g["size"]:
            raise WalkitError(f"{image}: {len(data)} bytes, the native pool is {g['size']}")
        emu = lib.nor_emu_new(g["size"], g["erase_block"], g["prog_size"], g["read_size"])
        if emu == ffi.NULL:
            raise SqlError(7, "nor_emu_new: out of memory")
        if data is not None:
            ffi.memmove(emu.mem, data, len(data))
        self._emu = emu
        cfg = ffi.new("walkit_flashpool_config *")
        cfg.bd = ffi.addressof(emu, "bd")
        out = ffi.new("const walkit_storage **")
        state = ffi.new("int *")
        rc = lib.walkit_storage_flashpool(cfg, out, state)
        if rc != 0:
            self._release_pool(save=False)
            raise WalkitError(f"{image if data is not None else 'a blank partition'}: the flash "
                              f"pool does not mount (error {rc}: -8 corrupt, -5 I/O, -4 no memory)")
        return out[0]

    def _pool_bytes(self) -> bytes:
        return bytes(self._ffi.buffer(self._emu.mem, POOL_GEOMETRY["size"]))

    def _release_pool(self, save: bool) -> None:
        """Saves the partition to POOL_IMAGE (``save``) and frees the emulator.  A program the
        emulator refused (a word that was not erased) is a broken NOR rule: an error."""
        if self._emu is None:
            return
        refused = int(self._emu.refused)
        try:
            if save:
                (self.root / POOL_IMAGE).write_bytes(self._pool_bytes())
        finally:
            self._lib.nor_emu_free(self._emu)
            self._emu = None
        if refused:
            raise WalkitError(f"the flash pool broke a NOR rule: the emulated NOR refused {refused} "
                              "operations (a program of a word that was not erased, or misaligned)")

    def vfs_path(self, path: str) -> str:
        p = str(path)
        if os.path.isabs(p):
            raise ValueError(f"{p}: session paths are relative to the session root")
        return "/" + p

    def connect(self, path: str) -> NativeConnection:
        c = NativeConnection(self, path)
        with self._lock:
            self._conns.add(c)
        return c

    def _forget(self, c: NativeConnection) -> None:
        with self._lock:
            self._conns.discard(c)

    def exists(self, path: str) -> bool:
        if self.storage == "pool":  # read on the "flash" by the host's own reader
            from ..image.pool import Pool

            return Pool(self._pool_bytes(), POOL_GEOMETRY["erase_block"],
                        POOL_GEOMETRY["prog_size"]).exists(self.vfs_path(path))
        return (self.root / path).exists()

    def close(self) -> None:
        """Closes every connection still open, then unregisters the VFS."""
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close()
        if self._storage:
            rc = self._lib.walkit_unregister(self.vfs_name.encode())
            if rc != 0:
                raise SqlError(rc, f"walkit_unregister({self.vfs_name}) failed: files still open")
            self._lib.walkit_storage_destroy(self._storage)
            self._storage = None
            self._release_pool(save=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_session(root_dir: str | os.PathLike, shm_mode: str = "heap",
                 storage: str = "hostfile") -> NativeSession:
    """A native session over ``root_dir`` (see NativeSession)."""
    return NativeSession(root_dir, shm_mode, storage)


def saved_pool(root_dir: str | os.PathLike):
    """The flash pool a closed pool session left in ``root_dir``, read by walkit.image.pool."""
    from ..image.pool import Pool

    image = Path(root_dir) / POOL_IMAGE
    if not image.exists():
        raise WalkitError(f"{image}: no saved pool (was a pool session closed here?)")
    return Pool(image.read_bytes(), POOL_GEOMETRY["erase_block"], POOL_GEOMETRY["prog_size"],
                where=str(image))
