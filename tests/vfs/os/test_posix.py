"""The POSIX OS port (vfs/os/posix.c), exercised by test_posix.c beside this file: error-checking
and recursive mutexes, and the binary semaphore's contract (a give before the take is
remembered, binary, timeouts, a give racing a timeout received exactly once, no lost wake-up
in a ping-pong between two threads).  Built twice: with the Linux futex semaphore and with the
mutex + condition variable one that other POSIX systems get (``-DWALKIT_OS_SEM_CONDVAR``).  One
pytest item per check of the C program (its ``--list``) and build; and once with a planted lost
wake-up (a give that never wakes the sleeper), which its checks must report by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAMS = {
    "futex": CheckProgram.build("test_posix", [HERE / "test_posix.c"], port=None),
    "condvar": CheckProgram.build("test_posix_condvar", [HERE / "test_posix.c"], port=None,
                                  vfs_defines=("-DWALKIT_OS_SEM_CONDVAR",)),
}


@pytest.fixture(scope="module", params=sorted(PROGRAMS))
def build(request) -> tuple[str, CheckRun]:
    return request.param, PROGRAMS[request.param].run(timeout=120)


@pytest.mark.parametrize("check", PROGRAMS["futex"].names)
def test_check(build: tuple[str, CheckRun], check: str) -> None:
    build[1].assert_ok(check)


def test_run_is_clean(build: tuple[str, CheckRun]) -> None:
    build[1].assert_clean()


def test_planted_lost_wakeup_is_reported_by_name() -> None:
    planted = CheckProgram.build("test_posix_planted", [HERE / "test_posix.c"], port=None,
                                 vfs_defines=("-DWALKIT_PLANT_SEM_NO_WAKE=1",))
    run = planted.run(timeout=120)
    assert "sem_forever_woken_by_other_task" in run.failed, run.stdout[-2000:]
    assert "lost wake-up" in run.failed["sem_forever_woken_by_other_task"]
    assert run.returncode != 0
