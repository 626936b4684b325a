"""Files and names a user hands to walkit: the one reader of input files, the one check of an
output path, and the one way a file name is shown.

* :func:`read_input` reads only regular files (a symbolic link to one is fine).  A directory,
  FIFO, device or socket is a one-line :class:`WalkitError` before anything is read, the file
  is opened with ``O_NONBLOCK`` (opening a FIFO swapped in after the check cannot block) and
  read to at most its size at ``fstat`` time, so what walkit holds in memory is bounded by the
  real size of the file, never by what it claims or by a device that never ends.
* :func:`output_problem` says why a path must not be replaced by a new regular file: only a
  regular file, or a path that does not exist yet, is ever written.
* :func:`show` renders a file name for a terminal or a one-line message.  Names are bytes
  (POSIX and littlefs alike); in Python they travel as ``bytes`` or as ``str`` decoded with
  UTF-8 and ``surrogateescape`` (what ``sys.argv`` and ``os.listdir`` give), which maps every
  byte string to a ``str`` and back unchanged.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import WalkitError

_CHUNK = 1 << 24

_KIND = (
    (statmod.S_ISDIR, "is a directory"),
    (statmod.S_ISFIFO, "is a FIFO (named pipe)"),
    (statmod.S_ISCHR, "is a character device"),
    (statmod.S_ISBLK, "is a block device"),
    (statmod.S_ISSOCK, "is a socket"),
    (statmod.S_ISLNK, "is a symbolic link"),
)

_ERRNO = {
    errno.ENOENT: "no such file",
    errno.EISDIR: "is a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop)",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ENAMETOOLONG: "file name too long",
}


def name_bytes(name: str | bytes | os.PathLike) -> bytes:
    """The bytes of a file name given as bytes or as a (surrogateescape) str."""
    name = os.fspath(name)
    if isinstance(name, bytes):
        return name
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte string decodes to
        return name.encode("utf-8", "surrogatepass")


def show(name: str | bytes | os.PathLike) -> str:
    """``name`` as printable text: printable characters as themselves, a backslash as ``\\\\``,
    newline and tab as ``\\n`` and ``\\t``, other control and non-printable characters as
    ``\\xHH`` / ``\\uHHHH``, and bytes that are not UTF-8 as ``\\xHH`` (the SQL console escapes
    text the same way).  Never raises; the result holds no control character."""
    out = []
    for ch in name_bytes(name).decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte carried by surrogateescape
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "".join(out)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if statmod.S_ISREG(mode):
        return None
    for test, what in _KIND:
        if test(mode):
            return what
    return "is not a regular file"


def os_problem(e: OSError) -> str:
    """An OSError's cause in a few words (no path: the caller puts the name in front)."""
    return _ERRNO.get(e.errno, e.strerror or str(e))


@dataclass(frozen=True)
class Input:
    data: bytes
    stat: os.stat_result  # of the file that was read (fstat of the open descriptor)


def read_regular(path: str | bytes | os.PathLike,
                 check_size: Callable[[int], None] | None = None, *,
                 missing: str = "no such file") -> Input:
    """The content of the regular file ``path``, at most its size when opened.  Anything else
    (missing, a directory, FIFO, device, socket, a symlink loop, unreadable) is a one-line
    :class:`WalkitError` naming ``path``.  ``check_size(size)``, called before anything is
    read, may refuse the file by raising; ``missing`` is the message for a path that does
    not exist."""
    try:
        st = os.stat(path)
        kind = _kind(st.st_mode)
        if kind:
            raise WalkitError(f"{show(path)}: {kind}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            kind = _kind(st.st_mode)
            if kind:  # replaced between stat and open
                raise WalkitError(f"{show(path)}: {kind}, not a regular file")
            if check_size is not None:
                check_size(st.st_size)
            chunks, left = [], st.st_size
            while left > 0:
                chunk = os.read(fd, min(left, _CHUNK))
                if not chunk:
                    break  # the file shrank while being read
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise WalkitError(f"{show(path)}: {missing}") from None
    except OSError as e:
        raise WalkitError(f"{show(path)}: {os_problem(e)}") from None
    return Input(b"".join(chunks), st)


def read_input(path: str | bytes | os.PathLike) -> bytes:
    """:func:`read_regular`'s data."""
    return read_regular(path).data


def output_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` must not be replaced by a new regular file, or None when it is a regular
    file or does not exist (a symbolic link counts as what it points to)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return "is a symbolic link to nothing"
        return None
    except OSError as e:
        return os_problem(e)
    kind = _kind(st.st_mode)
    return f"{kind}; walkit replaces only regular files" if kind else None


def writable_output(path: str | os.PathLike) -> Path:
    """The path to replace atomically for ``path``: ``path`` itself, or for a symbolic link to
    a regular file the file it points to (so the link stays a link).  A one-line
    :class:`WalkitError` when :func:`output_problem` objects."""
    why = output_problem(path)
    if why:
        raise WalkitError(f"{show(path)}: {why}")
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p
