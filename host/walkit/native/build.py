"""Host-native builds of the walkit VFS, from the same sources and SQLite options as a board.

Three products, all cached under ``<cache>/native/`` by a hash of everything that goes into
them (sources, headers, the amalgamation's sha256, flags, compiler and Python ABI), so a
rebuild happens only when an input changes:

* ``sqlite_object(flags)``: the pinned amalgamation compiled once per flag set (the slow part,
  ~15-60 s); shared by everything below.
* ``load_module()``: a cffi API-mode extension (SQLite + ``vfs/`` with the posix OS port, its
  hostfile and flash pool backends, and the emulated NOR the pool runs on, ``nor_emu.c`` beside
  this file) that ``walkit.native`` drives from Python.  cffi releases the GIL around
  every C call, so Python threads run SQLite connections in parallel.
* ``build_program(name, sources, ...)``: a stand-alone C program linked with SQLite and the VFS,
  for what must not run inside Python: the ThreadSanitizer stress driver (TSan needs the whole
  process instrumented) and the OS-port unit tests (e.g. the VxWorks port on its emulation).

Concurrent builders (pytest-xdist, two shells) are serialised by a lock file; each product is
built in a temporary folder and renamed into place, so a cached product is always complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

from .. import WalkitError
from ..progress import Progress
from ..bootstrap import LITTLEFS, fetch, sqlite_source
from ..paths import cache_dir, repo_root

CC = os.environ.get("CC", "cc")

# Flags of the Python extension: optimised like a release, with debug info for gdb.
MODULE_FLAGS = ("-O2", "-g", "-fPIC", "-pthread")
# The ThreadSanitizer build: -O1 keeps stacks readable and TSan's overhead reasonable.
TSAN_FLAGS = ("-O1", "-g", "-fPIC", "-pthread", "-fsanitize=thread")
WARN_FLAGS = ("-Wall", "-Wextra", "-Werror=implicit-function-declaration")


def vfs_dir() -> Path:
    return repo_root() / "vfs"


def native_dir() -> Path:
    """This package's C sources (the emulated NOR, nor_emu.c), found in the source tree."""
    return repo_root() / "host" / "walkit" / "native"


def nor_emu_source() -> Path:
    return native_dir() / "nor_emu.c"


def config_header() -> Path:
    return vfs_dir() / "walkit_sqlite_config.h"


def littlefs_dir() -> Path:
    return fetch(LITTLEFS)


def vfs_sources(port: str | None = "posix") -> list[Path]:
    """The VFS files a board with OS port ``port`` compiles (CMakeLists.txt's GLOB), plus
    littlefs, which the littlefs backend needs (a board links it as walkit_littlefs).
    ``port=None``: no OS port (a test that includes one itself)."""
    v = vfs_dir()
    files = sorted(v.glob("*.c")) + sorted((v / "shm").glob("*.c")) + sorted((v / "storage").glob("*.c"))
    if port is not None:
        port_file = v / "os" / f"{port}.c"
        if not port_file.is_file():
            raise WalkitError(f"no OS port vfs/os/{port}.c")
        files.append(port_file)
    lfs = littlefs_dir()
    return files + [lfs / "lfs.c", lfs / "lfs_util.c"]


def common_flags(extra_includes: Sequence[Path] = ()) -> list[str]:
    """Include paths and defines every walkit object gets (as CMakeLists.txt gives them)."""
    src = sqlite_source()
    flags = ["-include", str(config_header()), "-DWALKIT_HOSTED=1", "-DLFS_NO_DEBUG",
             f"-I{vfs_dir() / 'include'}", f"-I{vfs_dir()}", f"-I{src.dir}",
             f"-I{littlefs_dir()}"]
    flags += [f"-I{d}" for d in extra_includes]
    return flags


def _digest(*parts: object) -> str:
    """sha256 over strings and the contents of files (folders: every file below them)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            paths = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for p in paths:
                h.update(str(p.relative_to(repo_root()) if p.is_relative_to(repo_root()) else p).encode())
                h.update(p.read_bytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _compiler_id() -> str:
    r = subprocess.run([CC, "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        raise WalkitError(f"C compiler {CC!r} does not run: {r.stderr.strip()}")
    return r.stdout.splitlines()[0]


@contextlib.contextmanager
def _build_lock():
    root = cache_dir() / "native"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cached(key: str, make) -> Path:
    """The folder ``<cache>/native/<key>``, made by ``make(tmpdir)`` if it does not exist."""
    final = cache_dir() / "native" / key
    if final.is_dir():
        return final
    with _build_lock() as root:
        if final.is_dir():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            with Progress(f"building {key.rsplit('-', 1)[0]} for the host (first time only; "
                          "cached after)"):
                make(tmp)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise WalkitError(f"{what} failed (exit {r.returncode}):\n{r.stderr[-4000:]}")


def _compile_all(jobs: Iterable[tuple[Path, Path, list[str]]], what: str) -> None:
    """Compiles (source, object, flags) jobs on every core."""
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        futures = [pool.submit(_run, [CC, "-c", str(s), "-o", str(o), *f], f"{what}: {s.name}")
                   for s, o, f in jobs]
        for fut in futures:
            fut.result()


def sqlite_object(flags: Sequence[str] = MODULE_FLAGS) -> Path:
    """The amalgamation compiled with walkit's configuration and ``flags``."""
    src = sqlite_source()
    key = "sqlite-" + _digest(src.sha256, config_header(), tuple(flags), _compiler_id())

    def make(tmp: Path) -> None:
        _run([CC, "-c", str(src.dir / "sqlite3.c"), "-o", str(tmp / "sqlite3.o"),
              *common_flags(), *flags], "compiling sqlite3.c")

    return _cached(key, make) / "sqlite3.o"


