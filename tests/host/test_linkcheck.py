"""walkit.linkcheck: the object that references mmap is named, garbage and stripped images are
refused with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.linkcheck import check as linkcheck
from walkit.paths import repo_root

ROOT = repo_root()


def _cc_object(tmp_path: Path, code: str, name: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(code)
    obj = tmp_path / f"{name}.o"
    subprocess.run(["cc", "-c", str(src), "-o", str(obj)], check=True)
    return obj


def test_linkcheck_names_the_object_that_references_mmap(tmp_path):
    bad = _cc_object(tmp_path, (ROOT / "tests/data/uses_mmap.c").read_text(), "uses_mmap")
    good = _cc_object(tmp_path, "int add(int a, int b) { return a + b; }\n", "clean")
    assert linkcheck(good) == []
    problems = linkcheck(bad)
    assert len(problems) == 1 and "'mmap' referenced by" in problems[0] and "uses_mmap.o" in problems[0]
    lib = tmp_path / "libmix.a"
    subprocess.run(["ar", "rcs", str(lib), str(good), str(bad)], check=True)
    problems = linkcheck(lib)
    assert problems and "libmix.a(uses_mmap.o)" in problems[0] and "clean.o" not in problems[0]
    # the CLI: exit status 1 and the object named on stderr
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(good), str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "uses_mmap.o" in r.stderr


def test_linkcheck_rejects_garbage_with_one_line(tmp_path):
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"\x7fELF" + b"\x01\x01\x01" + b"\0" * 9)
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(junk)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "junk.elf" in r.stderr


def test_linkcheck_refuses_a_stripped_image_instead_of_passing_it(tmp_path):
    src = tmp_path / "m.c"
    src.write_text((ROOT / "tests/data/uses_mmap.c").read_text() + "\nint main(void) { return 0; }\n")
    exe = tmp_path / "static-mmap"
    subprocess.run(["cc", "-static", str(src), "-o", str(exe)], check=True)
    assert linkcheck(exe)  # unstripped: the reference is found
    subprocess.run(["strip", "--strip-all", str(exe)], check=True)
    with pytest.raises(WalkitError, match="no symbol table"):
        linkcheck(exe)
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "linkcheck", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "no symbol table" in r.stderr and "Traceback" not in r.stderr
