"""The byte link to a target's console: a connected socket read by a thread into a buffer and a
log file, with waits that each have a deadline."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import TargetError, TargetGone, TargetTimeout

TAIL_BYTES = 3000      # console output carried by an error
LOG_MEMORY = 8 << 20   # bound of the in-memory log (the log file has everything)


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
        self._log = bytearray()     # what was received: the last LOG_MEMORY bytes at most
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

    def error(self, cls: type[TargetError], what: str, gone: bool = False) -> TargetError:
        """``cls(what)`` carrying the console tail and what the owner knows (process state,
        the emulator's output)."""
        return cls(what, self.tail(), self._context(gone))

    def _gone(self, what: str) -> TargetGone:
        return self.error(TargetGone, what, gone=True)

    def timeout_error(self, what: str, timeout: float) -> TargetTimeout:
        """``TargetTimeout`` for a wait of ``timeout`` seconds on ``what`` that got no answer."""
        return self.error(TargetTimeout, f"{what}: no answer within {timeout:.1f} s")

    def _take(self, take, timeout: float, what: str):
        """Waits until ``take(buffer)`` (called under the lock) returns something other than
        None, and returns that; the one wait loop behind every read, so each has a deadline and
        ends with the console tail when the target stops or stays silent."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = take(self._buf)
                if got is not None:
                    return got
                if self._eof:
                    raise self._gone(f"{what}: the target stopped")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.timeout_error(what, timeout)
                self._cond.wait(left)

    def read_line(self, timeout: float, what: str = "waiting for a console line") -> bytes:
        """The next line (without CR LF) of what arrived since the last read."""
        def take(buf: bytearray):
            i = buf.find(b"\n")
            if i < 0:
                return None
            line = bytes(buf[:i])
            del buf[:i + 1]
            return line.rstrip(b"\r")

        return self._take(take, timeout, what)

    def expect(self, pattern: bytes, timeout: float, what: str | None = None) -> re.Match:
        """Consumes output up to and including the first match of a regular expression.  The
        match's ``string`` is the output it was found in, so ``m.string[:m.start()]`` is what
        came before it."""
        rx = re.compile(pattern)

        def take(buf: bytearray):
            # Search a copy: the match must keep its text after the buffer is consumed.
            m = rx.search(bytes(buf))
            if m:
                del buf[:m.end()]
            return m

        return self._take(take, timeout, what or f"waiting for {pattern!r}")

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
