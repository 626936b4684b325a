"""walkit.build: the pinned SQLite built without mmap, a smoke image per board that links, reports
its sizes and runs (on QEMU and host-sim), `walkit build` printing the image path, and a build
that references mmap failing by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.boards import load_board
from walkit.bootstrap import SQLITE
from walkit.build import build
from walkit.linkcheck import check as linkcheck
from walkit.paths import repo_root
from walkit.size import report

ROOT = repo_root()
SMOKE_ANSWER = 42  # firmware/smoke/smoke.c exits with 6 * 7 computed by SQLite


@pytest.mark.parametrize("board", ["qemu-virt-a15", "host-sim"])
def test_smoke_image_links_sqlite_without_mmap_and_reports_sizes(build_image, board):
    image = build_image(board, "walkit-smoke")
    assert linkcheck(image, image.parent / "walkit-smoke.map") == []
    rep = report(image, image.parent / "walkit-smoke.map", load_board(board))
    # SQLite is really in there, and attributed to the right component
    assert rep.rows["SQLite"]["text"] > 300_000
    assert rep.rows["firmware"]["text"] > 0
    assert rep.stack and rep.heap
    if board == "qemu-virt-a15":
        assert (rep.stack, rep.heap) == (load_board(board).stack_size, load_board(board).heap_size)
        # the per-component sum agrees with the toolchain's own size tool
        out = subprocess.run(["arm-none-eabi-size", "-A", str(image)], capture_output=True,
                             text=True, check=True).stdout
        secs = dict((l.split()[0], int(l.split()[1])) for l in out.splitlines()
                    if l.startswith(".") and len(l.split()) >= 2)
        text = sum(v for k, v in secs.items() if k in (".text", ".rodata", ".ARM.exidx", ".init_array"))
        ours = sum(r["text"] for r in rep.rows.values())
        assert abs(ours - text) <= 0.01 * text


def test_smoke_image_boots_on_qemu_and_exits_with_sqlites_answer(build_image):
    board = load_board("qemu-virt-a15")
    image = build_image("qemu-virt-a15", "walkit-smoke")
    cmd = [board.qemu_binary, *board.qemu_args, "-serial", "stdio", "-kernel", str(image)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert f"SQLite {SQLITE.version}, mmap size limit 0, answer 42" in r.stdout, r.stdout + r.stderr
    assert r.returncode == SMOKE_ANSWER


def test_smoke_image_runs_on_host_sim(build_image):
    image = build_image("host-sim", "walkit-smoke")
    r = subprocess.run([str(image)], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "answer 42" in r.stdout and r.returncode == SMOKE_ANSWER


def test_walkit_build_prints_the_image_path_last(build_image):
    build_image("host-sim", "walkit-smoke")  # already built: this run only checks and relinks
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "build", "--board", "host-sim",
                        "--target", "walkit-smoke"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert Path(last).is_file() and last.endswith("walkit-smoke")
    assert f"SQLite {SQLITE.version} (pinned)" in r.stdout and SQLITE.member_sha256["sqlite3.c"] in r.stdout


def test_build_fails_naming_the_object_when_an_image_references_mmap(tmp_path, monkeypatch):
    """host-sim links glibc, where mmap exists: only the link check stands between it and the
    image.  A separate build tree so the default one stays clean."""
    monkeypatch.setenv("WALKIT_BUILD", str(tmp_path / "build"))
    extra = {"WALKIT_EXTRA_SOURCES": str(ROOT / "tests/data/uses_mmap.c")}
    with pytest.raises(WalkitError) as e:
        build("host-sim", "walkit-smoke", extra_defs=extra)
    msg = str(e.value)
    assert "forbidden symbol 'mmap' referenced by" in msg and "uses_mmap.c.o" in msg
    # the failed image is gone, so the next build cannot mistake it for an up-to-date one
    assert not (tmp_path / "build" / "host-sim" / "walkit-smoke").exists()
