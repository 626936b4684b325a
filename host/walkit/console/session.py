"""The :mod:`walkit.sql` interface on a target's console: a scenario written for the host-native
build runs unchanged against a target."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..sql import SqlError
from .protocol import Console, Result, _hide_for_sql_errors


class ConsoleConnection:
    """A named connection on the target (walkit.sql.Connection)."""

    def __init__(self, console: Console, name: str, path: str):
        self.console = console
        self.name = name
        self.path = path
        self.closed = False
        self.last: Result | None = None

    def execute(self, sql: str, params: Sequence[Any] = (), timeout: float | None = None) -> list[tuple]:
        """Runs SQL to completion; returns the rows of the last statement.  With ``timeout``
        (seconds), a statement still running then is interrupted on the target and SqlError
        SQLITE_INTERRUPT (9) raised; the connection stays usable.  Without, the console's
        timeout applies and running out of it is a TargetTimeout."""
        __tracebackhide__ = _hide_for_sql_errors  # SQL errors show the test's line, not ours
        if self.console.retired:
            raise SqlError(21, f"connection {self.name} ({self.path}) was closed: the target was "
                               f"{self.console.retired}, and connections do not survive that; "
                               "open a new one (target.session().connect(path))", sql)
        if self.closed:
            raise SqlError(21, "connection is closed", sql)
        if timeout is None:
            self.last = self.console.sql(self.name, sql, params)
        else:  # a statement that outlives it is interrupted on the target
            self.last = self.console.sql_interrupting(self.name, sql, params, timeout)
        return self.last.rows

    def close(self) -> None:
        """Closes the connection on the target; after a power cut or reboot there is nothing
        left to close (the firmware's connections went with it), so nothing is sent."""
        if not self.closed:
            self.closed = True
            if not self.console.retired:
                self.console.close_conn(self.name)


class ConsoleSession:
    """Connections on a target's flash filesystem (walkit.sql.Session)."""

    def __init__(self, console: Console, on_close: Callable[[], None] | None = None):
        self.console = console
        self._on_close = on_close
        self._conns: list[ConsoleConnection] = []

    def connect(self, path: str) -> ConsoleConnection:
        __tracebackhide__ = _hide_for_sql_errors
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
