"""``runner = "qemu"``: the board runs under QEMU, controlled through QMP.

The harness listens on both Unix sockets (console and QMP) *before* QEMU starts, and QEMU
connects to them as a client.  Nothing the guest prints can be lost to a race (the connection
exists before the first guest instruction), and a QEMU that dies during start-up is noticed as
"never connected" instead of a connect() retry loop against a socket file that may never appear.

A power cut is QMP ``stop`` (the vCPU halts between two instructions; QEMU finishes the flash
writes the guest already issued), then SIGKILL.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import WalkitError
from ..boards import Board
from .driver import ConnectError
from .process import ProcessDriver
from .qmp import Qmp, QmpError

# e_machine of the images a QEMU runs, from its binary's name (qemu-system-<arch>).
_QEMU_MACHINES = {"arm": 40, "aarch64": 183, "i386": 3, "x86_64": 62, "riscv32": 243,
                  "riscv64": 243, "ppc": 20, "ppc64": 21, "mips": 8, "mipsel": 8}


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


class QemuDriver(ProcessDriver):
    """A :class:`ProcessDriver` whose process is QEMU, with a QMP connection per boot."""

    def __init__(self, board: Board, sockdir: Path):
        super().__init__(board, sockdir)
        self.qmp_sock = sockdir / "qmp"
        self._qmp: Qmp | None = None  # from power_on() to disconnect()

    what = "QEMU"

    @property
    def elf_machine(self) -> int | None:
        return _QEMU_MACHINES.get(Path(self.board.qemu_binary).name.removeprefix("qemu-system-"))

    def command(self, image: Path, flash: Path, console_sock: Path) -> list[str]:
        return qemu_command(self.board, image, flash, console_sock, self.qmp_sock)

    def power_on(self, cmd: list[str], log: Path, boot: int) -> None:
        self.qmp_sock.unlink(missing_ok=True)
        self._qmp = Qmp(self.qmp_sock)
        self._qmp.listen()
        super().power_on(cmd, log, boot)

    def connect(self, deadline: float) -> None:
        try:
            self._qmp.accept(max(0.1, deadline - time.monotonic()))
        except QmpError as e:
            raise ConnectError(f"QMP: {e}") from None

    def stop(self) -> None:
        if self._qmp is not None and self.running:
            try:
                self._qmp.command("stop", timeout=2.0)
            except QmpError:
                pass  # it may be dying anyway; SIGKILL follows

    def disconnect(self) -> None:
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
