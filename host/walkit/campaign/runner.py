"""One cut point of the built-in workload, end to end, and the dry run that counts them.

A point is a plain dict (so it travels to a process pool or a Dask worker) and its result is
one too.  Running point N:

1. copy the campaign's base image (a formatted, empty littlefs and flash pool) to the point's
   folder;
2. boot, ``.fault arm N MODEL SEED``, ``.workload run``: the board stops dead at operation N
   (exit status EXIT_CUT); the acknowledgements it printed are read from the console log;
3. ``double`` only: boot, arm a second cut at a seeded operation of the recovery
   (``.workload check``: open, integrity_check, read, close, which checkpoints), with a seeded
   model out of nor/torn/ooo; if it comes, the board stops again;
4. the host reads the image on its own (oracle.check_image);
5. boot, ``.workload check``; the oracle (oracle.judge) says whether the state is right.

The database is on the spec's ``storage``: littlefs (``/wl.db``) or the flash pool
(``file:/wl.db?vfs=pool``, oracle.target_path).

Every boot of a point runs one QEMU (or host-sim) process; a point costs two boots (three
for ``double``).  A failing point keeps its flash image (gzip) and console log.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import time
from pathlib import Path
from typing import Iterator

from .. import WalkitError
from ..console import TargetError
from ..console.codec import decode_value
from ..sql import SqlError
from ..target import EXIT_CUT, Target, describe_status
from . import oracle
from .points import mix

MODELS = ("nor", "torn", "ooo", "double")
BASE_MODELS = ("nor", "torn", "ooo")
MASK = oracle.MASK
RUN_TIMEOUT = 600.0


@contextlib.contextmanager
def booted(spec: dict, flash: Path, workdir: Path, **kw) -> Iterator[Target]:
    """The spec's board booted on ``flash`` (keyword arguments go to Target); closed after."""
    t = Target(spec["board"], image=spec["image"], flash=flash, workdir=workdir, **kw)
    try:
        t.boot()
        yield t
    finally:
        t.close()


def check_on_target(t: Target, spec: dict, timeout: float) -> tuple:
    """``.workload check`` on a booted target: (integrity, k, stored, scanned, expected), the
    digests unsigned.  An error frame raises SqlError."""
    row = t.console.request(".workload", "check", db_path(spec), str(spec["wseed"]),
                            timeout=timeout).rows[0]
    return (row[0], row[1], row[2] & MASK, row[3] & MASK, row[4] & MASK)


def db_path(spec: dict) -> str:
    return oracle.target_path(spec["storage"])


def _this_boot_log(t: Target) -> str:
    """The console output of the target's last boot (the console log appends every boot)."""
    text = t.console_log.read_bytes().decode("utf-8", "replace")
    i = text.rfind("[walkit harness] power on")
    return text[i:] if i >= 0 else text


def acks_from_log(text: str, rid: int) -> list[tuple[int, int]]:
    """The (k, digest) acknowledgements of request ``rid`` in a console log, in order."""
    out = []
    for m in re.finditer(rf"(?m)^@{rid} R (\S+) (\S+)\r?$", text):
        out.append((decode_value(m[1]), decode_value(m[2]) & MASK))
    return out


def workload_args(spec: dict) -> tuple:
    return ("run", db_path(spec), str(spec["wseed"]), str(spec["txns"]), spec["sync"])


def dry_run(spec: dict) -> dict:
    """Runs the workload uncut from the base image with the hook counting: T (operations),
    the op-log hash and the acknowledgements.  Two dry runs of one spec give the same hash."""
    d = Path(spec["workdir"]) / f"dry-{spec['sync']}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    flash = d / "flash.img"
    shutil.copyfile(spec["base"], flash)
    with booted(spec, flash, d) as t:
        c = t.console
        c.request(".fault", "arm", "0", "nor", str(spec["seed"]))
        res = c.request(".workload", *workload_args(spec), timeout=RUN_TIMEOUT)
        st = dict(c.request(".fault", "status").rows)
        t.power_cut()
    acks = [(k, dg & MASK) for k, dg in res.rows]
    if [k for k, _ in acks] != list(range(len(acks))) or len(acks) != spec["txns"] + 1:
        raise WalkitError(f"dry run: the workload acknowledged {[k for k, _ in acks]}, expected "
                          f"0..{spec['txns']}")
    shutil.rmtree(d, ignore_errors=True)
    return {"total": st["ops"], "hash": st["hash"], "prog_ops": st["prog_ops"],
            "erase_ops": st["erase_ops"], "syncs": st["syncs"], "acks": acks}


