"""The flash pool storage backend (vfs/storage/flashpool.c) on an emulated NOR partition
(host/walkit/native/nor_emu.c, the device of the native pool session too: NOR's program rules
enforced, operations counted, a power cut at the Nth program/erase): the file layer's checks (tests/support/vfs_file_checks.c), format only
when blank, remount, out-of-place overwrites, truncate and remove persisting, corruption and a
foreign geometry reported with nothing written, a full pool, state-log compaction, persisted
erase counts, the write amplification of 1-row autocommit inserts at synchronous=FULL (at most
1.5 x (page + 24) bytes programmed and erased per commit, 4 KiB and 256 KiB blocks), and a
power cut at every program/erase of a small SQLite workload: at FULL every acknowledged commit
survives; a torn tail (a cut's record, blank after it) discarded and appends going on after it,
while a damaged record with whole records after it (in a file's last block, in the state log,
in the newest log area's snapshot) is reported with its block and offset, nothing written; with relaxed durability at NORMAL at most the configured bound is lost; page rewrites
that make the cleaner copy live bytes, cut at every 7th program/erase (``test_flashpool
cut-cleaner 1`` cuts at every one), keep every acknowledged write; on a device with a write-back
cache that loses the blocks written since the last sync out of order, the pool's barriers keep
every acknowledged commit at FULL.  Planted bugs fail the cut campaigns: a torn tail taken for
erased flash (-DWALKIT_FLASHPOOL_PLANT_NO_SEAL), and no barriers
(-DWALKIT_FLASHPOOL_PLANT_NO_BARRIER); damage taken for a torn tail
(-DWALKIT_FLASHPOOL_PLANT_DAMAGE_AS_TORN) fails the damage checks.  One pytest item per check of the C program test_flashpool.c (its ``--list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.c_checks import SUPPORT, CheckProgram, CheckRun
from walkit.native.build import native_dir, nor_emu_source

HERE = Path(__file__).parent
SOURCES = [HERE / "test_flashpool.c", nor_emu_source(), SUPPORT / "vfs_file_checks.c",
           SUPPORT / "vfs_helpers.c"]
PROGRAM = CheckProgram.build("test_flashpool", SOURCES, include_dirs=[native_dir()])

# Which run of the program reports a check: the cut campaigns run on their own.
def mode(check: str) -> str:
    if check.startswith("cut_full_"):
        return "cut-full"
    if check.startswith("cut_relaxed_"):
        return "cut-relaxed"
    if check.startswith("cut_cleaner_"):
        return "cut-cleaner"
    if check.startswith("cut_cache_"):
        return "cut-cache"
    return "all"


_runs: dict[str, CheckRun] = {}


def run_mode(m: str) -> CheckRun:
    if m not in _runs:
        _runs[m] = PROGRAM.run([m], timeout=600)
    return _runs[m]


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(check: str) -> None:
    run_mode(mode(check)).assert_ok(check)


@pytest.mark.parametrize("m", ["all", "cut-full", "cut-relaxed", "cut-cache", "cut-cleaner"])
def test_run_is_clean(m: str) -> None:
    run_mode(m).assert_clean()


def test_planted_torn_tail_is_caught() -> None:
    """With the seal of a torn head block planted away, appends after the reboot program over
    the torn words: the emulated NOR refuses them and the cut campaign fails."""
    planted = CheckProgram.build("test_flashpool_planted", SOURCES, include_dirs=[native_dir()],
                                 vfs_defines=("-DWALKIT_FLASHPOOL_PLANT_NO_SEAL=1",))
    run = planted.run(["cut-full"], timeout=600)
    assert "cut_full_commits_after_every_cut" in run.failed, run.stdout[-3000:]
    assert "cut_full_nor_rule_kept" in run.failed, run.stdout[-3000:]


def test_planted_damage_taken_for_a_torn_tail_is_caught() -> None:
    """A mount that takes anything after a bad record for a torn tail (and drops the whole
    records after it) mounts the damaged partitions of check_torn_or_damaged: those checks fail,
    while the torn tails are still discarded."""
    planted = CheckProgram.build("test_flashpool_damage_as_torn", SOURCES, include_dirs=[native_dir()],
                                 vfs_defines=("-DWALKIT_FLASHPOOL_PLANT_DAMAGE_AS_TORN=1",))
    run = planted.run(["all"], timeout=600)
    for check in ("damaged_data_mid_block_is_corrupt", "damaged_header_mid_block_is_corrupt",
                  "damaged_log_record_mid_area_is_corrupt",
                  "damaged_newest_area_is_corrupt_not_rolled_back"):
        assert check in run.failed, (check, run.stdout[-3000:])
    assert "torn_tail_is_discarded" not in run.failed, run.stdout[-3000:]


def test_planted_missing_barrier_is_caught() -> None:
    """Without its barriers the pool's writes reach a cached device in any order: a cut then
    reverts state-log and data blocks independently, and acknowledged commits are lost."""
    planted = CheckProgram.build("test_flashpool_nobarrier", SOURCES, include_dirs=[native_dir()],
                                 vfs_defines=("-DWALKIT_FLASHPOOL_PLANT_NO_BARRIER=1",))
    run = planted.run(["cut-cache"], timeout=600)
    assert "cut_cache_every_acknowledged_commit_kept" in run.failed, run.stdout[-3000:]
