"""Boards driven from the host, one layer per module:

* :mod:`~walkit.target.target`: :class:`Target`, one board, its flash image and its console
  (boot, power cut, reboot, shutdown, reaping);
* :mod:`~walkit.target.driver`: the contract of a backend, one driver per board.toml runner:
  :mod:`~walkit.target.process` (``native``: a host process) and :mod:`~walkit.target.qemu`
  (``qemu``: QEMU with its :mod:`~walkit.target.qmp` client);
* :mod:`~walkit.target.firmware`: the firmware image check before a boot (via :mod:`walkit.elf`);
* :mod:`~walkit.target.status`: the firmware's exit statuses;
* :mod:`~walkit.target.session`: :func:`open_session`, a booted target as a walkit.sql Session.
"""

from .session import open_session
from .status import EXIT_CUT, EXIT_FAULT, EXIT_REBOOT, describe_status
from .target import DRIVERS, Target

__all__ = ["DRIVERS", "EXIT_CUT", "EXIT_FAULT", "EXIT_REBOOT", "Target", "describe_status", "open_session"]
