"""Copy mode (vfs/shm/copy.c): its contracts (test_copy.c), the rollback-after-reset case that
the header-skip rule loses, and a heap/copy differential.  The concurrent stress is in
test_copy_stress.py."""

from __future__ import annotations

import random

import pytest

from support.c_checks import CheckProgram
from walkit.native import open_session
from walkit.native.copy import copy_flags, ncruces_rules, rules_without
from walkit.paths import repo_root

HERE = repo_root() / "tests" / "vfs" / "shm"


PROGRAM = CheckProgram.build("test_copy", [HERE / "test_copy.c"])


@pytest.fixture(scope="module")
def run():
    return PROGRAM.run()


@pytest.mark.parametrize("check", PROGRAM.names)
def test_check(run, check):
    run.assert_ok(check)


def test_run_is_clean(run):
    run.assert_clean()


@pytest.mark.parametrize("build", ["walkit", "no FULL_REGIONS", "ncruces"])
def test_rollback_after_reset(tmp_path, build):
    """The targeted case of rule 4 (docs/vfs.md): passes with walkit's rules, fails with the
    header-skip rule, alone or within shm_copy.go's set."""
    flags = {"walkit": (), "no FULL_REGIONS": copy_flags(rules_without("FULL_REGIONS")),
             "ncruces": copy_flags(ncruces_rules())}[build]
    prog = CheckProgram.build("test_copy", [HERE / "test_copy.c"], vfs_defines=flags)
    r = prog.run()
    if build == "walkit":
        r.assert_ok("rollback_after_reset_is_seen")
    else:
        assert "rows of 2" in r.failed.get("rollback_after_reset_is_seen", ""), r.stdout


# The fence checks of test_copy.c and the rules each needs (docs/vfs.md, "Copy mode"): with the
# rule dropped the check fails; with every rule they pass (test_check above).
FENCE_CHECKS = {
    "ACQUIRE_AFTER_GRANTED": "fence_exclusive_unlock_then_granted_lock",
    "RELEASE_BEFORE_EXCL_UNLOCK": "fence_exclusive_unlock_then_granted_lock",
    "RELEASE_BEFORE_SHARED_UNLOCK": "fence_shared_unlock_publishes",
    "ACQUIRE_AFTER_REFUSED": "fence_refused_lock_acquires",
    "ACQUIRE_AFTER_UNLOCK": "fence_unlock_acquires",
    "BARRIER_SYNC": "fence_barrier_keeps_the_newer_store",
    "BARRIER_RELEASE_FIRST": "fence_barrier_keeps_the_newer_store",
}


@pytest.mark.parametrize("rule", sorted(FENCE_CHECKS))
def test_fence_check_fails_without_its_rule(rule):
    prog = CheckProgram.build("test_copy", [HERE / "test_copy.c"],
                              vfs_defines=copy_flags(rules_without(rule)))
    r = prog.run()
    check = FENCE_CHECKS[rule]
    assert check in r.failed, f"{check} passed without {rule}:\n{r.stdout}"
    assert "not" in r.failed[check], r.failed[check]  # the stale or lost value, reported


def seeded_workload(root, mode: str, seed: int, steps: int = 400) -> bytes:
    """One task driving several connections in a seeded order: small and large (spilling)
    write transactions, some rolled back, readers holding snapshots across other connections'
    commits, passive checkpoints, connections closed and reopened.  Returns the database file
    after a final TRUNCATE checkpoint."""
    rng = random.Random(seed)
    s = open_session(root, mode)
    try:
        def fresh():
            c = s.connect("d.db")
            c.execute("PRAGMA cache_size=8")
            return c

        conns = [fresh() for _ in range(4)]
        conns[0].execute("PRAGMA journal_mode=WAL")
        conns[0].execute("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, pad BLOB)")
        reading: set[int] = set()
        for _ in range(steps):
            op = rng.random()
            i = rng.randrange(len(conns))
            if op < 0.15:  # a reader takes a snapshot, or lets go of it
                if i in reading:
                    conns[i].execute("COMMIT")
                    reading.discard(i)
                else:
                    conns[i].execute("BEGIN")
                    conns[i].execute("SELECT count(*) FROM t")
                    reading.add(i)
                continue
            if i in reading:
                continue
            if op < 0.25:
                conns[i].checkpoint("PASSIVE")
            elif op < 0.30:
                conns[i].close()
                conns[i] = fresh()
            else:
                large = rng.random() < 0.2
                rows = 80 if large else rng.randint(1, 3)
                c = conns[i]
                c.execute("BEGIN IMMEDIATE")
                for _ in range(rows):
                    c.execute("INSERT INTO t(k, pad) VALUES (?, ?)",
                              (rng.randrange(1 << 30), rng.randbytes(600 if large else 20)))
                if rng.random() < 0.3:
                    c.execute("DELETE FROM t WHERE k % 7 = ?", (rng.randrange(7),))
                c.execute("ROLLBACK" if large and rng.random() < 0.35 else "COMMIT")
        for i in sorted(reading):
            conns[i].execute("COMMIT")
        assert conns[0].execute("PRAGMA integrity_check") == [("ok",)]
        rc, _, _ = conns[0].checkpoint("TRUNCATE")
        assert rc == 0
        for c in conns:
            c.close()
    finally:
        s.close()
    return (root / "d.db").read_bytes()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heap_and_copy_end_byte_identical(tmp_path, seed):
    (tmp_path / "heap").mkdir()
    (tmp_path / "copy").mkdir()
    heap = seeded_workload(tmp_path / "heap", "heap", seed)
    copy = seeded_workload(tmp_path / "copy", "copy", seed)
    assert len(heap) > 100 * 1024, "the workload wrote little: spills need a bigger database"
    assert heap == copy, "heap and copy mode ended in different database contents"
