"""The ``session`` fixture: one walkit.sql.Session per test, for every place the scenarios run.

BACKENDS lists them.  "native" is walkit's VFS compiled into this process (walkit.native, the
hostfile backend over the test's tmp_path); "native/pool" is the same VFS on the flash pool
over an emulated NOR partition, saved in tmp_path when the session closes.  A board name runs
the same scenarios on that board's firmware console (littlefs on its flash): one more line in BACKENDS, opened with
``walkit.target.open_session(board, tmp_path)``, which must exist (a missing factory is an
error, not a skip: listing a board means the scenarios are expected to pass there).  Boards
carry the ``qemu`` mark so a run without QEMU can deselect them (-m "not qemu").  A board runs
the scenarios on each of its storages: littlefs, and ("BOARD/pool") the flash pool
(vfs/storage/flashpool.c, through the firmware's "pool" VFS).  On the multi-core board
(qemu-virt-a15-smp) each connection's statements run on a worker core of their own (the
console's `.core`), so the concurrent scenarios are driven by different cores.

The scenarios run once per WAL-index mode in SHM_MODES: "heap" (the default VFS) and "copy"
(vfs/shm/copy.c: private copies synchronised with a shared area).  Native sessions register
their VFS in that mode; on a board, copy-mode connections are opened through the firmware's
"walkit-copy" VFS (a URI filename, file:/PATH?vfs=walkit-copy).  The firmware registers copy
mode on its littlefs only, so the boards' pool storages run in heap mode.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BACKENDS = [
    "native",
    "native/pool",
    "host-sim",
    "host-sim/pool",
    pytest.param("qemu-virt-a15", marks=pytest.mark.qemu),
    pytest.param("qemu-virt-a15/pool", marks=pytest.mark.qemu),
    pytest.param("qemu-virt-a15-smp", marks=pytest.mark.qemu),  # connections on cores 1-3
]

# On a multi-core board each connection runs on a worker core of its own (open_session); a
# scenario about one task driving several connections has them all on one core there.
ONE_TASK_SCENARIOS = {"test_conflict_within_one_task_is_busy_at_once_despite_busy_timeout"}

SHM_MODES = ["heap", "copy"]

# The firmware's VFS name for each mode (firmware/main.c); None: the default VFS.
BOARD_VFS = {"heap": None, "copy": "walkit-copy"}


def _cases():
    """(backend, shm mode) pairs: every backend in heap mode, every littlefs/native one in copy
    mode too."""
    for b in BACKENDS:
        name = b.values[0] if hasattr(b, "values") else b
        marks = b.marks if hasattr(b, "marks") else ()
        for mode in SHM_MODES:
            if mode == "copy" and name.endswith("/pool") and name != "native/pool":
                continue
            yield pytest.param((name, mode), marks=marks, id=f"{name}-{mode}")


class VfsSession:
    """A board session whose connections open through one named VFS: the path goes to the
    console as a URI filename.  Everything else is the wrapped session's."""

    def __init__(self, inner, vfs: str):
        self.inner = inner
        self.vfs = vfs

    def connect(self, path: str):
        return self.inner.connect(f"file:/{path.lstrip('/')}?vfs={self.vfs}")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def open_backend(name: str, tmp_path: Path, shm_mode: str = "heap", one_core: bool = False):
    if name.partition("/")[0] == "native":
        from walkit.native import open_session

        return open_session(tmp_path, shm_mode, storage=name.partition("/")[2] or "hostfile")
    target = importlib.import_module("walkit.target")
    factory = getattr(target, "open_session", None)
    if factory is None:
        pytest.fail(f"backend {name!r} listed but walkit.target.open_session does not exist")
    board, _, storage = name.partition("/")
    s = factory(board, tmp_path, storage=storage or "littlefs", one_core=one_core)
    return VfsSession(s, BOARD_VFS[shm_mode]) if BOARD_VFS[shm_mode] else s


@pytest.fixture(params=list(_cases()))
def session(request, tmp_path):
    backend, shm_mode = request.param
    s = open_backend(backend, tmp_path, shm_mode, request.node.originalname in ONE_TASK_SCENARIOS)
    try:
        yield s
    finally:
        s.close()
    # The WAL-index lives in memory: no scenario may ever leave a -shm file behind, neither in
    # the host directory (native) nor in the littlefs or the pool on the board's flash image.
    if backend == "native":
        assert not sorted(tmp_path.rglob("*-shm")), "a -shm file was created"
        return
    if backend.endswith("/pool"):
        from walkit.image.pool import pool_of_image
        from walkit.native import saved_pool

        pool = saved_pool(tmp_path) if backend == "native/pool" else \
            pool_of_image(tmp_path / "flash.img", backend.partition("/")[0])
        names = [n.decode(errors="surrogateescape") for n in pool.contents]
    else:
        from walkit.image import open_image

        with open_image(tmp_path / "flash.img", backend) as img:
            names = [f.path for f in img.files()]
    assert names, "the scenario left nothing on the flash: wrong image?"
    assert not [n for n in names if n.endswith("-shm")], f"a -shm file on the flash: {names}"
