"""`walkit demo` end to end, on every board: it exits 0 only when every check it prints passed."""

from __future__ import annotations

import os
import subprocess
import sys

from walkit import cli, demo


def test_demo_verifies_wal_through_a_power_cut(walkit_board, walkit_image):
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "demo", "--board", walkit_board],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for check in ("[ok] locking_mode=exclusive, journal_mode=wal",
                  "[ok] on the target: demo.db-wal exists, no demo.db-shm",
                  "[ok] no -shm file on the flash",
                  "[ok] host sqlite3: PRAGMA integrity_check = ok",
                  "[ok] host sqlite3: all 100 committed rows are there (100)",
                  "[ok] target: PRAGMA integrity_check = ok",
                  "[ok] target: every committed row is present (100)",
                  "[ok] target and host see the same rows",
                  "walkit demo: every check passed."):
        assert check in out
    assert "FAILED" not in out
    # The cut is taken while the long write runs, as the flash image changes.
    assert "power cut" in out and "as the flash image changed" in out


def test_the_cut_write_counts_as_finished_when_its_reply_left_before_the_stop(tmp_path):
    """The reply of the cut write is looked for after the machine stopped: a commit whose reply
    leaves the target between the flash changing and the stop counts as finished (so the
    demo does not then demand that none of its rows survived)."""
    flash = tmp_path / "flash.img"
    flash.write_bytes(b"\xff")

    class Link:
        log = b""

        def log_bytes(self):
            return self.log

    class FakeTarget:
        def __init__(self):
            self.flash = flash
            self.link = Link()

        def power_cut(self):
            # The reply went out just before the machine stopped; the cut reads it into the
            # log before it closes the console (and drops the link).
            self.link.log += b"@1 K I20000 I20100\n"
            self.link = None

    class FakeConsole:
        def start(self, verb, *values):
            st = os.stat(flash)
            os.utime(flash, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the target wrote
            return 1

    rid, elapsed, finished = demo._cut_during_write(FakeTarget(), FakeConsole(), "demo")
    assert rid == 1 and elapsed >= 0
    assert finished


def test_an_sql_error_is_a_one_line_failure_with_the_console_log(walkit_board, walkit_image,
                                                                tmp_path, monkeypatch, capsys):
    """`walkit demo` turns an SQLite error it did not expect into its FAILED line, not a
    traceback."""
    monkeypatch.setattr(demo, "build_dir", lambda board: tmp_path / board)
    monkeypatch.setattr(demo, "DB", "/no/such/folder/demo.db")  # .open fails: no such folder
    rc = cli.main(["demo", "--board", walkit_board])
    out = capsys.readouterr()
    assert rc == 1
    failed = [line for line in out.out.splitlines() if "FAILED" in line]
    assert len(failed) == 1, out.out
    log = tmp_path / walkit_board / "demo" / "console.log"
    assert failed[0].startswith("walkit demo: FAILED: unexpected SQL error: SQLite error ")
    assert failed[0].endswith(f"Console log: {log}")
    assert "Traceback" not in out.out + out.err and log.is_file()
