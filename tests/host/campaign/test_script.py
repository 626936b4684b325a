"""Script workloads (host/walkit/campaign/script.py) through the plugin's power_cut fixture: the
worked example of docs/writing-tests.md (kept identical by a test), the transaction splitter,
the reference model, and a broken reference that the oracle must reject."""

from __future__ import annotations

import re

import pytest

from walkit import WalkitError
from walkit.campaign.script import reference_states, split_transactions
from walkit.paths import repo_root

SCHEMA_AND_ORDERS = """
CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER CHECK (qty > 0));
CREATE TABLE stock(item TEXT PRIMARY KEY, left INTEGER NOT NULL);
INSERT INTO stock VALUES ('bolt', 100), ('nut', 50);
BEGIN;
INSERT INTO orders(item, qty) VALUES ('bolt', 10);
UPDATE stock SET left = left - 10 WHERE item = 'bolt';
COMMIT;
BEGIN;
INSERT INTO orders(item, qty) VALUES ('nut', 5);
UPDATE stock SET left = left - 5 WHERE item = 'nut';
COMMIT;
"""


def test_orders_and_stock_agree_after_any_power_cut(power_cut):
    report = power_cut(SCHEMA_AND_ORDERS, models=("nor", "torn"), syncs=("full", "normal"),
                       points="6",
                       check="SELECT item, left + coalesce((SELECT sum(qty) FROM orders "
                             "WHERE orders.item = stock.item), 0) FROM stock ORDER BY item")
    assert report["points"] == 12
    assert report["failures"] == [], report["failures"]


def test_the_docs_example_is_this_test():
    doc = (repo_root() / "docs" / "writing-tests.md").read_text()
    block = re.search(r"## Power-cut testing your own schema.*?```python\n(.*?)```", doc, re.S)[1]
    assert block.strip() in open(__file__).read()


def test_transactions_are_statements_or_begin_commit_groups():
    txns = split_transactions(SCHEMA_AND_ORDERS)
    assert len(txns) == 5
    assert txns[3].startswith("BEGIN;") and txns[3].endswith("COMMIT;")
    for bad, msg in (("BEGIN; INSERT INTO t VALUES (1);", "BEGIN without COMMIT"),
                     ("COMMIT;", "COMMIT without BEGIN"), ("SELECT 1", "incomplete statement"),
                     ("", "no transaction")):
        with pytest.raises(WalkitError, match=msg):
            split_transactions(bad)


def test_reference_states_follow_the_transactions():
    states = reference_states(split_transactions(SCHEMA_AND_ORDERS),
                              "SELECT item, left FROM stock ORDER BY item")
    assert states[0] == states[1] == ("error", "no such table: stock")
    assert states[2] == []
    assert states[3] == [("bolt", 100), ("nut", 50)]
    assert states[5] == [("bolt", 90), ("nut", 45)]
    with pytest.raises(WalkitError, match="transaction 1 fails in the reference"):
        reference_states(["INSERT INTO nowhere VALUES (1)"], None)


def test_a_wrong_reference_is_caught(power_cut, monkeypatch):
    """The oracle can fail: with a reference whose transactions differ from what the target ran
    (the first order's quantity changed on the host side only), some point disagrees."""
    import walkit.campaign.script as script

    real = script.reference_states

    def wrong(txns, check):
        return real([t.replace("qty) VALUES ('bolt', 10)", "qty) VALUES ('bolt', 11)")
                     .replace("left - 10", "left - 11") for t in txns], check)

    monkeypatch.setattr(script, "reference_states", wrong)
    report = power_cut(SCHEMA_AND_ORDERS, points="8",
                       check="SELECT item, left FROM stock ORDER BY item")
    assert report["failures"]
    assert "none of the reference states" in report["failures"][0]["reason"]


def test_default_check_compares_every_table_under_every_model(power_cut):
    report = power_cut(SCHEMA_AND_ORDERS, models=("nor", "torn", "ooo", "double"), points="8")
    assert report["points"] == 8
    assert report["failures"] == [], report["failures"]
    assert report["by_model"]["double"]["points"] == 2


def test_cli_runs_a_script_file(build_image, tmp_path):
    import json
    import subprocess
    import sys

    script = tmp_path / "orders.sql"
    script.write_text(SCHEMA_AND_ORDERS)
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "campaign", "--board", "host-sim",
                        "--workload", str(script), "--sync", "both", "--points", "3",
                        "--image", str(build_image("host-sim")), "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(out.read_text())
    assert rep["points"] == 6 and rep["failures"] == []
    r = subprocess.run([sys.executable, "-m", "walkit.cli", "campaign", "--board", "host-sim",
                        "--workload", str(tmp_path / "none.sql")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "none.sql: No such file" in r.stderr
