"""The console's machine mode, on every board: values survive the trip byte for byte, several
named connections live at once, SQLite's errors arrive with their codes, malformed or
over-long input gets an error while the console stays usable, CR, LF and CR LF each end a line,
and a request the console runs out of memory for ends with an error, never a silent gap."""

from __future__ import annotations

import math
import sqlite3
import struct

import pytest

from support.sql_values import ALL_BYTES, BLOBS, FLOATS, INTS, TEXTS
from walkit.console import decode_value, encode_value
from walkit.sql import SQLITE_BUSY, SQLITE_ERROR, SQLITE_MISUSE, SqlError

SQLITE_NOMEM = 7
SQLITE_NOTFOUND = 12
SQLITE_RANGE = 25
SQLITE_TOOBIG = 18
SQLITE_CONSTRAINT_PRIMARYKEY = 1555


@pytest.fixture
def conn(shared_target, request):
    """A connection of its own on the shared target, closed after the test."""
    session = shared_target.session()
    c = session.connect(f"/{request.node.name[:40].replace('[', '_').replace(']', '')}.db")
    yield c
    if shared_target.running:
        session.close()


def _same_float(a, b):
    return isinstance(a, float) and struct.pack(">d", a) == struct.pack(">d", b)


def test_every_value_survives_select_and_a_table(conn):
    conn.execute("CREATE TABLE v(i INTEGER PRIMARY KEY, x)")
    values = [None, *INTS, *FLOATS, *TEXTS, *BLOBS]
    for v in values:
        (back,), = conn.execute("SELECT ?", (v,))
        assert _same_float(back, v) if isinstance(v, float) else (back == v and type(back) is type(v))
    for i, v in enumerate(values):
        conn.execute("INSERT INTO v VALUES (?, ?)", (i, v))
    rows = conn.execute("SELECT i, x, typeof(x) FROM v ORDER BY i")
    assert len(rows) == len(values)
    for (i, back, typ), v in zip(rows, values):
        expect = {type(None): "null", int: "integer", float: "real", str: "text", bytes: "blob"}[type(v)]
        assert typ == expect
        assert _same_float(back, v) if isinstance(v, float) else back == v


def test_text_bytes_are_what_python_sqlite3_stores(conn):
    """The target's hex() of each TEXT value equals Python's sqlite3 for the same string, so
    the console carries the exact bytes (UTF-8, and raw bytes via surrogateescape)."""
    ref = sqlite3.connect(":memory:")
    for s in TEXTS:
        (h,), = conn.execute("SELECT hex(?)", (s,))
        assert h == s.encode("utf-8", "surrogateescape").hex().upper()
        if not any("\udc80" <= ch <= "\udcff" for ch in s):  # Python's sqlite3 needs valid UTF-8
            assert h == ref.execute("SELECT hex(?)", (s,)).fetchone()[0]
    (h,), = conn.execute("SELECT hex(?)", (ALL_BYTES,))
    assert h == ALL_BYTES.hex().upper()


def test_nan_binds_as_null_as_sqlite_specifies(conn):
    assert conn.execute("SELECT ?, typeof(?)", (math.nan, math.nan)) == [(None, "null")]


def test_result_sets_changes_and_rowid(shared_target, conn):
    conn.execute("CREATE TABLE r(id INTEGER PRIMARY KEY, s TEXT)")
    conn.execute("INSERT INTO r(s) VALUES ('a'), ('b'), ('c')")
    assert (conn.last.changes, conn.last.last_rowid) == (3, 3)
    # Several statements: the rows are those of the last, parameters bind the last.
    rows = conn.execute("UPDATE r SET s = upper(s); SELECT id, s FROM r WHERE id >= ? ORDER BY id", (2,))
    assert rows == [(2, "B"), (3, "C")]
    assert conn.last.columns == ["id", "s"]
    assert conn.execute("SELECT * FROM r WHERE 0") == [] and conn.last.columns == ["id", "s"]


