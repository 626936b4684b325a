"""Boards: one folder per board under ``boards/``, described by its ``board.toml``.

``board.toml`` is the one source of truth for a board: CPU and toolchain flags, memory map,
storage geometry, the Debian packages it needs, and how it runs (which emulator, with which
arguments, or a native process).  CMake reads it through ``python3 -m walkit.boards cmake NAME``
(which prints ``set()`` lines) and the harness through :func:`load_board`.

Standard library only (CMake runs this before the virtual environment may exist).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import WalkitError
from .paths import repo_root


@dataclass(frozen=True)
class Flash:
    driver: str
    base: int
    size: int
    erase_block: int
    prog_size: int
    read_size: int
    fs_offset: int
    fs_size: int
    qemu_drive: str = ""
    # The flash pool partition (vfs/storage/flashpool.c, docs/flashpool.md); size 0: none.
    pool_offset: int = 0
    pool_size: int = 0


@dataclass(frozen=True)
class Board:
    name: str
    dir: Path
    description: str
    runner: str  # "qemu" or "native"
    # toolchain
    cc: str
    cflags: list[str]
    ldflags: list[str]
    libs: list[str]
    libc: str  # "newlib-nano" (bare metal, firmware/libc/newlib.c) or "host"
    os_port: str
    sources: list[str]
    linker_script: str
    apt: list[str]
    # memory
    stack_size: int
    heap_size: int
    # running
    qemu_binary: str = ""
    qemu_args: list[str] = field(default_factory=list)
    boot_timeout: float = 10.0
    flash: Flash | None = None

    @property
    def is_qemu(self) -> bool:
        return self.runner == "qemu"


def boards_dir() -> Path:
    return repo_root() / "boards"


def board_names() -> list[str]:
    return sorted(p.parent.name for p in boards_dir().glob("*/board.toml"))


def _size(v) -> int:
    """Sizes are integers (TOML's 0x... included) or decimal strings with a K/M/G suffix, e.g.
    "64M", "256K", "4KiB".  A string without a suffix is a plain decimal or 0x number."""
    if isinstance(v, int):
        return v
    m = re.fullmatch(r"\s*(\d+)\s*([KMG])(?:I?B)?\s*", str(v), re.IGNORECASE)
    if m:
        return int(m.group(1)) << {"K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    return int(str(v).strip(), 0)


def _check_flash(f: Flash) -> None:
    """The geometry invariants the flash drivers, littlefs and the image tools rely on."""
    for field_name in ("size", "erase_block", "prog_size", "read_size", "fs_size"):
        if getattr(f, field_name) <= 0:
            raise ValueError(f"flash.{field_name} must be positive")
    if f.erase_block % f.prog_size or f.erase_block % f.read_size:
        raise ValueError("flash.erase_block must be a multiple of prog_size and read_size")
    if f.fs_offset % f.erase_block or f.fs_size % f.erase_block:
        raise ValueError("flash.fs_offset and fs_size must be multiples of erase_block")
    if f.fs_offset + f.fs_size > f.size:
        raise ValueError("flash.fs_offset + fs_size is beyond flash.size")
    if f.pool_size:
        if f.pool_offset % f.erase_block or f.pool_size % f.erase_block:
            raise ValueError("flash.pool_offset and pool_size must be multiples of erase_block")
        if f.pool_offset + f.pool_size > f.size:
            raise ValueError("flash.pool_offset + pool_size is beyond flash.size")
        if f.pool_offset < f.fs_offset + f.fs_size and f.fs_offset < f.pool_offset + f.pool_size:
            raise ValueError("flash.pool_offset..pool_size overlaps the littlefs partition")


def load_board(name: str) -> Board:
    path = boards_dir() / name / "board.toml"
    if not path.is_file():
        raise WalkitError(f"unknown board {name!r}; boards: {', '.join(board_names())}")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise WalkitError(f"{path}: {e}") from None
    try:
        tc, mem, run = d["toolchain"], d["memory"], d["run"]
        flash = None
        if "flash" in d:
            f = d["flash"]
            flash = Flash(
                driver=f["driver"], base=_size(f.get("base", 0)), size=_size(f["size"]),
                erase_block=_size(f["erase_block"]), prog_size=_size(f["prog_size"]),
                read_size=_size(f.get("read_size", 1)), fs_offset=_size(f.get("fs_offset", 0)),
                fs_size=_size(f.get("fs_size", f["size"])), qemu_drive=f.get("qemu_drive", ""),
                pool_offset=_size(f.get("pool_offset", 0)), pool_size=_size(f.get("pool_size", 0)),
            )
            _check_flash(flash)
        return Board(
            name=name, dir=path.parent, description=d.get("description", ""),
            runner=run["runner"], cc=tc["cc"], cflags=list(tc.get("cflags", [])),
            ldflags=list(tc.get("ldflags", [])), libs=list(tc.get("libs", [])),
            libc=tc.get("libc", "host"), os_port=tc["os_port"], sources=list(tc.get("sources", [])),
            linker_script=tc.get("linker_script", ""), apt=list(tc.get("apt", [])),
            stack_size=_size(mem["stack_size"]), heap_size=_size(mem["heap_size"]),
            qemu_binary=run.get("qemu_binary", ""), qemu_args=list(run.get("qemu_args", [])),
            boot_timeout=float(run.get("boot_timeout", 10.0)), flash=flash,
        )
    except (KeyError, ValueError, TypeError) as e:
        raise WalkitError(f"{path}: bad or missing field: {e}") from None


def _cmake_list(items: list[str]) -> str:
    return ";".join(i.replace(";", "\\;") for i in items)


def cmake_vars(board: Board) -> str:
    """The board as CMake ``set()`` lines (quoted; lists as CMake lists)."""
    out = {
        "WALKIT_BOARD_DIR": str(board.dir),
        "WALKIT_BOARD_RUNNER": board.runner,
        "WALKIT_BOARD_CC": board.cc,
        "WALKIT_BOARD_CFLAGS": _cmake_list(board.cflags),
        "WALKIT_BOARD_LDFLAGS": _cmake_list(board.ldflags),
        "WALKIT_BOARD_LIBS": _cmake_list(board.libs),
        "WALKIT_BOARD_OS_PORT": board.os_port,
        "WALKIT_BOARD_LIBC": board.libc,
        "WALKIT_BOARD_SOURCES": _cmake_list([str(board.dir / s) for s in board.sources]),
        "WALKIT_BOARD_LINKER_SCRIPT": str(board.dir / board.linker_script) if board.linker_script else "",
        "WALKIT_BOARD_STACK_SIZE": str(board.stack_size),
        "WALKIT_BOARD_HEAP_SIZE": str(board.heap_size),
    }
    if board.flash:
        f = board.flash
        out.update({
            "WALKIT_FLASH_BASE": hex(f.base), "WALKIT_FLASH_SIZE": str(f.size),
            "WALKIT_FLASH_ERASE_BLOCK": str(f.erase_block), "WALKIT_FLASH_PROG_SIZE": str(f.prog_size),
            "WALKIT_FLASH_READ_SIZE": str(f.read_size), "WALKIT_FLASH_FS_OFFSET": str(f.fs_offset),
            "WALKIT_FLASH_FS_SIZE": str(f.fs_size), "WALKIT_FLASH_POOL_OFFSET": str(f.pool_offset),
            "WALKIT_FLASH_POOL_SIZE": str(f.pool_size),
        })
    return "".join(f'set({k} "{v}")\n' for k, v in out.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "cmake":
        print("usage: python3 -m walkit.boards cmake BOARD", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(cmake_vars(load_board(argv[1])))
    except WalkitError as e:
        print(f"walkit: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
