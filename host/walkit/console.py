"""The target's SQL console from the host: a logged byte link and the machine-mode client.

One client for every user: the pytest fixtures, ``walkit demo`` and ``walkit run`` all talk to
the firmware through :class:`ConsoleLink` (bytes, log, waits with timeouts) and, in machine
mode, :class:`Console` (framed requests and replies, docs/console.md).  :class:`ConsoleSession`
puts the :mod:`walkit.sql` interface on top, so a scenario written for the host-native build
runs unchanged against a target.

Every wait has a deadline.  When it passes, or the target goes away while we wait, the
exception carries the last console output (and whatever the caller adds about the process),
because "timed out" alone never explains a hang.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import WalkitError
from .sql import SqlError

READY_LINE = b"walkit: ready"
DEFAULT_TIMEOUT = 30.0
TAIL_BYTES = 3000
LOG_MEMORY = 8 << 20


class TargetError(WalkitError):
    """The target did not do what was asked; ``console_tail`` is its last console output."""

    def __init__(self, message: str, console_tail: str = "", detail: str = ""):
        self.console_tail = console_tail
        self.detail = detail
        text = message
        if detail:
            text += "\n" + detail
        text += "\n--- last console output ---\n" + (console_tail or "(nothing)") + "\n---"
        super().__init__(text)


class TargetTimeout(TargetError):
    """A wait on the target ran out of time."""


class TargetGone(TargetError):
    """The target stopped (crashed, exited or was cut) while we waited on it."""


class ConsoleProtocolError(TargetError):
    """The target sent a frame that does not follow the machine-mode grammar."""


# ---- the byte link ------------------------------------------------------------------------------


class ConsoleLink:
    """A connected console socket, read by a thread into a buffer and a log file.

    ``context(gone)`` is called when a wait fails, to add what the caller knows (process state,
    exit status, the emulator's own log) to the error; ``gone`` says the console went away.
    """

    def __init__(self, sock: socket.socket, log_path: Path | None = None,
                 context: Callable[[bool], str] | None = None,
                 on_data: Callable[[bytes], None] | None = None):
        self._sock = sock
        self._cond = threading.Condition()
        self._buf = bytearray()     # not yet consumed by read_line()/expect()
        self._log = bytearray()     # everything ever received
        self._eof = False
        self._context = context or (lambda gone: "")
        self._on_data = on_data
        self._logf = open(log_path, "ab", buffering=0) if log_path else None
        self._thread = threading.Thread(target=self._reader, name="walkit-console", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._buf += data
                self._log += data
                if len(self._log) > LOG_MEMORY:  # the file has everything; memory the tail
                    del self._log[:len(self._log) - LOG_MEMORY // 2]
                if self._logf:
                    self._logf.write(data)
                self._cond.notify_all()
            if self._on_data:
                self._on_data(data)

    @property
    def eof(self) -> bool:
        return self._eof

    def log_bytes(self) -> bytes:
        with self._cond:
            return bytes(self._log)

    def tail(self, n: int = TAIL_BYTES) -> str:
        with self._cond:
            data = bytes(self._log[-n:])
        return data.decode("utf-8", "replace")

    def discard(self) -> None:
        """Drops the unconsumed output (the log keeps it)."""
        with self._cond:
            self._buf.clear()

    def write(self, data: bytes, log: bool = False) -> None:
        """Sends bytes.  With ``log``, the line also goes into the console log as ``>> line``
        (machine-mode requests: the firmware does not echo them, and a log without the
        questions explains little)."""
        if log:
            with self._cond:
                entry = b">> " + data.rstrip(b"\n") + b"\n"
                self._log += entry
                if self._logf:
                    self._logf.write(entry)
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise self._gone(f"cannot write to the console: {e}") from None

    def _gone(self, what: str) -> TargetGone:
        return TargetGone(what, self.tail(), self._context(True))

    def _timeout(self, what: str, timeout: float) -> TargetTimeout:
        return TargetTimeout(f"{what}: no answer within {timeout:.1f} s", self.tail(),
                             self._context(False))

    def read_line(self, timeout: float, what: str = "waiting for a console line") -> bytes:
        """The next line (without CR LF) of what arrived since the last read."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                i = self._buf.find(b"\n")
                if i >= 0:
                    line = bytes(self._buf[:i])
                    del self._buf[:i + 1]
                    return line.rstrip(b"\r")
                if self._eof:
                    raise self._gone(f"{what}: the target stopped")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timeout(what, timeout)
                self._cond.wait(left)

    def expect(self, pattern: bytes, timeout: float, what: str | None = None) -> re.Match:
        """Consumes output up to and including the first match of a regular expression.  The
        match's ``string`` is the output it was found in, so ``m.string[:m.start()]`` is what
        came before it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        what = what or f"waiting for {pattern!r}"
        with self._cond:
            while True:
                # Search a copy: the match must keep its text after the buffer is consumed.
                m = rx.search(bytes(self._buf))
                if m:
                    del self._buf[:m.end()]
                    return m
                if self._eof:
                    raise self._gone(f"{what}: the target stopped")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timeout(what, timeout)
                self._cond.wait(left)

    def wait_eof(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=5)
        if self._logf:
            self._logf.close()
            self._logf = None


# ---- the value codec (docs/console.md) -------------------------------------------------------

_TEXT_SAFE = frozenset(range(0x21, 0x7F)) - {ord("%")}
_HEX = "0123456789ABCDEF"


def encode_text_bytes(data: bytes) -> str:
    return "T" + "".join(chr(b) if b in _TEXT_SAFE else "%" + _HEX[b >> 4] + _HEX[b & 15]
                         for b in data)


def encode_value(v: Any) -> str:
    """One value token.  ``str`` is sent as UTF-8 (lone surrogates from ``surrogateescape``
    decoding become the bytes they stand for, so any byte string survives as TEXT)."""
    if v is None:
        return "N"
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        if not -(1 << 63) <= v < (1 << 63):
            raise OverflowError(f"integer {v} does not fit SQLite's 64 bits")
        return f"I{v}"
    if isinstance(v, float):
        return "F" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return encode_text_bytes(v.encode("utf-8", "surrogateescape"))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "B" + bytes(v).hex()
    raise TypeError(f"cannot send a {type(v).__name__} to SQLite (None, int, float, str, bytes)")


def _unescape(tok: str) -> bytes:
    out = bytearray()
    i, n = 0, len(tok)
    while i < n:
        c = tok[i]
        if c == "%":
            if i + 3 > n:
                raise ValueError("truncated %XX escape")
            out.append(int(tok[i + 1:i + 3], 16))
            i += 3
        else:
            if not 0x21 <= ord(c) < 0x7F:
                raise ValueError(f"raw byte {ord(c):#x} in a text token")
            out.append(ord(c))
            i += 1
    return bytes(out)


def decode_value(tok: str) -> Any:
    """The inverse of :func:`encode_value`; TEXT decodes as UTF-8 with ``surrogateescape``."""
    kind, body = tok[:1], tok[1:]
    if kind == "N" and not body:
        return None
    if kind == "I":
        return int(body)
    if kind == "F" and len(body) == 16:
        return struct.unpack(">d", bytes.fromhex(body))[0]
    if kind == "T":
        return _unescape(body).decode("utf-8", "surrogateescape")
    if kind == "B" and len(body) % 2 == 0:
        return bytes.fromhex(body)
    raise ValueError(f"bad value token {tok[:40]!r}")


# ---- machine mode ---------------------------------------------------------------------------


@dataclass
class Result:
    """One request's answer: the last result set's columns and rows, and the connection's
    change count and last rowid after the request."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    changes: int = 0
    last_rowid: int = 0


class Console:
    """Framed requests on a :class:`ConsoleLink` (the firmware must be in machine mode: call
    :meth:`enter_machine_mode` once after boot)."""

    def __init__(self, link: ConsoleLink, timeout: float = DEFAULT_TIMEOUT):
        self.link = link
        self.timeout = timeout
        self._next_id = 1
        self._next_conn = 1
        self._lock = threading.Lock()

    def new_connection_name(self) -> str:
        """c1, c2, ...: unique for this console (every session on it shares the names)."""
        with self._lock:
            n = self._next_conn
            self._next_conn += 1
        return f"c{n}"

    def enter_machine_mode(self, timeout: float | None = None) -> None:
        self.link.write(b".mode machine\n")  # echoed by the firmware: no need to log it
        self.link.expect(rb"(?m)^@0 K I0 I0\r?$", timeout or self.timeout,
                         "switching the console to machine mode")

    def send_raw(self, line: bytes) -> None:
        """Writes a line as it is (tests of malformed input).  Replies to it carry id 0 when
        the line has no valid id."""
        self.link.write(line + b"\n", log=True)

    def request(self, verb: str, *values: Any, timeout: float | None = None,
                what: str | None = None) -> Result:
        """Sends ``<id> <verb> <values...>`` and collects the reply frames for that id.
        Raises :class:`SqlError` for an E frame, :class:`TargetError` subclasses otherwise."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            line = " ".join([str(rid), verb, *(encode_value(v) for v in values)])
            self.link.write(line.encode("ascii") + b"\n", log=True)
            return self.read_reply(rid, timeout=timeout, what=what or f"request {rid} ({verb})")

    def start(self, verb: str, *values: Any) -> int:
        """Sends a request without waiting; :meth:`read_reply` collects it later (e.g. a long
        write that a power cut is meant to interrupt)."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            line = " ".join([str(rid), verb, *(encode_value(v) for v in values)])
            self.link.write(line.encode("ascii") + b"\n", log=True)
            return rid

    def read_reply(self, rid: int, timeout: float | None = None, what: str = "reply") -> Result:
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        res = Result()
        prefix = f"@{rid} ".encode()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.link._timeout(what, timeout)
            try:
                line = self.link.read_line(left, what)
            except TargetTimeout:  # say the request's timeout, not what was left of it
                raise self.link._timeout(what, timeout) from None
            if not line.startswith(b"@"):
                continue  # a log line: it is in the console log already
            if not line.startswith(prefix):
                if line.startswith(b"@0 E "):
                    self._raise_error(line[5:].decode("ascii", "replace"), what, rid_zero=True)
                continue  # a late reply to an earlier request that timed out
            try:
                kind, _, rest = line[len(prefix):].decode("ascii").partition(" ")
                toks = rest.split(" ") if rest else []
                if kind == "C":
                    n = int(toks[0])
                    res = Result(columns=[decode_value(t) for t in toks[1:1 + n]])
                    if len(res.columns) != n:
                        raise ValueError("column count mismatch")
                elif kind == "R":
                    res.rows.append(tuple(decode_value(t) for t in toks))
                elif kind == "K":
                    res.changes, res.last_rowid = decode_value(toks[0]), decode_value(toks[1])
                    return res
                elif kind == "E":
                    self._raise_error(rest, what)
                else:
                    raise ValueError(f"unknown frame kind {kind!r}")
            except (ValueError, IndexError, UnicodeDecodeError) as e:
                raise ConsoleProtocolError(f"{what}: malformed reply frame ({e}): {line[:200]!r}",
                                           self.link.tail()) from None

    def _raise_error(self, rest: str, what: str, rid_zero: bool = False):
        code_s, _, msg_tok = rest.partition(" ")
        try:
            code, msg = int(code_s), decode_value(msg_tok)
        except ValueError:
            raise ConsoleProtocolError(f"{what}: malformed error frame {rest[:200]!r}",
                                       self.link.tail()) from None
        if rid_zero:
            msg = "request rejected before its id was read: " + msg
        raise SqlError(code, msg)

    # Conveniences over request(); each is one dot-command (docs/console.md).
    def open(self, name: str, path: str) -> None:
        self.request(".open", name, path)

    def close_conn(self, name: str) -> None:
        self.request(".close", name)

    def sql(self, conn: str, sql: str, params: Sequence[Any] = (), timeout: float | None = None) -> Result:
        try:
            return self.request("sql", conn, sql, *params, timeout=timeout,
                                what=f"SQL on {conn}: {sql[:60]}")
        except SqlError as e:
            e.sql = sql
            raise

    def stats(self) -> dict[str, Any]:
        return {k: v for k, v in self.request(".stats").rows}

    def ls(self, path: str = "/") -> list[tuple[str, str, int]]:
        return list(self.request(".ls", path).rows)

    def ping(self, timeout: float | None = None) -> None:
        self.request(".ping", timeout=timeout)


# ---- the walkit.sql interface ---------------------------------------------------------------


class ConsoleConnection:
    """A named connection on the target (walkit.sql.Connection)."""

    def __init__(self, console: Console, name: str, path: str):
        self.console = console
        self.name = name
        self.path = path
        self.closed = False
        self.last: Result | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self.closed:
            raise SqlError(21, "connection is closed", sql)
        self.last = self.console.sql(self.name, sql, params)
        return self.last.rows

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.console.close_conn(self.name)


class ConsoleSession:
    """Connections on a target's flash filesystem (walkit.sql.Session)."""

    def __init__(self, console: Console, on_close: Callable[[], None] | None = None):
        self.console = console
        self._on_close = on_close
        self._conns: list[ConsoleConnection] = []

    def connect(self, path: str) -> ConsoleConnection:
        name = self.console.new_connection_name()
        self.console.open(name, path)
        conn = ConsoleConnection(self.console, name, path)
        self._conns.append(conn)
        return conn

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a file or directory (paths are absolute on the target; a
        relative one is taken from the root, as the VFS does)."""
        parent, _, name = ("/" + path.lstrip("/")).rpartition("/")
        try:
            return any(entry[0] == name for entry in self.console.ls(parent or "/"))
        except SqlError as e:
            if e.code == 12:  # SQLITE_NOTFOUND: the console's "no such file or directory"
                return False
            raise

    def __enter__(self) -> "ConsoleSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            for c in self._conns:
                if not c.closed:
                    c.close()
        finally:
            self._conns.clear()
            if self._on_close:
                self._on_close()
