"""Finding the source tree the board images are built from, also from a regular (non-editable)
install used by another project: `pip install path/to/walkit[test]` used to leave the plugin
failing with `cannot find the walkit source tree; set WALKIT_ROOT`, a variable documented
nowhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from walkit.paths import repo_root

PROBE = "from walkit.paths import repo_root; print(repo_root())"


def _installed_copy(tmp_path: Path) -> Path:
    """The package as a regular install lays it out: setup.py's build_py, into a folder of its
    own (what pip runs when it builds the wheel)."""
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)],
                   cwd=repo_root(), check=True, capture_output=True)
    return lib


def _probe(lib: Path, cwd: Path, **env):
    clean = {k: v for k, v in os.environ.items() if k != "WALKIT_ROOT"}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(lib), **env}, timeout=60)


def test_a_regular_install_records_its_source_tree(tmp_path):
    lib = _installed_copy(tmp_path)
    assert (lib / "walkit" / "_source_root.txt").read_text().strip() == str(repo_root())
    elsewhere = tmp_path / "my_project"
    elsewhere.mkdir()
    r = _probe(lib, elsewhere)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(repo_root())


def test_without_a_record_walkit_root_or_the_cwd_finds_it_and_the_error_names_the_variable(tmp_path):
    lib = _installed_copy(tmp_path)
    (lib / "walkit" / "_source_root.txt").unlink()
    elsewhere = tmp_path / "my_project"
    elsewhere.mkdir()
    r = _probe(lib, elsewhere)
    assert r.returncode != 0
    assert "set WALKIT_ROOT=/path/to/walkit" in r.stderr
    assert _probe(lib, elsewhere, WALKIT_ROOT=str(repo_root())).stdout.strip() == str(repo_root())
    inside = repo_root() / "docs"
    assert _probe(lib, inside).stdout.strip() == str(repo_root())
    r = _probe(lib, elsewhere, WALKIT_ROOT=str(elsewhere))
    assert "is not a walkit source tree" in r.stderr


def test_walkit_root_is_documented():
    readme = (repo_root() / "README.md").read_text()
    assert "WALKIT_ROOT" in readme
