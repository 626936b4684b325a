"""walkit.boards: every board has a CMake preset and a complete board.toml, an unknown board is a
clear error, sizes and flash geometry are validated."""

from __future__ import annotations

import json
import shutil

import pytest

from walkit import WalkitError
from walkit.boards import board_names, cmake_vars, load_board
from walkit.paths import repo_root

ROOT = repo_root()


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
                     ('fs_offset = 0', 'fs_offset = 100'),
                     # the flash pool partition: overlapping littlefs, past the end, misaligned
                     ('pool_offset = "16M"', 'pool_offset = "8M"'),
                     ('pool_size = "16M"', 'pool_size = "20M"'),
                     ('pool_offset = "16M"', 'pool_offset = "16400K"')):
        toml.write_text(good.replace(bad, why))
        with pytest.raises(WalkitError, match="board.toml: bad or missing field: flash"):
            load_board("host-sim")
    toml.write_text(good)
    f = load_board("host-sim").flash
    assert (f.size, f.pool_offset, f.pool_size) == (32 << 20, 16 << 20, 16 << 20)
