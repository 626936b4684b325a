"""The WAL-index lock slots (vfs/shm/registry.c) driven from threads without SQLite
(tests/vfs/shm/test_registry_slots.c: the check names come from its --list), plain and under
ThreadSanitizer, and the bug the TSan run is there to catch, planted by a build flag: a shared
count that is a plain read-modify-write instead of an atomic one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from c_checks import run_checks
from walkit.native.build import MODULE_FLAGS, TSAN_FLAGS, build_program

HERE = Path(__file__).parent
RACY = ("-DWALKIT_PLANT_RACY_SLOTS=1",)


def _program(tsan: bool = False, extra: tuple[str, ...] = ()) -> Path:
    name = "test_registry_slots-tsan" if tsan else "test_registry_slots"
    return build_program(name, [HERE / "test_registry_slots.c"],
                         flags=(TSAN_FLAGS if tsan else MODULE_FLAGS) + extra)


def _names(program: Path) -> list[str]:
    r = subprocess.run([str(program), "--list"], capture_output=True, text=True, check=True)
    return r.stdout.split()


def _tsan_run(program: Path, *checks: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0 exitcode=66")
    return subprocess.run([str(program), *checks], capture_output=True, text=True, timeout=600,
                          env=env)


def test_registry_checks():
    prog = _program()
    names = _names(prog)
    assert {"shared_count_exact", "exclusive_multi_slot", "waiter_not_starved"} <= set(names)
    run_checks(prog, names, timeout=300)


def test_registry_under_thread_sanitizer():
    prog = _program(tsan=True)
    r = _tsan_run(prog)
    assert "WARNING: ThreadSanitizer" not in r.stderr, r.stderr[-4000:]
    assert r.returncode == 0 and r.stdout.count("ok ") == len(_names(prog)), r.stdout + r.stderr


def test_planted_racy_count_is_a_tsan_report():
    """The clean run above means something: a plain (non-atomic) shared count is reported."""
    r = _tsan_run(_program(tsan=True, extra=RACY), "shared_count_exact")
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and "try_acquire" in r.stderr, \
        r.stdout + r.stderr[-3000:]
    assert r.returncode != 0
