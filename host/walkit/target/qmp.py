"""A small synchronous QMP client for the QEMU driver (``qemu.qmp.QMPClient`` on a private event
loop, so the harness stays synchronous).

The harness listens on the QMP socket before QEMU starts and QEMU connects to it as a client,
as it does for the console (see :mod:`walkit.target.qemu`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .. import WalkitError


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
