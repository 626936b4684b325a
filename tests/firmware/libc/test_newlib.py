"""firmware/libc/newlib.c: the stack painted at start-up on bare-metal boards, its high-water
mark reported by .stats, on every board."""

from __future__ import annotations


def test_stack_high_water_is_measured_on_bare_metal(target):
    """Bare-metal boards paint the stack at start-up and report the deepest use; a hosted board
    says 0/0 (it cannot tell).  A deeper SQL workload can only raise the mark."""
    c = target.console
    s0 = c.stats()
    if target.board.runner == "native":
        assert (s0["stack.used_max"], s0["stack.size"]) == (0, 0)
        return
    assert s0["stack.size"] == target.board.stack_size
    assert 512 < s0["stack.used_max"] < s0["stack.size"]
    c.open("s", "/s.db")
    # a deeply nested expression: the parser and code generator recurse on it
    nested = "SELECT " + "(" * 200 + "1" + ")" * 200
    assert c.sql("s", nested).rows == [(1,)]
    s1 = c.stats()
    assert s1["stack.used_max"] > s0["stack.used_max"]
    assert s1["stack.used_max"] < s1["stack.size"] // 2, "the stack margin is thinner than documented"
