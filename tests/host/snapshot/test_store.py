"""The snapshot store: full and incremental snapshots of a live database, restore, check,
the durability order of a persist, and ``walkit snapshot take`` from a flash image."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from support.cli import run_cli
from support.wal_helpers import Device, sqlite_checkpoint
from walkit import WalkitError
from walkit.image import create_image, open_image
from walkit.snapshot import FileOps, open_store
from walkit.wal import parse_wal

BOARD = "qemu-virt-a15"


def blob(n: int, seed: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 for i in range(n))




@pytest.fixture
def device():
    d = Device(1024)
    d.txn("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)",
          *[("INSERT INTO t(v) VALUES (?)", (blob(900, i),)) for i in range(40)])
    d.checkpoint("TRUNCATE")
    yield d
    d.close()


def expected(db: bytes, wal: bytes | None) -> bytes:
    """SQLite's own database after a checkpoint: what every snapshot must restore to."""
    return sqlite_checkpoint(db, wal)


def test_full_and_incremental_snapshots_restore_byte_identical(device, tmp_path):
    states, kinds = [], []
    store_dir = tmp_path / "store"

    def take(**kw):
        db, wal = device.files()
        with open_store(store_dir) as store:
            t = store.take(db, wal, "device", **kw)
        states.append(expected(db, wal))
        kinds.append((t.meta["kind"], t.stored))
        return t

    take()                                                        # 1 full: first
    device.txn(("UPDATE t SET v = ? WHERE id = 3", (blob(900, 99),)))
    t = take()                                                    # 2 incremental on 1
    assert t.meta["after_frame"] == 0 and "every committed frame" in t.reason
    device.txn(("UPDATE t SET v = ? WHERE id = 7", (blob(900, 98),)))
    device.txn(("UPDATE t SET v = ? WHERE id = 3", (blob(900, 97),)))
    t = take()                                                    # 3 incremental after frame k
    assert t.meta["after_frame"] > 0 and "continues" in t.reason
    device.checkpoint("PASSIVE")  # the device checkpoints: its database file changes
    device.txn(("DELETE FROM t WHERE id > 30",))                  # and the WAL restarts
    t = take()                                                    # 4 full: file changed
    assert "changed" in t.reason
    device.txn(("INSERT INTO t(v) VALUES (?)", (b"new",)))
    take()                                                        # 5 incremental on 4
    t = take()                                                    # unchanged: nothing stored
    assert not t.stored and "unchanged since snapshot 5" in t.reason
    states.pop()
    take(full=True)                                               # 6 full on request
    assert [k for k, stored in kinds if stored] == ["full", "incremental", "incremental", "full",
                                                     "incremental", "full"]
    with open_store(store_dir) as store:
        assert [m["id"] for m in store.snapshots] == [1, 2, 3, 4, 5, 6]
        assert [m.get("parent") for m in store.snapshots] == [None, 1, 2, None, 4, None]
        for m, state in zip(store.snapshots, states):
            out = tmp_path / f"r{m['id']}.db"
            store.restore(m["id"], out)
            assert out.read_bytes() == state, m["id"]
            if m["kind"] == "incremental":
                assert m["size"] < m["db_size"]
                w = parse_wal((store_dir / "snapshots" / f"{m['id']:06d}" / "wal").read_bytes())
                assert w.clean and len(w.transactions) == 1
        assert store.check() == []
    con = sqlite3.connect(tmp_path / "r3.db")
    assert con.execute("SELECT v FROM t WHERE id = 3").fetchone()[0] == blob(900, 97)
    con.close()


def test_uncommitted_tail_and_unusable_wal_are_noted(device, tmp_path):
    db, _ = device.files()
    device.con.execute("PRAGMA cache_size=2")
    device.con.execute("BEGIN")
    for i in range(20):
        device.con.execute("INSERT INTO t(v) VALUES (?)", (blob(2000, i),))
    db, wal = device.files()  # spilled, not committed
    device.con.execute("ROLLBACK")
    assert parse_wal(wal).uncommitted
    with open_store(tmp_path / "s") as store:
        t = store.take(db, wal, "dev")
        assert any("uncommitted tail" in n for n in t.notes)
        assert store.materialize() == expected(db, wal) == db
        t = store.take(db, b"\x00" * 100, "dev", full=True)
        assert any("bad magic" in n for n in t.notes)
        assert store.materialize() == db


