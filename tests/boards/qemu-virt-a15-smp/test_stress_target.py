"""The stress driver (tests/scenarios/stress.c) on the qemu-virt-a15-smp board, one task per
core through the console's .stress (firmware/tasks.c): two writers and a reader on cores 1-3,
the checkpointer on core 0 (every 50 ms), the invariant and integrity_check at the end; then a
power cut in the middle of a run and a clean recovery on the same flash.

Storage: the flash pool ("pool" VFS, vfs/storage/flashpool.c), SQLite's default synchronous
(FULL: every commit durable).  On littlefs each commit's sync copies the WAL's last 256 KiB
erase block (~119 KB programmed per commit, 3-4 commits/s under QEMU); the pool programs about
the frame itself, so the 10^4 commits the issue asks of CI fit in minutes.  docs/console.md
has the figures.  WALKIT_TARGET_STRESS_VFS=walkit runs the same on littlefs.

CI size: WALKIT_TARGET_STRESS_TXNS transactions per writer (default 5000: 10^4 commits).
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
TXNS = int(os.environ.get("WALKIT_TARGET_STRESS_TXNS", "5000"))
VFS = os.environ.get("WALKIT_TARGET_STRESS_VFS", "pool")
ACCOUNTS, BALANCE = 50, 1000
# Seconds per commit allowed on a loaded 2-core machine (load 5-10), several times what a
# quiet one takes.
SECONDS_PER_COMMIT = 0.1 if VFS == "pool" else 0.7

pytestmark = pytest.mark.qemu


def stress(target, *args, timeout):
    return dict(target.console.request(".stress", *map(str, args), timeout=timeout).rows)


def db_uri():
    return "/stress.db" if VFS == "walkit" else f"file:/stress.db?vfs={VFS}"


@pytest.mark.timeout(max(900, int(2 * TXNS * SECONDS_PER_COMMIT * 1.5)))
def test_stress_invariant_on_three_worker_cores(target):
    r = stress(target, 2, TXNS, 1, 50, f"vfs={VFS}", timeout=max(600, 2 * TXNS * SECONDS_PER_COMMIT))
    assert r["result"] == "ok", r
    assert r["vfs"] == VFS and r["synchronous"] == "default", r
    assert r["cores"] == 4 and r["tasks"] == 4, r
    assert r["commits"] == 2 * TXNS and r["bad_reads"] == 0 and r["sum"] == ACCOUNTS * BALANCE, r
    assert r["reads"] > 0 and r["ckpt_ok"] + r["ckpt_busy"] > 0, "the reader and checkpointer ran"
    assert r["integrity"] == "ok" and r["vfs.os_errors"] == 0, r
    assert r["flash.prog_bytes"] > 0, r
    stats = target.console.stats()
    assert "vfs.shm_lock_waits" in stats and stats["vfs.shm_lock_calls"] >= r["vfs.shm_lock_calls"]


def test_bad_requests_are_refused(target):
    from walkit.sql import SqlError

    with pytest.raises(SqlError, match="5 tasks but 4 cores"):
        stress(target, 3, 10, 1, 2, timeout=60)
    for bad in (["1", "10", "sync=sometimes"], ["1", "10", "vfs="], ["1", "x"], ["1"],
                ["1", "10", "0", "0", "7"]):
        with pytest.raises(SqlError, match="usage: .stress"):
            stress(target, *bad, timeout=60)
    with pytest.raises(SqlError, match="no VFS named nowhere"):
        stress(target, 1, 10, "vfs=nowhere", timeout=60)
    r = stress(target, 1, 20, "sync=normal", timeout=120)  # and the console still works
    assert r["result"] == "ok" and r["commits"] == 20 and r["synchronous"] == "normal", r


def test_power_cut_mid_stress_recovers(target):
    target.console.start(".stress", "3", str(max(TXNS, 2000)), "0", "2", f"vfs={VFS}")
    time.sleep(8)  # well into the run: the setup commits in well under a second
    target.power_cut()
    target.boot()
    c = target.console
    c.open("db", db_uri())
    rows = c.sql("db", "SELECT sum(balance), count(*), (SELECT * FROM pragma_integrity_check) "
                       "FROM accounts").rows
    assert rows == [(ACCOUNTS * BALANCE, ACCOUNTS, "ok")], rows
    committed = c.sql("db", "SELECT count(*) FROM accounts WHERE balance != ?", [BALANCE]).rows
    assert committed[0][0] > 0, "the cut came after some transfers had committed"
    c.close_conn("db")


def planted_image(build_image, tmp_path, define: str):
    """A copy of the firmware built with one planted-bug define of vfs/ (the build directory is
    rebuilt clean afterwards, for every other test)."""
    import shutil

    from walkit.build import build

    build_image(BOARD)  # the clean image first, so it is rebuilt below from a known state
    try:
        planted = tmp_path / "walkit-fw-planted.elf"
        shutil.copy(build(BOARD, extra_defs={"WALKIT_VFS_DEFINES": define}), planted)
    finally:
        build(BOARD, extra_defs={"WALKIT_VFS_DEFINES": ""})
    return planted


@pytest.fixture(scope="module")
def hang_image(build_image, tmp_path_factory):
    return planted_image(build_image, tmp_path_factory.mktemp("hang"),
                         "WALKIT_BARE_SMP_PLANT_HANG=1")


@pytest.mark.parametrize("readers, checkpoint_ms, log_line", [
    (0, 0, "no commit for 60 s; still running on core 1"),
    (1, 50, "no commit for 60 s; core 0's task abandoned; still running on core 1"),
], ids=["core-0-idle", "checkpointer-on-core-0"])
def test_a_stopped_run_is_reported_by_the_watchdog(hang_image, tmp_path, readers, checkpoint_ms,
                                                   log_line):
    """With core 1 stopping inside a critical section (WALKIT_BARE_SMP_PLANT_HANG,
    vfs/os/bare_smp.c), the other writer soon waits for that mutex for ever: core 0 sees no
    commit for 60 s (plus the checkpointer's period) and ends the run with FAIL, naming the
    cores in the log; the console answers on, and refuses a second run beside the stuck tasks.
    Core 0 either has no task of its own (two writers on cores 1-2) or runs the checkpointer
    (four tasks): then it watches from that task's sleeps and waits, and abandons the task
    where it waits, perhaps for the very mutex core 1 holds."""
    from walkit.sql import SqlError

    t = Target(BOARD, image=hang_image, workdir=tmp_path)
    t.boot()
    try:
        t0 = time.monotonic()
        r = stress(t, 2, 5000, readers, checkpoint_ms, f"vfs={VFS}", timeout=600)
        assert r["result"] == "FAIL" and r["error"].startswith("watchdog:"), r
        assert 0 < r["commits"] < 2 * 5000, r
        assert time.monotonic() - t0 >= 60, "the watchdog waits 60 s without a commit"
        t.console.ping(timeout=30)
        with pytest.raises(SqlError, match="core 1 still runs a task"):
            stress(t, 1, 10, timeout=30)
        log = t.console_log.read_text(errors="replace")
        assert "stress watchdog: " + log_line in log, log[-2000:]
    finally:
        t.close()


def test_planted_racy_lock_slots_are_caught(build_image, tmp_path):
    """The target stress catches WAL-index lock slots that are not atomic: with a shared
    take's count a plain read and store (WALKIT_PLANT_RACY_SLOTS, vfs/shm/registry.c
    try_acquire), a take that lands between them is lost, or overwrites an exclusive hold,
    and a slot is left held (or "exclusive") for ever.  The run needs shared holds beside
    exclusive attempts on the same slots: the reader's and every transaction's read-mark
    holds, against the read-mark updates of each transaction that starts after a commit, the
    checkpointer's backfill and the WAL restarts.  Three writers and nothing else passed
    6,000 commits.

    The planted build widens the window between the read and the store with a spin (200
    loop iterations; registry.c says why), as a task preempted there would.  On the pool,
    2026-12-02, load 5-12: caught in 8 of 8 runs, after 458-3,689 commits (median ~1,000;
    30-60 s), SQLite giving up on a read lock (SQLITE_PROTOCOL) in 7, the pool full in one.
    Without the spin (WALKIT_PLANT_RACY_SLOTS_WINDOW=0) the race still hits, later: 5 of 5
    runs failed, at 3,689 commits (4 runs) and 4,716, the pool full of a WAL that a slot left
    held kept from restarting; too close to the run's 6,000 to rely on.  The same
    configuration (2 writers, a reader, the checkpointer every 50 ms, pool) passes on the
    correct build: test_stress_invariant_on_three_worker_cores, 10^4 commits.  (On littlefs, WALKIT_TARGET_STRESS_VFS=walkit, only 600 commits fit the time,
    and no run there has been made.)  A hang instead is ended by core 0's watchdog (it
    watches its own checkpointer task's waits): FAIL too."""
    t = Target(BOARD, image=planted_image(build_image, tmp_path, "WALKIT_PLANT_RACY_SLOTS=1"),
               workdir=tmp_path)
    t.boot()
    try:
        txns = 3000 if VFS == "pool" else 300
        r = stress(t, 2, txns, 1, 50, f"vfs={VFS}", timeout=max(300, 2 * txns * SECONDS_PER_COMMIT))
        assert r["result"] == "FAIL", f"a build with racy lock slots passed the stress: {r}"
        assert r["error"], r
    finally:
        t.close()


