"""One SQL interface for every place walkit runs SQLite.

The host-native build (cffi, ``walkit.native``) and a target's console (``walkit.console``)
both offer a :class:`Session` that opens :class:`Connection` objects, so a test scenario is
written once and runs against both.  Values are Python's ``None``, ``int``, ``float``, ``str``
and ``bytes``; errors are :class:`SqlError` with SQLite's result code.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

# Primary result codes the scenarios test for (sqlite3.h).
SQLITE_OK = 0
SQLITE_ERROR = 1
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_NOMEM = 7
SQLITE_READONLY = 8
SQLITE_INTERRUPT = 9
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_MISUSE = 21


class SqlError(Exception):
    """SQLite said no.  ``code`` is the extended result code, ``primary`` its low byte."""

    def __init__(self, code: int, message: str, sql: str | None = None):
        super().__init__(f"SQLite error {code}: {message}" + (f" (in: {sql})" if sql else ""))
        self.code = code
        self.message = message
        self.sql = sql

    @property
    def primary(self) -> int:
        return self.code & 0xFF


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement (or several separated by ';', params then bind the last one)
        to completion; returns all rows of the last statement.  (A target's connection also
        takes ``timeout=``: a statement still running then is interrupted, SQLITE_INTERRUPT.)"""

    def close(self) -> None: ...


class Session(Protocol):
    """A place with a filesystem where connections are opened by path."""

    def connect(self, path: str) -> Connection: ...

    def exists(self, path: str) -> bool:
        """Whether a file exists in the session's filesystem (e.g. to check for -wal/-shm)."""

    def close(self) -> None: ...
