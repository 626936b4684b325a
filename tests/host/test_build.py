"""Issue 2: the build kit: boards, pinned SQLite without mmap, link check, size report, smoke
image on QEMU and host-sim."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.boards import board_names, cmake_vars, load_board
from walkit.bootstrap import SQLITE
from walkit.build import build
from walkit.linkcheck import check as linkcheck
from walkit.paths import repo_root
from walkit.size import report

ROOT = repo_root()
SMOKE_ANSWER = 42  # firmware/smoke/smoke.c exits with 6 * 7 computed by SQLite


def test_every_board_has_a_preset_and_a_complete_description():
    presets = json.loads((ROOT / "CMakePresets.json").read_text())
    names = {p["name"] for p in presets["configurePresets"]}
    assert {"qemu-virt-a15", "host-sim"} <= set(board_names())
    assert names == set(board_names())
    for name in board_names():
        b = load_board(name)
        for src in b.sources:
            assert (b.dir / src).is_file(), f"{name}: source {src} missing"
        text = cmake_vars(b)
        assert f'set(WALKIT_BOARD_OS_PORT "{b.os_port}")' in text
        assert (ROOT / "vfs" / "os" / f"{b.os_port}.c").is_file()


def test_unknown_board_is_a_clear_error():
    with pytest.raises(WalkitError, match="unknown board 'nope'.*qemu-virt-a15"):
        load_board("nope")


def _cc_object(tmp_path: Path, code: str, name: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(code)
    obj = tmp_path / f"{name}.o"
    subprocess.run(["cc", "-c", str(src), "-o", str(obj)], check=True)
    return obj


def test_linkcheck_names_the_object_that_references_mmap(tmp_path):
    bad = _cc_object(tmp_path, (ROOT / "tests/data/uses_mmap.c").read_text(), "uses_mmap")
    good = _cc_object(tmp_path, "int add(int a, int b) { return a + b; }\n", "clean")
    assert linkcheck(good) == []
    problems = linkcheck(bad)
    assert len(problems) == 1 and "'mmap' referenced by" in problems[0] and "uses_mmap.o" in problems[0]
    lib = tmp_path / "libmix.a"
    subprocess.run(["ar", "rcs", str(lib), str(good), str(bad)], check=True)
    problems = linkcheck(lib)
    assert problems and "libmix.a(uses_mmap.o)" in problems[0] and "clean.o" not in problems[0]
    # the CLI: exit status 1 and the object named on stderr
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(good), str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "uses_mmap.o" in r.stderr


def test_linkcheck_rejects_garbage_with_one_line(tmp_path):
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"\x7fELF" + b"\x01\x01\x01" + b"\0" * 9)
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(junk)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "junk.elf" in r.stderr


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


def test_linkcheck_refuses_a_stripped_image_instead_of_passing_it(tmp_path):
    src = tmp_path / "m.c"
    src.write_text((ROOT / "tests/data/uses_mmap.c").read_text() + "\nint main(void) { return 0; }\n")
    exe = tmp_path / "static-mmap"
    subprocess.run(["cc", "-static", str(src), "-o", str(exe)], check=True)
    assert linkcheck(exe)  # unstripped: the reference is found
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    with pytest.raises(WalkitError, match="no symbol table"):
        linkcheck(exe)
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no symbol table" in r.stderr and "Traceback" not in r.stderr


def test_board_file_sizes_and_flash_geometry_are_validated(tmp_path, monkeypatch):
    from walkit.boards import _size

    assert [_size(x) for x in ("64M", "256K", "4KiB", "0x2B", "16", 7)] == [64 << 20, 256 << 10, 4096, 43, 16, 7]
    root = tmp_path / "root"
    shutil.copytree(ROOT / "boards", root / "boards")
    (root / "CMakeLists.txt").write_text("")
    monkeypatch.setenv("WALKIT_ROOT", str(root))
    toml = root / "boards" / "host-sim" / "board.toml"
    good = toml.read_text()
    for bad, why in (('fs_size = "16M"', 'fs_size = "17M"'), ('prog_size = 16', 'prog_size = 0'),
                     ('fs_offset = 0', 'fs_offset = 100')):
        toml.write_text(good.replace(bad, why))
        with pytest.raises(WalkitError, match="board.toml: bad or missing field: flash"):
            load_board("host-sim")
    toml.write_text(good)
    assert load_board("host-sim").flash.size == 16 << 20
