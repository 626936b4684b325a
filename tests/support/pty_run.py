"""``walkit run`` in a pseudo-terminal, typed at like a person: the child sees a terminal on
stdin (so `walkit run` puts it in raw mode and passes keys through) and the test reads what a
person would see."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path


class PtyRun:
    def __init__(self, argv: list[str], cwd: str | os.PathLike | None = None,
                 env: dict | None = None):
        master, slave = os.openpty()
        self.fd = master
        self.out = bytearray()  # everything the terminal showed
        self._pos = 0           # how much expect() has consumed
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, start_new_session=True, close_fds=True)
        os.close(slave)

    def _fill(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child side closed
            return False
        if not data:
            return False
        self.out += data
        return True

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def expect(self, pattern: bytes, timeout: float = 30, what: str = "") -> str:
        """Waits for a match in the output after the last one; returns the text before it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self._pos)
            if m:
                before = self.out[self._pos:m.start()]
                self._pos = m.end()
                return before.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(min(left, 0.2)):
                if rx.search(self.out, self._pos):
                    continue
                shown = self.out[self._pos:][-3000:].decode("utf-8", "replace")
                raise AssertionError(f"{what or pattern!r} not seen within {timeout} s; the "
                                     f"terminal showed:\n{shown}")

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._fill(0.1)
        if self.proc.poll() is None:
            self.kill()
            raise AssertionError(f"walkit run still running after {timeout} s; the terminal "
                                 f"showed:\n{self.out[-3000:].decode('utf-8', 'replace')}")
        while self._fill(0.05):
            if not select.select([self.fd], [], [], 0)[0]:
                break
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def close(self) -> None:
        self.kill()
        os.close(self.fd)


def walkit_run(board: str, flash: Path, cwd: Path | None = None) -> PtyRun:
    walkit = Path(sys.executable).with_name("walkit")
    return PtyRun([str(walkit), "run", "--board", board, "--flash", str(flash)], cwd=cwd,
                  env={**os.environ, "TERM": "xterm"})