def build_program(name: str, sources: Sequence[Path], *, flags: Sequence[str] = MODULE_FLAGS,
                  port: str | None = "posix", include_dirs: Sequence[Path] = (),
                  vfs_defines: Sequence[str] = ()) -> Path:
    """A C program: ``sources`` + the VFS (OS port ``port``, or none) + SQLite, linked with
    ``flags``.

    ``include_dirs`` come before the standard ones (e.g. the VxWorks emulation headers).
    ``vfs_defines`` (``-DNAME=VALUE``) go to the VFS and ``sources`` only, not to SQLite, so a
    variant of the VFS (e.g. copy.c's rule switches) reuses the compiled amalgamation.
    Returns the executable's path (cached)."""
    sources = [Path(s).resolve() for s in sources]
    includes = [Path(d).resolve() for d in include_dirs]
    sqlite_o = sqlite_object(flags)
    key = f"prog-{name}-" + _digest(vfs_dir(), littlefs_dir(), *sources, *includes, tuple(flags), port,
                                    tuple(vfs_defines), sqlite_o.parent.name, _compiler_id())

    def make(tmp: Path) -> None:
        cflags = [*common_flags(includes), *flags, *vfs_defines, *WARN_FLAGS]
        all_sources = vfs_sources(port) + sources
        objs = [tmp / f"{i:02d}-{s.stem}.o" for i, s in enumerate(all_sources)]
        _compile_all(zip(all_sources, objs, [cflags] * len(objs)), f"building {name}")
        _run([CC, *flags, "-o", str(tmp / name), *map(str, objs), str(sqlite_o), "-lpthread",
              "-lm"], f"linking {name}")

    return _cached(key, make) / name


# --------------------------------------------------------------------------- the cffi module

