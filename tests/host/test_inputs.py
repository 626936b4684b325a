"""walkit.inputs through every tool (issue 12, items 5-7): input files must be regular files
(a FIFO, device, directory or symlink loop is a one-line error at once, never a hang or a
read until memory runs out), only regular files or new paths are written (``--force``
included), and file names are shown escaped."""

from __future__ import annotations

import os
import shutil
import socket
import stat

import pytest

from support.bounded_cli import check, run_walkit
from support.wal_helpers import make_db
from walkit import inputs
from walkit.image import create_image

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    f = make_db(1024, ["CREATE TABLE t(x)"], [[("INSERT INTO t VALUES (?)", (b"x" * 3000,))]])
    (d / "a.db").write_bytes(f.db)
    (d / "a.db-wal").write_bytes(f.wal)
    create_image(d / "f.img", "qemu-virt-a15", format=True)
    return d


@pytest.fixture
def nodes(tmp_path):
    """Every kind of non-regular file, made without privileges."""
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop-b", tmp_path / "loop-a")
    os.symlink("loop-a", tmp_path / "loop-b")
    os.symlink("/dev/null", tmp_path / "devlink")
    os.symlink("nowhere", tmp_path / "dangling")
    os.mkdir(tmp_path / "dir")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    yield tmp_path
    sock.close()


BAD_INPUTS = {
    "fifo": "is a FIFO (named pipe), not a regular file",
    "loop-a": "too many levels of symbolic links (a symlink loop)",
    "devlink": "is a character device, not a regular file",
    "dir": "is a directory, not a regular file",
    "sock": "is a socket, not a regular file",
    "dangling": "no such file",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_inputs_that_are_not_regular_files(files, nodes, name):
    bad = nodes / name
    db, wal = files / "a.db", files / "a.db-wal"
    for argv in (["wal", "inspect", bad], ["wal", "verify", bad, wal], ["wal", "verify", db, bad],
                 ["wal", "compact", bad, nodes / "out.wal"],
                 ["snapshot", "add", "--store", nodes / "s", bad],
                 ["snapshot", "add", "--store", nodes / "s", db, bad],
                 ["image", "ls", bad], ["image", "put", files / "f.img", bad, "/x"],
                 ["snapshot", "take", "--store", nodes / "s", bad]):
        o = check(run_walkit(*argv, timeout=TIMEOUT), {1})
        image_arg = argv[0] == "image" and argv[1] == "ls" or argv[1] == "take"
        want = "no such image" if name == "dangling" and image_arg else BAD_INPUTS[name]
        assert f"{bad}: {want}" in o.stderr, o.stderr
    assert not (nodes / "out.wal").exists()


def test_dev_zero_is_not_read():
    o = check(run_walkit("wal", "inspect", "/dev/zero", timeout=TIMEOUT, mem_mb=100), {1})
    assert o.stderr == "walkit: error: /dev/zero: is a character device, not a regular file\n"


def _kind(path) -> str:
    return stat.filemode(os.lstat(path).st_mode)[0]


@pytest.mark.parametrize("name", ["fifo", "devlink", "sock", "dir", "loop-a", "dangling"])
def test_force_replaces_only_regular_files(files, nodes, tmp_path, name):
    """Each tool that writes a file, given a non-regular OUT and --force where it has one:
    refused, and OUT is what it was."""
    out = nodes / name
    before = (_kind(out), os.readlink(out) if os.path.islink(out) else None)
    wal, db, img = files / "a.db-wal", files / "a.db", files / "f.img"
    store = tmp_path / "store"
    check(run_walkit("snapshot", "add", "--store", store, db, timeout=TIMEOUT), {0})
    for argv in (["wal", "compact", wal, out, "--force"],
                 ["wal", "verify", db, wal, "--out", out, "--force"],
                 ["snapshot", "restore", "--store", store, "latest", out, "--force"],
                 ["image", "create", out, "--force"]):
        o = run_walkit(*argv, timeout=TIMEOUT)
        check(o, {1})
        assert (_kind(out), os.readlink(out) if os.path.islink(out) else None) == before, argv
    if name == "dir":
        return  # `image get IMG PATH DIR` writes DIR/name, as documented
    shutil.copyfile(img, tmp_path / "g.img")
    check(run_walkit("image", "put", tmp_path / "g.img", wal, "/w", timeout=TIMEOUT), {0})
    o = check(run_walkit("image", "get", tmp_path / "g.img", "/w", out, timeout=TIMEOUT), {1})
    assert str(out) in o.stderr
    assert (_kind(out), os.readlink(out) if os.path.islink(out) else None) == before


def test_force_replaces_a_regular_file_and_writes_through_a_symlink(files, tmp_path):
    wal = files / "a.db-wal"
    (tmp_path / "old.wal").write_bytes(b"old")
    check(run_walkit("wal", "compact", wal, tmp_path / "old.wal", timeout=TIMEOUT), {1})
    check(run_walkit("wal", "compact", wal, tmp_path / "old.wal", "--force", timeout=TIMEOUT), {0})
    assert (tmp_path / "old.wal").read_bytes()[:4] == bytes.fromhex("377f0682")
    (tmp_path / "real.wal").write_bytes(b"old")
    os.symlink("real.wal", tmp_path / "link.wal")
    check(run_walkit("wal", "compact", wal, tmp_path / "link.wal", "--force", timeout=TIMEOUT), {0})
    assert os.readlink(tmp_path / "link.wal") == "real.wal"  # still a link, to the new content
    assert (tmp_path / "real.wal").read_bytes() == (tmp_path / "old.wal").read_bytes()


def test_output_problem():
    assert inputs.output_problem("/dev/null") == "is a character device; walkit replaces only regular files"
    assert inputs.output_problem("/nonexistent-walkit-path") is None


@pytest.mark.parametrize("name, shown", [
    ("plain/app.db", "plain/app.db"),
    ("caf\u00e9.db", "caf\u00e9.db"),
    ("\udcff.db", "\\xff.db"),
    (b"\xff\xfe.db", "\\xff\\xfe.db"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("a\nb\tc\\d", "a\\nb\\tc\\\\d"),
    ("bidi\u202eevil", "bidi\\u202eevil"),
    ("del\x7f\x85", "del\\x7f\\x85"),
    ("\ud800lone", "\\xed\\xa0\\x80lone"),
])
def test_show(name, shown):
    assert inputs.show(name) == shown
    assert all(c.isprintable() for c in inputs.show(name))


def test_name_bytes_round_trips_every_byte():
    raw = bytes(range(1, 256))
    assert inputs.name_bytes(raw.decode("utf-8", "surrogateescape")) == raw
