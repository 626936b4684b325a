"""The `walkit` command follows its users' conventions: `walkit test` passes every argument to
pytest as given, and output piped into a reader that stops early (`| head`) ends quietly."""

from __future__ import annotations

import subprocess
import sys

WALKIT = [sys.executable, "-m", "walkit.cli"]


def _walkit(*args, timeout=300):
    return subprocess.run([*WALKIT, *args], capture_output=True, text=True, timeout=timeout)


def test_walkit_test_passes_pytest_options_through():
    """`walkit test -k smoke` (the README's command) used to fail: `unrecognized arguments: -k`."""
    r = _walkit("test", "-k", "smoke", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert r.returncode == 0, r.stdout + r.stderr
    collected = [line for line in r.stdout.splitlines() if "::" in line]
    assert collected and all("smoke" in line for line in collected)


def test_walkit_test_drops_a_leading_double_dash():
    """`walkit test -- --collect-only` used to hand `--` to pytest, which made `--collect-only`
    a path."""
    r = _walkit("test", "--", "--collect-only", "-q", "-p", "no:cacheprovider",
                "tests/host/test_cli.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tests/host/test_cli.py::test_walkit_test_drops_a_leading_double_dash" in r.stdout
    assert "ERROR" not in r.stdout


def test_walkit_test_collecting_nothing_is_a_failure():
    r = _walkit("test", "-k", "no_test_is_called_this_f4", "-q", "-p", "no:cacheprovider",
                "tests/host/test_cli.py")
    assert r.returncode == 1
    assert "walkit: error: pytest collected no tests" in r.stderr


def test_walkit_test_help_says_what_it_does():
    r = _walkit("test", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: walkit test [PYTEST ARGUMENTS...]")
    assert "-k EXPRESSION" in r.stdout  # pytest's own help follows


def test_a_closed_pipe_ends_quietly():
    """`walkit ... | head`: the reader has gone before the output is written; no
    BrokenPipeError traceback, and the status a shell gives a command stopped by SIGPIPE."""
    p = subprocess.Popen([*WALKIT, "boards"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # before the interpreter has even imported walkit
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_bench_shm_help_describes_rounds_and_scale_with_their_defaults():
    r = _walkit("bench", "shm", "--help")
    text = " ".join(r.stdout.split())
    assert r.returncode == 0
    assert "--rounds ROUNDS alternating stock/walkit" in text
    assert "(default: 3)" in text and "(default: 1.0)" in text and "min/median/max" in text


def test_every_marker_declared_in_pyproject_is_used():
    """The `slow` marker was documented as deselected in CI while no test had it."""
    import re
    import tomllib

    from walkit.paths import repo_root

    root = repo_root()
    cfg = tomllib.loads((root / "pyproject.toml").read_text())
    names = [m.split(":")[0] for m in cfg["tool"]["pytest"]["ini_options"]["markers"]]
    sources = "\n".join(p.read_text() for p in (root / "tests").rglob("*.py"))
    for name in names:
        assert re.search(rf"\bmark\.{name}\b", sources), f"marker {name} is declared, never used"
