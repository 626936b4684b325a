"""vfs/ on its own: the VFS lifted out of this project builds into a static library with the
host's C compiler against only the pinned SQLite amalgamation and one OS port (posix, bare, and
posix as a release build with NDEBUG), and a program that sees only the public walkit.h runs
WAL in NORMAL locking mode with two connections on it.  No firmware, no board, no link group: the library is linked whole (--whole-archive), so
every reference of every vfs/ object must resolve to SQLite, the port or the C library.  The
planted case shows that is a real check: one vfs/ file that also calls the firmware's fw_log
makes the same link fail, naming the symbol.

The littlefs backend (vfs/storage/littlefs.c) needs littlefs as well; it is left out here and
covered where littlefs is linked (tests/vfs/storage/test_littlefs.py, the board images)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.c_checks import CheckProgram
from walkit.paths import repo_root

HERE = Path(__file__).parent
CC = os.environ.get("CC", "cc")
VFS = repo_root() / "vfs"
# A call a vfs/ file must never make: the firmware's console log (firmware/log.h).
PLANTED = '\nvoid walkit_planted(void) { extern void fw_log(const char *, ...); fw_log("x"); }\n'


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


def _sqlite_dir() -> Path:
    """The pinned amalgamation's folder, as CMake gets it."""
    env = {**os.environ, "PYTHONPATH": str(repo_root() / "host")}
    r = subprocess.run([sys.executable, "-m", "walkit.bootstrap", "--print-sources"],
                       capture_output=True, text=True, env=env, check=True)
    return Path(r.stdout.splitlines()[0])


def _vfs_sources(port: str) -> list[Path]:
    files = sorted(VFS.glob("*.c")) + sorted((VFS / "shm").glob("*.c"))
    files += [p for p in sorted((VFS / "storage").glob("*.c")) if p.name != "littlefs.c"]
    return files + [VFS / "os" / f"{port}.c"]


def _flags(sqlite_dir: Path) -> list[str]:
    return ["-include", str(VFS / "walkit_sqlite_config.h"), "-DWALKIT_HOSTED=1",
            f"-I{VFS / 'include'}", f"-I{VFS}", f"-I{sqlite_dir}", "-pthread"]


@pytest.fixture(scope="module")
def sqlite_obj(tmp_path_factory) -> Path:
    """The pinned sqlite3.c compiled with walkit's configuration."""
    out = tmp_path_factory.mktemp("sqlite")
    sqlite_dir = _sqlite_dir()
    # SQLite's own warnings are SQLite's business; -O0 keeps its compile short.
    subprocess.run([CC, *_flags(sqlite_dir), "-O0", "-c", str(sqlite_dir / "sqlite3.c"), "-o",
                    str(out / "sqlite3.o")], check=True)
    return out / "sqlite3.o"


# posix: a hosted RTOS-like port; bare: the bare-metal port, given its clock through
# walkit_os_bare_init() (walkit_os_bare.h) by the program, as an image's start-up does;
# posix-release: vfs/ as a release build compiles it (NDEBUG: vfs/mutex.c's enter and leave
# without their checks, WALKIT_MUTEX_CHECK 0).
@pytest.fixture(scope="module", params=["posix", "bare", "posix-release"])
def build(request, tmp_path_factory, sqlite_obj):
    """Objects of vfs/ (one OS port) and SQLite, and a function that archives a set of them and
    links the program against the archive: returns (returncode, stderr, program)."""
    port, _, variant = request.param.partition("-")
    out = tmp_path_factory.mktemp(f"standalone-{request.param}")
    sqlite_dir = _sqlite_dir()
    flags = _flags(sqlite_dir) + (["-DNDEBUG", "-O2"] if variant == "release" else ["-O1"])
    shutil.copy(sqlite_obj, out / "sqlite3.o")
    objs = {}
    for src in _vfs_sources(port):
        obj = out / f"{src.parent.name}-{src.stem}.o"
        subprocess.run([CC, *flags, "-Wall", "-Wextra", "-Werror", "-c", str(src), "-o",
                        str(obj)], check=True)
        objs[src.relative_to(VFS)] = obj
    # The program: only walkit.h and sqlite3.h on its include path.
    prog_o = out / "prog.o"
    subprocess.run([CC, "-Wall", "-Wextra", "-Werror", f"-I{VFS / 'include'}", f"-I{sqlite_dir}",
                    f"-DSTANDALONE_PORT_BARE={int(port == 'bare')}", "-c",
                    str(HERE / "test_build_standalone.c"), "-o", str(prog_o)], check=True)

    def link(name: str, lib_objs: list[Path]):
        lib = out / f"lib{name}.a"
        lib.unlink(missing_ok=True)
        subprocess.run(["ar", "rcs", str(lib), *map(str, lib_objs), str(out / "sqlite3.o")],
                       check=True)
        exe = out / name
        r = _run([CC, "-pthread", "-o", str(exe), str(prog_o), "-Wl,--whole-archive", str(lib),
                  "-Wl,--no-whole-archive", "-lm"])
        return r.returncode, r.stderr, exe

    def planted() -> Path:
        """vfs/walkit.c with one call into the firmware appended, compiled as that file."""
        src = out / "walkit.c"
        src.write_text((VFS / "walkit.c").read_text() + PLANTED)
        obj = out / "planted-walkit.o"
        subprocess.run([CC, *flags, "-c", str(src), "-o", str(obj)], check=True)
        return obj

    return objs, link, planted


def test_vfs_links_alone_and_runs_wal(build) -> None:
    objs, link, _ = build
    rc, err, exe = link("walkit_standalone", list(objs.values()))
    assert rc == 0, err
    program = CheckProgram(exe)
    assert len(program.names) >= 10
    run = program.run(timeout=60)
    for name in program.names:
        run.assert_ok(name)
    run.assert_clean()


def test_planted_firmware_call_fails_the_link(build) -> None:
    objs, link, planted = build
    lib_objs = [planted() if rel == Path("walkit.c") else obj for rel, obj in objs.items()]
    assert len(lib_objs) == len(objs)
    rc, err, _ = link("walkit_planted", lib_objs)
    assert rc != 0
    assert "undefined reference to `fw_log'" in err, err

