"""A board running the walkit firmware, driven from the host: boot, power cut, reboot, shut down.

:class:`Target` starts a board the way its ``board.toml`` says: under QEMU (``runner = "qemu"``)
or as a native process (``runner = "native"``, host-sim).  Either way the console arrives on a
Unix socket the harness listens on, and the flash is an image file on the host that outlives the
run, so "power" is the life of the emulator process:

* ``power_cut()``  stops the machine dead: QMP ``stop`` (the vCPU halts between two
  instructions; QEMU finishes the flash writes the guest already issued), then SIGKILL.  The
  guest runs no code after the cut: nothing is flushed, closed or unmounted.  host-sim: SIGKILL.
* ``boot()``       powers up on the flash image as it is (blank images are formatted by the
  firmware, corrupt ones reported, never reformatted).
* ``reboot()``     power cut, then boot: RAM is gone, the flash is what the guest had programmed.
* ``shutdown()``   the clean way: the console's ``.shutdown`` closes the connections (SQLite
  checkpoints the WAL) and unmounts littlefs before the board exits with status 0.

The emulator is always reaped: by ``close()`` (also from ``with`` and from the pytest fixtures),
at interpreter exit (atexit), and by the kernel if the harness itself is killed (the emulator is
started under ``setpriv --pdeathsig KILL``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import platform
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path

from . import WalkitError
from .boards import Board, load_board
from .console import (DEFAULT_TIMEOUT, MACHINE, READY_LINE, Console, ConsoleLink,
                      ConsoleSession, TargetError, TargetGone, TargetTimeout)
from .qemu import Qmp, QmpError, qemu_command

# Exit statuses of the firmware (firmware/board.h).
EXIT_FAULT = 0x7F
EXIT_REBOOT = 0x7E

_live: "weakref.WeakSet[Target]" = weakref.WeakSet()


@atexit.register
def _reap_all() -> None:
    for t in list(_live):
        t.close()


def describe_status(status: int | None) -> str:
    if status is None:
        return "running"
    if status == 0:
        return "exited with status 0"
    if status == EXIT_FAULT:
        return f"exited with status {status} (CPU fault; see the *** FAULT line)"
    if status == EXIT_REBOOT:
        return f"exited with status {status} (asked to be rebooted)"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"killed by {name}"
    return f"exited with status {status}"


def create_blank_flash(board: str | Board, path: str | os.PathLike, force: bool = False) -> Path:
    """A blank (all 0xFF) flash image of the board's exact size (walkit.image)."""
    from .image import create_image

    name = board.name if isinstance(board, Board) else board
    return create_image(path, name, force=force)


def copy_flash(src: str | os.PathLike, dst: str | os.PathLike, board: str | Board | None = None) -> Path:
    from .image import copy_image

    name = board.name if isinstance(board, Board) else board
    return copy_image(src, dst, name, force=True)


# e_machine of the images a board runs: from the QEMU binary's name, or the host's for a native
# process.  A board not in these tables gets the ELF checks without the machine check.
_QEMU_MACHINES = {"arm": 40, "aarch64": 183, "i386": 3, "x86_64": 62, "riscv32": 243,
                  "riscv64": 243, "ppc": 20, "ppc64": 21, "mips": 8, "mipsel": 8}
_HOST_MACHINES = {"x86_64": 62, "amd64": 62, "i386": 3, "i686": 3, "aarch64": 183,
                  "arm64": 183, "armv7l": 40, "riscv64": 243, "ppc64le": 21}
_MACHINE_NAMES = {3: "x86", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 40: "ARM", 62: "x86-64",
                  183: "AArch64", 243: "RISC-V"}
_checked_images: dict[tuple, None] = {}


def expected_elf_machine(board: Board) -> int | None:
    if board.is_qemu:
        return _QEMU_MACHINES.get(Path(board.qemu_binary).name.removeprefix("qemu-system-"))
    return _HOST_MACHINES.get(platform.machine().lower())