def test_check_finds_a_damaged_snapshot(device, tmp_path, capsys):
    db, wal = device.files()
    store_dir = tmp_path / "s"
    with open_store(store_dir) as store:
        store.take(db, wal, "dev")
    assert run_cli(capsys, "snapshot", "check", "--store", store_dir)[0] == 0
    data = store_dir / "snapshots" / "000001" / "database"
    raw = bytearray(data.read_bytes())
    raw[5000] ^= 1
    data.write_bytes(raw)
    rc, out, _ = run_cli(capsys, "snapshot", "check", "--store", store_dir)
    assert rc == 2 and "does not match its recorded sha256" in out
    rc, _, err = run_cli(capsys, "snapshot", "restore", "--store", store_dir, "1", tmp_path / "o.db")
    assert rc == 1 and "damaged snapshot" in err and not (tmp_path / "o.db").exists()


def test_store_errors_are_one_line(device, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "snapshot", "list", "--store", tmp_path / "none")
    assert rc == 1 and "no snapshot store here" in err
    db, wal = device.files()
    store_dir = tmp_path / "s"
    with open_store(store_dir) as store:
        store.take(db, wal, "dev")
        with pytest.raises(WalkitError, match="in use by another walkit"):
            with open_store(store_dir):
                pass
    out = tmp_path / "out.db"
    out.write_bytes(b"keep")
    rc, _, err = run_cli(capsys, "snapshot", "restore", "--store", store_dir, "latest", out)
    assert rc == 1 and "already exists" in err and out.read_bytes() == b"keep"
    Path(f"{out}-wal").write_bytes(b"stale")
    rc, _, err = run_cli(capsys, "snapshot", "restore", "--store", store_dir, "1", out, "--force")
    assert rc == 1 and "out.db-wal exists" in err
    rc, _, err = run_cli(capsys, "snapshot", "restore", "--store", store_dir, "7", tmp_path / "x.db")
    assert rc == 1 and "no snapshot 7" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    rc, _, err = run_cli(capsys, "snapshot", "add", "--store", tmp_path / "junk", tmp_path / "r.db")
    assert rc == 1
    rc, _, err = run_cli(capsys, "snapshot", "add", "--store", tmp_path / "junk", device.path)
    assert rc == 1 and "not a snapshot store" in err
    (store_dir / "manifest.json").write_text("{")
    rc, _, err = run_cli(capsys, "snapshot", "list", "--store", store_dir)
    assert rc == 1 and "damaged manifest" in err and err.count("\n") == 1


def test_persist_orders_fsyncs_before_renames(device, tmp_path):
    """Durability order of one persist: every file is fsynced before the rename that
    publishes it, the staging directory is fsynced before its rename, and the directory a
    rename lands in is fsynced right after it."""
    db, wal = device.files()
    with open_store(tmp_path / "s") as store:
        store.take(db, wal, "dev")
        device.txn(("UPDATE t SET v = ? WHERE id = 1", (b"x",)))
        db, wal = device.files()
        ops = FileOps()
        store.ops = ops
        t = store.take(db, wal, "dev")
    assert t.meta["kind"] == "incremental"
    log = ops.log
    renames = [i for i, e in enumerate(log) if e[0] == "rename"]
    assert len(renames) == 2  # staging -> snapshot dir (commit point), manifest tmp -> manifest
    for i in renames:
        src, dst = log[i][1], log[i][2]
        created = [e[1] for e in log[:i] if e[0] == "create" and (e[1] == src or e[1].startswith(src + "/"))]
        assert created
        for f in created:
            last_write = max(j for j, e in enumerate(log[:i]) if e[1] == f and e[0] in ("create", "write"))
            assert any(e == ("fsync", f, "") for e in log[last_write:i]), f
        if os.path.basename(src).startswith(".staging-"):
            last_file_sync = max(j for j, e in enumerate(log[:i]) if e[0] == "fsync")
            assert ("fsync-dir", src, "") in log[last_file_sync:i]
        assert log[i + 1] == ("fsync-dir", os.path.dirname(dst), "")
    # The manifest is published only after the snapshot directory is durable.
    assert renames[0] < renames[1]


