"""The :mod:`walkit.sql` interface on a target's console: a scenario written for the host-native
build runs unchanged against a target."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..sql import SqlError
from .protocol import Console, Result


class ConsoleConnection:
    """A named connection on the target (walkit.sql.Connection)."""

    def __init__(self, console: Console, name: str, path: str):
        self.console = console
        self.name = name
        self.path = path
        self.closed = False
        self.last: Result | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self.closed:
            raise SqlError(21, "connection is closed", sql)
        self.last = self.console.sql(self.name, sql, params)
        return self.last.rows

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.console.close_conn(self.name)


class ConsoleSession:
    """Connections on a target's flash filesystem (walkit.sql.Session)."""

    def __init__(self, console: Console, on_close: Callable[[], None] | None = None):
        self.console = console
        self._on_close = on_close
        self._conns: list[ConsoleConnection] = []

    def connect(self, path: str) -> ConsoleConnection:
        name = self.console.new_connection_name()
        self.console.open(name, path)
        conn = ConsoleConnection(self.console, name, path)
        self._conns.append(conn)
        return conn

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a file or directory (paths are absolute on the target; a
        relative one is taken from the root, as the VFS does)."""
        parent, _, name = ("/" + path.lstrip("/")).rpartition("/")
        try:
            return any(entry[0] == name for entry in self.console.ls(parent or "/"))
        except SqlError as e:
            if e.code == 12:  # SQLITE_NOTFOUND: the console's "no such file or directory"
                return False
            raise

    def __enter__(self) -> "ConsoleSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            for c in self._conns:
                if not c.closed:
                    c.close()
        finally:
            self._conns.clear()
            if self._on_close:
                self._on_close()
