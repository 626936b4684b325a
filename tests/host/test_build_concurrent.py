"""``walkit build``: builds of one tree take turns (a lock beside the tree), so several at once
all succeed; CMake replaces walkit-board.cmake atomically (never rewritten in place)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from walkit.build import build_lock

ROOT = Path(__file__).resolve().parents[2]


def _build_cmd() -> list[str]:
    return [sys.executable, "-m", "walkit.cli", "build", "--board", "host-sim", "--target", "walkit-smoke"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A build parent folder of its own, so that the default trees are left alone."""
    return tmp_path_factory.mktemp("build")


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "WALKIT_BUILD": str(tree)}


def test_a_build_waits_while_another_holds_the_tree(tree):
    with build_lock(tree / "host-sim"):
        p = subprocess.Popen(_build_cmd(), env=_env(tree), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            first = p.stdout.readline() + p.stdout.readline()
            assert "waiting for another build of" in first, first
            time.sleep(1.0)
            assert p.poll() is None  # still waiting: it did not touch the tree
        except BaseException:
            p.kill()
            p.wait()
            raise
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err
    assert out.strip().splitlines()[-1].endswith("walkit-smoke")


def test_several_builds_of_one_tree_at_once_all_succeed(tree):
    procs = [subprocess.Popen(_build_cmd(), env=_env(tree), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=900) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0, err
        assert Path(out.strip().splitlines()[-1]).is_file()
    board = (tree / "host-sim" / "walkit-board.cmake").read_text()
    assert "WALKIT_BOARD_OS_PORT" in board
    assert not list((tree / "host-sim").glob("walkit-board.cmake.*"))  # no temp file left behind
