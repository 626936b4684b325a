"""walkit.console, the host side of the console: the value codec round-trips every SQL value, and
the machine-mode client against a scripted firmware (a socket pair, no board): replies are
filed per request so requests interleave, id-0 errors reach the line they answer, frames that
answer nothing are protocol errors carrying the process state, and the client knows the
console's mode."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from walkit import WalkitError
from support.sql_values import BLOBS, FLOATS, INTS, TEXTS
from walkit.console import (Console, ConsoleLink, ConsoleProtocolError, TargetError,
                            TargetTimeout, decode_value, encode_value)
from walkit.sql import SqlError

STATE = "target fake (host-sim process pid 4242): running"


@pytest.fixture
def wire():
    """(console in machine mode, the firmware's end of the socket, read_requests())."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.settimeout(5)
    link = ConsoleLink(ours, context=lambda gone: STATE)
    console = Console(link, timeout=2.0, mode="machine")
    got = bytearray()

    def requests() -> list[bytes]:
        """The lines the client sent so far."""
        theirs.setblocking(False)
        try:
            while True:
                got.extend(theirs.recv(65536))
        except BlockingIOError:
            pass
        finally:
            theirs.setblocking(True)
        return bytes(got).splitlines()

    yield console, theirs, requests
    link.close()
    theirs.close()


def test_a_started_request_keeps_its_reply_while_others_are_made(wire):
    c, fw, sent = wire
    rid = c.start("sql", "c1", "SELECT 42 AS x")
    fw.sendall(b"@1 C 1 Tx\n@1 R I42\nwalkit: a log line between frames\n@1 K I0 I0\n@2 K I0 I0\n")
    c.ping()  # reads past request 1's frames to its own
    res = c.read_reply(rid)
    assert (res.columns, res.rows) == (["x"], [(42,)])
    assert sent() == [b"1 sql Tc1 TSELECT%2042%20AS%20x", b"2 .ping"]


def test_replies_are_collected_in_any_order(wire):
    c, fw, _ = wire
    a = c.start("sql", "c1", "SELECT 1")
    b = c.start("sql", "c1", "SELECT 2")
    fw.sendall(b"@1 C 1 Ta\n@1 R I1\n@1 K I0 I0\n@2 C 1 Tb\n@2 R I2\n@2 K I0 I0\n")
    assert c.read_reply(b).rows == [(2,)]
    assert c.read_reply(a).rows == [(1,)]
    with pytest.raises(WalkitError, match="no request with id 1 is outstanding"):
        c.read_reply(a)  # collected once


def test_an_error_with_id_0_goes_to_the_raw_line_it_answers(wire):
    c, fw, _ = wire
    assert c.send_raw(b"garbage") == 0
    fw.sendall(b"@0 E 1 Tmalformed%20request\n@1 K I0 I0\n")
    c.ping()  # not hit by the earlier line's error
    with pytest.raises(SqlError, match="request rejected before its id was read: malformed request"):
        c.read_reply(0)


def test_a_raw_line_with_an_id_answered_with_id_0_still_gets_its_answer(wire):
    c, fw, _ = wire
    assert c.send_raw(b"77 sql Tx TSELECT\x01") == 77
    fw.sendall(b"@0 E 1 Tbad%20byte\n@1 K I0 I0\n")
    c.ping()
    with pytest.raises(SqlError, match="bad byte"):
        c.read_reply(77)


def test_raw_lines_end_at_cr_lf_and_crlf_like_on_the_firmware(wire):
    c, fw, _ = wire
    assert c.send_raw(b"5 .ping\r6 .ping\r\n7 .ping\r") == 5  # three lines
    assert c.send_raw(b"8 .ping\n") == 8  # and an empty line after it
    fw.sendall(b"@5 K I0 I0\n@6 K I0 I0\n@7 K I0 I0\n@8 K I0 I0\n@0 E 1 Tmalformed%20request\n")
    for rid in (7, 5, 8, 6):
        c.read_reply(rid)
    with pytest.raises(SqlError, match="malformed request"):
        c.read_reply(0)
    assert c.start("sql", "c1", "SELECT 1") == 1
    with pytest.raises(ValueError, match="id 1 is in use"):
        c.send_raw(b"1 .ping")  # its reply could not be told from request 1's


def test_an_id_0_error_for_a_well_formed_request_is_a_protocol_error(wire):
    """The client always sends an id: the firmware not reading it means the line was damaged,
    which is no SQLite error of that request."""
    c, fw, _ = wire
    fw.sendall(b"@0 E 1 Tmalformed%20request\n")
    with pytest.raises(ConsoleProtocolError) as e:
        c.ping()
    assert "could not read the request's id" in str(e.value) and "malformed request" in str(e.value)
    assert not isinstance(e.value, SqlError)


def test_an_id_0_frame_inside_another_reply_is_a_protocol_error_where_it_arrives(wire):
    c, fw, _ = wire
    rid = c.start("sql", "c1", "SELECT 1")
    fw.sendall(b"@1 C 1 Tx\n@0 E 1 Tstray\n")
    with pytest.raises(ConsoleProtocolError, match="id 0 that answers no line"):
        c.read_reply(rid)


def test_a_frame_for_an_id_never_sent_is_a_protocol_error(wire):
    c, fw, _ = wire
    fw.sendall(b"@7 K I0 I0\n@1 K I0 I0\n")
    with pytest.raises(ConsoleProtocolError, match="id 7, which no outstanding request has"):
        c.ping()


def test_a_timed_out_request_is_abandoned_and_its_late_reply_dropped(wire):
    c, fw, _ = wire
    t0 = time.monotonic()
    with pytest.raises(TargetTimeout, match="no answer within 0.3 s"):
        c.request(".stats", timeout=0.3)
    assert time.monotonic() - t0 < 2
    fw.sendall(b"@1 C 2 Tname Tvalue\n@1 R Tx I1\n@1 K I0 I0\n@2 K I0 I0\n")
    c.ping()


def test_read_reply_after_a_timeout_can_wait_again(wire):
    c, fw, _ = wire
    rid = c.start(".ping")
    with pytest.raises(TargetTimeout):
        c.read_reply(rid, timeout=0.2)
    fw.sendall(b"@1 K I3 I4\n")
    res = c.read_reply(rid)
    assert (res.changes, res.last_rowid) == (3, 4)


@pytest.mark.parametrize("line, expect", [
    (b"@1 Q I0\n", "not a reply frame"),
    (b"@x K I0 I0\n", "not a reply frame"),
    (b"@1 K I0\n", "malformed reply frame"),
    (b"@1 C 2 Tx\n@1 K I0 I0\n", "malformed reply frame"),
    (b"@1 E x Tmsg\n", "malformed error frame"),
])
def test_protocol_errors_carry_the_process_state_and_console_tail(wire, line, expect):
    c, fw, _ = wire
    fw.sendall(line)
    with pytest.raises(ConsoleProtocolError) as e:
        c.ping()
    assert isinstance(e.value, TargetError)
    assert expect in str(e.value)
    assert e.value.detail == STATE and STATE in str(e.value)
    assert line.split(b"\n")[0].decode() in e.value.console_tail


def test_the_client_knows_the_console_mode():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = ConsoleLink(ours, context=lambda gone: STATE)
    try:
        c = Console(link, timeout=2.0)  # as after boot: interactive
        assert c.mode == "interactive"
        t0 = time.monotonic()
        with pytest.raises(WalkitError, match="interactive mode"):
            c.ping()  # refused at once instead of waiting for an answer that never comes
        assert time.monotonic() - t0 < 0.5
        theirs.sendall(b".mode machine\r\n@0 K I0 I0\n")
        c.enter_machine_mode()
        assert c.mode == "machine"
        c.enter_machine_mode()  # already: nothing sent
        theirs.sendall(b"@1 K I0 I0\nwalkit> ")
        c.request(".mode", "interactive")
        assert c.mode == "interactive"
        c.type_line(b".shutdown")
        time.sleep(0.1)
        assert theirs.recv(4096) == b"\x03.mode machine\n1 .mode Tinteractive\n\x03.shutdown\r"
    finally:
        link.close()
        theirs.close()


def test_codec_round_trips_on_the_host():
    for v in [None, *INTS, *FLOATS, *TEXTS, *BLOBS]:
        tok = encode_value(v)
        assert " " not in tok and "\n" not in tok and all(0x21 <= ord(c) < 0x7F for c in tok)
        back = decode_value(tok)
        assert type(back) is type(v)
        if isinstance(v, float):
            assert struct.pack(">d", back) == struct.pack(">d", v)
        else:
            assert back == v
    with pytest.raises(OverflowError):
        encode_value(1 << 63)
    with pytest.raises(TypeError):
        encode_value(object())
