"""The ``target`` fixture of the qemu-virt-a15-smp tests: a booted board on a blank flash in the
test's tmp_path, its console in machine mode; closed (and reaped) after the test."""

from __future__ import annotations

import pytest

from walkit.target import Target

BOARD = "qemu-virt-a15-smp"


@pytest.fixture
def target(build_image, tmp_path):
    t = Target(BOARD, image=build_image(BOARD), workdir=tmp_path)
    t.boot()
    try:
        yield t
    finally:
        t.close()
