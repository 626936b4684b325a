"""A power-cut campaign: dry runs, the cut points, running them (process pool or Dask), the report.

:func:`run_campaign` is what ``walkit campaign`` and the tests call.  Its report (a dict, also
written as JSON) has at least ``points`` (how many were tested) and ``failures`` (a list, each
with the command that replays it and where its image and console log are kept).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import WalkitError
from .oracle import target_path
from .points import select_points
from .runner import MODELS, dry_run, run_point

SYNCS = ("full", "normal")


@dataclass
class Config:
    board: str = "qemu-virt-a15"
    storage: str = "littlefs"
    models: tuple = ("nor",)
    syncs: tuple = ("full",)
    seed: int = 1
    txns: int = 6
    points: str = "20"
    jobs: int = 0                 # 0: one per CPU
    dask: str | None = None       # a scheduler address, or "local:N" (a LocalCluster of N workers)
    workdir: str | None = None
    image: str | None = None      # firmware (default: walkit build for the board)
    json_path: str | None = None
    progress: bool = True
    extra_cflags: list = field(default_factory=list)

    def replay_command(self, point: int, model: str, sync: str) -> str:
        args = ["walkit", "campaign", "--board", self.board, "--storage", self.storage,
                "--model", model, "--sync", sync, "--workload", "builtin", "--seed",
                str(self.seed), "--txns", str(self.txns), "--points", f"list:{point}", "--jobs", "1"]
        if self.image:
            args += ["--image", self.image]
        return shlex.join(args)


def prepare_base(board: str, image: Path, workdir: Path) -> Path:
    """A formatted, empty image (littlefs and, on a board with one, the flash pool): one boot of
    a blank image and a clean shutdown."""
    from ..image import create_image
    from ..target import Target

    base = workdir / "base.img"
    if base.exists():
        base.unlink()
    create_image(base, board)
    with Target(board, image=image, flash=base, workdir=workdir / "prepare") as t:
        t.boot()
        t.shutdown()
    shutil.rmtree(workdir / "prepare", ignore_errors=True)
    return base


def _executor(cfg: Config):
    """(submit(fn, arg) -> future, wait-any(futures) -> (done, pending), close())."""
    if cfg.dask:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import wait as dwait

        cluster = None
        if cfg.dask.startswith("local:"):
            cluster = LocalCluster(n_workers=int(cfg.dask[6:]), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(cfg.dask)

        def close():
            client.close()
            if cluster is not None:
                cluster.close()

        return (lambda fn, a: client.submit(fn, a, pure=False),
                lambda fs: dwait(fs, return_when="FIRST_COMPLETED"), close,
                len(client.scheduler_info().get("workers", {})) or 1)
    jobs = cfg.jobs or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=jobs)
    return (pool.submit, lambda fs: wait(fs, return_when=FIRST_COMPLETED),
            lambda: pool.shutdown(cancel_futures=True), jobs)


def run_campaign(cfg: Config, on_result: Callable[[dict], None] | None = None) -> dict:
    """Runs the campaign cfg describes and returns its report (module docstring)."""
    target_path(cfg.storage)  # a known storage, or a one-line error
    for m in cfg.models:
        if m not in MODELS:
            raise WalkitError(f"--model {m}: expected one of {', '.join(MODELS)} or all")
    for s in cfg.syncs:
        if s not in SYNCS:
            raise WalkitError(f"--sync {s}: expected full, normal or both")
    if cfg.txns < 1:
        raise WalkitError("--txns must be at least 1")
    from ..boards import load_board
    from ..build import build

    board = load_board(cfg.board)
    if cfg.storage == "pool" and not board.flash.pool_size:
        raise WalkitError(f"--storage pool: board {board.name} has no pool partition "
                          "(board.toml [flash] pool_size)")
    image = Path(cfg.image) if cfg.image else build(board.name)
    own = cfg.workdir is None
    workdir = Path(cfg.workdir or tempfile.mkdtemp(prefix="walkit-campaign-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    base = prepare_base(board.name, image, workdir)
    common = dict(board=board.name, storage=cfg.storage, image=str(image), base=str(base),
                  workdir=str(workdir), seed=cfg.seed, wseed=cfg.seed, txns=cfg.txns)
    dry = {}
    specs = []
    for sync in cfg.syncs:
        spec = dict(common, sync=sync)
        dry[sync] = dry_run(spec)
        pts = select_points(cfg.points, dry[sync]["total"], cfg.seed)
        # Exhaustive: every point under every model.  Otherwise the points rotate over the
        # models, so each model sees points all over [1, T].
        for i, p in enumerate(pts):
            models = cfg.models if cfg.points == "all" else (cfg.models[i % len(cfg.models)],)
            for m in models:
                specs.append(dict(spec, point=p, model=m, ref_acks=dry[sync]["acks"]))
    t_dry = time.monotonic() - t0
    results: list[dict] = []
    submit, wait_any, close, workers = _executor(cfg)
    progress = _Progress(len(specs), cfg.progress)
    try:
        pending = {submit(run_point, s) for s in specs}
        while pending:
            done, pending = wait_any(pending)
            for f in done:
                r = f.result()
                results.append(r)
                progress.advance(r)
                if on_result:
                    on_result(r)
    finally:
        progress.stop()
        close()
    elapsed = time.monotonic() - t0
    failures = []
    for r in sorted((r for r in results if not r["ok"]), key=lambda r: r["point"]):
        failures.append(dict(r, replay=cfg.replay_command(r["point"], r["model"], r["sync"])))
    by_model = {m: {"points": 0, "failures": 0} for m in cfg.models}
    for r in results:
        by_model[r["model"]]["points"] += 1
        by_model[r["model"]]["failures"] += 0 if r["ok"] else 1
    report = {
        "board": board.name, "storage": cfg.storage, "seed": cfg.seed, "txns": cfg.txns,
        "models": list(cfg.models), "syncs": list(cfg.syncs), "points_spec": cfg.points,
        "points": len(results), "failures": failures, "by_model": by_model,
        "by_sync": {s: sum(1 for r in results if r["sync"] == s) for s in cfg.syncs},
        "dry_runs": {s: {k: v for k, v in d.items() if k != "acks"} for s, d in dry.items()},
        "second_cuts": sum(1 for r in results if r.get("second_cut")),
        "workers": workers, "seconds": round(elapsed, 2), "dry_seconds": round(t_dry, 2),
        "points_per_minute": round(len(results) / max(elapsed, 1e-9) * 60, 1),
        "load_average": list(os.getloadavg()),
        "workdir": str(workdir),
    }
    if cfg.json_path:
        Path(cfg.json_path).write_text(json.dumps(report, indent=1) + "\n")
    if own and not failures:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


class _Progress:
    """A rich progress bar (points done, failures, rate) on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.failures = 0
        self.bar = None
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)

            self.bar = Progress(TextColumn("cut points"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failures]} failed"),
                                TextColumn("{task.fields[rate]}/min"), TimeElapsedColumn(),
                                transient=False)
            self.task = self.bar.add_task("points", total=total, failures=0, rate="-")
            self.t0 = time.monotonic()
            self.done = 0
            self.bar.start()

    def advance(self, r: dict) -> None:
        if self.bar is None:
            return
        self.done += 1
        self.failures += 0 if r["ok"] else 1
        rate = self.done / max(time.monotonic() - self.t0, 1e-9) * 60
        self.bar.update(self.task, advance=1, failures=self.failures, rate=f"{rate:.0f}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def summary(report: dict) -> str:
    """The one-screen summary of a report."""
    lines = [f"walkit campaign: board {report['board']}, storage {report['storage']}, seed "
             f"{report['seed']}, {report['txns']} transactions, synchronous "
             f"{'/'.join(report['syncs'])}",
             "dry runs: " + ", ".join(f"{s}: T={d['total']} ops (hash {d['hash']})"
                                      for s, d in report["dry_runs"].items()),
             f"{report['points']} cut points verified in {report['seconds']:.1f} s on "
             f"{report['workers']} workers: {report['points_per_minute']:.1f} per minute "
             f"(load average {report['load_average'][0]:.1f})"]
    for m, c in report["by_model"].items():
        lines.append(f"  {m:7s} {c['points']:6d} points  {c['failures']:4d} failures")
    if "double" in report["by_model"]:
        lines.append(f"  second cuts that landed during recovery: {report['second_cuts']}")
    fails = report["failures"]
    lines.append(f"failures: {len(fails)}")
    for f in fails[:10]:
        lines.append(f"  point {f['point']} {f['model']}/{f['sync']}: {f['reason']}")
        lines.append(f"    replay: {f['replay']}")
        lines.append(f"    kept:   {f.get('kept', '-')}")
    if len(fails) > 10:
        lines.append(f"  ... {len(fails) - 10} more in the JSON report")
    return "\n".join(lines)
