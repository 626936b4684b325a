"""``walkit run``: a board's console for a person at a terminal, or for a pipe of lines."""

from __future__ import annotations

import itertools
import os
import select
import sys
from pathlib import Path

from .console import TargetError, TargetGone
from .target import EXIT_REBOOT, Target, describe_status


def interactive(board: str, flash: str | None = None, target: str = "walkit-fw") -> int:
    """``walkit run``: the console for a person, on the board's flash image (default
    ``build/<board>/flash.img``, kept between runs).  Ctrl-] leaves (power cut); ``.reboot``
    powers up again on the same flash; ``.shutdown`` ends the run cleanly.  With stdin not a
    terminal (a pipe), its lines are typed into the console and the run ends with
    ``.shutdown`` after the last one."""
    from .build import build
    from .paths import build_dir

    image = build(board, target=target)
    flash_path = Path(flash) if flash else build_dir(board) / "flash.img"
    workdir = build_dir(board) / "run"
    out = sys.stdout.buffer

    def echo(data: bytes) -> None:
        out.write(data)
        out.flush()

    t = Target(board, image=image, flash=flash_path, workdir=workdir, echo=echo)
    tty = sys.stdin.isatty()
    print(f"walkit: {board}, flash {flash_path}; " +
          ("Ctrl-] leaves (power cut)" if tty else "reading commands from stdin"), flush=True)
    old = None
    try:
        if tty:
            import termios
            import tty as ttymod

            old = termios.tcgetattr(sys.stdin.fileno())
            ttymod.setraw(sys.stdin.fileno())
        return _pump(t, tty)
    except TargetError as e:
        print(f"\r\nwalkit: error: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        if old is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, old)
        t.close()


PROMPT = rb"(?:\w{1,15}|   \.\.\.)> $"  # the console's prompt, at the end of its output


def _announce(text: str) -> None:
    sys.stdout.write(f"\r\n[walkit: {text}]\r\n")
    sys.stdout.flush()


def _pump(t: Target, tty: bool) -> int:
    return _pump_tty(t) if tty else _pump_piped(t)


def _pump_tty(t: Target) -> int:
    """Keystrokes to the console as they come, until the target stops or Ctrl-]."""
    fd = sys.stdin.fileno()
    t.boot(machine_mode=False)
    while True:
        if t.link:
            t.link.discard()  # a person reads the echo; nothing consumes the buffer
        if not t.running or (t.link and t.link.eof):
            status = t.wait_exit(10)
            if status == EXIT_REBOOT:
                _announce("powering up again on the same flash")
                t.boot(machine_mode=False)
                continue
            _announce(f"target {describe_status(status)}")
            return status
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        data = os.read(fd, 4096)
        if not data or b"\x1d" in data:  # Ctrl-] (or the terminal went away)
            if data:
                t.link.write(data[:data.index(b"\x1d")])
            t.power_cut()
            _announce("power cut")
            return 0
        t.link.write(data)


def _pump_piped(t: Target) -> int:
    """Lines from a pipe, typed one at a time like a person: each waits for the console's
    prompt (bytes sent ahead would be lost when the target reboots).  After the last line,
    ``.shutdown``."""
    t.boot(machine_mode=False)
    t.link.expect(PROMPT, t.timeout, "the first prompt")
    lines = (raw.rstrip(b"\r\n") for raw in sys.stdin.buffer)
    for line in itertools.chain(lines, [b".shutdown"]):
        t.link.write(line + b"\n")
        try:
            t.link.expect(PROMPT, t.timeout, f"the prompt after {line[:40]!r}")
            continue
        except TargetGone:
            pass
        status = t.wait_exit(10)
        if status != EXIT_REBOOT:
            _announce(f"target {describe_status(status)}")
            return status
        _announce("powering up again on the same flash")
        t.boot(machine_mode=False)
        t.link.expect(PROMPT, t.timeout, "the first prompt")
    status = t.wait_exit(t.timeout)  # .shutdown answered with a prompt: it did not stop
    _announce(f"target {describe_status(status)}")
    return status
