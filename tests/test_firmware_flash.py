"""firmware/flash.c, the board-independent half of the flash contract, compiled for the host
against a RAM device that behaves like QEMU's pflash (a re-program stores the new value), so
every rule must come from flash.c itself: the NOR rule, alignment, range, read-back, counters
and the fault hook's sequence numbers."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from walkit.paths import repo_root

DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "board.h"
#include "flash.h"

#define SIZE (64u * 1024u)
#define BLOCK 4096u
static uint8_t mem[SIZE];
static int flip_bit_on_prog;   /* a device that programs one bit wrong */

static int ram_read(void *c, uint32_t off, void *buf, uint32_t n) { (void)c; memcpy(buf, mem + off, n); return 0; }
static int ram_prog(void *c, uint32_t off, const void *buf, uint32_t n)
{
    (void)c; memcpy(mem + off, buf, n);   /* QEMU-like: no AND with the old value */
    if (flip_bit_on_prog) mem[off] ^= 1;
    return 0;
}
static int ram_erase(void *c, uint32_t off) { (void)c; memset(mem + off, 0xFF, BLOCK); return 0; }
static const flash_ops ops = { ram_read, ram_prog, ram_erase };
static flash_dev dev = { .name = "ram", .size = SIZE, .erase_block = BLOCK, .prog_size = 16,
                         .read_size = 16, .fs_size = SIZE, .ops = &ops };

flash_dev *board_flash(board_log_fn *report) { (void)report; return &dev; }

static uint64_t seen[8];
static int nseen, cut_at;
static int hook(void *ctx, flash_dev *d, const flash_fault_op *op)
{
    (void)ctx; (void)d;
    if (nseen < 8) seen[nseen++] = op->seq * 10 + (uint64_t)op->kind;
    return op->seq == (uint64_t)cut_at ? FLASH_E_CUT : FLASH_OK;
}

#define SAY(name, v) printf("%s=%lld\n", name, (long long)(v))

int main(void)
{
    uint8_t a[32], b[32];
    int blank = -1;
    memset(mem, 0xFF, sizeof mem);
    memset(a, 0x5A, sizeof a);
    memset(b, 0x00, sizeof b);
    SAY("prog_erased", flash_prog(&dev, 0, a, 32));
    SAY("prog_again", flash_prog(&dev, 0, b, 16));
    SAY("byte0_after_refused", mem[0]);
    /* Overlaps one programmed word (16..31) and one erased word (32..47): refused whole. */
    SAY("prog_overlap", flash_prog(&dev, 16, b, 32));
    SAY("byte32_after_refused", mem[32]);
    SAY("prog_misaligned", flash_prog(&dev, 8, a, 16));
    SAY("prog_odd_length", flash_prog(&dev, 64, a, 8));
    SAY("prog_past_end", flash_prog(&dev, SIZE - 16, a, 32));
    SAY("read_misaligned", flash_read(&dev, 4, b, 16));
    SAY("read_ok", flash_read(&dev, 0, b, 32));
    SAY("read_back_equal", memcmp(a, b, 32) == 0);
    SAY("erase_misaligned", flash_erase(&dev, 100));
    SAY("erase_past_end", flash_erase(&dev, SIZE));
    SAY("erase_ok", flash_erase(&dev, 0));
    SAY("blank_rc", flash_is_blank(&dev, 0, BLOCK, &blank));
    SAY("blank", blank);
    SAY("prog_after_erase", flash_prog(&dev, 0, b, 16));
    flip_bit_on_prog = 1;
    SAY("prog_bad_device", flash_prog(&dev, 4096, a, 16));
    flip_bit_on_prog = 0;
    SAY("read_ops", dev.counters.read_ops);
    SAY("read_bytes", dev.counters.read_bytes);
    SAY("prog_ops", dev.counters.prog_ops);
    SAY("prog_bytes", dev.counters.prog_bytes);
    SAY("erase_ops", dev.counters.erase_ops);
    SAY("erase_bytes", dev.counters.erase_bytes);
    SAY("refused", dev.counters.refused);
    SAY("device_errors", dev.counters.device_errors);
    SAY("seq_before_hook", dev.seq);
    /* The fault hook: called before programs and erases only, with a running sequence. */
    flash_set_fault_hook(&dev, hook, NULL);
    cut_at = (int)dev.seq + 3;
    flash_read(&dev, 0, b, 16);
    SAY("hook_prog", flash_prog(&dev, 8192, a, 16));
    SAY("hook_erase", flash_erase(&dev, 8192));
    SAY("hook_cut", flash_prog(&dev, 8192, a, 16));
    SAY("byte8192_after_cut", mem[8192]);
    SAY("hook_calls", nseen);
    for (int i = 0; i < nseen; i++) printf("hook%d=%llu\n", i, (unsigned long long)seen[i]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def flash_results(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a host C compiler is needed (host-sim board: apt gcc)"
    d = tmp_path_factory.mktemp("flashc")
    (d / "main.c").write_text(DRIVER)
    fw = repo_root() / "firmware"
    exe = d / "flash_test"
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{fw}", str(fw / "flash.c"),
                        str(d / "main.c"), "-o", str(exe)], capture_output=True, text=True)
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
