"""The console's machine mode (docs/console.md): framed requests and replies over a
:class:`~walkit.console.link.ConsoleLink`."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import WalkitError
from ..sql import SqlError
from .codec import decode_value, encode_value
from .errors import ConsoleProtocolError, TargetTimeout
from .link import ConsoleLink

READY_LINE = b"walkit: ready"  # the firmware's line when its console takes commands
DEFAULT_TIMEOUT = 30.0         # seconds a request may take unless told otherwise


@dataclass
class Result:
    """One request's answer: the last result set's columns and rows, and the connection's
    change count and last rowid after the request."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    changes: int = 0
    last_rowid: int = 0


_FRAME = re.compile(rb"@(\d{1,10}) ([CRKE])(?: (.*))?")
_RAW_ID = re.compile(rb"(\d{1,10}) ")
_LINE_END = re.compile(rb"\r\n|\r|\n")
MAX_ID = 0xFFFFFFFF

MACHINE = "machine"
INTERACTIVE = "interactive"


@dataclass
class _Line:
    """A line sent in machine mode, waiting for (or holding) its reply frames."""

    rid: int            # the id its replies carry by the grammar (0: a raw line without one)
    what: str
    raw: bool = False   # sent by send_raw(): its content is the caller's business
    frames: list[bytes] = field(default_factory=list)
    seen: int = 0               # frames that arrived for it (kept or, once abandoned, dropped)
    done: bool = False          # its K or E frame arrived
    abandoned: bool = False     # nobody will collect it: its frames are dropped as they come


