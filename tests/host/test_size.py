"""`walkit size`: besides what the image reserves, what a short run on the board used (from the
console's .stats), as text and as --json."""

from __future__ import annotations

import json
import subprocess
import sys

WALKIT = [sys.executable, "-m", "walkit.cli"]


def test_size_reports_what_a_run_used(walkit_board, walkit_image):
    r = subprocess.run([*WALKIT, "size", "--board", walkit_board, "--json"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["board"] == walkit_board
    comps = rep["components"]
    assert {"SQLite", "walkit VFS", "littlefs", "firmware"} <= set(comps)
    assert rep["total"]["text"] == sum(c["text"] for c in comps.values())
    run = rep["run"]
    assert run["sqlite_memory_highwater"] > 100_000  # 2000 rows went through the page cache
    if rep["reserved"]["from"].startswith("linker symbols"):  # a bare-metal image
        assert 0 < run["stack_used_max"] < run["stack_size"] == rep["reserved"]["stack"]
        assert run["sqlite_memory_highwater"] <= run["heap_used"] <= run["heap_size"]
    else:  # host-sim: the OS owns heap and stack, the firmware reports 0 for both
        assert run["heap_size"] == run["stack_size"] == 0
    text = subprocess.run([*WALKIT, "size", "--board", walkit_board], capture_output=True,
                          text=True, timeout=300).stdout
    assert "used by a run (2 connections in WAL mode" in text.splitlines()[-1]


def test_size_without_a_run(walkit_board, walkit_image):
    r = subprocess.run([*WALKIT, "size", "--board", walkit_board, "--json", "--no-run"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["run"] is None
