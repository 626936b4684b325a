"""The contract between :class:`~walkit.target.Target` and a backend that runs a board's firmware.

One driver per ``board.toml`` ``[run] runner``: :class:`~walkit.target.process.ProcessDriver`
(``native``: the image is a host executable) and :class:`~walkit.target.qemu.QemuDriver`
(``qemu``).  Power is the life of the driver's process; the flash is an image file that outlives
it.  The Target owns everything common to both (the console socket it listens on, the console
link, the logs, the boot deadline), so a driver only says how to start, halt and end its process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .. import WalkitError


class ConnectError(WalkitError):
    """The driver's own control channel (QEMU's QMP) did not come up during start-up."""


class Driver(Protocol):
    what: str                  # names the process in messages ("QEMU", "host-sim process")
    elf_machine: int | None    # e_machine of the images it runs (None: not checked)

    def command(self, image: Path, flash: Path, console_sock: Path) -> list[str]:
        """The argv that runs ``image`` on ``flash`` with its console connecting to
        ``console_sock`` (where the Target already listens)."""

    def power_on(self, cmd: list[str], log: Path, boot: int) -> None:
        """Starts ``cmd`` (from :meth:`command`), its stdout and stderr appended to ``log``;
        the process is killed by the kernel if the harness dies."""

    def connect(self, deadline: float) -> None:
        """After the console connected: waits (until ``deadline``, time.monotonic()) for the
        driver's control channel, or raises ConnectError."""

    def stop(self) -> None:
        """Halts the machine at once, before :meth:`kill` (a power cut): the guest runs no more
        instructions.  Errors are ignored: the kill follows."""

    @property
    def pid(self) -> int | None:
        """The process of the last power_on(); None before it and after close()."""

    @property
    def running(self) -> bool: ...

    def poll(self) -> int | None:
        """The exit status (a returncode: negative for a signal) once the process ended."""

    def wait(self, timeout: float) -> int | None:
        """Waits up to ``timeout`` for the process to end; its status, or None if it runs."""

    def kill(self) -> int | None:
        """SIGKILL if it runs, reaped (within 10 s); the status."""

    def disconnect(self) -> None:
        """Closes the control channel (the process, if any, is left as it is)."""

    def close(self) -> None:
        """Kills and reaps the process, closes the control channel, forgets the process."""
