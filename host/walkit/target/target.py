"""A board running the walkit firmware, driven from the host: boot, power cut, reboot, shut down.

:class:`Target` starts a board the way its ``board.toml`` says, through the driver of its
``[run] runner`` (:mod:`walkit.target.driver`): under QEMU (``runner = "qemu"``,
:mod:`walkit.target.qemu`) or as a native process (``runner = "native"``, host-sim,
:mod:`walkit.target.process`).  Either way the console arrives on a Unix socket the harness
listens on, and the flash is an image file on the host that outlives the run, so "power" is the
life of the driver's process:

* ``power_cut()``  stops the machine dead: the driver halts it (QEMU: QMP ``stop``, the vCPU
  halts between two instructions and QEMU finishes the flash writes the guest already issued),
  then SIGKILL.  The guest runs no code after the cut: nothing is flushed, closed or unmounted.
* ``boot()``       powers up on the flash image as it is (blank images are formatted by the
  firmware, corrupt ones reported, never reformatted).
* ``reboot()``     power cut, then boot: RAM is gone, the flash is what the guest had programmed.
* ``shutdown()``   the clean way: the console's ``.shutdown`` closes the connections (SQLite
  checkpoints the WAL) and unmounts littlefs before the board exits with status 0.

The process is always reaped: by ``close()`` (also from ``with`` and from the pytest fixtures),
at interpreter exit (atexit), and by the kernel if the harness itself is killed (drivers start
it under ``setpriv --pdeathsig KILL``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import select
import tempfile
import threading
import time
import weakref
from pathlib import Path

from .. import WalkitError
from ..boards import Board, load_board
from ..console import (DEFAULT_TIMEOUT, MACHINE, READY_LINE, Console, ConsoleLink,
                       ConsoleSession, TargetError, TargetGone, TargetTimeout)
from .driver import ConnectError, Driver
from .firmware import check_image
from .process import ProcessDriver
from .qemu import QemuDriver
from .status import EXIT_REBOOT, describe_status

# The driver for each board.toml [run] runner.
DRIVERS: dict[str, type] = {"qemu": QemuDriver, "native": ProcessDriver}

_live: "weakref.WeakSet[Target]" = weakref.WeakSet()


@atexit.register
def _reap_all() -> None:
    for t in list(_live):
        t.close()


class Target:
    """One board, its flash image and its console.

    ``image``: the firmware (default: ``walkit build`` for the board).  ``flash``: the image
    file (default: ``workdir/flash.img``, created blank when missing); it must have the
    board's flash size exactly, or WalkitError (``check_flash=False`` lets a test give the
    firmware a wrong one on purpose).  ``workdir``: where the console log (``console.log``,
    every boot appended) and the emulator's own output (``process.log``) go; default a
    temporary folder removed by ``close()``.
    """

    def __init__(self, board: str | Board, *, image: str | os.PathLike | None = None,
                 flash: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None,
                 boot_timeout: float | None = None, timeout: float = DEFAULT_TIMEOUT,
                 echo=None, check_flash: bool = True):
        self.board = board if isinstance(board, Board) else load_board(board)
        driver = DRIVERS.get(self.board.runner)
        if driver is None:
            raise WalkitError(f"board {self.board.name}: unknown runner {self.board.runner!r}")
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="walkit-target-"))
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            if image is None:
                from ..build import build

                image = build(self.board.name)
            self.image = Path(image)
            self.flash = Path(flash) if flash else self.workdir / "flash.img"
            self.check_flash = check_flash
            if self.board.flash and not self.flash.exists():
                from ..image import create_image

                create_image(self.flash, self.board.name)
            self._check_flash()
        except BaseException:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        self.boot_timeout = boot_timeout or self.board.boot_timeout
        self.timeout = timeout
        self.console_log = self.workdir / "console.log"
        self.process_log = self.workdir / "process.log"
        self._echo = echo  # callable(bytes) getting every console byte (walkit run)
        # Unix socket paths are limited to 107 bytes: keep them in a short private folder.
        self._sockdir = Path(tempfile.mkdtemp(prefix="walkit-", dir="/tmp"))
        self._driver: Driver = driver(self.board, self._sockdir)
        self.link: ConsoleLink | None = None
        self.console: Console | None = None
        self.exit_status: int | None = None
        self.boots = 0
        self.boot_seconds: float | None = None  # power-on to "ready", last boot
        self.boot_output = ""                    # console output of the last boot up to "ready"
        self._lock = threading.RLock()
        _live.add(self)

    # ---- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._driver.running

    @property
    def pid(self) -> int | None:
        """The emulator's (or native process's) pid of the last boot; None before the first
        boot and after close()."""
        return self._driver.pid

    def _poll_status(self) -> int | None:
        status = self._driver.poll()
        if status is not None:
            self.exit_status = status
        return self.exit_status

    def _console_tail(self, n: int = 3000) -> str:
        """The last console output: the live link's, or the log file's once it is closed."""
        if self.link is not None:
            return self.link.tail(n)
        try:
            return self.console_log.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _process_tail(self, n: int = 2000) -> str:
        try:
            data = self.process_log.read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()

    def _context(self, gone: bool = False) -> str:
        """What an error on this target should say beside the console output.  ``gone``: the
        console closed or broke, so the process is on its way out: wait a moment to say how it
        ended."""
        what, pid = self._driver.what, self._driver.pid
        if pid is None:
            state = "not started"
        else:
            if self._driver.running and (gone or (self.link is not None and self.link.eof)):
                self._driver.wait(2.0)
            state = describe_status(self._driver.poll())
            self._poll_status()
        text = f"target {self.board.name} ({what} pid {pid if pid is not None else '-'}): {state}"
        tail = self._process_tail()
        if tail:
            text += f"\n--- {what} output ({self.process_log}) ---\n{tail}"
        return text

    def _check_flash(self) -> None:
        """The flash image must be the board's flash, byte for byte in size: QEMU refuses
        another size at start-up, host-sim would boot without storage."""
        if not self.board.flash or not self.check_flash:
            return
        want = self.board.flash.size
        try:
            size = self.flash.stat().st_size
        except OSError as e:
            raise WalkitError(f"flash image {self.flash}: {e.strerror}") from None
        if size != want:
            raise WalkitError(f"flash image {self.flash} is {size} bytes; board {self.board.name} "
                              f"needs exactly {want} bytes (board.toml [flash] size).  Make one "
                              f"with `walkit image create PATH --board {self.board.name}`, or "
                              "pass check_flash=False to give the firmware a wrong one on purpose")

    def _log_marker(self, text: str) -> None:
        with open(self.console_log, "ab") as f:
            f.write(f"\n[walkit harness] {text}\n".encode())

    # ---- power ---------------------------------------------------------------------------

    def boot(self, machine_mode: bool = True) -> "Target":
        """Powers up and waits for the console's ready line (``boot_timeout``), then switches
        the console to machine mode.  On any failure the process is killed and the error says
        what the console and the emulator printed."""
        with self._lock:
            if self.running:
                raise WalkitError(f"target {self.board.name} is already running")
            if not self.image.is_file():
                raise WalkitError(f"no firmware image at {self.image}")
            check_image(self.image, self.board.name, self._driver.elf_machine)
            self._check_flash()
            self._teardown_links()
            self.boots += 1
            self.exit_status = None
            # The socket folder lives in /tmp, where a cleaner may remove it between boots.
            self._sockdir.mkdir(mode=0o700, exist_ok=True)
            console_sock = self._sockdir / "console"
            console_sock.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(str(console_sock))
                listener.listen(1)
                cmd = self._driver.command(self.image, self.flash, console_sock)
                self._log_marker(f"power on, boot {self.boots}: {' '.join(cmd)}")
                t0 = time.monotonic()
                self._driver.power_on(cmd, self.process_log, self.boots)
                self._boot_wait(listener, t0 + self.boot_timeout, machine_mode)
                return self
            except BaseException:
                self._kill()
                raise
            finally:
                listener.close()

    def _boot_wait(self, listener: socket.socket, deadline: float, machine_mode: bool) -> None:
        t0 = deadline - self.boot_timeout
        # 1. The emulator connects to the console socket (or dies trying).
        conn = None
        while conn is None:
            if self._driver.poll() is not None:
                raise TargetGone(f"boot: {self._driver.what} {describe_status(self._driver.poll())} "
                                 "during start-up, before connecting its console", "",
                                 self._context())
            left = deadline - time.monotonic()
            if left <= 0:
                raise TargetTimeout(f"boot: the console did not connect within {self.boot_timeout:.1f} s",
                                    "", self._context())
            ready, _, _ = select.select([listener], [], [], min(left, 0.05))
            if ready:
                conn, _ = listener.accept()
        self.link = ConsoleLink(conn, self.console_log, context=self._context, on_data=self._echo)
        # 2. The driver's control channel (QEMU's QMP, connected during start-up, before the
        # guest runs).
        try:
            self._driver.connect(deadline)
        except ConnectError as e:
            # Usually the emulator gave up during start-up (a device, the kernel, memory) after
            # it had connected its sockets: say that, with its output, not the socket error.
            if self._driver.wait(2.0) is None:
                raise TargetError(f"boot: {e}", self.link.tail(), self._context()) from None
            self._poll_status()
            raise TargetGone(f"boot: {self._driver.what} {describe_status(self._driver.poll())} "
                             "during start-up", self.link.tail(), self._context()) from None
        # 3. The firmware says it is ready.  The link is new for every boot, so its log is this
        # boot's output.
        self.link.expect(rb"(?m)^" + READY_LINE, max(0.0, deadline - time.monotonic()),
                         f"boot: waiting for {READY_LINE.decode()!r} (boot_timeout "
                         f"{self.boot_timeout:.1f} s from board.toml)")
        self.boot_seconds = time.monotonic() - t0
        self.boot_output = self.link.log_bytes().decode("utf-8", "replace")
        self.console = Console(self.link, self.timeout)
        if machine_mode:  # the same deadline: a boot takes boot_timeout at most, all told
            self.console.enter_machine_mode(
                max(0.0, deadline - time.monotonic()),
                f"boot: switching the console to machine mode (boot_timeout "
                f"{self.boot_timeout:.1f} s from board.toml)")

    def power_cut(self) -> None:
        """Stops the machine dead (see the module docstring); the target is off afterwards."""
        with self._lock:
            if self._driver.pid is None:
                return
            self._driver.stop()
            self._log_marker("power cut")
            self._kill()

    def reboot(self) -> "Target":
        """Power cut, then boot on the same flash image."""
        self.power_cut()
        return self.boot()

    def _console_exit(self, command: str, timeout: float) -> int:
        """Sends ``.reboot`` or ``.shutdown`` in the console's current mode and waits for the
        exit, all within ``timeout``; returns the exit status."""
        deadline = time.monotonic() + timeout
        console = self._require_console()
        if console.mode == MACHINE:
            console.request(command, timeout=timeout)
        else:  # typed at the prompt; the exit is the answer
            console.type_line(command.encode())
        return self.wait_exit(max(0.1, deadline - time.monotonic()))

    def console_reboot(self, machine_mode: bool | None = None) -> "Target":
        """The firmware's own ``.reboot``: it closes everything, exits with EXIT_REBOOT and is
        powered up again on the same flash; the console comes back in machine mode, or in
        the mode it was in when ``machine_mode`` is None."""
        with self._lock:
            if machine_mode is None:
                machine_mode = self.console is None or self.console.mode == MACHINE
            try:
                status = self._console_exit(".reboot", self.timeout)
            except BaseException:
                self._kill()
                raise
            if status != EXIT_REBOOT:
                raise TargetError(f".reboot: the target {describe_status(status)}, expected "
                                  f"status {EXIT_REBOOT}", self._console_tail(), self._context())
            return self.boot(machine_mode=machine_mode)

    def shutdown(self, timeout: float | None = None) -> int:
        """Clean stop through the console, in machine or interactive mode; returns the exit
        status.  A target that does not stop within ``timeout`` is killed and TargetTimeout
        raised."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            if not self.running:
                self._kill()
                return self.exit_status if self.exit_status is not None else 0
            try:
                return self._console_exit(".shutdown", timeout)
            except BaseException:
                self._kill()
                raise

    def wait_exit(self, timeout: float) -> int:
        """Waits for the target to stop by itself; returns its exit status, reaped."""
        if self._driver.wait(timeout) is None:
            tail = self.link.tail() if self.link else ""
            raise TargetTimeout(f"the target did not stop within {timeout:.1f} s", tail,
                                self._context()) from None
        self._poll_status()
        self._kill()  # reaps and closes the links
        return self.exit_status

    def _require_console(self) -> Console:
        if self.console is None or not self.running:
            raise TargetError(f"target {self.board.name} is not running", self.link.tail() if self.link else "",
                              self._context())
        return self.console

    def _kill(self) -> None:
        if self._driver.pid is not None:
            self.exit_status = self._driver.kill()
            if self.exit_status is not None and self.link is not None:
                # The process is gone, its end of the console closed: read what it wrote before
                # (up to the cut) into the log, so the log and log_bytes() hold all of it.
                self.link.wait_eof(2.0)
        self._teardown_links()

    def _teardown_links(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        self.console = None
        self._driver.disconnect()

    def close(self) -> None:
        """Kills the target if it runs (no clean shutdown) and frees everything; idempotent."""
        with self._lock:
            self._kill()
            self._driver.close()
            shutil.rmtree(self._sockdir, ignore_errors=True)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        _live.discard(self)

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- conveniences ---------------------------------------------------------------------

    def session(self) -> ConsoleSession:
        """walkit.sql.Session on this target (closing it closes its connections only)."""
        return ConsoleSession(self._require_console())

    def flash_files(self) -> list:
        """Files in the flash image's littlefs, read on the host (target off or on)."""
        from ..image import open_image

        with open_image(self.flash, self.board.name) as img:
            return img.files()

    def read_flash_file(self, path: str) -> bytes:
        from ..image import open_image

        with open_image(self.flash, self.board.name) as img:
            return img.read(path)
