"""The walkit VFS's registration API (vfs/walkit.c, vfs/vfs.c) called directly: misuse
refused, a default VFS without storage, several VFS names on one storage sharing file locks and
the WAL-index, conflicts within one task busy at once whatever the timeout, the default VFS
across sqlite3_shutdown.  The file layer itself runs on every backend in tests/vfs/storage/.  One pytest item per check of the C program test_vfs.c beside this file (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_vfs", [HERE / "test_vfs.c", SUPPORT / "vfs_helpers.c"])


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=120)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()
