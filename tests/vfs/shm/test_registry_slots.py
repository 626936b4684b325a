"""The WAL-index lock slots (vfs/shm/registry.c) driven from threads without SQLite
(test_registry_slots.c beside this file; one pytest item per check of its --list), plain and
under ThreadSanitizer, and the bug the TSan run is there to catch, planted by a build flag: a
shared count that is a plain read-modify-write instead of an atomic one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support.c_checks import CheckProgram, CheckRun
from walkit.native.build import MODULE_FLAGS, TSAN_FLAGS

HERE = Path(__file__).parent
SOURCES = [HERE / "test_registry_slots.c"]
RACY = ("-DWALKIT_PLANT_RACY_SLOTS=1",)
PROGRAM = CheckProgram.build("test_registry_slots", SOURCES, flags=MODULE_FLAGS)


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=300)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()


def _tsan_run(extra: tuple[str, ...], *checks: str) -> subprocess.CompletedProcess:
    prog = CheckProgram.build("test_registry_slots-tsan", SOURCES, flags=TSAN_FLAGS + extra)
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0 exitcode=66")
    return subprocess.run([str(prog.path), *checks], capture_output=True, text=True,
                          timeout=600, env=env)


def test_slots_under_thread_sanitizer():
    r = _tsan_run(())
    assert "WARNING: ThreadSanitizer" not in r.stderr, r.stderr[-4000:]
    run = CheckRun.parse(r)
    for name in PROGRAM.names:
        run.assert_ok(name)
    run.assert_clean()


def test_planted_racy_count_is_a_tsan_report():
    """The clean run above means something: a plain (non-atomic) shared count is reported."""
    r = _tsan_run(RACY, "shared_count_exact")
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and "try_acquire" in r.stderr, \
        r.stdout + r.stderr[-3000:]
    assert r.returncode != 0
