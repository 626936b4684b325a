"""What a user sees when a test on a target fails: an SQL error from the test's own line
(without the console's internal frames), the console's last output decoded (not raw
machine-mode frames) and printed once, and a flash image that does not take 64 MiB."""

from __future__ import annotations

import subprocess
import sys

from walkit.boards import load_board

USER_TESTS = '''
import pytest

def test_sql_error(db):
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO nosuch VALUES (1)")

def test_timeout(target, db):
    db.execute("CREATE TABLE t(x)")
    target.console.sql(db.name, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                "SELECT count(*) FROM c", timeout=0.5)
'''


def _run(tmp_path, *args):
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "--walkit-artifacts", str(tmp_path / "art"),
                           "--board", "host-sim", *args, str(tmp_path / "test_user.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _section(out: str, test: str) -> str:
    """One test's failure report: up to the next test's, or the summary.  The summary is not
    part of it: with CI set, pytest prints each failure's whole message there again."""
    start = out.index(f"_ {test}[host-sim] _")
    ends = [e for e in (out.find("\n____", start + 1), out.find("\n====", start + 1)) if e > 0]
    return out[start:min(ends) if ends else len(out)]


def test_failure_output_is_for_a_person(tmp_path):
    r = _run(tmp_path)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    sql = _section(out, "test_sql_error")
    assert 'db.execute("INSERT INTO nosuch VALUES (1)")' in sql  # the test's own line
    assert "SqlError: SQLite error 1: no such table: nosuch" in sql
    assert "walkit/console/" not in sql  # no frames of the harness for a plain SQL error
    assert "> #3 c1: INSERT INTO nosuch VALUES (1)" in sql  # the tail, decoded
    assert "< #3 error 1: no such table: nosuch" in sql
    assert "@3 E" not in sql and "TINSERT%20" not in sql
    timeout = _section(out, "test_timeout")
    assert "TargetTimeout" in timeout
    assert timeout.count("--- last console output ---") == 1
    assert timeout.count("> #3 c1: WITH RECURSIVE") == 1  # the tail printed once
    art = tmp_path / "art" / "test_user.py_test_sql_error_host-sim"
    gz = art / "flash.img.gz"
    assert gz.is_file() and not (art / "flash.img").exists()
    assert gz.stat().st_size < 1 << 20  # the host-sim flash (tens of MiB), mostly erased


def test_flash_artifacts_can_be_kept_whole_or_left_out(tmp_path):
    r = _run(tmp_path, "-k", "sql_error", "--walkit-flash-artifacts", "none")
    art = tmp_path / "art" / "test_user.py_test_sql_error_host-sim"
    assert r.returncode == 1 and (art / "console.log").is_file()
    assert not list(art.glob("flash.img*"))
    r = _run(tmp_path, "-k", "sql_error", "--walkit-flash-artifacts", "full")
    assert (art / "flash.img").stat().st_size == load_board("host-sim").flash.size
