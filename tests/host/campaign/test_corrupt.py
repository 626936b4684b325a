"""Corruption campaign (host/walkit/campaign/corrupt.py): seeded damaged images (bit flips,
zeroed ranges, truncations of the database, the WAL and raw storage blocks), on littlefs (200
images) and on the flash pool (80 images: the files rewritten as the pool writes, raw damage
in its state log and data blocks).  Each boots, answers (a state or an error), keeps
answering, never hangs, never reformats or writes a storage it could not mount, and the
host's reading classifies it the same way.  A pool firmware that skips the state log's CRCs
(WALKIT_FLASHPOOL_PLANT_NO_LOG_CRC) is caught: it mounts damaged state the host's reader
refuses."""

from __future__ import annotations

import os

from walkit.campaign.corrupt import corruption_campaign

CASES = {"db/flip", "db/zero", "db/truncate", "wal/flip", "wal/zero", "wal/truncate", "fs/flip",
         "fs/zero"}


def test_two_hundred_damaged_images(build_image, tmp_path):
    report = corruption_campaign("host-sim", images=200, seed=11, image=build_image("host-sim"),
                                 workdir=tmp_path, jobs=2)
    assert report["points"] == 200
    assert report["failures"] == [], report["failures"][:5]
    cases = report["by_case"]
    assert set(cases) == CASES
    assert all(c["images"] >= 25 for c in cases.values())
    # The damage is seen: a good share of the database cases read as damaged on both sides,
    # and WAL damage is never worse than losing frames (SQLite checks their checksums).
    db_bad = sum(cases[f"db/{k}"]["bad"] for k in ("flip", "zero", "truncate"))
    assert db_bad >= 5
    assert all(cases[f"wal/{k}"]["bad"] == 0 for k in ("flip", "zero", "truncate"))


def test_damaged_pool_images(build_image, tmp_path):
    report = corruption_campaign("host-sim", images=80, seed=11, image=build_image("host-sim"),
                                 workdir=tmp_path, jobs=2, storage="pool")
    assert report["points"] == 80 and report["storage"] == "pool"
    assert report["failures"] == [], report["failures"][:5]
    cases = report["by_case"]
    assert set(cases) == CASES and all(c["images"] >= 10 for c in cases.values())
    # Raw damage to records in use is caught by their CRCs: the pool is reported corrupt on
    # both sides (the database cannot be opened), unless it only hit what no CRC covers
    # (padding) or a torn-looking tail.
    assert cases["fs/flip"]["bad"] + cases["fs/zero"]["bad"] >= 15
    assert all(cases[f"wal/{k}"]["bad"] == 0 for k in ("flip", "zero", "truncate"))


def _planted_pool_build():
    from walkit.build import build
    from walkit.paths import repo_root

    old = os.environ.get("WALKIT_BUILD")
    os.environ["WALKIT_BUILD"] = str(repo_root() / "build" / "planted-pool")
    try:
        return build("host-sim", extra_defs={"WALKIT_VFS_DEFINES": "WALKIT_FLASHPOOL_PLANT_NO_LOG_CRC"})
    finally:
        if old is None:
            del os.environ["WALKIT_BUILD"]
        else:
            os.environ["WALKIT_BUILD"] = old


def test_a_pool_mount_skipping_log_crcs_is_caught(tmp_path):
    report = corruption_campaign("host-sim", images=40, seed=11, image=_planted_pool_build(),
                                 workdir=tmp_path, jobs=2, storage="pool")
    fails = report["failures"]
    assert fails, "a pool mount that ignores the state log's CRCs was not caught"
    assert all(f["where"] == "fs" for f in fails), fails[:3]
    assert any("host and target disagree" in f["reason"] for f in fails), fails[:3]
