"""`walkit run` driven through a pseudo-terminal like a person at the sqlite3 shell: dot-commands
(.tables, .schema, .mode, .headers, .timer, .read), the line editor and its history, ESC
sequences that never swallow Enter or Ctrl-C, and the ways out (.quit, .exit, `exit`, Ctrl-D)
with the exit status a script's errors give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.pty_run import walkit_run

# A prompt after output: a redrawn line ("\r" and the prompt) is not one.
PROMPT = rb"\r\n(?:\w{1,15}|   \.\.\.)> "
UP, LEFT, RIGHT, HOME, END, DEL = b"\x1b[A", b"\x1b[D", b"\x1b[C", b"\x1b[H", b"\x1b[F", b"\x1b[3~"


@pytest.fixture
def session(walkit_board, walkit_image, tmp_path):
    """A function starting `walkit run` on this test's flash image; every run is reaped."""
    runs = []

    def start():
        r = walkit_run(walkit_board, tmp_path / "flash.img")
        runs.append(r)
        r.expect(rb"walkit> ", 120, "the first prompt")
        return r

    yield start
    for r in runs:
        r.close()


def say(r, line: bytes, prompt: bytes = PROMPT) -> str:
    """Types a line and Enter; returns what the terminal showed up to the next prompt, without
    the echo of the line itself."""
    r.type(line + b"\r")
    out = r.expect(prompt, 30, f"the prompt after {line[:40]!r}")
    return out.split("\r\n", 1)[1] + "\r\n" if "\r\n" in out else ""


def test_dot_commands_and_output_modes_like_sqlite3(session):
    r = session()
    say(r, b".open main /shell.db")
    say(r, b"CREATE TABLE t(a INTEGER, b TEXT);")
    say(r, b"CREATE VIEW v AS SELECT a FROM t;")
    say(r, b"INSERT INTO t VALUES (1, 'x'), (2, 'say \"hi\", then go');")
    assert say(r, b".tables").split() == ["t", "v"]
    assert say(r, b".tables v%").split() == ["v"]
    assert say(r, b".schema t") == "CREATE TABLE t(a INTEGER, b TEXT);\r\n"
    say(r, b".mode csv")
    assert say(r, b"SELECT * FROM t;") == 'a,b\r\n1,x\r\n2,"say ""hi"", then go"\r\n'
    say(r, b".headers off")
    assert say(r, b"SELECT a FROM t;") == "1\r\n2\r\n"
    say(r, b".mode list")
    say(r, b".headers on")
    assert say(r, b"SELECT a, b FROM t WHERE a = 1;") == "a|b\r\n1|x\r\n"
    say(r, b".mode json")
    assert say(r, b"SELECT a, b, NULL AS n FROM t;") == (
        '[{"a":1,"b":"x","n":null},\r\n{"a":2,"b":"say \\"hi\\", then go","n":null}]\r\n')
    say(r, b".mode line")
    assert say(r, b"SELECT a, b AS longer FROM t WHERE a = 1;") == "     a = 1\r\nlonger = x\r\n"
    say(r, b".headers off")
    say(r, b".mode quote")
    assert say(r, b"SELECT 'it''s', x'00ff', NULL, 3;") == "'it''s',X'00ff',NULL,3\r\n"
    say(r, b".mode box")
    assert say(r, b"SELECT a FROM t WHERE a = 2;") == (
        "\u250c\u2500\u2500\u2500\u2510\r\n\u2502 a \u2502\r\n\u251c\u2500\u2500\u2500\u2524\r\n"
        "\u2502 2 \u2502\r\n\u2514\u2500\u2500\u2500\u2518\r\n")
    say(r, b".mode table")
    assert say(r, b"SELECT a FROM t WHERE a = 2;") == "+---+\r\n| a |\r\n+---+\r\n| 2 |\r\n+---+\r\n"
    say(r, b".mode markdown")
    assert say(r, b"SELECT a FROM t WHERE a = 2;") == "| a |\r\n|---|\r\n| 2 |\r\n"
    assert say(r, b".mode") == "current output mode: markdown\r\n"
    say(r, b".mode column")
    assert say(r, b"SELECT a FROM t WHERE a = 2;") == "a\r\n-\r\n2\r\n(1 row)\r\n"
    say(r, b".timer on")
    out = say(r, b"SELECT 1 AS one;")
    assert out.startswith("one\r\n---\r\n  1\r\n(1 row)\r\nRun Time: real 0.")
    say(r, b".timer off")
    assert "Run Time" not in say(r, b"SELECT 1;")
    r.type(b".quit\r")
    assert r.wait() == 0


