"""Flash images on the host: the littlefs filesystem inside a board's NOR flash image.

An image file is the whole flash bank (exactly ``flash.size`` bytes, erased = 0xFF); the
filesystem lives in ``[fs_offset, fs_offset + fs_size)`` with the board's erase block as the
littlefs block size, which is the geometry the firmware mounts.

Invariants:

* An existing filesystem is never formatted.  ``LittleFS(mount=True)`` formats when mounting
  fails, so it is always constructed with ``mount=False``; the only ``format()`` call is in
  :func:`create_image` on a freshly erased buffer.
* The image file changes only when a writable :func:`open_image` block ends without an
  exception, and then atomically (a sibling temporary file, fsync, rename), so an error or a
  crash leaves the old image intact.
"""

from __future__ import annotations

from .flash import (
    DEFAULT_BOARD,
    FileEntry,
    FlashImage,
    copy_image,
    create_image,
    flash_geometry,
    open_image,
)

__all__ = [
    "DEFAULT_BOARD",
    "FileEntry",
    "FlashImage",
    "copy_image",
    "create_image",
    "flash_geometry",
    "open_image",
]
