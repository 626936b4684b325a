"""`walkit demo` end to end, on every board: it exits 0 only when every check it prints passed."""

from __future__ import annotations

import subprocess
import sys


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
