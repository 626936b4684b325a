"""vfs/walkit_sqlite_config.h, the SQLite configuration every walkit object is compiled with."""

from __future__ import annotations

import subprocess

import pytest

from walkit.native.build import CC, common_flags, vfs_dir


@pytest.mark.parametrize("value, refused", [("1", False), ("2", True), ("0", True)])
def test_setlk_timeout_protocol_other_than_1_is_refused(value, refused):
    """walkit implements SQLITE_ENABLE_SETLK_TIMEOUT=1 (a timed wait, SQLITE_BUSY_TIMEOUT);
    the config header refuses any other value at compile time."""
    r = subprocess.run([CC, "-fsyntax-only", *common_flags(), f"-DSQLITE_ENABLE_SETLK_TIMEOUT={value}",
                        str(vfs_dir() / "shm" / "registry.c")], capture_output=True, text=True)
    assert (r.returncode != 0) == refused, r.stderr
    assert ("SQLITE_ENABLE_SETLK_TIMEOUT=1 only" in r.stderr) == refused, r.stderr
