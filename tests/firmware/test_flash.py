"""firmware/flash.c, the board-independent half of the flash contract, compiled for the host
against a RAM device that behaves like QEMU's pflash (a re-program stores the new value), so
every rule must come from flash.c itself: the NOR rule, alignment, range, read-back, counters
and the fault hook's sequence numbers.  The C driver is test_flash.c beside this file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from walkit.paths import repo_root

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def flash_results(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a host C compiler is needed (host-sim board: apt gcc)"
    d = tmp_path_factory.mktemp("flashc")
    fw = repo_root() / "firmware"
    exe = d / "flash_test"
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{fw}", str(fw / "flash.c"),
                        str(HERE / "test_flash.c"), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


FLASH_OK, E_RANGE, E_ALIGN, E_NOT_ERASED, E_VERIFY, E_CUT = "0", "-1", "-2", "-3", "-4", "-7"


def test_programs_only_erased_words_and_refuses_whole(flash_results):
    r = flash_results
    assert r["prog_erased"] == FLASH_OK
    assert r["prog_again"] == E_NOT_ERASED
    assert r["byte0_after_refused"] == str(0x5A)  # QEMU would have stored 0x00
    assert r["prog_overlap"] == E_NOT_ERASED
    assert r["byte32_after_refused"] == str(0xFF)  # the erased half was not written either
    assert r["erase_ok"] == FLASH_OK and r["blank_rc"] == FLASH_OK and r["blank"] == "1"
    assert r["prog_after_erase"] == FLASH_OK


def test_alignment_range_and_readback(flash_results):
    r = flash_results
    assert r["prog_misaligned"] == E_ALIGN and r["prog_odd_length"] == E_ALIGN
    assert r["read_misaligned"] == E_ALIGN and r["erase_misaligned"] == E_ALIGN
    assert r["prog_past_end"] == E_RANGE and r["erase_past_end"] == E_RANGE
    assert r["read_ok"] == FLASH_OK and r["read_back_equal"] == "1"
    assert r["prog_bad_device"] == E_VERIFY


def test_counters(flash_results):
    r = flash_results
    # Programs that reached the device: prog_erased (32), prog_after_erase (16), bad device (16).
    assert (r["prog_ops"], r["prog_bytes"]) == ("3", "64")
    assert (r["erase_ops"], r["erase_bytes"]) == ("1", "4096")
    # read_ok (32) and the blank check (4096); refused reads are not counted as reads.
    assert (r["read_ops"], r["read_bytes"]) == ("2", str(32 + 4096))
    # prog_again, prog_overlap, 2 misaligned progs, prog_past_end, read_misaligned,
    # erase_misaligned, erase_past_end.
    assert r["refused"] == "8"
    assert r["device_errors"] == "1"
    assert r["seq_before_hook"] == "4"  # 3 programs + 1 erase reached the hook point


def test_fault_hook_sees_programs_and_erases_in_sequence_and_can_refuse(flash_results):
    r = flash_results
    assert r["hook_prog"] == FLASH_OK and r["hook_erase"] == FLASH_OK
    assert r["hook_cut"] == E_CUT
    assert r["byte8192_after_cut"] == str(0xFF)  # the refused program never reached the device
    assert r["hook_calls"] == "3"  # the read in between was not offered to the hook
    # seq * 10 + kind (1 = program, 2 = erase), continuing the count from before the hook.
    assert [r["hook0"], r["hook1"], r["hook2"]] == ["51", "62", "71"]