def test_sqlite_errors_carry_their_codes(conn):
    conn.execute("CREATE TABLE e(id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO e VALUES (1)")
    with pytest.raises(SqlError) as e:
        conn.execute("INSERT INTO e VALUES (1)")
    assert e.value.code == SQLITE_CONSTRAINT_PRIMARYKEY and "UNIQUE" in e.value.message
    assert e.value.sql == "INSERT INTO e VALUES (1)"
    with pytest.raises(SqlError) as e:
        conn.execute("SELEKT 1")
    assert e.value.code == SQLITE_ERROR and "syntax error" in e.value.message
    with pytest.raises(SqlError) as e:
        conn.execute("SELECT ?, ?", (1,))
    assert e.value.code == SQLITE_RANGE
    with pytest.raises(SqlError) as e:
        conn.execute("SELECT ?; SELECT 2", (1,))
    assert e.value.code == SQLITE_RANGE
    assert conn.execute("SELECT count(*) FROM e") == [(1,)]


def test_several_named_connections_at_once(shared_target):
    c = shared_target.console
    names = [f"n{i}" for i in range(8)]
    try:
        for i, n in enumerate(names):
            c.open(n, f"/multi{i}.db")
            c.sql(n, "CREATE TABLE IF NOT EXISTS t(x)")
            c.sql(n, "DELETE FROM t")
        for round_ in range(3):
            for i, n in enumerate(names):
                c.sql(n, "INSERT INTO t VALUES (?)", (i * 100 + round_,))
        for i, n in enumerate(names):
            assert c.sql(n, "SELECT x FROM t ORDER BY x").rows == [(i * 100,), (i * 100 + 1,), (i * 100 + 2,)]
        with pytest.raises(SqlError) as e:
            c.open("ninth", "/ninth.db")
        assert e.value.code == SQLITE_MISUSE and "too many" in e.value.message
        with pytest.raises(SqlError, match="is open"):
            c.open("n0", "/other.db")
    finally:
        for n in names:
            try:
                c.close_conn(n)
            except SqlError:
                pass
    with pytest.raises(SqlError, match="no open connection"):
        c.sql("n0", "SELECT 1")


def test_second_connection_to_an_exclusive_wal_database_is_refused(shared_target):
    c = shared_target.console
    c.open("own", "/excl.db")
    try:
        assert c.sql("own", "PRAGMA locking_mode=EXCLUSIVE").rows == [("exclusive",)]
        assert c.sql("own", "PRAGMA journal_mode=WAL").rows == [("wal",)]
        c.sql("own", "CREATE TABLE IF NOT EXISTS t(x)")
        c.sql("own", "INSERT INTO t VALUES (1)")
        # SQLite: in EXCLUSIVE locking mode the first connection keeps its locks, so another
        # connection cannot read: SQLITE_BUSY (or it cannot even be opened).
        try:
            c.open("other", "/excl.db")
        except SqlError as e:
            assert e.primary in (SQLITE_BUSY, 14), e
        else:
            try:
                with pytest.raises(SqlError) as e:
                    c.sql("other", "SELECT count(*) FROM t")
                assert e.value.primary == SQLITE_BUSY
            finally:
                c.close_conn("other")
        assert c.sql("own", "SELECT count(*) FROM t").rows[0][0] >= 1
    finally:
        c.close_conn("own")


# ---- malformed input -----------------------------------------------------------------------


def _still_works(c):
    c.ping()
    c.open("alive", "/alive.db")
    try:
        assert c.sql("alive", "SELECT 6 * 7").rows == [(42,)]
    finally:
        c.close_conn("alive")


@pytest.mark.parametrize("line, expect", [
    (b"garbage", "malformed request"),
    (b"", "malformed request"),
    (b"0 .ping", "malformed request"),
    (b"99999999999 .ping", "malformed request"),
    (b"\xff\xfe\x00\x01", "malformed request"),
], ids=["words", "empty", "id-zero", "id-too-big", "binary"])
def test_line_without_an_id_is_answered_with_id_0(shared_target, line, expect):
    c = shared_target.console
    c.send_raw(line)
    with pytest.raises(SqlError, match=expect):
        c.read_reply(0, timeout=10)
    _still_works(c)


