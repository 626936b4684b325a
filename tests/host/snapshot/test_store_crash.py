"""Crash safety of the snapshot store by fault injection.

A persist is run once with a counting :class:`FileOps` to learn its N steps, then N more
times with a :class:`FaultyOps` that dies at step k = 1..N (the operation at k does not happen,
a write at k happens halfway, nothing after it happens).  Opening the store again must
recover it to exactly the snapshots before the persist (crash before the commit rename) or
exactly those plus the new one (crash after it), with every snapshot rebuilding to its
recorded hash and no temporary files left.  Recovery is then itself killed at every one of
its steps and must still converge to the same store.
"""

from __future__ import annotations

import os
import shutil

import pytest

from support.wal_helpers import Device, sqlite_checkpoint
from walkit.snapshot import Crash, FaultyOps, FileOps, open_store


@pytest.fixture(scope="module")
def states():
    """Three device states: s0, then s1 continuing s0's WAL (an incremental snapshot), then
    s2 after a checkpoint on the device (a full snapshot)."""
    dev = Device(1024)
    dev.txn("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)",
            *[("INSERT INTO t(v) VALUES (?)", (bytes([i]) * 700,)) for i in range(30)])
    dev.checkpoint("TRUNCATE")
    dev.txn(("UPDATE t SET v = ? WHERE id = 4", (b"s0" * 100,)))
    s0 = dev.files()
    dev.txn(("UPDATE t SET v = ? WHERE id = 9", (b"s1" * 100,)))
    s1 = dev.files()
    dev.checkpoint("PASSIVE")
    dev.txn(("DELETE FROM t WHERE id > 20",))
    s2 = dev.files()
    dev.close()
    return [s0, s1, s2]


CASES = {
    "first-full-into-new-store": (0, "full"),
    "incremental": (1, "incremental"),
    "full-after-device-checkpoint": (2, "full"),
}


def _comparable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "created"}


def _take(store_dir, ops, state):
    with open_store(store_dir, ops) as store:
        return store.take(*state, "device")


def _assert_recovered(store_dir, before: list[dict], new: dict, expect_new: bool | None):
    """The store at ``store_dir`` recovers to ``before`` or ``before + [new]`` (which one, if
    ``expect_new`` is not None), clean, with every snapshot rebuilding.  Returns expect_new."""
    with open_store(store_dir) as store:
        got = [_comparable(m) for m in store.snapshots]
        old = [_comparable(m) for m in before]
        assert got in (old, old + [_comparable(new)]), "a mix of snapshots"
        is_new = len(got) == len(old) + 1
        if expect_new is not None:
            assert is_new == expect_new
        assert sorted(os.listdir(store_dir)) == ["manifest.json", "snapshots"]
        assert sorted(os.listdir(store_dir / "snapshots")) == [f"{m['id']:06d}" for m in store.snapshots]
        assert store.check() == []
    return is_new


@pytest.mark.parametrize("case", list(CASES))
def test_persist_killed_at_every_step_recovers_to_old_or_new(case, states, tmp_path):
    index, kind = CASES[case]
    base = tmp_path / "base"
    if index:
        for s in states[:index]:
            _take(base, FileOps(), s)
    before = []
    if base.exists():
        with open_store(base) as store:
            before = store.snapshots

    def fresh(name):
        d = tmp_path / name
        if base.exists():
            shutil.copytree(base, d)
        return d

    # The reference run: how many steps, and which one is the commit rename.
    ref_dir = fresh("ref")
    counting = FileOps()
    taken = _take(ref_dir, counting, states[index])
    assert taken.meta["kind"] == kind
    new = taken.meta
    steps = counting.steps
    commit = 1 + next(i for i, e in enumerate(counting.log)
                      if e[0] == "rename" and os.path.basename(e[2]) == f"{new['id']:06d}")
    new_state = sqlite_checkpoint(*states[index])
    with open_store(ref_dir) as store:
        assert store.materialize() == new_state

    recovery_runs = 0
    for k in range(1, steps + 1):
        crashed = fresh(f"crash-{k}")
        with pytest.raises(Crash):
            _take(crashed, FaultyOps(k), states[index])
        # Recovery itself killed at each of its steps, then completed by a later open.
        probe = tmp_path / f"probe-{k}"
        shutil.copytree(crashed, probe) if crashed.exists() else None
        counting = FileOps()
        if probe.exists():
            with open_store(probe, counting):
                pass
        for j in range(1, counting.steps + 1):
            again = tmp_path / f"again-{k}-{j}"
            shutil.copytree(crashed, again)
            with pytest.raises(Crash):
                with open_store(again, FaultyOps(j)):
                    pass
            _assert_recovered(again, before, new, expect_new=k > commit)
            shutil.rmtree(again)
            recovery_runs += 1
        _assert_recovered(crashed, before, new, expect_new=k > commit)
        with open_store(crashed) as store:
            if store.snapshots:
                assert store.materialize() == (new_state if k > commit else
                                               sqlite_checkpoint(*states[index - 1]))
        for d in (crashed, probe):
            shutil.rmtree(d, ignore_errors=True)
    # The persist has the steps the protocol names, and recovery had work to do.
    print(f"{case}: persist steps {steps}, commit at step {commit}, recovery runs {recovery_runs}")
    assert steps >= 15 and recovery_runs > steps


def test_a_torn_manifest_write_is_rolled_forward(states, tmp_path):
    """Crash in the middle of writing the new manifest: the half-written temporary file is
    dropped and the committed snapshot directory is added to the manifest."""
    store_dir = tmp_path / "s"
    _take(store_dir, FileOps(), states[0])
    counting = FileOps()
    shutil.copytree(store_dir, tmp_path / "ref")
    _take(tmp_path / "ref", counting, states[1])
    k = 1 + next(i for i, e in enumerate(counting.log)
                 if e[0] == "write" and e[1].endswith(".manifest.json.tmp"))
    with pytest.raises(Crash):
        _take(store_dir, FaultyOps(k), states[1])
    tmp = store_dir / ".manifest.json.tmp"
    assert 0 < tmp.stat().st_size  # the torn write left half a file
    with open_store(store_dir) as store:
        assert "finished snapshot 2 (added to the manifest)" in store.recovered
        assert len(store.snapshots) == 2
    assert not tmp.exists()