def make_device_image(tmp_path: Path, device: Device, name: str = "flash.img", path: str = "/data/app.db"):
    img = tmp_path / name
    if not img.exists():
        create_image(img, BOARD, format=True)
    db, wal = device.files()
    with open_image(img, BOARD, write=True) as fs:
        fs.write(path, db)
        if wal is not None:
            fs.write(path + "-wal", wal)
        elif fs.exists(path + "-wal"):
            fs.remove(path + "-wal")
    return img, db, wal


def test_take_from_a_flash_image(device, tmp_path, capsys):
    """``walkit snapshot take`` on a qemu-virt-a15 image whose littlefs holds a SQLite
    database and WAL (written with the board's geometry, as the firmware mounts it)."""
    store_dir = tmp_path / "store"
    device.txn(("INSERT INTO t(v) VALUES (?)", (b"in the WAL",)))
    img, db, wal = make_device_image(tmp_path, device)
    assert parse_wal(wal).committed  # the image holds a WAL with committed frames
    rc, out, _ = run_cli(capsys, "snapshot", "take", "--board", BOARD, "--store", store_dir, img)
    assert rc == 0 and "pulled /data/app.db" in out and "snapshot 1: full" in out
    first = expected(db, wal)
    device.txn(("UPDATE t SET v = ? WHERE id = 2", (b"changed on the device",)))
    img, db, wal = make_device_image(tmp_path, device)
    rc, out, _ = run_cli(capsys, "snapshot", "take", "--store", store_dir, img)
    assert rc == 0 and "snapshot 2: incremental on 1" in out
    rc, out, _ = run_cli(capsys, "snapshot", "list", "--store", store_dir, "--json")
    snaps = json.loads(out)
    assert [s["kind"] for s in snaps] == ["full", "incremental"]
    assert snaps[1]["source"] == f"{img}:/data/app.db"
    for sid, state in (("1", first), ("latest", expected(db, wal))):
        out_db = tmp_path / f"restored-{sid}.db"
        assert run_cli(capsys, "snapshot", "restore", "--store", store_dir, sid, out_db)[0] == 0
        assert out_db.read_bytes() == state
    con = sqlite3.connect(out_db)
    assert con.execute("SELECT v FROM t WHERE id = 2").fetchone()[0] == b"changed on the device"
    con.close()


def test_take_errors(device, tmp_path, capsys):
    store_dir = tmp_path / "store"
    blank = create_image(tmp_path / "blank.img", BOARD)
    rc, _, err = run_cli(capsys, "snapshot", "take", "--store", store_dir, blank)
    assert rc == 1 and "blank image" in err
    empty = create_image(tmp_path / "empty.img", BOARD, format=True)
    rc, _, err = run_cli(capsys, "snapshot", "take", "--store", store_dir, empty)
    assert rc == 1 and "no SQLite database" in err
    img, _, _ = make_device_image(tmp_path, device, "two.img", "/a.db")
    make_device_image(tmp_path, device, "two.img", "/b/other.db")
    rc, _, err = run_cli(capsys, "snapshot", "take", "--store", store_dir, img)
    assert rc == 1 and "several databases (/a.db, /b/other.db)" in err
    rc, out, _ = run_cli(capsys, "snapshot", "take", "--store", store_dir, img, "--db", "/b/other.db")
    assert rc == 0 and "snapshot 1: full" in out
    rc, _, err = run_cli(capsys, "snapshot", "take", "--store", store_dir, img, "--db", "/missing.db")
    assert rc == 1 and "no such file in the image" in err