MALFORMED = {
    "unknown-verb": (b"bogus Tx", "the verb is sql or a .command"),
    "unknown-command": (b".nonsense", "unknown command"),
    "missing-argument": (b".open", "usage: .open"),
    "sql-without-text": (b"sql Tc1", "sql T<connection> T<sql>"),
    "unknown-token": (b"sql Tx TSELECT%201 Qbad", "unknown value token"),
    "bad-integer": (b"sql Tx TSELECT%201 I12x", "bad integer token"),
    "integer-without-digits": (b"sql Tx TSELECT%201 I", "bad integer token"),
    "integer-only-minus": (b"sql Tx TSELECT%201 I-", "bad integer token"),
    "huge-integer": (b"sql Tx TSELECT%201 I99999999999999999999", "out of range"),
    "short-float": (b"sql Tx TSELECT%201 Fabc", "16 hex digits"),
    "odd-blob": (b"sql Tx TSELECT%201 B123", "even number"),
    "bad-blob": (b"sql Tx TSELECT%201 Bzz", "bad hex digit"),
    "cut-escape": (b"sql Tx T%4", "escape"),
    "bad-escape": (b"sql Tx T%G0", "escape"),
    "double-space": (b"sql Tx TSELECT%201  N", "empty value token"),
    "raw-control": (b"sql Tx TSELECT\x01", "raw control"),
    "nul-in-sql": (b"sql Tx TSELECT%00", "NUL byte"),
    "nul-in-argument": (b".open Tn T%00x", "without NUL"),
    "nul-in-connection-name": (b"sql Tx%00y TSELECT%201", "NUL byte in the connection name"),
}


