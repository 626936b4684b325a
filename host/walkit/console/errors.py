"""The errors of a target's console: every one carries the last console output.

When a wait on the target fails, "timed out" alone never explains a hang: each error says what
the console printed last (``console_tail``) and what the owner of the process knows about it
(``detail``: process state, exit status, the emulator's own output).
"""

from __future__ import annotations

from .. import WalkitError


class TargetError(WalkitError):
    """The target did not do what was asked; ``console_tail`` is its last console output."""

    def __init__(self, message: str, console_tail: str = "", detail: str = ""):
        self.console_tail = console_tail
        self.detail = detail
        text = message
        if detail:
            text += "\n" + detail
        text += "\n--- last console output ---\n" + (console_tail or "(nothing)") + "\n---"
        super().__init__(text)


class TargetTimeout(TargetError):
    """A wait on the target ran out of time."""


class TargetGone(TargetError):
    """The target stopped (crashed, exited or was cut) while we waited on it."""


class ConsoleProtocolError(TargetError):
    """The target sent a line that breaks the machine-mode grammar, or a reply that answers no
    outstanding request (see :class:`Console`)."""
