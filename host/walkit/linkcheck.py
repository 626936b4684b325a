"""Link check: no mmap and friends anywhere in what walkit links.

walkit's promise is SQLite with no memory mapping, for targets that have none.  This check
reads the symbol tables of an image, object or static library and fails on any symbol, defined
or referenced, from :data:`FORBIDDEN`.  Given the linker's map file (``-Wl,-Map=X.map,--cref``,
as the walkit build writes it) it also names the input objects that reference each symbol.

``walkit linkcheck FILE...`` runs it on anything, a user's own image included; the walkit build
runs it after every link and fails (deleting the image) when it finds something.
Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import WalkitError
from .elf import STT_FILE, read_elves

# Memory mapping and shared memory, in libc and kernel-API spellings.
FORBIDDEN = frozenset({
    "mmap", "mmap64", "__mmap", "munmap", "__munmap", "mremap", "msync", "madvise",
    "posix_madvise", "mprotect", "remap_file_pages", "shm_open", "shm_unlink", "shmget",
    "shmat", "shmdt", "shmctl", "memfd_create",
})


def _base(name: str) -> str:
    """``mmap@GLIBC_2.2.5`` and ``mmap@@GLIBC_2.2.5`` are mmap."""
    return name.split("@", 1)[0]


def forbidden_symbols(path: str | Path) -> dict[str, dict[str, list[str]]]:
    """{symbol: {"references": [files], "defines": [files]}} for every forbidden symbol, where a
    file is the ELF itself or ``archive(member)``."""
    found: dict[str, dict[str, list[str]]] = {}
    for elf in read_elves(path):
        if not elf.has_symbol_table:
            # A stripped static image would otherwise pass: absence of evidence is not a pass.
            raise WalkitError(f"{elf.name}: no symbol table (stripped?): cannot check it; "
                              "run the check on the unstripped image")
        for s in elf.symbols:
            name = _base(s.name)
            if s.type == STT_FILE or name not in FORBIDDEN:
                continue
            slot = found.setdefault(name, {"references": [], "defines": []})
            kind = "references" if s.undefined else "defines"
            if elf.name not in slot[kind]:
                slot[kind].append(elf.name)
    return found


def referencing_objects(map_file: str | Path) -> dict[str, list[str]]:
    """From the map of a successful GNU ld link with ``--cref``: {symbol: [input files that
    reference it]}.

    In the cross reference table each symbol is followed by the file that defines it and then,
    one per line, the files that reference it; a link that succeeded resolved every symbol, so
    the first file is the definer (libc, for a forbidden one) and is left out.
    """
    listed: dict[str, list[str]] = {}
    text = Path(map_file).read_text(errors="replace")
    start = text.find("Cross Reference Table")
    if start < 0:
        return {}
    current = None
    for line in text[start:].splitlines()[1:]:
        m = re.match(r"^(\S+)\s+(\S.*)$", line)
        if m and not line.startswith("Symbol"):
            current = _base(m.group(1))
            first = m.group(2).strip()
            if current in FORBIDDEN and current not in listed:
                listed[current] = [first]
            elif current in FORBIDDEN:
                current = None  # mmap@@GLIBC... repeats the definer; references come under mmap
        elif current in FORBIDDEN and line.startswith(" ") and line.strip():
            if line.strip() not in listed[current]:
                listed[current].append(line.strip())
    return {sym: files[1:] for sym, files in listed.items() if files[1:]}


def check(path: str | Path, map_file: str | Path | None = None) -> list[str]:
    """Problems found, one line each (empty = clean)."""
    problems = []
    found = forbidden_symbols(path)
    refs = referencing_objects(map_file) if map_file and Path(map_file).is_file() else {}
    for sym in sorted(found):
        who = refs.get(sym) or found[sym]["references"]
        if who:
            problems.append(f"{path}: forbidden symbol {sym!r} referenced by {', '.join(who)}")
        if found[sym]["defines"] and not refs.get(sym):
            problems.append(f"{path}: forbidden symbol {sym!r} defined in "
                            f"{', '.join(found[sym]['defines'])}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="walkit linkcheck", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--map", help="linker map with --cref, to name the referencing objects")
    ap.add_argument("--delete-on-failure", action="store_true",
                    help="remove the checked file when it fails (used by the build, so that a "
                         "failed image is never mistaken for an up-to-date one)")
    args = ap.parse_args(argv)
    bad = 0
    for f in args.files:
        try:
            problems = check(f, args.map)
        except WalkitError as e:
            print(f"walkit: error: {e}", file=sys.stderr)
            bad += 1
            continue
        for p in problems:
            print(f"walkit: linkcheck: {p}", file=sys.stderr)
        if problems:
            bad += 1
            if args.delete_on_failure:
                Path(f).unlink(missing_ok=True)
        else:
            print(f"walkit: linkcheck: {f}: no mmap/munmap/mremap/msync/madvise/shm_* references")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
