"""The ram storage backend (vfs/storage/ram.c) under the file layer's checks
(tests/support/vfs_file_checks.c): path normalisation, create/exclusive/missing opens,
zero-filled short reads, visibility across handles before sync, truncate, delete (NOENT),
delete-on-close, the five-level file lock between handles, honest sector size and device
characteristics.  One pytest item per check of the C program test_ram.c beside this file (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_ram", [HERE / "test_ram.c", SUPPORT / "vfs_file_checks.c",
                                                   SUPPORT / "vfs_helpers.c"])


@pytest.fixture(scope="module")
def run() -> CheckRun:
    return PROGRAM.run(timeout=120)


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()
