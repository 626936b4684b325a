"""Copy mode (vfs/shm/copy.c): its contracts (test_copy.c), the pooled stress on walkit's rules
and on weaker ones (test_copy_stress.c), the debug build's checksum, ThreadSanitizer, and a
heap/copy differential.

CI runs small sizes.  Full size (about 10^5 transactions, minutes):
    .venv/bin/python -m walkit.native.copy --workers 16 --txns 7000 --readers 4
    .venv/bin/python -m walkit.native.copy --workers 8 --txns 400 --readers 2 --tsan
    .venv/bin/python -m walkit.native.copy --ncruces --workers 16 --txns 300   # fails
"""

from __future__ import annotations

import random
import subprocess

import pytest

from c_checks import run_checks
from walkit.native import open_session
from walkit.native.build import build_program
from walkit.native.copy import copy_flags, rules, rules_without, run_copy_stress
from walkit.paths import repo_root

HERE = repo_root() / "tests" / "vfs" / "shm"


def test_c_checks(tmp_path):
    prog = build_program("test_copy", [HERE / "test_copy.c"])
    names = subprocess.run([str(prog), "--list"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert names
    run_checks(prog, names, timeout=120)


def stress_clean(r):
    f = r.fields
    assert r.ok and r.returncode == 0, r.output
    assert int(f["missing"]) == 0 and int(f["ghost"]) == 0 and f["integrity"] == "ok"
    assert int(f["rollbacks"]) > 0 and int(f["large_commits"]) > 0 and int(f["ckpts"]) > 0
    assert int(f["reopens"]) > 0 and int(f["reads"]) > 0, "every part of the pattern ran"


@pytest.mark.parametrize("mode", ["copy", "heap"])
def test_pooled_stress_clean(tmp_path, mode):
    stress_clean(run_copy_stress(tmp_path, mode, workers=8, txns=120, readers=2, seed=1))


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
