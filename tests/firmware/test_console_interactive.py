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
        # QEMU's PL011 takes host bytes at about 12 KiB/s on an idle machine, several times
        # slower on a loaded one: the wait grows with what was typed (the 70 KB line below).
        m = link.expect(prompt, 30 + len(keys) / 1000, f"prompt after typing {keys[:40]!r}")
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
    # "SELECT 41x" then backspace (DEL) and "+1": the x is gone; a key without a meaning in
    # the editor (F5, ESC [ 1 5 ~) is dropped whole.
    out = term(b"SELECT 41x\x7f+1\x1b[15~ AS v;\r")
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


def test_column_names_and_error_messages_are_escaped_like_values(target, request):
    """Names and messages can hold control bytes (a column named in machine mode, and SQLite
    quotes it in a constraint error): they print escaped, as TEXT values do, never raw."""
    c = target.console
    c.open("main", "/esc.db")
    c.sql("main", 'CREATE TABLE t("a\nb\x1b[2J" INTEGER UNIQUE, e TEXT)')
    c.sql("main", "INSERT INTO t VALUES (1, '')")
    term = request.getfixturevalue("term")  # now to interactive mode, "main" still current
    out = term(b"SELECT * FROM t;\r")
    assert out.split("\r\n") == [
        "SELECT * FROM t;",
        "a\\nb\\x1b[2J  e",
        "-----------  -",
        "          1  ",  # the empty TEXT shows as nothing (it used to show as "?")
        "(1 row)",
        "",
    ]
    out = term(b"INSERT INTO t VALUES (1, 'x');\r")
    assert "Error: UNIQUE constraint failed: t.a\\nb\\x1b[2J (code 2067)\r\n" in out
    assert "\x1b" not in out


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r", b"\n"], ids=["crlf", "cr", "lf"])
def test_mode_machine_ends_its_line_however_the_terminal_does(target, term, line_end):
    """`.mode machine` typed with CR LF used to leave the LF to machine mode, where it was an
    empty request answered `@0 E`; and a CR-only terminal could never end a request there."""
    link = target.link
    link.write(b".mode machine" + line_end)
    link.expect(rb"@0 K I0 I0\r\n", 10, "the switch to machine mode")
    link.write(b"990401 .ping" + line_end, log=True)
    frames = []
    while not frames or not frames[-1].startswith(b"@990401 "):
        line = link.read_line(10, "the reply to 990401 .ping")
        if line.startswith(b"@"):
            frames.append(line)
    assert frames == [b"@990401 K I0 I0"]  # nothing before it: no empty request
