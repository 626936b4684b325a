"""walkit campaign (host/walkit/campaign/): the CI-sized campaigns of docs/recovery.md.

* >= 300 cut points on qemu-virt-a15 over the four fault models and both synchronous levels;
* an exhaustive run (every operation) over one small workload;
* the flash pool (``--storage pool``): the four models at both levels on host-sim and
  qemu-virt-a15, and an exhaustive torn run on host-sim;
* a deliberately broken build (xSync does nothing: WALKIT_PLANT_SKIP_SYNC) is caught, and its
  failure's replay command reproduces it from the kept report; so is a broken pool (torn
  state-log records replayed: WALKIT_FLASHPOOL_PLANT_NO_LOG_CRC);
* a run on a two-worker Dask LocalCluster;
* the command line: report keys, one-line errors.

The full-size command (>= 10,000 points) is in docs/recovery.md.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from walkit import WalkitError
from walkit.campaign import Config, run_campaign, summary
from walkit.campaign.points import select_points
from walkit.campaign.runner import MODELS


def test_point_selection():
    assert select_points("all", 5) == [1, 2, 3, 4, 5]
    assert select_points("stride:3", 10) == [1, 4, 7, 10]
    assert select_points("log", 20) == [1, 2, 4, 8, 16, 20]
    assert select_points("4", 100) == [1, 34, 67, 100]
    assert select_points("500", 7) == list(range(1, 8))
    r = select_points("random:10", 1000, seed=3)
    assert r == select_points("random:10", 1000, seed=3) != select_points("random:10", 1000, seed=4)
    assert len(r) == 10 and all(1 <= p <= 1000 for p in r)
    assert select_points("list:9,3,3", 10) == [3, 9]
    with pytest.raises(WalkitError, match=r"points must be in \[1, 10\]"):
        select_points("list:11", 10)
    for bad in ("stride:0", "random:x", "fast", "-2"):
        with pytest.raises(WalkitError, match="expected all"):
            select_points(bad, 10)


def _check(report, expect_points):
    assert report["points"] == expect_points, summary(report)
    assert report["failures"] == [], summary(report)


@pytest.mark.timeout(2400)  # ~11 min with the 2 cores 17 times oversubscribed
def test_ci_campaign_300_points_four_models_both_sync_levels(build_image, tmp_path):
    image = build_image("qemu-virt-a15")
    cfg = Config(board="qemu-virt-a15", models=MODELS, syncs=("full", "normal"), seed=20,
                 txns=6, points="152", jobs=2, image=str(image), workdir=str(tmp_path),
                 json_path=str(tmp_path / "report.json"), progress=False)
    report = run_campaign(cfg)
    _check(report, 304)
    assert all(report["by_model"][m]["points"] == 76 for m in MODELS)
    assert report["by_sync"] == {"full": 152, "normal": 152}
    assert report["second_cuts"] > 0  # the double model did cut recoveries
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["points"] == 304 and on_disk["failures"] == []
    print(summary(report))


@pytest.mark.timeout(2400)
def test_exhaustive_run_over_a_small_workload(build_image, tmp_path):
    image = build_image("qemu-virt-a15")
    cfg = Config(board="qemu-virt-a15", models=("nor",), syncs=("full",), seed=4, txns=1,
                 points="all", jobs=2, image=str(image), workdir=str(tmp_path), progress=False)
    report = run_campaign(cfg)
    total = report["dry_runs"]["full"]["total"]
    _check(report, total)
    print(summary(report))


def _planted_build(tree_name: str, define: str):
    """host-sim firmware built with ``define`` in vfs/ (a separate build tree)."""
    from walkit.build import build

    from walkit.paths import repo_root

    tree = repo_root() / "build" / tree_name  # beside the others: ccache finds their objects
    old = os.environ.get("WALKIT_BUILD")
    os.environ["WALKIT_BUILD"] = str(tree)
    try:
        return build("host-sim", extra_defs={"WALKIT_VFS_DEFINES": define})
    finally:
        if old is None:
            del os.environ["WALKIT_BUILD"]
        else:
            os.environ["WALKIT_BUILD"] = old


@pytest.fixture(scope="module")
def planted_image():
    """host-sim firmware whose xSync does nothing."""
    return _planted_build("planted", "WALKIT_PLANT_SKIP_SYNC")


def test_a_sync_that_does_nothing_is_caught_and_replayed(planted_image, build_image, tmp_path):
    cfg = Config(board="host-sim", models=("nor",), syncs=("full",), seed=7, txns=6,
                 points="30", jobs=2, image=str(planted_image), workdir=str(tmp_path / "c"),
                 progress=False)
    report = run_campaign(cfg)
    assert report["points"] == 30
    fails = report["failures"]
    assert fails, "the oracle did not catch a no-op xSync at synchronous=FULL"
    assert any("lost acknowledged transactions" in f["reason"] for f in fails)
    f = fails[0]
    assert os.path.exists(os.path.join(f["kept"], "flash.img.gz"))
    assert os.path.exists(os.path.join(f["kept"], "console.log"))
    # The replay command reproduces the failure alone.
    argv = shlex.split(f["replay"])
    assert argv[:2] == ["walkit", "campaign"]
    out = tmp_path / "replay.json"
    r = subprocess.run([sys.executable, "-m", "walkit.cli", *argv[1:], "--no-progress",
                        "--json", str(out), "--workdir", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["points"] == 1 and rep["failures"][0]["reason"] == f["reason"]
    # The same campaign on the real firmware passes.
    good = run_campaign(Config(board="host-sim", models=("nor",), syncs=("full",), seed=7,
                               txns=6, points="30", jobs=2, image=str(build_image("host-sim")),
                               workdir=str(tmp_path / "g"), progress=False))
    _check(good, 30)


@pytest.mark.parametrize("board, points", [("host-sim", "24"),
                                           pytest.param("qemu-virt-a15", "8", marks=pytest.mark.qemu)])
def test_pool_campaign_four_models_both_sync_levels(board, points, build_image, tmp_path):
    """The database on the flash pool: every model at both levels, the host reading the pool
    partition (walkit.image.pool) and agreeing with the target at every point."""
    cfg = Config(board=board, storage="pool", models=MODELS, syncs=("full", "normal"), seed=21,
                 txns=6, points=points, jobs=2, image=str(build_image(board)),
                 workdir=str(tmp_path), progress=False)
    report = run_campaign(cfg)
    _check(report, 2 * int(points))
    assert report["storage"] == "pool"
    assert all(report["by_model"][m]["points"] == int(points) // 2 for m in MODELS)
    print(summary(report))


POOL_TORN = dict(board="host-sim", storage="pool", models=("torn",), syncs=("full",), seed=5,
                 txns=2, points="all", jobs=2, progress=False)


def test_a_pool_replaying_torn_log_records_is_caught(build_image, tmp_path):
    """A pool that takes a torn state-log record for a whole one (its CRC not checked) mounts
    garbage after a cut that tears one; a torn cut at every operation of a small workload finds
    it, and the same campaign on the real firmware passes."""
    planted = _planted_build("planted-pool", "WALKIT_FLASHPOOL_PLANT_NO_LOG_CRC")
    report = run_campaign(Config(**POOL_TORN, image=str(planted), workdir=str(tmp_path / "c")))
    fails = report["failures"]
    assert fails, "a pool that replays torn state-log records was not caught"
    # Caught where it happens: the reboot's mount finds the replayed garbage contradicting the
    # state and reports the pool corrupt, so the database cannot be opened.
    f = fails[0]
    assert "no such vfs: pool" in f["reason"], f["reason"]
    log = (Path(f["kept"]) / "console.log").read_text(errors="replace")
    assert "storage: flash pool corrupt" in log
    good = run_campaign(Config(**POOL_TORN, image=str(build_image("host-sim")),
                               workdir=str(tmp_path / "g")))
    _check(good, report["points"])
    print(summary(report))


def test_dask_two_worker_local_cluster(build_image, tmp_path):
    cfg = Config(board="host-sim", models=MODELS, syncs=("full", "normal"), seed=9, txns=6,
                 points="12", dask="local:2", image=str(build_image("host-sim")),
                 workdir=str(tmp_path), progress=False)
    report = run_campaign(cfg)
    _check(report, 24)
    assert report["workers"] == 2


def test_cli_report_and_errors(build_image, tmp_path):
    image = build_image("host-sim")
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "campaign", "--board", "host-sim",
                        "--model", "torn,ooo", "--seed", "7", "--points", "8", "--jobs", "2",
                        "--image", str(image), "--json", str(out), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["points"] == 8 and rep["failures"] == []
    assert "8 cut points verified" in r.stdout and "per minute" in r.stdout
    for args, msg in ((["--model", "sideways"], "--model sideways: expected one of"),
                      (["--sync", "sometimes"], "--sync sometimes"),
                      (["--points", "fast"], "--points 'fast': expected"),
                      (["--storage", "nand"], "--storage nand: expected one of littlefs, pool")):
        r = subprocess.run([sys.executable, "-m", "walkit.cli", "campaign", "--board", "host-sim",
                            "--image", str(image), "--no-progress", *args],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1
        err = [l for l in r.stderr.splitlines() if l.startswith("walkit: error")]
        assert len(err) == 1 and msg in err[0], r.stderr
