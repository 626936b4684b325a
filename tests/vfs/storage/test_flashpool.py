"""The flash pool storage backend (vfs/storage/flashpool.c) on an emulated NOR partition
(nor_emu.c beside this file: NOR's program rules enforced, operations counted, a power cut at
the Nth program/erase): the file layer's checks (tests/support/vfs_file_checks.c), format only
when blank, remount, out-of-place overwrites, truncate and remove persisting, corruption and a
foreign geometry reported with nothing written, a full pool, state-log compaction, persisted
erase counts, the write amplification of 1-row autocommit inserts at synchronous=FULL (at most
1.5 x (page + 24) bytes programmed and erased per commit, 4 KiB and 256 KiB blocks), and a
power cut at every program/erase of a small SQLite workload: at FULL every acknowledged commit
survives; with relaxed durability at NORMAL at most the configured bound is lost; page rewrites
that make the cleaner copy live bytes, cut at every 7th program/erase (``test_flashpool
cut-cleaner 1`` cuts at every one), keep every acknowledged write.  A planted
bug (a torn tail taken for erased flash, -DWALKIT_FLASHPOOL_PLANT_NO_SEAL) fails the cut
campaign.  One pytest item per check of the C program test_flashpool.c (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun
from walkit.native.build import MODULE_FLAGS

HERE = Path(__file__).parent
SOURCES = [HERE / "test_flashpool.c", HERE / "nor_emu.c", SUPPORT / "vfs_file_checks.c",
           SUPPORT / "vfs_helpers.c"]
PROGRAM = CheckProgram.build("test_flashpool", SOURCES)

# Which run of the program reports a check: the cut campaigns run on their own.
def mode(check: str) -> str:
    if check.startswith("cut_full_"):
        return "cut-full"
    if check.startswith("cut_relaxed_"):
        return "cut-relaxed"
    if check.startswith("cut_cleaner_"):
        return "cut-cleaner"
    return "all"


_runs: dict[str, CheckRun] = {}


def run_mode(m: str) -> CheckRun:
    if m not in _runs:
        _runs[m] = PROGRAM.run([m], timeout=600)
    return _runs[m]


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(check: str) -> None:
    run_mode(mode(check)).assert_ok(check)


@pytest.mark.parametrize("m", ["all", "cut-full", "cut-relaxed", "cut-cleaner"])
def test_run_is_clean(m: str) -> None:
    run_mode(m).assert_clean()


def test_planted_torn_tail_is_caught() -> None:
    """With the seal of a torn head block planted away, appends after the reboot program over
    the torn words: the emulated NOR refuses them and the cut campaign fails."""
    planted = CheckProgram.build("test_flashpool_planted", SOURCES,
                                 flags=(*MODULE_FLAGS, "-DWALKIT_FLASHPOOL_PLANT_NO_SEAL=1"))
    run = planted.run(["cut-full"], timeout=600)
    assert "cut_full_commits_after_every_cut" in run.failed, run.stdout[-3000:]
    assert "cut_full_nor_rule_kept" in run.failed, run.stdout[-3000:]
