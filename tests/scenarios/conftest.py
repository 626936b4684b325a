"""The ``session`` fixture: one walkit.sql.Session per test, for every place the scenarios run.

BACKENDS lists them.  "native" is walkit's VFS compiled into this process (walkit.native, the
hostfile backend over the test's tmp_path).  A board name runs the same scenarios on that
board's firmware console (littlefs on its flash): one more line in BACKENDS, opened with
``walkit.target.open_session(board, tmp_path)``, which must exist (a missing factory is an
error, not a skip: listing a board means the scenarios are expected to pass there).  Boards
carry the ``qemu`` mark so a run without QEMU can deselect them (-m "not qemu").  A board runs
the scenarios on each of its storages: littlefs, and ("BOARD/pool") the flash pool
(vfs/storage/flashpool.c, through the firmware's "pool" VFS).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BACKENDS = [
    "native",
    "host-sim",
    "host-sim/pool",
    pytest.param("qemu-virt-a15", marks=pytest.mark.qemu),
    pytest.param("qemu-virt-a15/pool", marks=pytest.mark.qemu),
]


def open_backend(name: str, tmp_path: Path):
    if name == "native":
        from walkit.native import open_session

        return open_session(tmp_path)
    target = importlib.import_module("walkit.target")
    factory = getattr(target, "open_session", None)
    if factory is None:
        pytest.fail(f"backend {name!r} listed but walkit.target.open_session does not exist")
    board, _, storage = name.partition("/")
    return factory(board, tmp_path, storage=storage or "littlefs")


@pytest.fixture(params=BACKENDS)
def session(request, tmp_path):
    s = open_backend(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()
    # The WAL-index lives in memory: no scenario may ever leave a -shm file behind, neither in
    # the host directory (native) nor in the littlefs or the pool on the board's flash image.
    if request.param == "native":
        assert not sorted(tmp_path.rglob("*-shm")), "a -shm file was created"
        return
    if request.param.endswith("/pool"):
        from walkit.image.pool import pool_of_image

        pool = pool_of_image(tmp_path / "flash.img", request.param.partition("/")[0])
        names = [n.decode(errors="surrogateescape") for n in pool.contents]
    else:
        from walkit.image import open_image

        with open_image(tmp_path / "flash.img", request.param) as img:
            names = [f.path for f in img.files()]
    assert names, "the scenario left nothing on the flash: wrong image?"
    assert not [n for n in names if n.endswith("-shm")], f"a -shm file on the flash: {names}"
