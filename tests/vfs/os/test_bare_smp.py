"""The SMP bare-metal OS port (vfs/os/bare_smp.c: one task per core), its algorithms compiled
for the host with GCC __atomic builtins in place of LDREX/STREX/DMB and stressed by pthreads
(test_bare_smp.c beside this file): mutual exclusion under contention, semaphores with
timeouts and no lost wake-up, task identity, the watch (walkit_os_bare_smp_watch) ending
waits that have no timeout, SQLite's WAL on top from several threads.  The
same program with the mutex taken by a plain load and store (--plant-non-atomic-cas) must
fail its mutual-exclusion check.  One pytest item per check of the C program (its ``--list``).  On the
target the port runs under the qemu-virt-a15-smp firmware (tests/boards/qemu-virt-a15-smp/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_bare_smp", [HERE / "test_bare_smp.c"], port=None)


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=120)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()


def test_planted_non_atomic_take_is_caught() -> None:
    """The mutual-exclusion check is not vacuous: with the take made check-then-store it fails."""
    r = PROGRAM.run(["--plant-non-atomic-cas"], timeout=120)
    assert "mutex_excludes" in r.failed, r.stdout
