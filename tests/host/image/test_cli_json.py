"""`walkit image ls --json`: the listing as data, like the wal and snapshot tools give theirs."""

from __future__ import annotations

import json
import subprocess
import sys

WALKIT = [sys.executable, "-m", "walkit.cli"]


def test_image_ls_json_lists_files_and_dirs(tmp_path):
    img = tmp_path / "f.img"
    local = tmp_path / "a.txt"
    local.write_bytes(b"x" * 123)
    subprocess.run([*WALKIT, "image", "create", "--board", "host-sim", "--format", str(img)],
                   check=True, capture_output=True)
    subprocess.run([*WALKIT, "image", "put", "--board", "host-sim", str(img), str(local),
                    "/dir/a.txt"], check=True, capture_output=True)
    r = subprocess.run([*WALKIT, "image", "ls", "--board", "host-sim", "--json", str(img)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"path": "/dir", "type": "dir", "size": 0},
                                    {"path": "/dir/a.txt", "type": "file", "size": 123}]
