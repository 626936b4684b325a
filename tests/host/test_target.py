"""The harness itself, on every board: boot failures are errors that carry the console log,
every wait ends, the emulator is always reaped, `walkit run` and the session factory work."""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.boards import load_board
from walkit.console import READY_LINE, ConsoleLink, TargetError, TargetGone, TargetTimeout
from walkit.sql import SqlError
from walkit.target import EXIT_REBOOT, Target, describe_status, open_session


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose, but only its parent can reap it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _patch_function(elf: Path, symbol: str, code: bytes, out: Path) -> Path:
    """A copy of `elf` whose function `symbol` starts with `code` (ELF32/64, little-endian)."""
    data = bytearray(elf.read_bytes())
    is64 = data[4] == 2
    if is64:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sh = lambda i: struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        sym_fmt, sym_size = "<IBBHQQ", 24
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
        sh = lambda i: struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize)
        sym_fmt, sym_size = "<IIIBBH", 16
    sections = [sh(i) for i in range(shnum)]
    addr = None
    for s in sections:
        if s[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[s[6]]
        for off in range(s[4], s[4] + s[5], sym_size):
            f = struct.unpack_from(sym_fmt, data, off)
            name_off, value = f[0], (f[4] if is64 else f[1])
            start = strtab[4] + name_off
            if data[start:data.index(0, start)] == symbol.encode():
                arm = struct.unpack_from("<H", data, 0x12)[0] == 40  # EM_ARM
                addr = value & ~1 if arm else value  # Thumb functions have bit 0 set; x86 may be odd
    assert addr is not None, f"{symbol} not in {elf}"
    for s in sections:
        s_addr, s_off, s_size = s[3], s[4], s[5]
        if s[1] == 1 and s_addr <= addr < s_addr + s_size:  # SHT_PROGBITS holding it
            pos = s_off + (addr - s_addr)
            data[pos:pos + len(code)] = code
            out.write_bytes(data)
            out.chmod(0o755)
            return out
    raise AssertionError(f"no section holds {symbol} at {addr:#x}")


def _bad_image(kind: str, good: Path, out: Path) -> Path:
    data = good.read_bytes()
    if kind == "truncated":
        data = data[:len(data) // 2]
    elif kind == "header-only":
        data = data[:40]
    elif kind == "not-elf":
        data = b"#!/bin/sh\necho not firmware\n"
    elif kind == "random":
        data = b"\x7fELF" + os.urandom(4000)
    elif kind == "other-machine":  # e_machine: ARM <-> x86-64 (both little-endian)
        machine, = struct.unpack_from("<H", data, 18)
        data = data[:18] + struct.pack("<H", 62 if machine == 40 else 40) + data[20:]
    out.write_bytes(data)
    out.chmod(0o755)
    return out


@pytest.mark.parametrize("kind, expect", [
    ("truncated", "truncated"),
    ("header-only", "truncated ELF header"),
    ("not-elf", "not an ELF file"),
    ("random", ""),
    ("other-machine", "it is built for"),
])
def test_image_that_is_not_an_elf_for_the_board_is_refused_before_start(walkit_board, walkit_image,
                                                                        tmp_path, kind, expect):
    """QEMU exits 1 without a word on a truncated ELF, exec() says "Exec format error": the
    harness checks the image before starting anything and says what is wrong with it."""
    bad = _bad_image(kind, walkit_image, tmp_path / f"{kind}.elf")
    t = Target(walkit_board, image=bad, workdir=tmp_path / "t", boot_timeout=5)
    try:
        with pytest.raises(WalkitError) as e:
            t.boot()
        assert not isinstance(e.value, TargetError)  # nothing ran: no console, no process
        msg = str(e.value)
        assert f"firmware image {bad} is not an ELF executable for {walkit_board}" in msg
        assert expect in msg
        assert t.pid is None and not t.process_log.exists()
    finally:
        t.close()


@pytest.mark.boards("qemu-virt-a15")
def test_qemu_that_exits_during_start_up_says_so_with_its_output(walkit_board, walkit_image, tmp_path):
    """QEMU connects both sockets, then gives up (here: a device it does not know): the error is
    its exit and its complaint, not the QMP socket's "connection reset"."""
    board = load_board(walkit_board)
    board = dataclasses.replace(board, qemu_args=[*board.qemu_args, "-device", "no-such-device"])
    t = Target(board, image=walkit_image, workdir=tmp_path / "t", boot_timeout=10)
    try:
        t0 = time.monotonic()
        with pytest.raises(TargetGone) as e:
            t.boot()
        assert time.monotonic() - t0 < 5
        msg = str(e.value)
        assert msg.startswith("boot: QEMU exited with status 1 during start-up"), msg
        assert "QEMU output" in msg and "'no-such-device' is not a valid device model name" in msg
        assert "ConnectError" not in msg and "Connection reset" not in msg
        assert t.exit_status == 1 and not t.running
    finally:
        t.close()


def test_flash_image_of_the_wrong_size_is_refused(walkit_board, walkit_image, tmp_path):
    """host-sim would boot on it without storage, QEMU refuses it with a pflash message: both
    are told at once what size the board needs."""
    want = load_board(walkit_board).flash.size
    small = tmp_path / "small.img"
    small.write_bytes(b"\xff" * 4096)
    with pytest.raises(WalkitError) as e:
        Target(walkit_board, image=walkit_image, flash=small, workdir=tmp_path / "a")
    msg = str(e.value)
    assert f"flash image {small} is 4096 bytes" in msg and f"needs exactly {want} bytes" in msg
    assert small.read_bytes() == b"\xff" * 4096
    # An image that changed size after the Target was made is refused at boot.
    t = Target(walkit_board, image=walkit_image, workdir=tmp_path / "b")
    try:
        with open(t.flash, "ab") as f:
            f.write(b"\xff" * 512)
        with pytest.raises(WalkitError) as e:
            t.boot()
        assert f"is {want + 512} bytes" in str(e.value) and f"exactly {want} bytes" in str(e.value)
        assert t.pid is None
    finally:
        t.close()


def test_boot_timeout_bounds_the_whole_boot_with_the_switch_to_machine_mode(
        walkit_board, walkit_image, tmp_path, monkeypatch):
    """A firmware 1.5 s late with "ready" that then never answers `.mode machine`: the boot
    fails at boot_timeout, not boot_timeout after "ready"."""
    expect, write = ConsoleLink.expect, ConsoleLink.write

    def late_ready(self, pattern, timeout, what=None):
        if READY_LINE in pattern:
            time.sleep(1.5)
        return expect(self, pattern, timeout, what)

    def no_machine_mode(self, data, log=False):
        if b".mode machine" not in data:
            write(self, data, log)

    monkeypatch.setattr(ConsoleLink, "expect", late_ready)
    monkeypatch.setattr(ConsoleLink, "write", no_machine_mode)
    t = Target(walkit_board, image=walkit_image, workdir=tmp_path / "t", boot_timeout=3)
    try:
        t0 = time.monotonic()
        with pytest.raises(TargetTimeout) as e:
            t.boot()
        assert 2.9 <= time.monotonic() - t0 < 3.6
        assert "machine mode" in str(e.value) and "boot_timeout 3.0 s" in str(e.value)
    finally:
        t.close()


def test_shutdown_and_console_reboot_in_interactive_mode(target_factory):
    """After boot(machine_mode=False) the console takes no framed requests: shutdown() and
    console_reboot() type their command at the prompt instead of waiting for a reply."""
    t = target_factory(boot=False, timeout=10)
    t.boot(machine_mode=False)
    t0 = time.monotonic()
    with pytest.raises(WalkitError, match="interactive mode"):
        t.console.ping()  # refused at once, not after the request timeout
    t.link.write(b"SELECT 'half a statement")  # left half typed: the Ctrl-C before .reboot drops it
    t.console_reboot()
    assert t.boots == 2 and t.console.mode == "interactive"
    assert t.shutdown(timeout=10) == 0
    assert time.monotonic() - t0 < 8
    assert t.exit_status == 0 and not t.running


def test_shutdown_after_switching_to_interactive_mode(target):
    target.console.request(".mode", "interactive")
    t0 = time.monotonic()
    assert target.shutdown(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert target.console is None  # reaped


def test_a_started_request_keeps_its_reply_while_others_are_made(target):
    c = target.console
    c.open("x", "/x.db")
    rid = c.start("sql", "x", "SELECT 40 + 2")
    c.ping()
    assert c.sql("x", "SELECT 'in between'").rows == [("in between",)]
    assert c.read_reply(rid).rows == [(42,)]


def test_an_id_0_error_is_not_raised_against_a_later_request(target):
    c = target.console
    assert c.send_raw(b"garbage") == 0
    c.ping()  # answered after the garbage line's error, which is not ping's
    with pytest.raises(SqlError, match="malformed request"):
        c.read_reply(0)
    c.ping()


def test_firmware_that_never_gets_ready_times_out_with_its_console_log(walkit_board, walkit_image, tmp_path):
    """console_main() patched into an endless loop: the boot lines appear, "ready" never does."""
    loop = b"\xfe\xe7" if load_board(walkit_board).is_qemu else b"\xeb\xfe"  # Thumb / x86 `b .`
    hung = _patch_function(walkit_image, "console_main", loop, tmp_path / walkit_image.name)
    t = Target(walkit_board, image=hung, workdir=tmp_path / "t", boot_timeout=3)
    try:
        t0 = time.monotonic()
        with pytest.raises(TargetTimeout) as e:
            t.boot()
        assert 3 <= time.monotonic() - t0 < 8
        msg = str(e.value)
        assert "walkit: ready" in msg and "boot_timeout 3.0 s" in msg
        assert "walkit: storage: flash was blank: formatted" in e.value.console_tail
        pid = t.pid
        assert not t.running and _wait_dead(pid)
        assert "formatted littlefs" in (tmp_path / "t" / "console.log").read_text()
    finally:
        t.close()


def test_target_that_dies_mid_request_is_reported_with_status_and_output(target):
    target.console.open("x", "/x.db")
    os.kill(target.pid, signal.SIGKILL)
    with pytest.raises(TargetGone) as e:
        for _ in range(100):  # the first writes may still land in the socket buffer
            target.console.sql("x", "SELECT 1")
            time.sleep(0.02)
    assert "killed by SIGKILL" in str(e.value)
    assert "walkit: ready" in e.value.console_tail


def test_request_timeout_carries_the_console_output(target):
    """A request the firmware is still working on when the wait ends."""
    c = target.console
    c.open("slow", "/slow.db")
    t0 = time.monotonic()
    with pytest.raises(TargetTimeout) as e:
        c.sql("slow", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                      "SELECT count(*) FROM c", timeout=1.0)
    assert 1.0 <= time.monotonic() - t0 < 3
    assert "no answer within 1.0 s" in str(e.value) and "running" in str(e.value)
    target.power_cut()  # the endless query never ends; power is the way out
    target.boot()
    target.console.ping()


def test_power_cut_stops_the_machine_dead_and_reaps_it(target):
    pid = target.pid
    target.power_cut()
    assert not target.running and _wait_dead(pid)
    assert target.exit_status == -signal.SIGKILL
    target.power_cut()  # idempotent
    with pytest.raises(TargetError, match="not running"):
        target.session()


def test_close_and_context_manager_reap(walkit_board, walkit_image, tmp_path):
    with Target(walkit_board, image=walkit_image, workdir=tmp_path / "a") as t:
        t.boot()
        pid = t.pid
        assert _alive(pid)
    assert _wait_dead(pid)
    t2 = Target(walkit_board, image=walkit_image, workdir=tmp_path / "b")
    try:
        with pytest.raises(ZeroDivisionError):
            with t2:
                t2.boot()
                pid2 = t2.pid
                1 / 0
        assert _wait_dead(pid2)
    finally:
        t2.close()


REAP_SCRIPT = textwrap.dedent("""
    import sys, time
    from walkit.target import Target
    t = Target(sys.argv[1], image=sys.argv[2], workdir=sys.argv[3])
    t.boot()
    print(t.pid, flush=True)
    sys.stdin.readline()
    if sys.argv[4] == "hang":
        time.sleep(60)
    # "exit": leave without close(); atexit must reap the emulator
""")


@pytest.mark.parametrize("how", ["exit", "hang"])
def test_emulator_is_reaped_when_the_harness_exits_or_is_killed(walkit_board, walkit_image, tmp_path, how):
    p = subprocess.Popen([sys.executable, "-c", REAP_SCRIPT, walkit_board, str(walkit_image),
                          str(tmp_path / "w"), how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        pid = int(p.stdout.readline())
        assert _alive(pid)
        p.stdin.write("go\n")
        p.stdin.flush()
        if how == "hang":
            time.sleep(0.2)
            p.kill()  # SIGKILL: no atexit, no finally; the kernel's parent-death signal acts
        assert p.wait(30) in (0, -signal.SIGKILL)
        assert _wait_dead(pid), f"{walkit_board} emulator pid {pid} outlived the harness ({how})"
    finally:
        p.kill()
        p.wait()


def test_console_reboot_powers_up_again(target):
    db = target.session().connect("/r.db")
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (1)")
    target.console_reboot()
    assert target.boots == 2
    assert "littlefs mounted" in target.boot_output
    assert target.session().connect("/r.db").execute("SELECT x FROM t") == [(1,)]
    assert describe_status(EXIT_REBOOT).endswith("(asked to be rebooted)")


def test_boot_times_are_measured(target):
    limit = load_board(target.board.name).boot_timeout
    assert 0 < target.boot_seconds < limit
    target.reboot()
    assert 0 < target.boot_seconds < limit


def test_open_session_factory(walkit_board, tmp_path):
    s = open_session(walkit_board, tmp_path / "sess")
    t = s.target
    db = s.connect("/f.db")
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (?)", ("hello",))
    assert db.execute("SELECT x FROM t") == [("hello",)]
    assert s.exists("/f.db") and not s.exists("/nope.db") and not s.exists("/f.db-shm")
    pid = t.pid
    s.close()
    assert t.exit_status == 0 and _wait_dead(pid)
    assert (tmp_path / "sess" / "console.log").is_file()
    assert [f.path for f in t.flash_files()] == ["/f.db"]


def _walkit_run(board, flash, stdin: str, timeout=120):
    return subprocess.run([sys.executable, "-m", "walkit.cli", "run", "--board", board, "--flash", str(flash)],
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def test_walkit_run_types_piped_lines_into_the_console(walkit_board, walkit_image, tmp_path):
    flash = tmp_path / "run.img"
    r = _walkit_run(walkit_board, flash, ".open main /run.db\nCREATE TABLE t(x, y);\n"
                                         "INSERT INTO t VALUES (7, 'seven'), (10, 'ten');\n"
                                         "SELECT * FROM t;\n.reboot\n.open main /run.db\n"
                                         "SELECT count(*) AS n FROM t;\n")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.replace("\r\n", "\n")
    assert "main> SELECT * FROM t;\nx   y\n--  -----\n 7  seven\n10  ten\n(2 rows)\n" in out
    assert "[walkit: powering up again on the same flash]" in out
    assert "main> SELECT count(*) AS n FROM t;\nn\n-\n2\n(1 row)\n" in out
    assert "[walkit: target exited with status 0]" in out
    assert flash.stat().st_size == load_board(walkit_board).flash.size


def test_sessions_on_one_target_share_connection_names(target):
    a, b = target.session(), target.session()
    ca, cb = a.connect("/a.db"), b.connect("/b.db")
    assert ca.name != cb.name
    ca.execute("CREATE TABLE t(x)")
    cb.execute("CREATE TABLE u(y)")
    assert ca.execute("SELECT name FROM sqlite_master") == [("t",)]
    assert cb.execute("SELECT name FROM sqlite_master") == [("u",)]


def test_cpu_fault_is_reported_with_its_fault_line(walkit_board, walkit_image, tmp_path):
    """console_main() replaced by an undefined instruction: the board's fault handler prints
    "*** FAULT" and exits 127; boot fails saying so."""
    udf = b"\x00\xde" if load_board(walkit_board).is_qemu else b"\x0f\x0b"  # Thumb udf / x86 ud2
    bad = _patch_function(walkit_image, "console_main", udf, tmp_path / walkit_image.name)
    t = Target(walkit_board, image=bad, workdir=tmp_path / "t", boot_timeout=5)
    try:
        with pytest.raises(TargetGone) as e:
            t.boot()
        assert "exited with status 127 (CPU fault" in str(e.value)
        assert "*** FAULT: " in e.value.console_tail
        assert t.exit_status == 127
    finally:
        t.close()


def test_walkit_run_on_a_terminal(walkit_board, walkit_image, tmp_path):
    """`walkit run` with a real terminal (a pty): raw keys reach the console, the echo comes
    back, Ctrl-] leaves with a power cut."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: walkit run on the pty
        os.execv(sys.executable, [sys.executable, "-m", "walkit.cli", "run", "--board",
                                  walkit_board, "--flash", str(tmp_path / "tty.img")])
    out = b""

    def read_until(marker: bytes, timeout=60):
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out:
            assert time.monotonic() < deadline, out[-2000:]
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return out

    try:
        read_until(b"walkit> ")
        os.write(fd, b".open main /tty.db\r")
        read_until(b"main> ")
        os.write(fd, b"SELECT 40+2 AS v;\r")
        read_until(b"(1 row)")
        assert b"main> SELECT 40+2 AS v;\r\nv\r\n--\r\n42\r\n(1 row)" in out  # echo, then the table
        os.write(fd, b"\x1d")  # Ctrl-]
        read_until(b"[walkit: power cut]")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
