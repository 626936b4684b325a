"""firmware/fault.c and the console's .fault command, on every board: deterministic cut points
(two dry runs make the same operation sequence), the cut stops the board with EXIT_CUT and
says so, each fault model leaves a recoverable filesystem, bad arguments are refused whole."""

from __future__ import annotations

import shutil

import pytest

from walkit.campaign import oracle
from walkit.campaign.runner import acks_from_log
from walkit.sql import SqlError
from walkit.target import EXIT_CUT

RUN = (".workload", "run", "/wl.db", "11", "4", "full")


def _dry(target_factory, flash):
    t = target_factory(flash=flash)
    t.console.request(".fault", "arm", "0", "nor", "11")
    res = t.console.request(*RUN, timeout=300)
    st = dict(t.console.request(".fault", "status").rows)
    t.power_cut()
    return st, res.rows


def test_two_dry_runs_make_the_same_operation_sequence(target_factory, tmp_path):
    t = target_factory(flash=tmp_path / "base.img")  # formats the blank image
    t.shutdown()
    shutil.copyfile(tmp_path / "base.img", tmp_path / "a.img")
    shutil.copyfile(tmp_path / "base.img", tmp_path / "b.img")
    a, acks_a = _dry(target_factory, tmp_path / "a.img")
    b, acks_b = _dry(target_factory, tmp_path / "b.img")
    assert a["ops"] > 20 and a["ops"] == a["prog_ops"] + a["erase_ops"]
    assert (a["ops"], a["hash"]) == (b["ops"], b["hash"])
    assert acks_a == acks_b and [k for k, _ in acks_a] == [0, 1, 2, 3, 4]
    # A different seed is a different workload: a different sequence.
    shutil.copyfile(tmp_path / "base.img", tmp_path / "c.img")
    t = target_factory(flash=tmp_path / "c.img")
    t.console.request(".fault", "arm", "0", "nor", "11")
    t.console.request(".workload", "run", "/wl.db", "12", "4", "full", timeout=300)
    assert dict(t.console.request(".fault", "status").rows)["hash"] != a["hash"]


@pytest.mark.parametrize("model", ["nor", "torn", "ooo"])
def test_the_cut_stops_the_board_and_recovery_is_a_prefix(target_factory, walkit_board, tmp_path,
                                                          model):
    t = target_factory(flash=tmp_path / "f.img")
    c = t.console
    c.request(".fault", "arm", "0", "nor", "11")
    c.request(*RUN, timeout=300)
    total = dict(c.request(".fault", "status").rows)["ops"]
    t.power_cut()
    (tmp_path / "f.img").unlink()
    t = target_factory(flash=tmp_path / "f.img")
    point = total * 2 // 3
    t.console.request(".fault", "arm", str(point), model, "5")
    rid = t.console.start(*RUN)
    assert t.wait_exit(120) == EXIT_CUT
    log = t.console_log.read_text(errors="replace")
    assert f"walkit: fault: cut at operation {point} ({model}" in log
    acks = acks_from_log(log, rid)
    assert acks and acks[-1][0] < 4  # cut before the end
    host = oracle.check_image(tmp_path / "f.img", walkit_board)
    t.boot()
    row = t.console.request(".workload", "check", "/wl.db", "11").rows[0]
    got = (row[0], row[1], row[2] & oracle.MASK, row[3] & oracle.MASK, row[4] & oracle.MASK)
    assert oracle.judge(got, host, acks[-1][0], "full") is None
    assert got[1] >= acks[-1][0]


def test_status_counts_only_since_arming_and_off_removes_the_hook(target):
    c = target.console
    c.request(".fault", "arm", "0", "torn", "1")
    c.open("x", "/x.db")
    c.sql("x", "CREATE TABLE t(a); INSERT INTO t VALUES (1)")
    st = dict(c.request(".fault", "status").rows)
    assert st["armed"] == 1 and st["model"] == "torn" and st["ops"] > 0 and st["syncs"] > 0
    c.request(".fault", "off")
    c.sql("x", "INSERT INTO t VALUES (2)")
    after = dict(c.request(".fault", "status").rows)
    assert after["armed"] == 0 and after["ops"] == st["ops"]


@pytest.mark.parametrize("args", [("arm", "x", "nor", "1"), ("arm", "5", "sideways", "1"),
                                  ("arm", "5", "nor"), ("arm", "-1", "nor", "1"), ("bogus",),
                                  ("seed", "1x")])
def test_bad_arguments_are_refused(target, args):
    with pytest.raises(SqlError, match="usage: .fault"):
        target.console.request(".fault", *args)
    assert dict(target.console.request(".fault", "status").rows)["armed"] == 0


@pytest.mark.parametrize("args", [("run", "/w.db", "1", "2", "sometimes"),
                                  ("run", "/w.db", "x", "2", "full"), ("check", "/w.db")])
def test_bad_workload_arguments_are_refused(target, args):
    with pytest.raises(SqlError, match="workload"):
        target.console.request(".workload", *args)
    target.console.ping()


def test_check_of_a_missing_database(target):
    row = target.console.request(".workload", "check", "/none.db", "1").rows[0]
    assert row[:2] == ("missing", -1)


def test_campaign_seeding_fixes_randomness_and_the_clock(target):
    c = target.console
    c.open("s", "/s.db")

    def sample(seed):
        c.request(".fault", "seed", str(seed))
        return (c.sql("s", "SELECT hex(randomblob(16))").rows[0][0],
                c.sql("s", "SELECT strftime('%Y-%m-%d %H:%M', 'now')").rows[0][0])

    a, b, other = sample(5), sample(5), sample(6)
    assert a == b and a[0] != other[0]
    assert a[1] == "2026-01-01 00:00"  # the campaign clock's fixed start
