"""The C stress driver (tests/scenarios/stress.c) built against the walkit VFS, plain or under
ThreadSanitizer, and run on a scratch folder.

    python -m walkit.native.stress [--tsan] [--writers 8] [--txns 2000] [--readers 8]
                                   [--accounts 50] [--busy-timeout 10000] [--checkpoint-ms 2]
                                   [--no-blocking] [--keep DIR]

prints the driver's RESULT line (and TSan's reports) and exits with its status.  TSan needs the
whole process instrumented, which is why this is a separate program and not the cffi module.
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


@dataclass
class StressResult:
    returncode: int
    ok: bool
    fields: dict[str, str]
    output: str
    tsan_reports: int


def stress_program(tsan: bool = False, extra_flags: tuple[str, ...] = ()) -> Path:
    flags = (TSAN_FLAGS if tsan else MODULE_FLAGS) + tuple(extra_flags)
    name = "stress-tsan" if tsan else "stress"
    # The driver's own main() and pthread task contract (stress.h) are behind STRESS_HOST_MAIN;
    # a define on the driver's source alone, so SQLite's cached object is shared.
    src = repo_root() / "tests" / "scenarios"
    return build_program(name, [src / "stress_host.c"], flags=flags, include_dirs=[src])


def run_stress(root: Path, writers: int, txns: int, readers: int, accounts: int = 50,
               busy_timeout_ms: int = 10000, tsan: bool = False, timeout: float = 600,
               extra_flags: tuple[str, ...] = (), checkpoint_ms: int = 2) -> StressResult:
    prog = stress_program(tsan, extra_flags)
    env = dict(os.environ)
    if tsan:
        # Report every race (not only the first), and fail the process if there was one.
        env["TSAN_OPTIONS"] = "halt_on_error=0 exitcode=66 " + env.get("TSAN_OPTIONS", "")
    r = subprocess.run([str(prog), str(root), str(writers), str(txns), str(readers),
                        str(accounts), str(busy_timeout_ms), str(checkpoint_ms)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    out = r.stdout + r.stderr
    line = next((l for l in r.stdout.splitlines() if l.startswith("RESULT ")), "")
    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    return StressResult(r.returncode, line.startswith("RESULT ok"), fields, out,
                        out.count("WARNING: ThreadSanitizer"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m walkit.native.stress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tsan", action="store_true", help="build and run under ThreadSanitizer")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--txns", type=int, default=2000, help="transactions per writer")
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--busy-timeout", type=int, default=10000, help="ms")
    ap.add_argument("--checkpoint-ms", type=int, default=2,
                    help="checkpointer thread period (0: none, auto-checkpoint only)")
    ap.add_argument("--no-blocking", action="store_true",
                    help="build with WALKIT_BLOCKING_LOCKS=0 (busy handler instead of waiting)")
    ap.add_argument("--keep", type=Path, help="run in this folder and keep the database")
    a = ap.parse_args(argv)
    extra = ("-DWALKIT_BLOCKING_LOCKS=0",) if a.no_blocking else ()
    with tempfile.TemporaryDirectory() as tmp:
        root = a.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        res = run_stress(root, a.writers, a.txns, a.readers, a.accounts, a.busy_timeout,
                         tsan=a.tsan, timeout=24 * 3600, extra_flags=extra,
                         checkpoint_ms=a.checkpoint_ms)
    print(res.output, end="")
    if a.tsan:
        print(f"ThreadSanitizer reports: {res.tsan_reports}")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
