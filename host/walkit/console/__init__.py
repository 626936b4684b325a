"""The target's SQL console from the host, one layer per module, each using only those above it:

* :mod:`~walkit.console.errors`: ``TargetError`` and its kinds, carrying the last console output;
* :mod:`~walkit.console.link`: :class:`ConsoleLink`, the byte link (socket, reader thread, log,
  waits with deadlines);
* :mod:`~walkit.console.codec`: the machine-mode value tokens (docs/console.md);
* :mod:`~walkit.console.protocol`: :class:`Console`, framed requests and replies in machine mode;
* :mod:`~walkit.console.session`: :class:`ConsoleSession` / :class:`ConsoleConnection`, the
  :mod:`walkit.sql` interface on top, so a scenario written for the host-native build runs
  unchanged against a target.

One client for every user: the pytest fixtures, ``walkit demo`` and ``walkit run`` all talk to
the firmware through these.  Every wait has a deadline; when it passes, or the target goes away
while we wait, the exception carries the last console output and whatever the caller adds about
the process, because "timed out" alone never explains a hang.
"""

from .codec import decode_value, encode_text_bytes, encode_value
from .errors import ConsoleProtocolError, TargetError, TargetGone, TargetTimeout
from .link import LOG_MEMORY, TAIL_BYTES, ConsoleLink
from .protocol import DEFAULT_TIMEOUT, INTERACTIVE, MACHINE, MAX_ID, READY_LINE, Console, Result
from .session import ConsoleConnection, ConsoleSession

__all__ = [
    "ConsoleConnection", "ConsoleLink", "ConsoleProtocolError", "ConsoleSession", "Console",
    "DEFAULT_TIMEOUT", "INTERACTIVE", "LOG_MEMORY", "MACHINE", "MAX_ID", "READY_LINE", "Result",
    "TAIL_BYTES", "TargetError", "TargetGone", "TargetTimeout", "decode_value",
    "encode_text_bytes", "encode_value",
]
