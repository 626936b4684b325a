"""firmware/flash.c's device lock on a multi-core board (WALKIT_BOARD_SMP): littlefs and the
flash pool share one device under two different storage mutexes, so flash.c serialises each
operation itself (flash.h).  The C driver test_flash_smp.c runs two threads, one per
partition, against a RAM device that counts overlapping operations; built without the lock
(a single-core build) the same program shows overlaps and lost counts, so the check sees what
the lock prevents."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from walkit.paths import repo_root

HERE = Path(__file__).parent


def run(tmp_path: Path, smp: bool) -> dict[str, int]:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a host C compiler is needed (host-sim board: apt gcc)"
    fw = repo_root() / "firmware"
    exe = tmp_path / ("flash_smp" if smp else "flash_nolock")
    defs = ["-DWALKIT_BOARD_SMP=1"] if smp else []
    r = subprocess.run([cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", *defs,
                        f"-I{fw}", str(fw / "flash.c"), str(HERE / "test_flash_smp.c"),
                        "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    return {k: int(v) for k, v in (line.split("=", 1) for line in out.splitlines())}


def test_operations_from_two_cores_never_overlap(tmp_path):
    r = run(tmp_path, smp=True)
    assert r["overlaps"] == 0 and r["failures"] == 0, r
    assert r["prog_ops"] == r["expected_prog_ops"], r
    assert r["erase_ops"] == r["expected_erase_ops"], r
    assert r["read_ops"] == r["expected_prog_ops"], r
    assert r["seq"] == r["prog_ops"] + r["erase_ops"], "the fault hook's sequence is exact"


def test_without_the_lock_the_check_sees_overlaps(tmp_path):
    overlaps = 0
    for _ in range(5):  # two threads on a 2-core machine meet at once; allow a quiet scheduler
        overlaps = run(tmp_path, smp=False)["overlaps"]
        if overlaps:
            break
    assert overlaps > 0, "two unlocked threads never overlapped: the check would see nothing"
