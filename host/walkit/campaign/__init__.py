"""Power-loss campaigns (``walkit campaign``, docs/recovery.md).

* :mod:`~walkit.campaign.points`: which operations to cut at, out of the dry run's [1, T];
* :mod:`~walkit.campaign.runner`: one cut point of the built-in workload end to end, the dry run;
* :mod:`~walkit.campaign.oracle`: what a recovered database may be, on the target and on the host;
* :mod:`~walkit.campaign.campaign`: a whole campaign, on a process pool or Dask, and its report;
* :mod:`~walkit.campaign.script`: the same for a user's SQL script, Python's sqlite3 as reference;
* :mod:`~walkit.campaign.cli`: the command.

The target side is ``firmware/fault.c`` (``.fault``: cut points, fault models, seeding) and
``firmware/workload.c`` (``.workload``: the built-in self-verifying workload).
"""

from .campaign import Config, run_campaign, summary
from .script import power_cut_campaign

__all__ = ["Config", "power_cut_campaign", "run_campaign", "summary"]
