"""The littlefs storage backend (vfs/storage/littlefs.c) on a RAM block device: the file
layer's checks (tests/support/vfs_file_checks.c), one backend per lfs_t, ENOSPC surfacing as
SQLITE_FULL with the database intact (WAL and rollback journal, also after a remount), and the
close after a failed write committing or reporting.  One pytest item per check of the C program test_littlefs.c beside this file (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_littlefs", [HERE / "test_littlefs.c", SUPPORT / "vfs_file_checks.c",
                                                   SUPPORT / "vfs_helpers.c"])


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=120)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()
