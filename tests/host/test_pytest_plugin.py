"""The pytest plugin as a user meets it: a test file of their own, run by pytest with
--board, gets booted targets and connections, runs once per board, and a failing test leaves its
console log and flash image behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from walkit.image import open_image

USER_TESTS = '''
import pytest

def test_passes(db):
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (1), (2)")
    assert db.execute("SELECT sum(x) FROM t") == [(3,)]

def test_fails(target, db):
    db.execute("CREATE TABLE evidence(x)")
    db.execute("INSERT INTO evidence VALUES ('left behind')")
    assert db.execute("SELECT count(*) FROM evidence") == [(2,)]

@pytest.mark.boards("host-sim")
def test_only_on_host_sim(walkit_board):
    assert walkit_board == "host-sim"
'''


def _run_user_tests(tmp_path, *args):
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    art = tmp_path / "art"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "--walkit-artifacts", str(art), *args,
                        str(tmp_path / "test_user.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return r, art


def test_user_tests_run_per_board_and_failures_leave_artifacts(tmp_path):
    r, art = _run_user_tests(tmp_path, "--board", "host-sim,qemu-virt-a15")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    for board in ("host-sim", "qemu-virt-a15"):
        assert f"PASSED test_user.py::test_passes[{board}]" in out
        assert f"FAILED test_user.py::test_fails[{board}]" in out
    assert "PASSED test_user.py::test_only_on_host_sim[host-sim]" in out
    assert "test_only_on_host_sim[qemu-virt-a15]" not in out
    for board in ("host-sim", "qemu-virt-a15"):
        d = art / f"test_user.py_test_fails_{board}"
        assert f"walkit {board}: artifacts in {d}" in out
        log = (d / "console.log").read_text()
        assert "walkit: ready" in log and "evidence" in log
        assert (d / "process.log").is_file()
        with open_image(d / "flash.img", board) as img:
            assert img.exists("/test.db")  # the flash as it was when the test failed
    assert not any(p.name.startswith("test_user.py_test_passes") for p in art.iterdir())


def test_board_option_selects_boards(tmp_path):
    r, _ = _run_user_tests(tmp_path, "--board", "host-sim", "-k", "passes or only")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout and "qemu-virt-a15" not in r.stdout
    r, _ = _run_user_tests(tmp_path, "--board", "no-such-board")
    assert r.returncode != 0 and "unknown board" in (r.stdout + r.stderr)


def test_the_example_in_docs_writing_tests_passes(tmp_path):
    """docs/writing-tests.md's first example, run as a user would (host-sim: the fast board)."""
    import re

    from walkit.paths import repo_root

    doc = (repo_root() / "docs" / "writing-tests.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "test_my_app.py").write_text(code)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "--board", "host-sim",
                        str(tmp_path / "test_my_app.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout + r.stderr
