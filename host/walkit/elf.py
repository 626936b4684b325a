"""Minimal ELF and ``ar`` reader: symbol tables and program headers of images, objects and static
libraries.

Standard library only, because the build runs it (link check, size report) possibly before the
virtual environment exists.  Reads ELF32/ELF64 in either byte order; for archives, every member
that is an ELF object, named ``archive(member)``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from . import WalkitError

SHT_SYMTAB = 2
SHT_DYNSYM = 11
SHN_UNDEF = 0
STT_FILE = 4
PT_LOAD = 1

# e_machine values of the architectures walkit meets, and their names for messages.
MACHINE_NAMES = {3: "x86", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 40: "ARM", 62: "x86-64",
                 183: "AArch64", 243: "RISC-V"}


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int

    @property
    def undefined(self) -> bool:
        return self.shndx == SHN_UNDEF


@dataclass(frozen=True)
class Segment:
    """One program header: what the loader maps (``type`` PT_LOAD) from ``[offset, offset +
    filesz)`` of the file."""
    type: int
    offset: int
    filesz: int


@dataclass(frozen=True)
class ElfFile:
    name: str            # path, or "archive.a(member.o)"
    machine: int
    is_64: bool
    little: bool
    etype: int           # 1 relocatable, 2 executable, 3 shared/PIE
    symbols: list[Symbol]
    has_symbol_table: bool  # False: stripped of .symtab and without .dynsym: nothing to read
    segments: list[Segment]  # the program headers (none in a relocatable object)


def _parse(data: bytes, name: str) -> ElfFile:
    if data[:4] != b"\x7fELF":
        raise WalkitError(f"{name}: not an ELF file")
    if len(data) < 52:
        raise WalkitError(f"{name}: truncated ELF header")
    is_64 = data[4] == 2
    little = data[5] == 1
    e = "<" if little else ">"
    try:
        if is_64:
            etype, machine = struct.unpack_from(e + "HH", data, 16)
            shoff, = struct.unpack_from(e + "Q", data, 40)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 58)
            shfmt, symfmt, symsize = e + "IIQQQQIIQQ", e + "IBBHQQ", 24
        else:
            etype, machine = struct.unpack_from(e + "HH", data, 16)
            shoff, = struct.unpack_from(e + "I", data, 32)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 46)
            shfmt, symfmt, symsize = e + "IIIIIIIIII", e + "IIIBBH", 16
        sections = [struct.unpack_from(shfmt, data, shoff + i * shentsize) for i in range(shnum)]
        symbols: list[Symbol] = []
        has_table = False
        for sh in sections:
            _name, stype, _fl, _addr, off, size, link, _info, _al, entsize = sh
            if stype not in (SHT_SYMTAB, SHT_DYNSYM):
                continue
            has_table = True
            stroff, strsize = sections[link][4], sections[link][5]
            strtab = data[stroff:stroff + strsize]
            for i in range(1, size // (entsize or symsize)):
                raw = struct.unpack_from(symfmt, data, off + i * symsize)
                if is_64:
                    st_name, st_info, _other, shndx, value, ssize = raw
                else:
                    st_name, value, ssize, st_info, _other, shndx = raw
                end = strtab.find(b"\0", st_name)
                if end < 0:
                    raise WalkitError(f"{name}: corrupt string table (unterminated symbol name)")
                sname = strtab[st_name:end].decode("utf-8", "replace")
                symbols.append(Symbol(sname, value, ssize, st_info & 15, st_info >> 4, shndx))
    except (struct.error, IndexError):
        raise WalkitError(f"{name}: corrupt or truncated ELF file") from None
    try:
        if is_64:
            phoff, = struct.unpack_from(e + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        else:
            phoff, = struct.unpack_from(e + "I", data, 28)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
        segments = []
        for i in range(phnum):
            off = phoff + i * phentsize
            if is_64:
                ptype, _flags, poff, _va, _pa, filesz = struct.unpack_from(e + "IIQQQQ", data, off)
            else:
                ptype, poff, _va, _pa, filesz = struct.unpack_from(e + "IIIII", data, off)
            segments.append(Segment(ptype, poff, filesz))
    except struct.error:
        raise WalkitError(f"{name}: truncated program header table") from None
    return ElfFile(name, machine, is_64, little, etype, symbols, has_table, segments)


def _archive_members(data: bytes, name: str):
    """Yield (member name, bytes) of a System V / GNU ``ar`` archive."""
    pos, longnames = 8, b""
    while pos + 60 <= len(data):
        hdr = data[pos:pos + 60]
        mname = hdr[:16].decode("ascii", "replace").strip()
        try:
            size = int(hdr[48:58].decode("ascii").strip())
        except ValueError:
            raise WalkitError(f"{name}: corrupt archive header at offset {pos}") from None
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if mname == "//":
            longnames = body
            continue
        if mname in ("/", "/SYM64/"):
            continue
        if mname.startswith("/") and mname[1:].isdigit():
            off = int(mname[1:])
            mname = longnames[off:longnames.find(b"\n", off)].decode("utf-8", "replace")
        yield mname.rstrip("/"), body


def read_elves(path: str | Path) -> list[ElfFile]:
    """The ELF files in ``path``: itself, or each ELF member of an archive."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WalkitError(f"{path}: {e.strerror}") from None
    if data.startswith(b"!<arch>\n"):
        return [_parse(body, f"{path}({m})") for m, body in _archive_members(data, str(path))
                if body[:4] == b"\x7fELF"]
    return [_parse(data, str(path))]
