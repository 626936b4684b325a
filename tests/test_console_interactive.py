"""The console as a person sees it (interactive mode), on every board: prompt, echo, line
editing, statements over several lines, aligned result columns, .help, errors that leave the
console usable."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def term(target):
    """The target's console switched to interactive mode; `term(keys)` types and returns what
    the console printed up to its next prompt."""
    target.console.request(".mode", "interactive")
    link = target.link

    def type_keys(keys: bytes, prompt: bytes = rb"(?:\w{1,15}|   \.\.\.)> $") -> str:
        link.write(keys)
        # QEMU's PL011 takes host bytes at about 12 KiB/s: allow for the 70 KB line below.
        m = link.expect(prompt, 30, f"prompt after typing {keys[:40]!r}")
        return m.string[:m.start()].decode("utf-8", "replace")

    type_keys(b"")  # the prompt printed after the mode switch
    return type_keys


def test_prompt_names_the_connection_and_input_is_echoed(term):
    out = term(b".open main /i.db\r")
    assert out == ".open main /i.db\r\n"
    out = term(b".open other /j.db\r")
    assert out == ".open other /j.db\r\n"
    out = term(b".use main\r")
    assert out == ".use main\r\n"
    out = term(b"SELECT 1;\r", rb"main> $")
    assert out.startswith("SELECT 1;\r\n")


def test_results_in_aligned_columns(term):
    term(b".open main /cols.db\r")
    term(b"CREATE TABLE p(name TEXT, qty INTEGER, price REAL);\r")
    term(b"INSERT INTO p VALUES ('apple', 3, 1.25), ('kiwi', 12, 0.5), (NULL, 100, NULL);\r")
    out = term(b"SELECT * FROM p;\r")
    assert out.split("\r\n") == [
        "SELECT * FROM p;",
        "name   qty  price",
        "-----  ---  -----",
        "apple    3   1.25",
        "kiwi    12    0.5",
        "NULL   100  NULL",
        "(3 rows)",
        "",
    ]
    # A tab typed on the terminal becomes a space; one inside a value shows as \t.
    out = term("SELECT x'00ff' AS b, 'tab' || char(9) || 'x' AS t, 'caf\u00e9' AS word;\r".encode())
    lines = out.split("\r\n")
    assert lines[1:4] == ["b        t       word",
                          "-------  ------  ----",
                          "x'00ff'  tab\\tx  caf\u00e9"]  # widths count characters, not bytes


def test_statement_over_several_lines(term):
    term(b".open main /ml.db\r")
    out = term(b"SELECT\r", rb"   \.\.\.> $")
    assert out == "SELECT\r\n"
    out = term(b"  6 * 7 AS answer\r", rb"   \.\.\.> $")
    out = term(b";\r", rb"main> $")
    assert "answer\r\n------\r\n    42\r\n(1 row)" in out


def test_backspace_and_escape_sequences(term):
    term(b".open main /bs.db\r")
    # "SELECT 41x" then backspace (DEL) and "+1": the x is gone; an arrow key (ESC [ D) is ignored.
    out = term(b"SELECT 41x\x7f+1\x1b[D AS v;\r")
    assert "SELECT 41x\b \b+1 AS v;\r\n" in out
    assert "v\r\n--\r\n42\r\n" in out
    # Backspace removes a whole UTF-8 character (both bytes of the e-acute).
    out = term("SELECT 'caf\u00e9\x08e' AS w;\r".encode())
    assert "cafe\r\n" in out.split("----")[1]


def test_ctrl_c_drops_the_statement_being_typed(term):
    term(b".open main /cc.db\r")
    term(b"SELECT 'half'\r", rb"   \.\.\.> $")
    out = term(b"\x03", rb"main> $")
    assert "^C" in out
    out = term(b"SELECT 'whole';\r")
    assert "whole" in out and "half" not in out


def test_help_lists_every_command(term):
    out = term(b".help\r")
    for cmd in (".open [NAME] FILE", ".use NAME", ".close [NAME]", ".ls [PATH]", ".stats",
                ".reboot", ".shutdown", ".mode machine|interactive", ".help"):
        assert cmd in out


def test_errors_are_reported_and_the_console_goes_on(term):
    out = term(b"SELECT 1;\r")
    assert "Error: no connection: .open [NAME] FILE first" in out
    term(b".open main /err.db\r")
    out = term(b"SELEKT 1;\r")
    assert re.search(r'Error: near "SELEKT": syntax error \(code 1\)', out)
    out = term(b".frobnicate\r")
    assert "Error: unknown command .frobnicate (try .help) (code 1)" in out
    out = term(b".open\r")
    assert "Error: usage: .open [NAME] FILE" in out
    out = term(b"x" * 70000 + b"\r")
    assert "Error: line too long (the limit is 65536 bytes); input dropped" in out
    out = term(b"SELECT 'still here';\r")
    assert "still here" in out


def test_back_to_machine_mode(target, term):
    term(b".open main /back.db\r")
    target.console.enter_machine_mode()
    assert target.console.sql("main", "SELECT 5").rows == [(5,)]