def test_line_editing_history_and_escape_sequences(session):
    r = session()
    say(r, b".open main /edit.db")
    # Left arrow, then typing inserts before the cursor: "SELECT 6*;" becomes "SELECT 6*7;".
    assert say(r, b"SELECT 6*;" + LEFT + b"7") == "6*7\r\n---\r\n 42\r\n(1 row)\r\n"
    # Home and Delete remove a leading character; End goes back to append.
    assert say(r, b"XSELECT 1+1" + HOME + DEL + END + b";") == "1+1\r\n---\r\n  2\r\n(1 row)\r\n"
    # Backspace in the middle, Ctrl-A/Ctrl-E, Ctrl-K: "SELECT 10;" -> "SELECT 1;" -> ...
    assert "1\r\n-\r\n1\r\n" in say(r, b"SELECT 10;" + LEFT + b"\x7f" + b"\x7f1" + b"\x05")
    assert "5\r\n-\r\n5\r\n" in say(r, b"SELECT 5; junk" + LEFT * 5 + b"\x0b")
    # Up recalls the previous line; Up twice the one before; Down comes back.
    assert say(r, UP) == "5\r\n-\r\n5\r\n(1 row)\r\n"
    assert say(r, UP * 4 + b"\x1b[B") == "1+1\r\n---\r\n  2\r\n(1 row)\r\n"
    # An ESC sequence the editor has no use for (F5) is dropped whole; a lone ESC, and an ESC
    # cut short by Enter, never swallow the Enter.
    assert "42\r\n" in say(r, b"SELECT 6*7\x1b[15~;")
    assert "42\r\n" in say(r, b"SELECT 6*7;\x1b")
    assert "43\r\n" in say(r, b"SELECT 6*7+1;\x1b[")
    # ...nor Ctrl-C: the statement is dropped.
    r.type(b"SELECT 'dropped'\x1b\x03")
    assert r.expect(PROMPT, 30, "the prompt after Ctrl-C").endswith("^C")
    out = say(r, b"SELECT 'kept';")
    assert "kept" in out and "dropped" not in out
    r.type(b"\x04")  # Ctrl-D on an empty line: a clean end, no error: status 0
    assert r.wait() == 0
    assert b"session ended" in r.out


def test_history_is_bounded_and_walks_back_and_forth(session):
    r = session()
    say(r, b".open main /h.db")
    for i in range(60):  # more than the history keeps (50 lines)
        say(r, f"SELECT {i} AS n;".encode())
    out = say(r, UP * 3 + b"\x1b[B")  # three back, one forward: the second newest
    assert out.endswith("n\r\n--\r\n58\r\n(1 row)\r\n")
    out = say(r, UP * 200)  # walking past the oldest stops at the oldest kept
    assert out.endswith("n\r\n--\r\n11\r\n(1 row)\r\n")  # 58 above went in as newest
    r.type(b".exit 3\r")
    assert r.wait() == 3


def test_ways_out_and_the_exit_status_of_errors(session, walkit_board, tmp_path):
    r = session()
    say(r, b".open main /q.db")
    say(r, b"CREATE TABLE kept(x);")
    assert "Error: " in say(r, b"SELEKT 1;")
    r.type(b"\x04")  # Ctrl-D after an error: exit status 1, as sqlite3 reading a script
    assert r.wait() == 1
    assert b"session ended (exit status 1: a command failed)" in r.out
    r = session()  # the same flash: the shutdown was clean and the table is there
    say(r, b".open main /q.db")
    assert say(r, b".tables") == "kept\r\n"
    r.type(b"exit\r")  # `exit` alone ends the session (sqlite3 3.44 and later)
    assert r.wait() == 0
    r = session()
    say(r, b".open main /q.db")
    say(r, b"SELECT", rb"\r\n   \.\.\.> ")
    say(r, b"quit", rb"\r\n   \.\.\.> ")  # inside a statement it is SQL, not a command
    assert "Error: no such column: quit" in say(r, b";")
    r.type(b".quit\r")
    assert r.wait() == 1


def test_read_runs_a_script_from_the_flash(session, walkit_board, tmp_path):
    r = session()
    r.type(b".shutdown\r")
    r.wait()
    script = tmp_path / "setup.sql"
    script.write_text("CREATE TABLE s(x);\nINSERT INTO s VALUES (1),\n  (2);\n"
                      ".mode list\nSELECT sum(x) AS total FROM s;\nSELEKT;\n.read /nested.sql\n")
    (tmp_path / "nested.sql").write_text("SELECT 'nested' AS w;")  # no final line end
    for f in ("setup.sql", "nested.sql"):
        subprocess.run([str(Path(sys.executable).with_name("walkit")), "image", "put", "--board",
                        walkit_board, str(tmp_path / "flash.img"), str(tmp_path / f), "/" + f],
                       check=True, capture_output=True)
    r = session()
    say(r, b".open main /r.db")
    out = say(r, b".read /setup.sql")
    assert "total\r\n3\r\n" in out
    assert 'Error: near "SELEKT": syntax error' in out
    assert out.endswith("w\r\nnested\r\n")
    assert "Error: cannot open \"/missing.sql\": no such file" in say(r, b".read /missing.sql")
    r.type(b".quit\r")
    assert r.wait() == 1  # the script's error counts


def _piped(walkit_board, flash, script: bytes):
    walkit = Path(sys.executable).with_name("walkit")
    return subprocess.run([str(walkit), "run", "--board", walkit_board, "--flash", str(flash)],
                          input=script, capture_output=True, timeout=300)


def test_a_piped_script_exits_1_after_an_error_like_sqlite3(walkit_board, walkit_image, tmp_path):
    """`walkit run < script`: the end of the input ends the session (a clean shutdown); the
    status is 1 if any line failed (it used to be 0 whatever happened), and the lines after
    the error still ran, as in sqlite3 without -bail."""
    flash = tmp_path / "flash.img"
    r = _piped(walkit_board, flash, b".open main /p.db\nCREATE TABLE t(x);\nSELEKT 1;\n"
                                    b"INSERT INTO t VALUES (7);\n")
    assert r.returncode == 1, r.stdout.decode(errors="replace")
    assert b'Error: near "SELEKT": syntax error' in r.stdout
    r = _piped(walkit_board, flash, b".open main /p.db\n.mode list\nSELECT x FROM t;\n")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert b"\r\nx\r\n7\r\n" in r.stdout
    r = _piped(walkit_board, flash, b".open main /p.db\nSELECT x FROM t\n")  # no ';' at the end
    assert r.returncode == 1
    assert b"Error: incomplete SQL at the end of the input" in r.stdout