def check_image(board: Board, image: Path) -> None:
    """Raises WalkitError unless ``image`` is a whole ELF executable for ``board``: QEMU given
    a truncated or foreign file exits during start-up without a word, and exec() of one gives
    "Exec format error"."""
    try:
        st = image.stat()
    except OSError as e:
        raise WalkitError(f"firmware image {image}: {e.strerror}") from None
    key = (str(image), st.st_size, st.st_mtime_ns, board.name)
    if key in _checked_images:
        return
    from .elf import read_elves

    want = expected_elf_machine(board)
    need = f"an ELF executable for {board.name}" + (
        f" ({_MACHINE_NAMES.get(want, want)})" if want else "")
    try:
        elf = read_elves(image)
        if len(elf) != 1:
            raise WalkitError(f"{image}: an archive, not an executable")
        elf = elf[0]
        data = image.read_bytes()
    except WalkitError as e:
        why = str(e).removeprefix(f"{image}: ").removeprefix(f"{image}")
        raise WalkitError(f"firmware image {image} is not {need}: {why.lstrip(': ')}") from None
    if elf.etype not in (2, 3):
        raise WalkitError(f"firmware image {image} is not {need}: ELF type {elf.etype} "
                          "(an object file or a core dump, not an executable)")
    if want is not None and elf.machine != want:
        raise WalkitError(f"firmware image {image} is not {need}: it is built for "
                          f"{_MACHINE_NAMES.get(elf.machine, f'machine {elf.machine}')}")
    # Program headers: every loadable segment must be in the file (a truncated copy whose
    # section table happens to survive still loses code).
    e = "<" if elf.little else ">"
    try:
        if elf.is_64:
            phoff, = struct.unpack_from(e + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        else:
            phoff, = struct.unpack_from(e + "I", data, 28)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
        if phnum == 0:
            raise WalkitError(f"firmware image {image} is not {need}: no program headers")
        for i in range(phnum):
            off = phoff + i * phentsize
            if elf.is_64:
                ptype, _flags, poff, _va, _pa, filesz = struct.unpack_from(e + "IIQQQQ", data, off)
            else:
                ptype, poff, _va, _pa, filesz = struct.unpack_from(e + "IIIII", data, off)
            if ptype == 1 and poff + filesz > len(data):  # PT_LOAD
                raise WalkitError(f"firmware image {image} is not {need}: truncated (segment "
                                  f"{i} ends at byte {poff + filesz}, the file has {len(data)})")
    except struct.error:
        raise WalkitError(f"firmware image {image} is not {need}: truncated program "
                          "header table") from None
    _checked_images[key] = None


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
        if self.board.runner not in ("qemu", "native"):
            raise WalkitError(f"board {self.board.name}: unknown runner {self.board.runner!r}")
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="walkit-target-"))
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            if image is None:
                from .build import build

                image = build(self.board.name)
            self.image = Path(image)
            self.flash = Path(flash) if flash else self.workdir / "flash.img"
            self.check_flash = check_flash
            if self.board.flash and not self.flash.exists():
                create_blank_flash(self.board, self.flash)
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
        self._proc: subprocess.Popen | None = None
        self._qmp: Qmp | None = None
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
        return self._proc is not None and self._proc.poll() is None

    def _poll_status(self) -> int | None:
        if self._proc is not None and self._proc.poll() is not None:
            self.exit_status = self._proc.returncode
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

    def _what(self) -> str:
        return "QEMU" if self.board.is_qemu else "host-sim process"

    def _context(self, gone: bool = False) -> str:
        """What an error on this target should say beside the console output.  ``gone``: the
        console closed or broke, so the process is on its way out: wait a moment to say how it
        ended."""
        what = self._what()
        if self._proc is None:
            state = "not started"
        else:
            if self._proc.poll() is None and (gone or (self.link is not None and self.link.eof)):
                try:
                    self._proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    pass
            self._poll_status()
            state = describe_status(self._proc.returncode)
        text = f"target {self.board.name} ({what} pid {self._proc.pid if self._proc else '-'}): {state}"
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

    def _command(self, console_sock: Path, qmp_sock: Path) -> list[str]:
        if self.board.is_qemu:
            return qemu_command(self.board, self.image, self.flash, console_sock, qmp_sock)
        cmd = [str(self.image), "--uart", str(console_sock)]
        if self.board.flash:
            cmd += ["--flash", str(self.flash)]
        return cmd

    def boot(self, machine_mode: bool = True) -> "Target":
        """Powers up and waits for the console's ready line (``boot_timeout``), then switches
        the console to machine mode.  On any failure the process is killed and the error says
        what the console and the emulator printed."""
        with self._lock:
            if self.running:
                raise WalkitError(f"target {self.board.name} is already running")
            if not self.image.is_file():
                raise WalkitError(f"no firmware image at {self.image}")
            check_image(self.board, self.image)
            self._check_flash()
            self._teardown_links()
            self.boots += 1
            self.exit_status = None
            # The socket folder lives in /tmp, where a cleaner may remove it between boots.
            self._sockdir.mkdir(mode=0o700, exist_ok=True)
            console_sock, qmp_sock = self._sockdir / "console", self._sockdir / "qmp"
            for p in (console_sock, qmp_sock):
                p.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(str(console_sock))
                listener.listen(1)
                if self.board.is_qemu:
                    self._qmp = Qmp(qmp_sock)
                    self._qmp.listen()
                cmd = self._command(console_sock, qmp_sock)
                self._log_marker(f"power on, boot {self.boots}: {' '.join(cmd)}")
                t0 = time.monotonic()
                self._spawn(cmd)
                self._boot_wait(listener, t0 + self.boot_timeout, machine_mode)
                return self
            except BaseException:
                self._kill()
                raise
            finally:
                listener.close()

    def _spawn(self, cmd: list[str]) -> None:
        # setpriv --pdeathsig: the kernel kills the emulator if the process that started it
        # dies without reaping it (SIGKILL of the harness, a crashed interpreter).
        prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
        with open(self.process_log, "ab") as out:
            out.write(f"\n[walkit harness] boot {self.boots}: {' '.join(cmd)}\n".encode())
            out.flush()
            try:
                self._proc = subprocess.Popen(prefix + cmd, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise WalkitError(f"cannot start {cmd[0]}: {e}") from None

    def _boot_wait(self, listener: socket.socket, deadline: float, machine_mode: bool) -> None:
        t0 = deadline - self.boot_timeout
        # 1. The emulator connects to the console socket (or dies trying).
        conn = None
        while conn is None:
            if self._proc.poll() is not None:
                raise TargetGone(f"boot: {self._what()} {describe_status(self._proc.returncode)} "
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
        # 2. QMP (QEMU connects it during start-up, before the guest runs).
        if self._qmp is not None:
            try:
                self._qmp.accept(max(0.1, deadline - time.monotonic()))
            except QmpError as e:
                # Usually QEMU gave up during start-up (a device, the kernel, memory) after it
                # had connected both sockets: say that, with its output, not the socket error.
                try:
                    self._proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    raise TargetError(f"boot: QMP: {e}", self.link.tail(), self._context()) from None
                self._poll_status()
                raise TargetGone(f"boot: QEMU {describe_status(self._proc.returncode)} during "
                                 "start-up", self.link.tail(), self._context()) from None
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
            if self._proc is None:
                return
            if self._qmp is not None and self.running:
                try:
                    self._qmp.command("stop", timeout=2.0)
                except QmpError:
                    pass  # it may be dying anyway; SIGKILL follows
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
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
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
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    self._proc.kill()
                except OSError:
                    pass
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:  # a process in uninterruptible sleep: give up
                pass
            self.exit_status = self._proc.returncode
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
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None

    def close(self) -> None:
        """Kills the target if it runs (no clean shutdown) and frees everything; idempotent."""
        with self._lock:
            self._kill()
            self._proc = None
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
        from .image import open_image

        with open_image(self.flash, self.board.name) as img:
            return img.files()

    def read_flash_file(self, path: str) -> bytes:
        from .image import open_image

        with open_image(self.flash, self.board.name) as img:
            return img.read(path)


_session_images: dict[str, Path] = {}


def open_session(board: str, workdir: str | os.PathLike) -> ConsoleSession:
    """A booted target with a blank flash in ``workdir``, as a walkit.sql.Session; closing the
    session shuts the target down cleanly and reaps it (the factory the shared scenario tests
    use).  The firmware is built on the first call for a board in this process."""
    if board not in _session_images:
        from .build import build

        _session_images[board] = build(board)
    target = Target(board, image=_session_images[board], workdir=workdir)
    try:
        target.boot()
    except BaseException:
        target.close()
        raise

    def finish() -> None:
        try:
            target.shutdown()
        finally:
            target.close()

    session = ConsoleSession(target.console, on_close=finish)
    session.target = target  # for tests that want the flash image or the log
    return session


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
