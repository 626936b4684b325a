"""Corruption campaign (host/walkit/campaign/corrupt.py): 200 seeded damaged images (bit flips,
zeroed ranges, truncations of the database, the WAL and raw littlefs blocks).  Each boots,
answers (a state or an error), keeps answering, never hangs, never reformats, and the host's
reading classifies it the same way."""

from __future__ import annotations

from walkit.campaign.corrupt import corruption_campaign


def test_two_hundred_damaged_images(build_image, tmp_path):
    report = corruption_campaign("host-sim", images=200, seed=11, image=build_image("host-sim"),
                                 workdir=tmp_path, jobs=2)
    assert report["points"] == 200
    assert report["failures"] == [], report["failures"][:5]
    cases = report["by_case"]
    assert set(cases) == {"db/flip", "db/zero", "db/truncate", "wal/flip", "wal/zero",
                          "wal/truncate", "fs/flip", "fs/zero"}
    assert all(c["images"] >= 25 for c in cases.values())
    # The damage is seen: a good share of the database cases read as damaged on both sides,
    # and WAL damage is never worse than losing frames (SQLite checks their checksums).
    db_bad = sum(cases[f"db/{k}"]["bad"] for k in ("flip", "zero", "truncate"))
    assert db_bad >= 5
    assert all(cases[f"wal/{k}"]["bad"] == 0 for k in ("flip", "zero", "truncate"))
