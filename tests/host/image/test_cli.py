"""``walkit image create|put|ls|get``: a round trip, and errors that are one line and modify
nothing."""

from __future__ import annotations

import shutil

import pytest

from support.cli import run_cli
from support.image_helpers import BOARD, sha
from walkit.boards import load_board


def test_cli_create_put_ls_get(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.bin").write_bytes(b"payload")
    assert run_cli(capsys, "image", "create", "--format", "f.img")[0] == 0
    assert run_cli(capsys, "image", "put", "f.img", "local.bin", "/data/")[0] == 0
    rc, out, _ = run_cli(capsys, "image", "ls", "--board", BOARD, "f.img")
    assert rc == 0
    assert "/data/local.bin" in out and " 7 " in out
    rc, _, _ = run_cli(capsys, "image", "get", "f.img", "/data/local.bin", "back.bin")
    assert rc == 0 and (tmp_path / "back.bin").read_bytes() == b"payload"
    rc, _, _ = run_cli(capsys, "image", "get", "f.img", "/data/local.bin")
    assert rc == 0 and (tmp_path / "local.bin").read_bytes() == b"payload"


@pytest.mark.parametrize("argv, message", [
    (["image", "ls", "blank.img"], "blank image"),
    (["image", "ls", "short.img"], "needs exactly"),
    (["image", "get", "f.img", "/nope"], "no such file in the image"),
    (["image", "put", "f.img", "missing-local"], "missing-local: no such file"),
    (["image", "ls", "--board", "host-sim", "f.img"], f"needs exactly {load_board('host-sim').flash.size}"),
    (["image", "create", "f.img"], "already exists"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, formatted, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blank.img").write_bytes(b"\xff" * load_board(BOARD).flash.size)
    shutil.copyfile(formatted, tmp_path / "f.img")
    (tmp_path / "short.img").write_bytes(b"\xff" * 10)
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("walkit: error: ") and message in err
    assert "Traceback" not in err
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before
