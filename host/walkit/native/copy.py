"""Copy-mode builds of the walkit VFS (vfs/shm/copy.c) and the pooled stress that checks them.

copy.c's compile-time switches (its header comment lists them):
  * ``WALKIT_SHM_COPY_RULES``: a mask of the rule bits ``COPY_*`` defined in copy.c (read from
    there, so the names are written once); ``rules_without(name)`` drops one,
    ``ncruces_rules()`` is the rule set of ncruces/go-sqlite3's shm_copy.go;
  * ``WALKIT_SHM_COPY_DEBUG=1``: the shared area is checksummed between synchronisations;
  * ``WALKIT_SHM_COPY_PLANT_STRAY=1``: a planted stray write into the shared area.

    python -m walkit.native.copy [--mode copy|heap] [--workers 16] [--txns 7000] [--readers 4]
                                 [--seed 1] [--rules MASK | --ncruces] [--debug] [--tsan]

runs tests/vfs/shm/test_copy_stress.c once and prints its RESULT line.  The full-size run
(16 x 7,000 = 112,000 transactions) is the default.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..paths import repo_root
from .build import MODULE_FLAGS, TSAN_FLAGS, build_program


def rules() -> dict[str, int]:
    """copy.c's rule bits by name (without the COPY_ prefix), e.g. {"FULL_REGIONS": 0x20}."""
    text = (repo_root() / "vfs" / "shm" / "copy.c").read_text()
    found = {m[1]: int(m[2], 16) for m in re.finditer(r"#define COPY_(\w+) (0x[0-9a-f]+)", text)}
    found.pop("RULES_ALL", None)
    return found


def ncruces_rules() -> int:
    """copy.c's COPY_RULES_NCRUCES: shm_copy.go's rule set."""
    text = (repo_root() / "vfs" / "shm" / "copy.c").read_text()
    names = re.search(r"#define COPY_RULES_NCRUCES \(([^)]*)\)", text)[1].split("|")
    r = rules()
    mask = 0
    for n in names:
        mask |= r[n.strip().removeprefix("COPY_")]
    return mask


def all_rules() -> int:
    mask = 0
    for bit in rules().values():
        mask |= bit
    return mask


def rules_without(name: str) -> int:
    r = rules()
    if name not in r:
        raise ValueError(f"no copy-mode rule {name!r}: one of {', '.join(r)}")
    return all_rules() & ~r[name]


def copy_flags(rules_mask: int | None = None, debug: bool = False, plant_stray: bool = False) -> tuple[str, ...]:
    flags = []
    if rules_mask is not None:
        flags.append(f"-DWALKIT_SHM_COPY_RULES={rules_mask:#x}")
    if debug:
        flags.append("-DWALKIT_SHM_COPY_DEBUG=1")
    if plant_stray:
        flags.append("-DWALKIT_SHM_COPY_PLANT_STRAY=1")
    return tuple(flags)


@dataclass
class CopyStressResult:
    returncode: int
    ok: bool
    fields: dict[str, str]
    output: str
    tsan_reports: int


def stress_program(extra_flags: tuple[str, ...] = (), tsan: bool = False,
                   blocking: bool = True) -> Path:
    src = repo_root() / "tests" / "vfs" / "shm" / "test_copy_stress.c"
    flags = (TSAN_FLAGS if tsan else MODULE_FLAGS) + (() if blocking else ("-DWALKIT_BLOCKING_LOCKS=0",))
    return build_program("copy-stress-tsan" if tsan else "copy-stress", [src], flags=flags,
                         vfs_defines=extra_flags)


def run_copy_stress(root: Path, mode: str = "copy", workers: int = 8, txns: int = 100,
                    readers: int = 2, seed: int = 1, extra_flags: tuple[str, ...] = (),
                    tsan: bool = False, timeout: float = 600,
                    blocking: bool = True) -> CopyStressResult:
    """``blocking=False``: SQLite without SQLITE_ENABLE_SETLK_TIMEOUT (conflicts go to the busy
    handler's sleeps instead of waiting in the lock slot), a separate build of the amalgamation."""
    prog = stress_program(extra_flags, tsan, blocking)
    env = dict(os.environ)
    if tsan:
        env["TSAN_OPTIONS"] = "halt_on_error=0 exitcode=66 " + env.get("TSAN_OPTIONS", "")
    r = subprocess.run([str(prog), str(root), mode, str(workers), str(txns), str(readers),
                        str(seed)], capture_output=True, text=True, timeout=timeout, env=env)
    out = r.stdout + r.stderr
    line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), "")
    fields = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}
    return CopyStressResult(r.returncode, line.startswith("RESULT ok"), fields, out,
                            out.count("WARNING: ThreadSanitizer"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m walkit.native.copy",
                                 description="the pooled WAL-index stress (copy or heap mode)")
    ap.add_argument("--mode", choices=("copy", "heap"), default="copy")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--txns", type=int, default=7000, help="transactions per worker")
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--rules", type=lambda s: int(s, 0), help="WALKIT_SHM_COPY_RULES mask")
    g.add_argument("--ncruces", action="store_true", help="the rules of shm_copy.go")
    ap.add_argument("--debug", action="store_true", help="WALKIT_SHM_COPY_DEBUG=1")
    ap.add_argument("--tsan", action="store_true", help="build and run under ThreadSanitizer")
    ap.add_argument("--no-blocking", action="store_true",
                    help="build with WALKIT_BLOCKING_LOCKS=0 (busy handler instead of waiting)")
    a = ap.parse_args(argv)
    flags = copy_flags(ncruces_rules() if a.ncruces else a.rules, a.debug)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_copy_stress(Path(tmp), a.mode, a.workers, a.txns, a.readers, a.seed, flags,
                              tsan=a.tsan, timeout=24 * 3600, blocking=not a.no_blocking)
    print(res.output, end="")
    if a.tsan:
        print(f"ThreadSanitizer reports: {res.tsan_reports}")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
