"""walkit: SQLite WAL mode on single-address-space targets.

The host side of the kit: builds board images, boots them under QEMU, drives the SQL console,
reads flash images and works on WAL files.  Modules that the build itself runs before the
virtual environment exists (``paths``, ``boards``, ``bootstrap``, ``elf``, ``linkcheck``,
``size``) use the standard library only.
"""

__version__ = "0.1.0"


class WalkitError(Exception):
    """An error with a one-line message meant for the user; the CLI prints it without a traceback."""
