"""Progress of long work on stderr, in the style of ninja: one status line with the step and the
elapsed time, rewritten in place on a terminal; on anything else (a log, CI, a pipe) nothing for work done within 2 s, then a
line per step at most every 5 s and a "still ..." line when a step runs long, so silence never
means a hang.

    with Progress("building qemu-virt-a15") as p:   # prints "walkit: building ... (12 s)"
        p.step("[ 45%] Building C object sqlite3.c.o")
    run_with_progress(cmd, "building ...", parse=cmake_step)  # a command's own steps

``WALKIT_PROGRESS=0`` turns it off; ``=1`` forces the terminal style.  ``set_sink()`` sends the
lines elsewhere (the pytest plugin: past pytest's output capture, so a first test that builds
for minutes says so).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from typing import Callable, TextIO

QUIET_FOR = 2.0     # work done sooner prints nothing (not on a terminal)
LOG_EVERY = 5.0     # seconds between step lines when not on a terminal
STILL_EVERY = 15.0  # a "still ..." line after this long without one (not on a terminal)


_sink: Callable[[str], None] | None = None


def set_sink(fn: Callable[[str], None] | None) -> None:
    """Where progress text goes instead of the Progress's stream (None: back to it)."""
    global _sink
    _sink = fn


def _mode(stream: TextIO) -> str:
    env = os.environ.get("WALKIT_PROGRESS")
    if env == "0":
        return "off"
    if env == "1":
        return "tty"
    try:
        return "tty" if stream.isatty() else "log"
    except (AttributeError, ValueError):
        return "log"


class Progress:
    """A status line for one piece of work; a context manager.  ``step(text)`` names what is
    happening now; a ticker thread keeps the elapsed time moving while nothing else does."""

    def __init__(self, what: str, stream: TextIO | None = None):
        self.what = what
        self.stream = stream or sys.stderr
        self.mode = _mode(self.stream)
        self.current = ""
        self.t0 = time.monotonic()
        self._last_log = self.t0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._shown = False
        self.failed = False  # set by the work when it ends in failure without raising

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.t0:.0f} s"

    def _write(self, text: str) -> None:
        try:
            if _sink is not None:
                _sink(text)
            else:
                self.stream.write(text)
                self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is a convenience
            self.mode = "off"

    def _draw(self) -> None:
        if self.mode != "tty":
            return
        width = 100
        line = f"walkit: {self.what}: {self.current} ({self._elapsed()})" if self.current else \
               f"walkit: {self.what} ({self._elapsed()})"
        self._write("\r\x1b[K" + line[:width])
        self._shown = True

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self.mode == "tty":
                    self._draw()
                elif self.mode == "log" and not self._shown and \
                        time.monotonic() - self.t0 >= QUIET_FOR:
                    self._log(f"{self.what}: {self.current or 'working'} ({self._elapsed()})")
                elif self.mode == "log" and time.monotonic() - self._last_log >= STILL_EVERY:
                    self._log(f"still {self.what}: {self.current or 'working'} ({self._elapsed()})")

    def _log(self, line: str) -> None:
        self._last_log = time.monotonic()
        self._shown = True
        self._write(f"walkit: {line}\n")

    def __enter__(self) -> "Progress":
        self._draw()
        if self.mode != "off":
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def step(self, text: str) -> None:
        with self._lock:
            self.current = text
            if self.mode == "tty":
                self._draw()
            elif self.mode == "log" and time.monotonic() - self.t0 >= QUIET_FOR and \
                    time.monotonic() - self._last_log >= LOG_EVERY:
                self._log(f"{self.what}: {text} ({self._elapsed()})")

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join()
        with self._lock:
            if self.mode == "tty" and self._shown:
                self._write("\r\x1b[K")
            verdict = "failed" if exc_type or self.failed else "done"
            if self.mode != "off" and (self._shown or verdict == "failed"):
                self._write(f"walkit: {self.what}: {verdict} in {self._elapsed()}\n")


_CMAKE_STEP = re.compile(r"^\[\s*(\d+)%\]\s+(.*)$")
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]\s+(.*)$")


def cmake_step(line: str) -> str | None:
    """A build tool's progress line, shortened for the status line (make's ``[ 45%] ...`` or
    ninja's ``[3/17] ...``), or None."""
    m = _CMAKE_STEP.match(line) or _NINJA_STEP.match(line)
    if not m:
        return None
    text = m.group(m.lastindex)
    text = re.sub(r"\S*/", "", text)  # object paths: keep the file names
    head = line[:m.start(m.lastindex)].strip()
    return f"{head} {text}"


def run_with_progress(cmd: list[str], what: str, parse: Callable[[str], str | None] = cmake_step,
                      **kw) -> subprocess.CompletedProcess:
    """Runs cmd, its stdout and stderr merged and kept (returned as ``stdout``), showing each
    line ``parse`` recognises as a step."""
    out: list[str] = []
    with Progress(what) as p:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", **kw)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            step = parse(line.rstrip("\n"))
            if step:
                p.step(step)
        rc = proc.wait()
        p.failed = rc != 0
    return subprocess.CompletedProcess(cmd, rc, "".join(out), "")
