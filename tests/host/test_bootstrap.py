"""walkit.bootstrap: its failure messages and its cached (offline) path, without network."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.bootstrap import (
    LITTLEFS, SQLITE, Pinned, apt_command, ensure_debs, fetch, sqlite_source, sqlite_version_of,
)


def _fake_pinned(tmp_path: Path, content: bytes = b"int x;\n", sha: str | None = None) -> tuple[Pinned, bytes]:
    """A pinned source whose archive is a tarball we make, placed in the download cache."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/src/thing.c")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    data = buf.getvalue()
    p = Pinned(name="thing", version="1.0", client="npm", spec="thing@1.0", archive="thing-1.0.tgz",
               archive_sha256=sha or hashlib.sha256(data).hexdigest(),
               members={"src/thing.c": "thing.c"},
               member_sha256={"thing.c": hashlib.sha256(content).hexdigest()})
    return p, data


def _no_network_path(tmp_path: Path, monkeypatch, npm_script: str | None) -> None:
    """PATH with only a fake npm (or none): any attempt to reach a registry is visible."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if npm_script is not None:
        npm = bindir / "npm"
        npm.write_text("#!/bin/sh\n" + npm_script)
        npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bindir))


def test_cached_archive_is_verified_and_extracted_without_network(tmp_path, monkeypatch):
    p, data = _fake_pinned(tmp_path)
    (tmp_path / "cache/downloads").mkdir(parents=True)
    (tmp_path / "cache/downloads" / p.archive).write_bytes(data)
    _no_network_path(tmp_path, monkeypatch, "echo npm must not run >&2; exit 99\n")
    d = fetch(p, tmp_path / "cache")
    assert (d / "thing.c").read_bytes() == b"int x;\n"
    assert fetch(p, tmp_path / "cache") == d  # second run: from the extracted cache


def test_hash_mismatch_names_the_file_expected_and_got(tmp_path, monkeypatch):
    p, data = _fake_pinned(tmp_path, sha="0" * 64)
    (tmp_path / "cache/downloads").mkdir(parents=True)
    bad = tmp_path / "cache/downloads" / p.archive
    bad.write_bytes(data)
    _no_network_path(tmp_path, monkeypatch, "exit 99\n")
    with pytest.raises(WalkitError) as e:
        fetch(p, tmp_path / "cache")
    msg = str(e.value)
    assert msg == (f"sha256 mismatch for {p.archive}: expected {'0' * 64}, "
                   f"got {hashlib.sha256(data).hexdigest()}")
    assert not bad.exists()  # a bad download is not kept: the next run fetches it again


def test_tampered_cached_source_is_fetched_again(tmp_path, monkeypatch):
    p, data = _fake_pinned(tmp_path)
    (tmp_path / "cache/downloads").mkdir(parents=True)
    (tmp_path / "cache/downloads" / p.archive).write_bytes(data)
    _no_network_path(tmp_path, monkeypatch, None)
    d = fetch(p, tmp_path / "cache")
    (d / "thing.c").write_text("evil\n")
    d2 = fetch(p, tmp_path / "cache")
    assert (d2 / "thing.c").read_bytes() == b"int x;\n"


def test_unreachable_registry_is_one_clear_line(tmp_path, monkeypatch):
    p, _ = _fake_pinned(tmp_path)
    _no_network_path(tmp_path, monkeypatch,
                     "echo 'npm error code ENOTFOUND' >&2\n"
                     "echo 'npm error network request failed, reason: getaddrinfo ENOTFOUND' >&2\nexit 1\n")
    with pytest.raises(WalkitError, match=r"cannot fetch thing@1.0: the npm registry is not reachable \(npm error network"):
        fetch(p, tmp_path / "cache")


def test_missing_registry_client_names_the_install_command(tmp_path, monkeypatch):
    p, _ = _fake_pinned(tmp_path)
    _no_network_path(tmp_path, monkeypatch, None)
    with pytest.raises(WalkitError, match=r"npm not found: install it with `apt-get install -y npm`"):
        fetch(p, tmp_path / "cache")


def test_apt_as_non_root_prints_the_command():
    with pytest.raises(WalkitError) as e:
        ensure_debs(["walkit-no-such-package-xyz"], is_root=False)
    assert "need root" in str(e.value) and apt_command(["walkit-no-such-package-xyz"]) in str(e.value)


def test_missing_user_sqlite_source_is_a_clear_error(tmp_path):
    with pytest.raises(WalkitError, match="no sqlite3.c there"):
        sqlite_source(str(tmp_path / "nowhere"))
    (tmp_path / "sqlite3.c").write_text("/* not much */\n")
    with pytest.raises(WalkitError, match="sqlite3.h missing"):
        sqlite_source(str(tmp_path))


def test_user_sqlite_source_is_described_with_version_and_hash(tmp_path):
    pinned = sqlite_source()  # the real pinned amalgamation (fetched by the bootstrap)
    assert pinned.origin == "pinned" and pinned.version == SQLITE.version
    for f in ("sqlite3.c", "sqlite3.h"):
        os.symlink(pinned.dir / f, tmp_path / f)
    mine = sqlite_source(str(tmp_path / "sqlite3.c"))
    assert mine.origin == "WALKIT_SQLITE_SRC" and mine.version == sqlite_version_of(pinned.dir / "sqlite3.h")
    assert mine.sha256 == SQLITE.member_sha256["sqlite3.c"]
    assert str(tmp_path) in mine.describe() and mine.sha256 in mine.describe()


def test_pinned_sources_are_what_platform_notes_name():
    assert SQLITE.spec == "better-sqlite3@12.11.1" and SQLITE.version == "3.53.2"
    assert LITTLEFS.spec == "littlefs-python==0.19.0"
    d = fetch(LITTLEFS)
    assert "#define LFS_VERSION 0x0002000b" in (d / "lfs.h").read_text()
