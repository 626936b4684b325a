"""``runner = "native"``: the firmware image is a host executable (host-sim), run as a process.

It connects its UART to the console socket given by ``--uart`` and uses ``--flash FILE`` as its
flash.  A power cut is SIGKILL: the process stops at once, its ``pwrite``s to the flash file
are all the flash holds.  This class is also the process part of every other driver.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

from .. import WalkitError
from ..boards import Board

# e_machine of a native process's images: the host's.
_HOST_MACHINES = {"x86_64": 62, "amd64": 62, "i386": 3, "i686": 3, "aarch64": 183,
                  "arm64": 183, "armv7l": 40, "riscv64": 243, "ppc64le": 21}


class ProcessDriver:
    """See :class:`walkit.target.driver.Driver`; ``sockdir`` is the Target's private socket
    folder (drivers that need sockets of their own put them there)."""

    def __init__(self, board: Board, sockdir: Path):
        self.board = board
        self.sockdir = sockdir
        self._proc: subprocess.Popen | None = None

    @property
    def what(self) -> str:
        return f"{self.board.name} process"

    @property
    def elf_machine(self) -> int | None:
        return _HOST_MACHINES.get(platform.machine().lower())

    def command(self, image: Path, flash: Path, console_sock: Path) -> list[str]:
        cmd = [str(image), "--uart", str(console_sock)]
        if self.board.flash:
            cmd += ["--flash", str(flash)]
        return cmd

    def power_on(self, cmd: list[str], log: Path, boot: int) -> None:
        # setpriv --pdeathsig: the kernel kills the process if the one that started it dies
        # without reaping it (SIGKILL of the harness, a crashed interpreter).
        prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
        with open(log, "ab") as out:
            out.write(f"\n[walkit harness] boot {boot}: {' '.join(cmd)}\n".encode())
            out.flush()
            try:
                self._proc = subprocess.Popen(prefix + cmd, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise WalkitError(f"cannot start {cmd[0]}: {e}") from None

    def connect(self, deadline: float) -> None:
        pass  # the console is the only channel

    def stop(self) -> None:
        pass  # SIGKILL itself stops it at once

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def poll(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def wait(self, timeout: float) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            try:
                self._proc.kill()
            except OSError:
                pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:  # a process in uninterruptible sleep: give up
            pass
        return self._proc.returncode

    def disconnect(self) -> None:
        pass

    def close(self) -> None:
        self.kill()
        self.disconnect()
        self._proc = None
