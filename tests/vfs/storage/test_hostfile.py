"""The hostfile storage backend (vfs/storage/hostfile.c), rooted at a host folder, under the
file layer's checks (tests/support/vfs_file_checks.c); a missing root is refused, and the checks
leave no file behind.  One pytest item per check of the C program test_hostfile.c beside this file (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun

HERE = Path(__file__).parent
PROGRAM = CheckProgram.build("test_hostfile", [HERE / "test_hostfile.c", SUPPORT / "vfs_file_checks.c",
                                                   SUPPORT / "vfs_helpers.c"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> CheckRun:
    root = tmp_path_factory.mktemp("hostfile-root")
    r = PROGRAM.run([str(root)], timeout=120)
    r.leftovers = sorted(p.name for p in root.iterdir())
    return r


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run: CheckRun, check: str) -> None:
    run.assert_ok(check)


def test_run_is_clean(run: CheckRun) -> None:
    run.assert_clean()


def test_every_file_the_checks_made_is_deleted(run: CheckRun) -> None:
    assert run.leftovers == [], "every test file was deleted"
