"""A damaged snapshot store is reported, never looped over or crashed on (issue 12, items 3-4):
``snapshot check`` says what is damaged (exit 2), ``list`` and ``restore`` refuse with one
line (exit 1), each within a time limit and a memory cap, whatever the manifest says about
parents, ids, kinds and hashes, and whatever kind of file stands where the store expects a
regular one."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from support.bounded_cli import check, run_walkit
from support.snapshot_store import build_store

TIMEOUT = 10.0  # a healthy call takes well under a second; a hang is killed here


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("store") / "s")


@pytest.fixture
def store(template, tmp_path):
    dst = tmp_path / "s"
    shutil.copytree(template, dst)
    return dst


def edit_manifest(store, change) -> None:
    path = store / "manifest.json"
    doc = json.loads(path.read_text())
    doc = change(doc) or doc
    path.write_text(json.dumps(doc))


def snap(i: int, **fields):
    def change(doc):
        for k, v in fields.items():
            if v is _DELETE:
                del doc["snapshots"][i - 1][k]
            else:
                doc["snapshots"][i - 1][k] = v
    return change


_DELETE = object()


def expect_damaged(store, tmp_path, *words: str) -> str:
    """check reports the damage (exit 2), list and restore refuse it in one line (exit 1)."""
    o = check(run_walkit("snapshot", "check", "--store", store, timeout=TIMEOUT), {2})
    assert "problem:" in o.stdout and all(w in o.stdout for w in words), o.stdout
    for argv in (["list"], ["restore", "latest", tmp_path / "out.db"], ["restore", "2", tmp_path / "out.db"]):
        o = check(run_walkit("snapshot", *argv[:1], "--store", store, *argv[1:], timeout=TIMEOUT), {1})
        assert all(w in o.stderr for w in words), o.stderr
    assert not (tmp_path / "out.db").exists()
    return o.stderr


@pytest.mark.parametrize("change, words", [
    (snap(2, parent=2), ["snapshot 2: parent is 2, expected an integer 1..1"]),
    (snap(2, parent=0), ["snapshot 2: parent is 0"]),
    (snap(3, parent=3), ["snapshot 3: parent is 3"]),
    (lambda doc: (snap(2, parent=3)(doc), snap(3, parent=2)(doc)) and None, ["snapshot 2: parent is 3"]),
], ids=["parent-self", "parent-0", "last-parent-self", "parents-point-at-each-other"])
def test_parent_cycles_are_reported_not_followed(store, tmp_path, change, words):
    edit_manifest(store, change)
    expect_damaged(store, tmp_path, "damaged manifest", *words)


@pytest.mark.parametrize("change, words", [
    (snap(2, kind="delta"), ["snapshot 2: kind is \"delta\""]),
    (snap(1, kind=[]), ["snapshot 1: kind is []"]),
    (snap(1, id=1.0), ["snapshot 1: id is 1.0, expected an integer"]),
    (snap(1, id=True), ["snapshot 1: id is true"]),
    (snap(2, sha256=_DELETE), ["snapshot 2 has no 'sha256'"]),
    (snap(2, sha256="00"), ["snapshot 2: sha256 is \"00\", expected a sha256 hex digest"]),
    (snap(2, parent="2"), ["snapshot 2: parent is \"2\""]),
    (snap(2, parent=None), ["snapshot 2: parent is null"]),
    (snap(1, parent=1), ["a full snapshot has parent 1"]),
    (snap(3, device={"db_sha256": "x"}), ["snapshot 3: device.db_sha256"]),
    (snap(3, size=-1), ["snapshot 3: size is -1"]),
    (lambda doc: doc["snapshots"], ["the manifest is [", "expected an object"]),
    (lambda doc: {**doc, "snapshots": {"1": 1}}, ["snapshots is not a list"]),
    (lambda doc: {**doc, "snapshots": [7]}, ["snapshot 1 is 7, expected an object"]),
], ids=["unknown-kind", "kind-a-list", "id-float", "id-bool", "no-sha256", "short-sha256", "parent-string",
        "parent-null", "full-with-parent", "device-hash", "negative-size", "manifest-is-a-list",
        "snapshots-not-a-list", "snapshot-not-an-object"])
def test_schema_violations_are_reported(store, tmp_path, change, words):
    edit_manifest(store, change)
    expect_damaged(store, tmp_path, "damaged manifest", *words)


def test_manifest_that_is_not_json_or_nested_too_deep(store, tmp_path):
    (store / "manifest.json").write_bytes(b"\xff\xfe{")
    expect_damaged(store, tmp_path, "damaged manifest", "not JSON")
    (store / "manifest.json").write_text("[" * 200000 + "]" * 200000)
    expect_damaged(store, tmp_path, "damaged manifest")


@pytest.mark.parametrize("make, words", [
    (lambda p: os.mkdir(p), "is a directory"),
    (lambda p: os.mkfifo(p), "is a FIFO"),
    (lambda p: os.symlink(p.name, p), "symlink loop"),
    (lambda p: os.symlink("/dev/zero", p), "is a character device"),
], ids=["directory", "fifo", "symlink-loop", "device"])
def test_manifest_that_is_not_a_regular_file(store, tmp_path, make, words):
    path = store / "manifest.json"
    path.unlink()
    make(path)
    expect_damaged(store, tmp_path, "damaged manifest", words)


@pytest.mark.parametrize("name", ["wal", "database"])
def test_data_file_that_is_a_fifo(store, tmp_path, name):
    sid = "000003" if name == "wal" else "000001"
    path = store / "snapshots" / sid / name
    path.unlink()
    os.mkfifo(path)
    o = check(run_walkit("snapshot", "check", "--store", store, timeout=TIMEOUT), {2})
    assert f"{sid}/{name}: is a FIFO (named pipe), not a regular file" in o.stdout, o.stdout
    o = check(run_walkit("snapshot", "restore", "--store", store, "3", tmp_path / "o.db",
                         timeout=TIMEOUT), {1})
    assert "is a FIFO" in o.stderr
    o = check(run_walkit("snapshot", "list", "--store", store, timeout=TIMEOUT), {0})


def test_unfinished_snapshot_with_a_fifo_meta_is_rolled_back(store, tmp_path):
    """Snapshot 3's directory is there but the manifest does not list it (a crash before the
    manifest update); its meta.json is a FIFO: recovery must not block on it, and drops it."""
    edit_manifest(store, lambda doc: {**doc, "snapshots": doc["snapshots"][:2]})
    meta = store / "snapshots" / "000003" / "meta.json"
    meta.unlink()
    os.mkfifo(meta)
    o = check(run_walkit("snapshot", "check", "--store", store, timeout=TIMEOUT), {0})
    assert "removed incomplete snapshot directory 000003" in o.stdout
    assert "2 snapshots, all rebuild" in o.stdout
    assert not (store / "snapshots" / "000003").exists()


def test_unlisted_snapshot_with_a_looping_meta_is_rolled_back(store, tmp_path):
    """The same with a meta.json whose parent points at itself: recovery's check of the next
    snapshot is the manifest's schema check."""
    edit_manifest(store, lambda doc: {**doc, "snapshots": doc["snapshots"][:2]})
    meta_path = store / "snapshots" / "000003" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "parent": 3}))
    o = check(run_walkit("snapshot", "check", "--store", store, timeout=TIMEOUT), {0})
    assert "removed incomplete snapshot directory 000003" in o.stdout


def test_snapshots_dir_that_is_a_file(store, tmp_path):
    shutil.rmtree(store / "snapshots")
    (store / "snapshots").write_bytes(b"")
    expect_damaged(store, tmp_path, "snapshots: missing or not a directory")


def test_a_healthy_copy_of_the_store_checks_clean(store, tmp_path):
    """The damage cases above start from this store: it is fine as it is."""
    o = check(run_walkit("snapshot", "check", "--store", store, timeout=TIMEOUT), {0})
    assert "3 snapshots, all rebuild" in o.stdout
    check(run_walkit("snapshot", "restore", "--store", store, "latest", tmp_path / "o.db",
                     timeout=TIMEOUT), {0})
