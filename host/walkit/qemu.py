"""QEMU for the harness: the command line from ``board.toml`` and a small synchronous QMP client.

The harness listens on both Unix sockets (console and QMP) *before* QEMU starts, and QEMU
connects to them as a client.  Nothing the guest prints can be lost to a race (the connection
exists before the first guest instruction), and a QEMU that dies during start-up is noticed as
"never connected" instead of a connect() retry loop against a socket file that may never appear.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from . import WalkitError
from .boards import Board


def qemu_command(board: Board, image: Path, flash: Path, console_sock: Path,
                 qmp_sock: Path) -> list[str]:
    """The full QEMU argv: the board's own ``qemu_args``, then what the harness adds."""
    if not board.qemu_binary:
        raise WalkitError(f"board {board.name}: [run] qemu_binary is not set")
    cmd = [board.qemu_binary, *board.qemu_args, "-kernel", str(image),
           "-chardev", f"socket,id=walkit-console,path={console_sock}",
           "-serial", "chardev:walkit-console",
           "-qmp", f"unix:{qmp_sock}"]
    if board.flash and board.flash.qemu_drive:
        # QEMU parses -drive as key=value pairs separated by commas; a comma in the path would
        # be read as the start of another key.
        if "," in str(flash):
            raise WalkitError(f"flash image path must not contain a comma: {flash}")
        cmd += ["-drive", f"{board.flash.qemu_drive},file={flash}"]
    return cmd


class QmpError(WalkitError):
    pass


class Qmp:
    """A synchronous QMP connection on a private event loop (``qemu.qmp.QMPClient``).

    Usage: ``listen()`` before QEMU starts, ``accept(timeout)`` after, then ``command()``.
    Every call has a timeout: a QEMU that stops answering never blocks the harness.
    """

    def __init__(self, path: Path, name: str = "walkit"):
        from qemu.qmp import QMPClient

        self.path = path
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient(name)
        self._connected = False

    def _run(self, coro, timeout: float):
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except asyncio.TimeoutError:
            raise QmpError(f"QMP did not answer within {timeout:.1f} s") from None
        except Exception as e:  # qemu.qmp raises its own hierarchy; one type for callers
            raise QmpError(f"QMP: {type(e).__name__}: {e}") from None

    def listen(self) -> None:
        self._run(self._client.start_server(str(self.path)), 5.0)

    def accept(self, timeout: float) -> None:
        self._run(self._client.accept(), timeout)
        self._connected = True

    def command(self, name: str, timeout: float = 5.0, **args):
        if not self._connected:
            raise QmpError("QMP is not connected")
        return self._run(self._client.execute(name, args or None), timeout)

    def close(self) -> None:
        try:
            if self._client.runstate.name != "IDLE":
                self._run(self._client.disconnect(), 2.0)
        except QmpError:
            pass
        finally:
            self._connected = False
            if not self._loop.is_closed():
                self._loop.close()
