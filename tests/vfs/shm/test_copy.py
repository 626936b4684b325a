"""Copy mode (vfs/shm/copy.c): its contracts (test_copy.c), the pooled stress on walkit's rules
and on weaker ones (test_copy_stress.c), the debug build's checksum, ThreadSanitizer, and a
heap/copy differential.

CI runs small sizes.  Full size (about 10^5 transactions, minutes):
    .venv/bin/python -m walkit.native.copy --workers 16 --txns 7000 --readers 4
    .venv/bin/python -m walkit.native.copy --workers 8 --txns 400 --readers 2 --tsan
    .venv/bin/python -m walkit.native.copy --ncruces --no-blocking --workers 16 --txns 120  # fails
"""

from __future__ import annotations

import random
import subprocess

import pytest

from c_checks import run_checks
from walkit.native import open_session
from walkit.native.build import build_program
from walkit.native.copy import copy_flags, ncruces_rules, rules, rules_without, run_copy_stress
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


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "busy-handler"])
@pytest.mark.parametrize("mode", ["copy", "heap"])
def test_pooled_stress_clean(tmp_path, mode, blocking):
    stress_clean(run_copy_stress(tmp_path, mode, workers=16, txns=60, readers=2, seed=1,
                                 blocking=blocking))


def first_failing_seed(tmp_path, flags, seeds=range(1, 7), **kw):
    """The stress on a weakened build, seed after seed until one run fails; that run."""
    for seed in seeds:
        root = tmp_path / f"seed{seed}"
        root.mkdir()
        r = run_copy_stress(root, "copy", seed=seed, extra_flags=flags, **kw)
        if not r.ok:
            return r
    return None


def test_ncruces_rules_are_caught(tmp_path):
    """shm_copy.go's rules (acquire only after a granted lock, release only before an exclusive
    unlock, skip when the header is unchanged) lose committed transactions under the stress;
    without SETLK_TIMEOUT's hand-off (busy-handler retries) the window opens often."""
    r = first_failing_seed(tmp_path, copy_flags(ncruces_rules()), workers=16, txns=120, readers=2,
                           blocking=False)
    assert r is not None, "the stress did not catch shm_copy.go's rules in 6 runs"
    f = r.fields
    assert r.returncode == 1 and f.get("mode") == "copy", r.output
    caught_by = [k for k in ("missing", "ghost", "bad_reads") if int(f.get(k, 0)) > 0]
    caught_by += [k for k in ("ledger",) if f.get(k) == "bad"]
    caught_by += ["integrity"] if f.get("integrity") != "ok" else []
    caught_by += ["errors"] if int(f.get("errors", 0)) > 0 else []
    assert caught_by, r.output


@pytest.mark.parametrize("build", ["walkit", "no FULL_REGIONS", "ncruces"])
def test_rollback_after_reset(tmp_path, build):
    """The targeted case of rule 4 (docs/vfs.md): passes with walkit's rules, fails with the
    header-skip rule, alone or within shm_copy.go's set."""
    flags = {"walkit": (), "no FULL_REGIONS": copy_flags(rules_without("FULL_REGIONS")),
             "ncruces": copy_flags(ncruces_rules())}[build]
    prog = build_program("test_copy", [HERE / "test_copy.c"], vfs_defines=flags)
    r = subprocess.run([str(prog)], capture_output=True, text=True, timeout=120)
    line = next(l for l in r.stdout.splitlines() if "rollback_after_reset_is_seen" in l)
    if build == "walkit":
        assert line.startswith("ok "), r.stdout
    else:
        assert line.startswith("FAIL ") and "rows of 2" in line, r.stdout


def test_debug_build_clean(tmp_path):
    r = run_copy_stress(tmp_path, "copy", workers=4, txns=40, readers=1, seed=2,
                        extra_flags=copy_flags(debug=True))
    assert r.ok and r.returncode == 0, r.output


def test_debug_build_catches_a_stray_write(tmp_path):
    r = run_copy_stress(tmp_path, "copy", workers=4, txns=40, readers=1, seed=2,
                        extra_flags=copy_flags(debug=True, plant_stray=True))
    assert r.returncode < 0 or r.returncode == 134, r.output  # SIGABRT
    assert "changed outside the transport" in r.output


@pytest.fixture(scope="module")
def tsan_works(tmp_path_factory):
    """TSan must catch a planted race with this toolchain, or a clean run proves nothing."""
    d = tmp_path_factory.mktemp("tsan-canary")
    (d / "race.c").write_text(
        "#include <pthread.h>\nstatic int shared;\n"
        "static void *bump(void *p) { (void)p; shared++; return 0; }\n"
        "int main(void) { pthread_t a, b; pthread_create(&a, 0, bump, 0);"
        " pthread_create(&b, 0, bump, 0); pthread_join(a, 0); pthread_join(b, 0);"
        " return shared == 0; }\n")
    subprocess.run(["cc", "-fsanitize=thread", "-g", "-O1", str(d / "race.c"), "-o",
                    str(d / "race"), "-lpthread"], check=True)
    r = subprocess.run([str(d / "race")], capture_output=True, text=True,
                       env={"TSAN_OPTIONS": "exitcode=66"})
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and r.returncode == 66, r.stderr


def test_copy_stress_under_thread_sanitizer(tmp_path, tsan_works):
    r = run_copy_stress(tmp_path, "copy", workers=4, txns=40, readers=1, seed=3, tsan=True,
                        timeout=900)
    assert r.tsan_reports == 0, r.output
    assert r.ok and r.returncode == 0, r.output


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


# Rules whose removal the stress catches (docs/vfs.md lists, for each rule, what catches it;
# FULL_REGIONS is caught by test_rollback_after_reset).
STRESS_CAUGHT_RULES = ["ACQUIRE_AFTER_GRANTED"]


@pytest.mark.parametrize("rule", STRESS_CAUGHT_RULES)
def test_rule_dropped_is_caught_by_the_stress(tmp_path, rule):
    r = first_failing_seed(tmp_path, copy_flags(rules_without(rule)), workers=16, txns=60,
                           readers=2, blocking=False)
    assert r is not None, f"the stress did not fail without {rule} in 6 runs"
    assert r.returncode == 1, r.output
