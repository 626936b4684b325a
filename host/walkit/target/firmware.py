"""The check of a firmware image before a board is started on it (read with :mod:`walkit.elf`).

QEMU given a truncated or foreign file exits during start-up without a word, and exec() of one
gives "Exec format error": the harness says what is wrong with the file instead.
"""

from __future__ import annotations

from pathlib import Path

from .. import WalkitError
from ..elf import MACHINE_NAMES, PT_LOAD, read_elves

# Images already found good, by (path, size, mtime, board): a test suite boots the same image
# hundreds of times.
_checked: dict[tuple, None] = {}


def check_image(image: Path, board: str, machine: int | None) -> None:
    """Raises WalkitError unless ``image`` is a whole ELF executable for ``board``, built for
    ``machine`` (an e_machine; None: any)."""
    try:
        st = image.stat()
    except OSError as e:
        raise WalkitError(f"firmware image {image}: {e.strerror}") from None
    key = (str(image), st.st_size, st.st_mtime_ns, board)
    if key in _checked:
        return
    need = f"an ELF executable for {board}" + (
        f" ({MACHINE_NAMES.get(machine, machine)})" if machine else "")
    try:
        elf = read_elves(image)
        if len(elf) != 1:
            raise WalkitError(f"{image}: an archive, not an executable")
        elf = elf[0]
    except WalkitError as e:
        why = str(e).removeprefix(f"{image}: ").removeprefix(f"{image}")
        raise WalkitError(f"firmware image {image} is not {need}: {why.lstrip(': ')}") from None
    if elf.etype not in (2, 3):
        raise WalkitError(f"firmware image {image} is not {need}: ELF type {elf.etype} "
                          "(an object file or a core dump, not an executable)")
    if machine is not None and elf.machine != machine:
        raise WalkitError(f"firmware image {image} is not {need}: it is built for "
                          f"{MACHINE_NAMES.get(elf.machine, f'machine {elf.machine}')}")
    # Every loadable segment must be in the file (a truncated copy whose section table happens
    # to survive still loses code).
    if not elf.segments:
        raise WalkitError(f"firmware image {image} is not {need}: no program headers")
    for i, seg in enumerate(elf.segments):
        if seg.type == PT_LOAD and seg.offset + seg.filesz > st.st_size:
            raise WalkitError(f"firmware image {image} is not {need}: truncated (segment "
                              f"{i} ends at byte {seg.offset + seg.filesz}, the file has "
                              f"{st.st_size})")
    _checked[key] = None
