"""Threaded stress of the heap WAL-index in one process (tests/scenarios/stress.c): writers transfer
between accounts, readers check the invariant inside read transactions, a checkpointer cycles
PASSIVE/FULL/RESTART/TRUNCATE; then integrity_check and the invariant.  The same program built
with -fsanitize=thread must report no data race.

CI runs small sizes.  Full size (minutes):
    .venv/bin/python -m walkit.native.stress --tsan --writers 8 --txns 2000 --readers 8
    .venv/bin/python -m walkit.native.stress --writers 8 --txns 20000 --readers 8
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from walkit.native.stress import run_stress


def test_stress_invariant_holds(tmp_path):
    r = run_stress(tmp_path, writers=4, txns=300, readers=4, timeout=300)
    assert r.ok and r.returncode == 0, r.output
    f = r.fields
    assert int(f["commits"]) == 1200 and int(f["bad_reads"]) == 0
    assert int(f["reads"]) > 0 and int(f["ckpt_ok"]) > 0, "readers and checkpointer really ran"
    assert f["integrity"] == "ok" and int(f["os_errors"]) == 0
    assert not list(tmp_path.glob("*-shm"))


@pytest.fixture(scope="module")
def tsan_works(tmp_path_factory):
    """TSan itself must catch a planted race in this toolchain, or a clean stress run would
    prove nothing."""
    cc = shutil.which("cc") or shutil.which("gcc")
    d = tmp_path_factory.mktemp("tsan-canary")
    (d / "race.c").write_text(
        "#include <pthread.h>\nstatic int shared;\n"
        "static void *bump(void *p) { (void)p; shared++; return 0; }\n"
        "int main(void) { pthread_t a, b; pthread_create(&a, 0, bump, 0);"
        " pthread_create(&b, 0, bump, 0); pthread_join(a, 0); pthread_join(b, 0);"
        " return shared == 0; }\n")
    subprocess.run([cc, "-fsanitize=thread", "-g", "-O1", str(d / "race.c"), "-o", str(d / "race"),
                    "-lpthread"], check=True)
    r = subprocess.run([str(d / "race")], capture_output=True, text=True,
                       env={"TSAN_OPTIONS": "exitcode=66"})
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and r.returncode == 66, r.stderr


def test_stress_under_thread_sanitizer(tmp_path, tsan_works):
    r = run_stress(tmp_path, writers=3, txns=100, readers=2, tsan=True, timeout=600)
    assert r.tsan_reports == 0, r.output
    assert r.ok and r.returncode == 0, r.output
    assert int(r.fields["commits"]) == 300 and int(r.fields["reads"]) > 0