def test_planted_non_atomic_locks_are_caught(build_image, tmp_path):
    """The target stress can fail, and says so: with the OS port's mutex take made
    check-then-store (WALKIT_BARE_SMP_PLANT_RACE, vfs/os/bare_smp.c), so every mutex built on
    it (the WAL-index node's waiter queue, the storage backend's, SQLite's) is no longer
    mutually exclusive between cores, the run reports FAIL.  (The lock slots themselves are
    atomics, not mutexes: their own planted race is the test above, and ThreadSanitizer's on
    the host, tests/vfs/shm/test_registry_slots.py.)  When two cores take one mutex, the
    release of the one that is no longer its owner is refused: an OS-layer failure (vfs.os_errors), which fails the run even when
    the data came through (7-8 in 900-6,000 commits on either storage).  If the tasks
    deadlock instead, core 0, which has no task of its own with three on cores 1-3, ends the
    run with FAIL through its watchdog (the test above).  A broken invariant, a bad
    integrity_check or a task's error end it with FAIL too; a fault report (the heap trampled)
    is a caught race as well.  A hang is not: the request's timeout makes it a test failure."""
    from walkit.console.errors import TargetGone

    t = Target(BOARD, image=planted_image(build_image, tmp_path, "WALKIT_BARE_SMP_PLANT_RACE=1"),
               workdir=tmp_path)
    t.boot()
    try:
        try:
            txns = 2000 if VFS == "pool" else 300  # about as long on either: ~2 minutes
            r = stress(t, 3, txns, 0, 0, f"vfs={VFS}", timeout=max(300, 3 * txns * SECONDS_PER_COMMIT))
        except TargetGone as e:  # a fault report ends the run with its own status
            assert "fault" in str(e).lower(), e
            return
        assert r["result"] == "FAIL", f"a build with racy locks passed the stress: {r}"
        assert r["error"], r
        if r["error"].startswith("watchdog"):
            # The console still answers beside the tasks that never returned (what else it
            # can do depends on which locks they hold, broken as they are), and a second run
            # is refused rather than started beside them.
            from walkit.sql import SqlError

            t.console.ping(timeout=30)
            with pytest.raises(SqlError, match="still runs a task"):
                stress(t, 1, 10, timeout=30)
    finally:
        t.close()
