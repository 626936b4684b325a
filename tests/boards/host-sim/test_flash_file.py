"""boards/host-sim/flash_file.c, the host-sim board's flash (a file of board.toml's size)."""

from __future__ import annotations

import pytest


@pytest.mark.boards("host-sim")
def test_host_sim_refuses_a_flash_file_of_the_wrong_size(target_factory, tmp_path):
    """The firmware's own check, behind the harness's (which refuses the file before boot;
    check_flash=False lets it through to see what the firmware does)."""
    bad = tmp_path / "small.img"
    bad.write_bytes(b"\xff" * 4096)
    t = target_factory(flash=bad, check_flash=False)
    assert "flash: " in t.boot_output and "board.toml says" in t.boot_output
    assert t.console.stats()["fs.state"] == "none"
    t.shutdown()
    assert bad.read_bytes() == b"\xff" * 4096