@pytest.mark.parametrize("line, expect", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_request_gets_an_error_and_the_console_goes_on(shared_target, line, expect):
    c = shared_target.console
    rid = 900000 + list(MALFORMED.values()).index((line, expect))
    c.send_raw(str(rid).encode() + b" " + line)
    with pytest.raises(SqlError, match=expect):
        c.read_reply(rid, timeout=10)
    _still_works(c)


def test_over_long_line_is_refused_whole(shared_target):
    c = shared_target.console
    c.open("long", "/long.db")
    try:
        c.sql("long", "CREATE TABLE IF NOT EXISTS t(b)")
        c.sql("long", "DELETE FROM t")
        # 65600 hex digits: just over the 65536-byte line limit (QEMU's PL011 takes the host's
        # bytes one main-loop turn at a time, about 12 KiB/s: the line costs seconds there).
        blob = b"\x5a" * 32800
        line = b"990001 sql Tlong TINSERT%20INTO%20t%20VALUES(?) " + encode_value(blob).encode()
        c.send_raw(line)
        with pytest.raises(SqlError) as e:
            c.read_reply(990001, timeout=20)
        assert e.value.code == SQLITE_TOOBIG and "line too long" in e.value.message
        assert c.sql("long", "SELECT count(*) FROM t").rows == [(0,)]  # nothing was executed
        # Just under the limit still works.
        ok = b"\x5a" * 32700
        c.sql("long", "INSERT INTO t VALUES (?)", (ok,), timeout=60)
        assert c.sql("long", "SELECT length(b) FROM t").rows == [(32700,)]
    finally:
        c.close_conn("long")
    _still_works(c)


def test_stale_replies_are_skipped(shared_target):
    """A reply that arrives after its request timed out does not confuse the next request."""
    c = shared_target.console
    rid = c.start(".stats")
    assert rid > 0
    c.ping()  # reads past the .stats frames (another id) to its own reply
    _still_works(c)


# ---- line handling, at the byte level --------------------------------------------------------
#
# These tests write some lines straight to the link (line ends the client would not send) and
# read their replies straight from it with _exchange(), so the client never sees those ids.


def _frames(c, rid: int, timeout: float = 10) -> list[str]:
    """Every reply frame read from the link (whatever its id) up to and including the K or E
    of request ``rid``; log lines are skipped."""
    out = []
    while True:
        line = c.link.read_line(timeout, f"frames up to request {rid}'s last").decode("ascii")
        if line.startswith("@"):
            out.append(line)
            if line.startswith(f"@{rid} ") and line.split(" ")[1] in ("K", "E"):
                return out


def _exchange(c, rid: int, data: bytes, timeout: float = 10) -> list[str]:
    """Writes ``data`` as it is (it must hold request ``rid`` and its line end) and returns
    _frames() up to that request's answer."""
    c.link.write(data, log=True)
    return _frames(c, rid, timeout)


def _kinds(frames: list[str]) -> list[str]:
    return [" ".join(f.split(" ")[:2]) for f in frames]


def _error_text(frame: str) -> str:
    return decode_value(frame.split(" ")[3])


def test_mode_machine_in_machine_mode_answers_under_its_id(shared_target):
    """Already in machine mode, `.mode machine` is an ordinary request: K under its own id (not
    the id-0 acknowledgement of the switch from interactive mode, which no request waits for)."""
    c = shared_target.console
    assert _exchange(c, 990001, b"990001 .mode Tmachine\n") == ["@990001 K I0 I0"]
    _still_works(c)


@pytest.mark.parametrize("byte", [b"\x00", b"\x01", b"\t", b"\x1b", b"\x7f", b"\x80", b"\xff"],
                         ids=["nul", "soh", "tab", "esc", "del", "x80", "xff"])
def test_line_with_a_byte_outside_printable_ascii_is_refused_whole(shared_target, byte):
    """A raw NUL used to end the request early and run its prefix; any byte outside 0x20-0x7E
    now refuses the whole line, under the line's own id."""
    c = shared_target.console
    c.open("raw", "/raw.db")
    try:
        c.sql("raw", "CREATE TABLE IF NOT EXISTS t(x)")
        c.sql("raw", "DELETE FROM t")
        line = b"990100 sql Traw TINSERT%20INTO%20t%20VALUES(1)" + byte + b"garbage"
        frames = _exchange(c, 990100, line + b"\n")
        assert _kinds(frames) == ["@990100 E"], frames
        assert frames[0].startswith(f"@990100 E {SQLITE_ERROR} ")
        assert (f"raw control or non-ASCII byte 0x{byte[0]:02X} at offset {line.index(byte)}"
                in _error_text(frames[0]))
        assert c.sql("raw", "SELECT count(*) FROM t").rows == [(0,)]  # the prefix did not run
    finally:
        c.close_conn("raw")
    _still_works(c)


def test_cr_lf_and_crlf_each_end_one_machine_mode_line(shared_target):
    c = shared_target.console
    # A CR-only terminal; CR LF (one line end: no empty request after it); LF.
    assert _exchange(c, 990201, b"990201 .ping\r") == ["@990201 K I0 I0"]
    assert _exchange(c, 990202, b"990202 .ping\r\n") == ["@990202 K I0 I0"]
    assert _exchange(c, 990203, b"990203 .ping\n") == ["@990203 K I0 I0"]
    # A raw CR inside a line ends it (it used to be dropped, gluing the two requests together).
    c.open("cr", "/cr.db")
    try:
        frames = _exchange(c, 990205, b"990204 sql Tcr TSELECT%2011\r990205 .ping\n")
        assert frames == ["@990204 C 1 T11", "@990204 R I11", "@990204 K I0 I0", "@990205 K I0 I0"]
    finally:
        c.close_conn("cr")
    # Two line ends in a row are an empty line in between, answered as malformed.
    frames = _exchange(c, 990206, b"990206 .ping\n\r\n990207 .ping\n")  # returns at 990206's K
    assert frames == ["@990206 K I0 I0"]
    frames = _frames(c, 990207)
    assert _kinds(frames) == ["@0 E", "@990207 K"] and "malformed request" in _error_text(frames[0])
    _still_works(c)


def test_nul_in_a_connection_name_does_not_match_by_prefix(shared_target):
    c = shared_target.console
    c.open("pre", "/pre.db")
    try:
        with pytest.raises(SqlError) as e:
            c.request("sql", "pre\x00x", "SELECT 1", timeout=10)
        assert e.value.code == SQLITE_ERROR and "NUL byte in the connection name" in e.value.message
        with pytest.raises(SqlError) as e:
            c.request("sql", "pre", "SELECT 1;\x00SELECT 2", timeout=10)
        assert "NUL byte in the SQL text" in e.value.message
        assert c.sql("pre", "SELECT 1").rows == [(1,)]
    finally:
        c.close_conn("pre")


def test_ls_lists_the_root_one_file_or_says_what_is_missing(shared_target):
    """.ls: a directory (its entries, without . and ..), a single file, a missing path."""
    c = shared_target.console
    c.open("lsconn", "/ls.db")
    try:
        c.sql("lsconn", "CREATE TABLE IF NOT EXISTS t(x)")
        for path in ("/", "/.", "//", "/nope/.."):
            entries = [tuple(e) for e in c.ls(path)]
            assert ("ls.db", "file", 8192) in entries
            assert not any(name in (".", "..") for name, _, _ in entries)
        assert [tuple(e) for e in c.ls("/ls.db")] == [("ls.db", "file", 8192)]
        with pytest.raises(SqlError) as e:
            c.ls("/no-such-file")
        assert e.value.code == SQLITE_NOTFOUND and "no such file or directory" in e.value.message
    finally:
        c.close_conn("lsconn")
    _still_works(c)


# ---- out of memory in the console's own allocations ------------------------------------------
#
# PRAGMA hard_heap_limit makes every SQLite allocation that would take sqlite3_memory_used()
# to the limit fail.  A query is run once to learn its memory high-water mark; with the limit at
# that mark minus 8 bytes only the allocation that reached the mark fails.  The queries are
# built so that it is the console's: 20 columns (more than the 16 the console keeps on its
# stack), and memory held at that moment (a 20000-byte blob in the row; a 4000-byte bound
# parameter before the column names) so that no allocation of SQLite's own comes as high.
# The limit can only be lowered, so these tests boot a target of their own.

COLS = ", ".join(str(i) for i in range(2, 21))


def _run_at_the_high_water_mark(c, sql: str, params: tuple = ()) -> list[str]:
    c.sql("m", sql, params)  # once first: anything a first run allocates for good is done
    c.request(".stats", "reset")
    c.sql("m", sql, params)
    stats = c.stats()
    used, high = stats["sqlite.memory_used"], stats["sqlite.memory_highwater"]
    assert high - used > 4000, stats  # the held memory is part of the peak
    c.sql("m", f"PRAGMA hard_heap_limit={high - 8}")
    assert c.stats()["sqlite.memory_used"] == used  # the same starting point as the measured run
    line = " ".join(["990300", "sql", encode_value("m"), encode_value(sql),
                     *(encode_value(v) for v in params)])
    return _exchange(c, 990300, line.encode("ascii") + b"\n")


def test_no_memory_for_a_row_ends_the_request_with_an_error(target):
    c = target.console
    c.open("m", "/m.db")
    frames = _run_at_the_high_water_mark(c, f"SELECT randomblob(20000), {COLS}")
    assert _kinds(frames) == ["@990300 C", "@990300 E"], frames  # not K with the row missing
    assert frames[-1].startswith(f"@990300 E {SQLITE_NOMEM} ")
    assert _error_text(frames[-1]) == "out of memory for a row of 20 columns"
    assert c.sql("m", "SELECT 6 * 7").rows == [(42,)]  # the console goes on


def test_no_memory_for_the_column_names_ends_the_request_with_an_error(target):
    c = target.console
    c.open("m", "/m.db")
    frames = _run_at_the_high_water_mark(c, f"SELECT ?, {COLS} WHERE 0", (b"x" * 4000,))
    assert _kinds(frames) == ["@990300 E"], frames  # not K without the C frame
    assert frames[-1].startswith(f"@990300 E {SQLITE_NOMEM} ")
    assert _error_text(frames[-1]) == "out of memory for the names of 20 result columns"
    assert c.sql("m", "SELECT 6 * 7").rows == [(42,)]
