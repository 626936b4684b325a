"""Which cut points a campaign tests, out of [1, T] (T: the dry run's operation count)."""

from __future__ import annotations

import math
import random

from .. import WalkitError

POINTS_HELP = ("all | N (N points spread evenly) | stride:K | log | random:N | "
               "list:A,B,... (explicit, e.g. to replay a failure)")


def mix(*values: int) -> int:
    """splitmix64 over the values: the one seed mixer of the host side (the firmware's fault.c
    uses the same finaliser for its own choices)."""
    x = 0
    for v in values:
        x = (x ^ (v & 0xFFFFFFFFFFFFFFFF)) + 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x


def select_points(spec: str, total: int, seed: int = 0) -> list[int]:
    """The sorted, distinct cut points of ``spec`` (POINTS_HELP) in [1, total].  An explicit
    point past ``total`` is an error: that operation never happens."""
    if total < 1:
        raise WalkitError("the dry run made no flash operation: nothing to cut")
    s = spec.strip()
    try:
        if s == "all":
            pts = range(1, total + 1)
        elif s == "log":
            pts, p = [], 1
            while p <= total:
                pts.append(p)
                p *= 2
            pts.append(total)
        elif s.startswith("stride:"):
            k = int(s[7:])
            if k < 1:
                raise ValueError
            pts = range(1, total + 1, k)
        elif s.startswith("random:"):
            n = int(s[7:])
            if n < 1:
                raise ValueError
            pts = random.Random(seed).sample(range(1, total + 1), min(n, total))
        elif s.startswith("list:") or "," in s:
            pts = [int(x) for x in s.removeprefix("list:").split(",") if x.strip()]
            bad = [p for p in pts if not 1 <= p <= total]
            if bad or not pts:
                raise WalkitError(f"--points {spec}: points must be in [1, {total}] (the dry run's "
                                  f"operation count), got {bad or 'none'}")
        else:
            n = int(s)
            if n < 1:
                raise ValueError
            if n >= total:
                pts = range(1, total + 1)
            else:  # evenly spread, first and last included
                pts = sorted({1 + math.floor(i * (total - 1) / max(1, n - 1)) for i in range(n)})
    except ValueError:
        raise WalkitError(f"--points {spec!r}: expected {POINTS_HELP}") from None
    return sorted(set(pts))
