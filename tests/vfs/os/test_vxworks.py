"""The VxWorks OS port (vfs/os/vxworks.c), compiled on the host against the VxWorks emulation in
vxworks_emulation/ beside this file and exercised by test_vxworks.c: mutex ownership and
priority-safe options, semaphore timeouts (S_objLib_OBJ_TIMEOUT), deleted semaphores, semMCreate
failures surfacing as NULL / SQLITE_NOMEM, SQLite's recursive mutexes on the port, and a
concurrent WAL workload across emulated tasks.  One pytest item per check of the C program (its
``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import CheckProgram, CheckRun

HERE = Path(__file__).parent
EMULATION = HERE / "vxworks_emulation"
PROGRAM = CheckProgram.build("test_vxworks", [HERE / "test_vxworks.c", EMULATION / "vxemu.c"],
                             port=None, include_dirs=[EMULATION])


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=120)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()
