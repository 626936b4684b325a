"""The oracle of the built-in workload (host/walkit/campaign/oracle.py): each rule rejects the
state it is there for, and the host's digest is the firmware's (zlib CRC-32 of the row)."""

from __future__ import annotations

import sqlite3
import struct
import zlib

import pytest

from walkit.campaign.oracle import check_sqlite, judge, row_crc

OK = ("ok", 5, 77, 77, 77)


def test_a_consistent_prefix_passes():
    assert judge(OK, ("ok", 5, 77, 77), last_ack=5, sync="full") is None
    assert judge(OK, None, last_ack=4, sync="full") is None      # the swallowed acknowledgement
    assert judge(OK, None, last_ack=9, sync="normal") is None    # NORMAL may lose the last ones
    assert judge(("missing", -1, 0, 0, 0), ("missing", -1, 0, 0), -1, "full") is None


@pytest.mark.parametrize("state, host, last_ack, sync, why", [
    (("*** in database main ***", 5, 77, 77, 77), None, 5, "full", "integrity_check"),
    (("ok", 5, 77, 78, 77), None, 5, "full", "not the state after transaction 5"),
    (("ok", 5, 77, 77, 70), None, 5, "full", "not the state after transaction 5"),
    (OK, None, 3, "full", "transaction 5 is committed but only 3"),
    (OK, None, 6, "full", "synchronous=FULL lost acknowledged transactions"),
    (("missing", -1, 0, 0, 0), None, 0, "full", "synchronous=FULL lost"),
    (OK, ("ok", 4, 70, 70), 5, "full", "host and target disagree"),
    (OK, ("ok", 5, 77, 76), 5, "full", "host and target disagree"),
])
def test_each_rule_rejects(state, host, last_ack, sync, why):
    assert why in judge(state, host, last_ack, sync)


def test_row_digest_is_crc32_of_the_row(tmp_path):
    assert row_crc(3, 9, b"abc") == zlib.crc32(struct.pack("<QQ", 3, 9) + b"abc")
    db = tmp_path / "w.db"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE t(id INTEGER PRIMARY KEY, ver INTEGER, body BLOB);"
                      "CREATE TABLE meta(k INTEGER, digest INTEGER);")
    rows = [(1, 1, b"x" * 10), (7, 2, b"\x00\xff")]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    digest = sum(row_crc(*r) for r in rows)
    con.execute("INSERT INTO meta VALUES (2, ?)", (digest,))
    con.commit()
    con.close()
    assert check_sqlite(db) == ("ok", 2, digest, digest)
