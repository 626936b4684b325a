"""The first opener's WAL check (vfs/walscan.c) on the boards: a bit flipped in a committed
frame of a WAL left by a power cut makes SQLite's recovery drop that transaction and every
later one, silently (it cannot tell damage from a torn tail).  A valid commit frame of the same
salts after the bad frame proves damage: it is reported on the console log and in `.stats`.
A WAL whose tail is only a transaction that never committed is not reported."""

from __future__ import annotations

from walkit.image.flash import open_image

WAL_HDR, FRAME_HDR = 32, 24


def _wal_with_commits(t, n: int):
    db = t.session().connect("/w.db")
    assert db.execute("PRAGMA journal_mode=WAL") == [("wal",)]
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("PRAGMA synchronous=FULL")  # every commit synced: all are in the WAL on flash
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(1, n + 1):
        db.execute("INSERT INTO t VALUES (?, ?)", [i, f"value-{i:04d}"])
    return db


def _frames(wal: bytes) -> tuple[int, list[int]]:
    """(page size, offsets of the frames)."""
    ps = int.from_bytes(wal[8:12], "big")
    n = (len(wal) - WAL_HDR) // (FRAME_HDR + ps)
    return ps, [WAL_HDR + i * (FRAME_HDR + ps) for i in range(n)]


def _damage_reports(t) -> list[str]:
    log = t.console.link.log_bytes().decode("utf-8", "replace")
    return [l for l in log.splitlines() if "is damaged: frame" in l]


def test_a_bad_frame_before_valid_commits_is_reported(target_factory, walkit_board):
    t = target_factory()
    _wal_with_commits(t, 6)
    t.power_cut()
    with open_image(t.flash, walkit_board, write=True) as img:
        wal = bytearray(img.read("/w.db-wal"))
        ps, frames = _frames(wal)
        assert len(frames) >= 7
        victim = frames[3]  # a committed frame with commits after it
        wal[victim + FRAME_HDR + ps // 2] ^= 0x10
        img.write("/w.db-wal", bytes(wal))

    t.boot()
    db = t.session().connect("/w.db")
    kept = db.execute("SELECT count(*) FROM t")[0][0]
    assert kept < 6  # SQLite's recovery dropped the transactions from the bad frame on ...
    reports = _damage_reports(t)  # ... and this time it is said
    assert len(reports) == 1 and "/w.db-wal is damaged: frame 4 is bad" in reports[0], reports
    assert t.console.stats()["vfs.wal_damage"] == 1


def test_an_uncommitted_tail_is_not_reported(target_factory, walkit_board):
    """Garbage after the last commit (a torn or refused transaction) is what recovery is for."""
    t = target_factory()
    _wal_with_commits(t, 4)
    t.power_cut()
    with open_image(t.flash, walkit_board, write=True) as img:
        wal = bytearray(img.read("/w.db-wal"))
        ps, frames = _frames(wal)
        last = frames[-1]
        tail = bytearray(wal[last:last + FRAME_HDR + ps])
        tail[4:8] = bytes(4)  # not a commit frame
        tail[FRAME_HDR] ^= 0xFF
        img.write("/w.db-wal", bytes(wal + tail + tail))

    t.boot()
    db = t.session().connect("/w.db")
    assert db.execute("SELECT count(*) FROM t") == [(4,)]
    assert _damage_reports(t) == []
    assert t.console.stats()["vfs.wal_damage"] == 0