CDEF = r"""
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef long long sqlite3_int64;

#define SQLITE_OK 0
#define SQLITE_ROW 100
#define SQLITE_DONE 101
#define SQLITE_INTEGER 1
#define SQLITE_FLOAT 2
#define SQLITE_TEXT 3
#define SQLITE_BLOB 4
#define SQLITE_NULL 5
#define SQLITE_OPEN_READWRITE ...
#define SQLITE_OPEN_CREATE ...
#define SQLITE_OPEN_URI ...
#define SQLITE_CHECKPOINT_PASSIVE ...
#define SQLITE_CHECKPOINT_FULL ...
#define SQLITE_CHECKPOINT_RESTART ...
#define SQLITE_CHECKPOINT_TRUNCATE ...

const char *sqlite3_libversion(void);
int sqlite3_threadsafe(void);
int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
int sqlite3_close_v2(sqlite3 *db);
int sqlite3_extended_result_codes(sqlite3 *db, int onoff);
int sqlite3_busy_timeout(sqlite3 *db, int ms);
int sqlite3_extended_errcode(sqlite3 *db);
const char *sqlite3_errmsg(sqlite3 *db);
const char *sqlite3_errstr(int rc);
int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st, const char **tail);
int sqlite3_step(sqlite3_stmt *st);
int sqlite3_finalize(sqlite3_stmt *st);
int sqlite3_bind_parameter_count(sqlite3_stmt *st);
int sqlite3_bind_null(sqlite3_stmt *st, int i);
int sqlite3_bind_int64(sqlite3_stmt *st, int i, sqlite3_int64 v);
int sqlite3_bind_double(sqlite3_stmt *st, int i, double v);
int sqlite3_bind_text(sqlite3_stmt *st, int i, const char *v, int n, void (*d)(void *));
int sqlite3_bind_blob(sqlite3_stmt *st, int i, const void *v, int n, void (*d)(void *));
int sqlite3_column_count(sqlite3_stmt *st);
int sqlite3_column_type(sqlite3_stmt *st, int i);
sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *st, int i);
double sqlite3_column_double(sqlite3_stmt *st, int i);
const unsigned char *sqlite3_column_text(sqlite3_stmt *st, int i);
const void *sqlite3_column_blob(sqlite3_stmt *st, int i);
int sqlite3_column_bytes(sqlite3_stmt *st, int i);
int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *zdb, int mode, int *nlog, int *nckpt);
int sqlite3_setlk_timeout(sqlite3 *db, int ms, int flags);
int sqlite3_compileoption_used(const char *name);

typedef struct walkit_storage walkit_storage;
typedef enum walkit_shm_mode { WALKIT_SHM_HEAP = 0, WALKIT_SHM_NONE = 1, WALKIT_SHM_COPY = 2 } walkit_shm_mode;
typedef struct walkit_shm_transport walkit_shm_transport;
typedef struct walkit_config {
    const char *vfs_name;
    const walkit_storage *storage;
    walkit_shm_mode shm_mode;
    int make_default;
    int page_checksums;
    const walkit_shm_transport *shm_transport;
} walkit_config;
typedef struct walkit_stats {
    uint64_t shm_map_calls;
    uint64_t shm_lock_calls;
    uint64_t shm_lock_busy;
    uint64_t shm_barrier_calls;
    uint32_t shm_nodes;
    uint32_t shm_regions;
    uint64_t file_lock_busy;
    uint64_t shm_lock_waits;
    uint64_t os_errors;
    uint64_t alloc_faults;
    uint64_t cksum_pages;
    uint64_t cksum_errors;
    uint64_t wal_damage;
} walkit_stats;
int walkit_init(void);
int walkit_register(const walkit_config *cfg);
int walkit_unregister(const char *vfs_name);
void walkit_get_stats(walkit_stats *out);
const walkit_storage *walkit_storage_ram(void);
const walkit_storage *walkit_storage_hostfile(const char *root_dir);
void walkit_storage_destroy(const walkit_storage *st);
void walkit_fault_alloc(int skip, int fail);

typedef struct walkit_flashpool_bd {
    void *ctx;
    uint32_t size, erase_block, prog_size, read_size;
    ...;
} walkit_flashpool_bd;
typedef struct walkit_flashpool_config {
    const walkit_flashpool_bd *bd;
    uint32_t relaxed_bytes;
    uint32_t relaxed_ms;
} walkit_flashpool_config;
int walkit_storage_flashpool(const walkit_flashpool_config *cfg, const walkit_storage **out,
                             int *state);
typedef struct nor_emu {
    unsigned char *mem;
    walkit_flashpool_bd bd;
    uint64_t prog_ops, prog_bytes, erase_ops, erase_bytes, refused;
    ...;
} nor_emu;
nor_emu *nor_emu_new(uint32_t size, uint32_t erase_block, uint32_t prog_size, uint32_t read_size);
void nor_emu_free(nor_emu *e);
"""

_module = None


def module_key() -> str:
    src = sqlite_source()
    return _digest(vfs_dir(), littlefs_dir(), nor_emu_source(), native_dir() / "nor_emu.h",
                   src.sha256, CDEF, MODULE_FLAGS, _compiler_id(),
                   sysconfig.get_config_var("EXT_SUFFIX"), sys.version)


def load_module():
    """The compiled extension (built on first use, then cached): its ``ffi`` and ``lib``."""
    global _module
    if _module is not None:
        return _module
    import cffi  # only the native build needs it

    key = module_key()
    modname = f"_walkit_native_{key}"
    sqlite_o = sqlite_object(MODULE_FLAGS)

    def make(tmp: Path) -> None:
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.set_source(
            modname, '#include "sqlite3.h"\n#include "walkit.h"\n#include "walkit_flashpool.h"\n'
            '#include "nor_emu.h"\n',
            sources=[str(s) for s in [*vfs_sources("posix"), nor_emu_source()]],
            extra_compile_args=[*common_flags([native_dir()]), *MODULE_FLAGS, *WARN_FLAGS],
            extra_objects=[str(sqlite_o)], libraries=["pthread", "m"])
        ffi.compile(tmpdir=str(tmp), verbose=False)
        for junk in tmp.iterdir():  # keep only the extension
            if junk.is_dir():
                shutil.rmtree(junk)
            elif not junk.name.startswith(modname) or junk.suffix != ".so":
                junk.unlink()

    folder = _cached(f"module-{key}", make)
    so = next(folder.glob(f"{modname}*.so"), None)
    if so is None:
        raise WalkitError(f"native module missing from {folder}: delete the folder and retry")
    spec = importlib.util.spec_from_file_location(modname, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rc = mod.lib.walkit_init()
    if rc != 0:
        raise WalkitError(f"walkit_init() failed: {rc}")
    _module = mod
    return mod
