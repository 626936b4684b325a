"""The bare-metal OS port (vfs/os/bare.c: one task, no scheduler), compiled on the host with the
host's clock as its clock hook and exercised by test_bare.c beside this file: primitives that can never succeed in
a single task report WALKIT_OS_DEADLOCK instead of hanging or spinning a timeout out, and SQLite
(mutexes, WAL with the heap WAL-index) runs on it.  One pytest item per check of the C program
(its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_bare", [HERE / "test_bare.c"], port=None)


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=60)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()
