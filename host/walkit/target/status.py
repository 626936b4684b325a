"""The firmware's exit statuses (firmware/board.h) and how an ended process is described."""

from __future__ import annotations

import signal

EXIT_FAULT = 0x7F   # a CPU fault: the console has the *** FAULT line
EXIT_REBOOT = 0x7E  # .reboot: the runner powers the board up again on the same flash
EXIT_CUT = 0x7D     # a power cut armed with .fault arm (firmware/fault.c) happened


def describe_status(status: int | None) -> str:
    """``status`` as a returncode (negative: killed by that signal; None: still running)."""
    if status is None:
        return "running"
    if status == 0:
        return "exited with status 0"
    if status == EXIT_FAULT:
        return f"exited with status {status} (CPU fault; see the *** FAULT line)"
    if status == EXIT_CUT:
        return f"exited with status {status} (power cut by .fault arm)"
    if status == EXIT_REBOOT:
        return f"exited with status {status} (asked to be rebooted)"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"killed by {name}"
    return f"exited with status {status}"