class Console:
    """Framed requests on a :class:`ConsoleLink`.

    The console tracks the firmware's mode: ``interactive`` after boot (the firmware's own
    default), ``machine`` after :meth:`enter_machine_mode`, ``interactive`` again after a
    successful ``.mode interactive`` request.  Requests in interactive mode are refused at once
    (they would only be typed into the SQL prompt and never answered).

    Replies are kept per request: every reply frame read from the link is filed under the
    outstanding request its id names, whoever happens to be reading, so requests may
    interleave (``start(); ping(); read_reply(rid)``).  The firmware runs one line at a time
    and ends each with exactly one ``K`` or ``E`` frame, so a frame with id 0 (the firmware's
    answer to a line whose id it could not read, or to ``.mode machine``) belongs to the
    oldest line still unanswered: that is where it is filed.  For a line of :meth:`send_raw`
    it is that line's reply (an ``SqlError`` from :meth:`read_reply`); for a request this
    client formatted, which always has an id, it means the line was damaged on the way and
    reading it raises :class:`ConsoleProtocolError`.  A frame that fits no outstanding line
    (an id never sent, a second final frame, an id-0 frame in the middle of another reply) and
    a line starting with ``@`` that is not a frame raise :class:`ConsoleProtocolError` where
    they arrive.
    """

    def __init__(self, link: ConsoleLink, timeout: float = DEFAULT_TIMEOUT,
                 mode: str = INTERACTIVE):
        if mode not in (MACHINE, INTERACTIVE):
            raise ValueError(f"mode must be {MACHINE!r} or {INTERACTIVE!r}")
        self.link = link
        self.timeout = timeout
        self.mode = mode
        self._next_id = 1
        self._next_conn = 1
        self._lock = threading.RLock()
        self._unanswered: deque[_Line] = deque()        # send order, answered ones leave
        self._by_id: dict[int, deque[_Line]] = {}       # what read_reply() may collect

    def new_connection_name(self) -> str:
        """c1, c2, ...: unique for this console (every session on it shares the names)."""
        with self._lock:
            n = self._next_conn
            self._next_conn += 1
        return f"c{n}"

    def enter_machine_mode(self, timeout: float | None = None, what: str | None = None) -> None:
        """Switches the firmware's console from interactive to machine mode (a no-op when this
        client already put it there)."""
        with self._lock:
            if self.mode == MACHINE:
                return
            # Ctrl-C first: it drops whatever a person (or a test) left half typed.
            self.link.write(b"\x03.mode machine\n")  # echoed by the firmware: no need to log it
            self.link.expect(rb"(?m)^@0 K I0 I0\r?$", self.timeout if timeout is None else timeout,
                             what or "switching the console to machine mode")
            self.mode = MACHINE

    def type_line(self, line: bytes) -> None:
        """Interactive mode: types a line as a person would, after a Ctrl-C that drops anything
        half typed (the firmware echoes it, so the console log has it)."""
        with self._lock:
            if self.mode != INTERACTIVE:
                raise WalkitError("type_line: the console is in machine mode")
            self.link.write(b"\x03" + line + b"\r")

    def _require_machine_mode(self, what: str) -> None:
        if self.mode != MACHINE:
            raise WalkitError(f"{what}: the console is in interactive mode (call "
                              "enter_machine_mode() first)")

    def _send(self, entry: _Line, line: bytes) -> None:
        self._unanswered.append(entry)
        self._by_id.setdefault(entry.rid, deque()).append(entry)
        try:
            self.link.write(line + b"\n", log=True)
        except BaseException:
            self._unanswered.remove(entry)
            self._forget(entry)
            raise

    def _forget(self, entry: _Line) -> None:
        q = self._by_id.get(entry.rid)
        if q is not None and entry in q:
            q.remove(entry)
            if not q:
                del self._by_id[entry.rid]

    def _in_use(self, rid: int) -> bool:
        return rid in self._by_id or any(e.rid == rid for e in self._unanswered)

    def send_raw(self, line: bytes) -> int:
        """Writes a line as it is (tests of malformed input); returns the id its reply is
        collected under with :meth:`read_reply`: the line's leading id by the grammar
        (1 to 4294967295, then a space), or 0 when it has none the firmware can read.  If the
        firmware answers with id 0 anyway, the answer is still this line's (replies come in
        order).  A LF is added; CR, LF and CR LF in what is sent each end a line, as on the
        firmware (so ``b"1 .ping\r"`` is one line, ``b"1 .ping\n"`` that and an empty one):
        every line is registered and answered, and the id returned is the first one's."""
        with self._lock:
            self._require_machine_mode("send_raw")
            parts = _LINE_END.split(line + b"\n")[:-1]
            entries = []
            for part in parts:
                m = _RAW_ID.match(part)
                rid = int(m[1]) if m and 0 < int(m[1]) <= MAX_ID else 0
                if rid and (self._in_use(rid) or any(e.rid == rid for e in entries)):
                    raise ValueError(f"send_raw: id {rid} is in use by an outstanding request")
                entries.append(_Line(rid, f"raw line {part[:40]!r}", raw=True))
            for e in entries:
                self._unanswered.append(e)
                self._by_id.setdefault(e.rid, deque()).append(e)
            self.link.write(line + b"\n", log=True)
            return entries[0].rid

    def _new_request(self, verb: str, values: tuple, what: str | None) -> tuple[_Line, bytes]:
        self._require_machine_mode(what or verb)
        while self._in_use(self._next_id):  # ids a raw line took
            self._next_id += 1
        rid = self._next_id
        self._next_id += 1
        line = " ".join([str(rid), verb, *(encode_value(v) for v in values)]).encode("ascii")
        return _Line(rid, what or f"request {rid} ({verb})"), line

    def request(self, verb: str, *values: Any, timeout: float | None = None,
                what: str | None = None) -> Result:
        """Sends ``<id> <verb> <values...>`` and collects the reply frames for that id.
        Raises :class:`SqlError` for an E frame, :class:`TargetError` subclasses otherwise.
        If the wait fails (timeout, protocol error), the request is abandoned: its frames,
        arriving later, are dropped."""
        with self._lock:
            entry, line = self._new_request(verb, values, what)
            self._send(entry, line)
            try:
                res = self._collect(entry, timeout)
            except SqlError:
                raise
            except BaseException:
                self._abandon(entry)
                raise
            if verb == ".mode" and values == (INTERACTIVE,):
                self.mode = INTERACTIVE
            return res

    def start(self, verb: str, *values: Any) -> int:
        """Sends a request without waiting and returns its id; :meth:`read_reply` collects the
        reply later, whatever other requests were made in between (e.g. a long write that a
        power cut is meant to interrupt)."""
        with self._lock:
            entry, line = self._new_request(verb, values, None)
            self._send(entry, line)
            return entry.rid

    def read_reply(self, rid: int, timeout: float | None = None, what: str | None = None) -> Result:
        """The reply to the request ``rid`` (from :meth:`start` or :meth:`send_raw`; 0 for a
        raw line without an id), collected in the order they were sent.  When the wait times
        out the request stays outstanding: call again to go on waiting, or :meth:`abandon`."""
        with self._lock:
            q = self._by_id.get(rid)
            if not q:
                raise WalkitError(f"read_reply({rid}): no request with id {rid} is outstanding "
                                  "on this console")
            return self._collect(q[0], timeout, what)

    def abandon(self, rid: int) -> None:
        """Gives up on an outstanding request: its frames are dropped as they arrive."""
        with self._lock:
            for e in list(self._by_id.get(rid, ())):
                self._abandon(e)

    def _abandon(self, entry: _Line) -> None:
        entry.abandoned = True
        entry.frames.clear()
        self._forget(entry)

    def _collect(self, entry: _Line, timeout: float | None, what: str | None = None) -> Result:
        what = what or entry.what
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not entry.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.link.timeout_error(what, timeout)
            try:
                line = self.link.read_line(left, what)
            except TargetTimeout:  # say the request's timeout, not what was left of it
                raise self.link.timeout_error(what, timeout) from None
            self._file(line)
        self._forget(entry)
        return self._decode(entry, what)

    def _protocol_error(self, what: str) -> ConsoleProtocolError:
        return self.link.error(ConsoleProtocolError, what)

    def _file(self, line: bytes) -> None:
        """Files one line read from the link under the request it answers."""
        if not line.startswith(b"@"):
            return  # a log line: it is in the console log already
        m = _FRAME.fullmatch(line)
        if not m:
            raise self._protocol_error(f"not a reply frame: {line[:200]!r}")
        rid, kind = int(m[1]), m[2]
        if rid == 0:
            head = self._unanswered[0] if self._unanswered else None
            if head is None or head.seen or kind not in (b"K", b"E"):
                pending = (f"the oldest unanswered line is {head.what}" if head is not None
                           else "no line is waiting for an answer")
                raise self._protocol_error(f"a frame with id 0 that answers no line ({pending}): "
                                           f"{line[:200]!r}")
            entry = head
        else:
            entry = next((e for e in self._unanswered if e.rid == rid), None)
            if entry is None:
                raise self._protocol_error(f"a frame for id {rid}, which no outstanding request "
                                           f"has: {line[:200]!r}")
        entry.seen += 1
        if kind in (b"K", b"E"):
            entry.done = True
            self._unanswered.remove(entry)
        if not entry.abandoned:
            entry.frames.append(line)

    def _decode(self, entry: _Line, what: str) -> Result:
        res = Result()
        for line in entry.frames:
            m = _FRAME.fullmatch(line)
            frame_id, kind, rest = int(m[1]), m[2].decode(), (m[3] or b"")
            try:
                toks = rest.decode("ascii").split(" ") if rest else []
                if kind == "C":
                    n = int(toks[0])
                    res = Result(columns=[decode_value(t) for t in toks[1:1 + n]])
                    if len(res.columns) != n or len(toks) != n + 1:
                        raise ValueError("column count mismatch")
                elif kind == "R":
                    res.rows.append(tuple(decode_value(t) for t in toks))
                elif kind == "K":
                    if len(toks) != 2:
                        raise ValueError("K takes two values")
                    res.changes, res.last_rowid = decode_value(toks[0]), decode_value(toks[1])
                    return res
                else:  # E
                    self._raise_error(rest.decode("ascii"), what, frame_id == 0, entry.raw)
            except (ValueError, IndexError, TypeError, UnicodeDecodeError) as e:
                raise self._protocol_error(f"{what}: malformed reply frame ({e}): "
                                           f"{line[:200]!r}") from None
        raise AssertionError("a finished reply without K or E")  # _file() ends on K/E only

    def _raise_error(self, rest: str, what: str, rid_zero: bool = False, raw: bool = True):
        code_s, _, msg_tok = rest.partition(" ")
        try:
            code, msg = int(code_s), decode_value(msg_tok)
        except ValueError:
            raise self._protocol_error(f"{what}: malformed error frame {rest[:200]!r}") from None
        if rid_zero and not raw:
            # This client always sends an id: the firmware not reading it means the line was
            # damaged on its way, not that SQLite refused the request.
            raise self._protocol_error(f"{what}: the target could not read the request's id "
                                       f"and answered with id 0: error {code}: {msg}")
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