def _cut_run(t: Target, verb_args: tuple, timeout: float) -> tuple[int, int]:
    """Starts a request that the armed cut is meant to stop; returns (exit status, or -1 when
    the request finished first; the request's id)."""
    rid = t.console.start(*verb_args)
    try:
        t.console.read_reply(rid, timeout=timeout)
        return -1, rid
    except TargetError:
        return t.wait_exit(10.0), rid


def run_point(spec: dict) -> dict:
    """Runs one cut point (module docstring).  Returns a result dict: ``ok`` (bool),
    ``reason`` (why not, one line), ``acks`` (last acknowledged k), ``k`` (recovered),
    ``second_cut`` (double: whether the recovery was cut too), ``seconds``."""
    t0 = time.monotonic()
    n, model, sync = spec["point"], spec["model"], spec["sync"]
    pseed = mix(spec["seed"], n, MODELS.index(model), sync == "full")
    d = Path(spec["workdir"]) / f"p{n}-{model}-{sync}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    flash = d / "flash.img"
    shutil.copyfile(spec["base"], flash)
    res = {"point": n, "model": model, "sync": sync, "seed": spec["seed"], "ok": False,
           "reason": "", "acks": -1, "k": None, "second_cut": False}
    try:
        first = BASE_MODELS[pseed % 3] if model == "double" else model
        with booted(spec, flash, d) as t:
            t.console.request(".fault", "arm", str(n), first, str(pseed & 0x7FFFFFFFFFFFFFFF))
            status, rid = _cut_run(t, (".workload", *workload_args(spec)), RUN_TIMEOUT)
            acks = acks_from_log(_this_boot_log(t), rid)
        if status != EXIT_CUT:
            raise WalkitError(f"the cut at operation {n} did not happen: the target "
                              f"{'finished the workload' if status == -1 else describe_status(status)}")
        last_ack = acks[-1][0] if acks else -1
        res["acks"] = last_ack
        ref = spec.get("ref_acks")
        if ref is not None and acks != [tuple(a) for a in ref[:len(acks)]]:
            raise WalkitError("the acknowledgements differ from the dry run's: the run is not "
                              "deterministic")
        if model == "double":
            second = BASE_MODELS[(pseed >> 8) % 3]
            m2 = 1 + (pseed >> 16) % 32
            with booted(spec, flash, d) as t:
                t.console.request(".fault", "arm", str(m2), second, str((pseed >> 1) & 0x7FFFFFFF))
                status, _ = _cut_run(t, (".workload", "check", db_path(spec), str(spec["wseed"])),
                                     RUN_TIMEOUT)
            res["second_cut"] = status == EXIT_CUT
            if status not in (EXIT_CUT, -1):
                raise WalkitError(f"recovery boot: the target {describe_status(status)}")
        try:
            host = oracle.check_image(flash, spec["board"], storage=spec["storage"])
        except WalkitError as e:
            host = None
            res["reason"] = f"host cannot read the image: {e}"
        with booted(spec, flash, d) as t:
            try:
                target = check_on_target(t, spec, RUN_TIMEOUT)
            except SqlError as e:
                raise WalkitError(f"target: .workload check failed: {e}") from None
        res["k"] = target[1]
        why = res["reason"] or oracle.judge(target, host, last_ack, sync)
        res["ok"] = why is None
        res["reason"] = why or ""
    except (WalkitError, OSError) as e:
        res["reason"] = str(e).splitlines()[0]
    res["seconds"] = time.monotonic() - t0
    if res["ok"]:
        shutil.rmtree(d, ignore_errors=True)
    else:
        keep_failure(d, flash)
        res["kept"] = str(d)
    return res


def keep_failure(d: Path, flash: Path) -> None:
    """A failing point's folder keeps the console log and the flash image gzipped (an image is
    mostly erased 0xFF, which compresses to almost nothing)."""
    if flash.exists():
        with open(flash, "rb") as src, gzip.open(str(flash) + ".gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        flash.unlink()
    for p in d.glob("*.img"):
        p.unlink()
