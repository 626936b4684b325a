"""The stress driver (tests/scenarios/stress.c) on the qemu-virt-a15-smp board, one task per
core through the console's .stress (firmware/tasks.c): two writers and a reader on cores 1-3,
the checkpointer on core 0 (every 50 ms), the invariant and integrity_check at the end; then a power cut in
the middle of a run and a clean recovery on the same flash.

CI size: WALKIT_TARGET_STRESS_TXNS transactions per writer (default 1000: 2,000 commits, a few
minutes on 2 cores; 5000 gives the 10^4 commits the issue asks of CI, about 17 minutes or more).
Longer run (documented in docs/console.md):
    WALKIT_TARGET_STRESS_TXNS=50000 .venv/bin/python -m pytest \\
        tests/boards/qemu-virt-a15-smp/test_stress_target.py -k invariant
"""

from __future__ import annotations

import os
import time

import pytest

from walkit.target import Target

BOARD = "qemu-virt-a15-smp"
TXNS = int(os.environ.get("WALKIT_TARGET_STRESS_TXNS", "1000"))
ACCOUNTS, BALANCE = 50, 1000

pytestmark = pytest.mark.qemu


@pytest.fixture
def target(build_image, tmp_path):
    t = Target(BOARD, image=build_image(BOARD), workdir=tmp_path)
    t.boot()
    try:
        yield t
    finally:
        t.close()


def stress(target, *args, timeout):
    return dict(target.console.request(".stress", *map(str, args), timeout=timeout).rows)


@pytest.mark.timeout(max(900, int(TXNS * 0.7)))
def test_stress_invariant_on_three_worker_cores(target):
    # The checkpointer every 50 ms: each checkpoint syncs the database on littlefs, and at 2 ms
    # they take most of the flash time (3-4 commits/s instead of ~10 on a loaded host).
    r = stress(target, 2, TXNS, 1, 50, timeout=max(600, TXNS * 0.6))
    assert r["result"] == "ok", r
    assert r["cores"] == 4 and r["tasks"] == 4, r
    assert r["commits"] == 2 * TXNS and r["bad_reads"] == 0 and r["sum"] == ACCOUNTS * BALANCE, r
    assert r["reads"] > 0 and r["ckpt_ok"] + r["ckpt_busy"] > 0, "the reader and checkpointer ran"
    assert r["integrity"] == "ok" and r["vfs.os_errors"] == 0, r
    stats = target.console.stats()
    assert "vfs.shm_lock_waits" in stats and stats["vfs.shm_lock_calls"] >= r["vfs.shm_lock_calls"]


def test_more_tasks_than_cores_is_refused(target):
    from walkit.sql import SqlError

    with pytest.raises(SqlError, match="5 tasks but 4 cores"):
        stress(target, 3, 10, 1, 2, timeout=60)
    r = stress(target, 1, 20, timeout=120)  # and the console still works
    assert r["result"] == "ok" and r["commits"] == 20


def test_power_cut_mid_stress_recovers(target):
    target.console.start(".stress", "3", str(max(TXNS, 2000)), "0", "2")
    time.sleep(8)  # well into the run: the setup commits in well under a second
    target.power_cut()
    target.boot()
    c = target.console
    c.open("db", "/stress.db")
    rows = c.sql("db", "SELECT sum(balance), count(*), (SELECT * FROM pragma_integrity_check) "
                       "FROM accounts").rows
    assert rows == [(ACCOUNTS * BALANCE, ACCOUNTS, "ok")], rows
    committed = c.sql("db", "SELECT count(*) FROM accounts WHERE balance != ?", [BALANCE]).rows
    assert committed[0][0] > 0, "the cut came after some transfers had committed"
    c.close_conn("db")


def test_planted_non_atomic_locks_are_caught(build_image, tmp_path):
    """The target stress can fail: with the OS port's mutex take made check-then-store
    (WALKIT_BARE_SMP_PLANT_RACE, vfs/os/bare_smp.c), so the WAL-index node's lock slots (and
    littlefs, SQLite) are no longer mutually exclusive between cores, the run does not pass: it
    reports FAIL or an error, faults, or stops answering (bounded by the request timeout; in
    practice two cores take one mutex, the first one's release is refused as not the owner's,
    and every core then waits for that mutex for ever: a clean build does the same run in a
    fraction of the timeout)."""
    import shutil

    from walkit.build import build
    from walkit.console.errors import TargetError
    from walkit.sql import SqlError

    build_image(BOARD)  # the clean image first, so it is rebuilt below from a known state
    try:
        planted = tmp_path / "walkit-fw-planted.elf"
        shutil.copy(build(BOARD, extra_defs={"WALKIT_VFS_DEFINES": "WALKIT_BARE_SMP_PLANT_RACE=1"}),
                    planted)
    finally:
        build(BOARD, extra_defs={"WALKIT_VFS_DEFINES": ""})  # every other test's image is clean
    t = Target(BOARD, image=planted, workdir=tmp_path)
    t.boot()
    try:
        r = stress(t, 3, 400, 0, 2, timeout=120)
        caught = r["result"] != "ok"
    except (SqlError, TargetError, TimeoutError):
        caught = True
    finally:
        t.close()
    assert caught, f"a build with racy locks passed the stress: {r}"
