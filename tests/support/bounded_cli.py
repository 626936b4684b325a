"""Run the ``walkit`` command line on hostile input under a time limit and a memory cap, and
judge the outcome the way a user would: no traceback, no hang, bounded memory, a documented
exit status, and a one-line error.

:func:`run_walkit` forks this (already imported) test process and calls ``walkit.cli.main``
in the child, as ``python -m walkit.cli`` does, with

* ``RLIMIT_AS`` set to the child's current address space plus ``mem_mb``: an allocation past
  it raises MemoryError, which escapes ``main`` as a traceback and so fails :func:`judge`;
* a wall-clock limit: the parent kills the child with SIGKILL when it passes, and the result
  says ``timed_out`` (a FIFO read that blocks, a loop over a damaged manifest);
* stdout encoded strictly as UTF-8 and stderr with ``backslashreplace``, what the real
  interpreter does in a UTF-8 locale (so printing an undecodable file name raw fails here as
  it would for a user).

Forking instead of starting an interpreter keeps one call at a few milliseconds, so property
tests can afford many.  ``plant`` is a function run in the child before ``main``: tests use it
to put a known bug back (undo a fix by monkeypatching) and show that :func:`judge` catches it.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Callable

DEFAULT_TIMEOUT = 20.0
DEFAULT_MEM_MB = 300


@dataclass
class Outcome:
    argv: list[str]
    rc: int | None  # None: killed (timeout or signal)
    out: bytes
    err: bytes
    timed_out: bool
    seconds: float

    @property
    def stdout(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.err.decode("utf-8", "replace")


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _preload() -> None:
    """Import the command line and every command group in this process once, so that each
    forked child starts with them loaded."""
    from walkit.cli import build_parser

    build_parser()


def _child(argv: list[str], out_fd: int, err_fd: int, mem_mb: int, cwd: str | None,
           plant: Callable[[], None] | None, call: Callable[[], object] | None) -> None:
    rc = 1
    try:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      errors="strict", line_buffering=False)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        sys.stdin = io.TextIOWrapper(io.FileIO(os.open(os.devnull, os.O_RDONLY), "r"))
        if cwd is not None:
            os.chdir(cwd)
        limit = _vm_size() + (mem_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if plant is not None:
            plant()
        if call is not None:
            call()
            rc = 0
        else:
            from walkit.cli import main

            rc = main(argv)
            rc = 0 if rc is None else rc
        sys.stdout.flush()
    except SystemExit as e:  # argparse usage errors exit 2 with a usage message
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # what the interpreter would print for an uncaught exception
        try:
            sys.stderr.write(traceback.format_exc())
            sys.stderr.flush()
        except BaseException:
            os.write(2, b"Traceback (unprintable)\n")
        rc = 1
    finally:
        try:
            sys.stdout.flush()
        except BaseException:
            os.write(2, b"Traceback: stdout flush failed\n")
            rc = 1
        os._exit(rc)


def run_walkit(*args, timeout: float = DEFAULT_TIMEOUT, mem_mb: int = DEFAULT_MEM_MB,
               cwd: str | os.PathLike | None = None,
               plant: Callable[[], None] | None = None) -> Outcome:
    """``walkit ARGS...`` in a forked child under the limits above."""
    argv = [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args]
    _preload()
    return _run(argv, timeout, mem_mb, cwd, plant, None)


def run_function(fn: Callable[[], object], *, timeout: float = DEFAULT_TIMEOUT,
                 mem_mb: int = DEFAULT_MEM_MB) -> Outcome:
    """``fn()`` in a forked child under the same limits: exit 0 if it returns, 1 with its
    traceback on stderr if it raises (an assertion in ``fn`` included).  For API-level checks
    whose failure mode is an allocation that would take the test process down with it."""
    return _run([getattr(fn, "__name__", "function")], timeout, mem_mb, None, None, fn)


def _run(argv, timeout, mem_mb, cwd, plant, call) -> Outcome:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        _child(argv, out_w, err_w, mem_mb, None if cwd is None else str(cwd), plant, call)
    os.close(out_w)
    os.close(err_w)
    bufs = {out_r: bytearray(), err_r: bytearray()}
    open_fds = [out_r, err_r]
    timed_out = False
    deadline = start + timeout
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select(open_fds, [], [], left)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    bufs[fd] += chunk
                else:
                    open_fds.remove(fd)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(out_r)
        os.close(err_r)
    rc = os.waitstatus_to_exitcode(status)
    return Outcome(argv, None if timed_out or rc < 0 else rc, bytes(bufs[out_r]), bytes(bufs[err_r]),
                   timed_out, time.monotonic() - start)


def judge(o: Outcome, allowed: set[int]) -> list[str]:
    """What is wrong with an outcome (empty: nothing).  ``allowed``: the exit statuses the
    documentation gives this command for this kind of input."""
    what = f"walkit {' '.join(o.argv)}"
    if o.timed_out:
        return [f"{what}: no answer after {o.seconds:.1f} s (hang)"]
    if o.rc is None:
        return [f"{what}: killed by a signal"]
    problems = []
    if b"Traceback" in o.err or b"Traceback" in o.out:
        tail = o.stderr.strip().splitlines()[-1:] or ["?"]
        problems.append(f"{what}: traceback ({tail[0]})")
    if o.rc not in allowed:
        problems.append(f"{what}: exit {o.rc}, documented: {sorted(allowed)}")
    if o.rc == 1 and not problems:
        lines = o.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("walkit: error: "):
            problems.append(f"{what}: exit 1 without a one-line 'walkit: error: ...': {o.stderr[:300]!r}")
    if any(c < 0x20 and c not in (0x0A, 0x09) for c in o.out + o.err):
        problems.append(f"{what}: a raw control byte in the output")
    return problems


def check(o: Outcome, allowed: set[int]) -> Outcome:
    """``o`` if :func:`judge` finds nothing wrong, else an AssertionError listing it all."""
    problems = judge(o, allowed)
    assert not problems, "\n".join(problems) + f"\nstdout: {o.stdout[-500:]}\nstderr: {o.stderr[-1500:]}"
    return o
