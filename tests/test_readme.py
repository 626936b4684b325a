"""Every command in README.md's ```sh blocks, copied as written, runs and succeeds.

The blocks are read from README.md at test time, so a command added there is run here.  A
command runs in the source tree with `.venv/bin` first on PATH (the README says to activate the
venv), stdin empty, one at a time and in order within a block (later ones use what earlier
ones made).  Stand-ins and exclusions, each for a reason:

STANDINS (run instead of the README's text):
  `make test`: the same make target on one cheap test (PYTEST_ARGS), so bootstrap, the parallel
      run and the printed duration are exercised without running the suite inside itself.
  `/path/to/sqlite3.c`, `/path/to/dir`: the pinned amalgamation (its file, its folder).
EXCLUDED:
  `pip install 'path/to/walkit[test]'`: needs the network; a regular install finding its tree
      is tests/host/test_paths.py.
  `pytest --board host-sim tests/` (in your own project): the user's example test is run by
      tests/test_harness_plugin.py::test_the_example_in_docs_writing_tests_passes.
The commands in the "More tools" table are synopses, not commands: each tool's `--help` runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from walkit.bootstrap import sqlite_source
from walkit.paths import repo_root

README = repo_root() / "README.md"

EXCLUDED = {
    "pip install 'path/to/walkit[test]'",
    "pytest --board host-sim tests/",
}


def _standin(cmd: str) -> str:
    if cmd == "make test":
        return "make test PYTEST_ARGS='-q -p no:cacheprovider tests/host/test_cli.py -k help'"
    src = sqlite_source()
    return (cmd.replace("/path/to/sqlite3.c", str(src.dir / "sqlite3.c"))
               .replace("/path/to/dir", str(src.dir)))


def readme_blocks() -> list[list[str]]:
    """The commands of each ```sh block, one per line (a trailing `# comment` dropped)."""
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        cmds = []
        for line in block.splitlines():
            cmd = line.split("  #")[0].strip() if "  #" in line else line.strip()
            if cmd and not cmd.startswith("#"):
                cmds.append(cmd)
        blocks.append(cmds)
    return blocks


def readme_commands() -> list[str]:
    return [c for b in readme_blocks() for c in b]


def table_tools() -> list[list[str]]:
    """The words before the first placeholder of each "More tools" table row."""
    section = README.read_text().split("More tools (each has `--help`):", 1)[1].split("\n\n", 2)[1]
    tools = []
    for row in section.splitlines()[2:]:
        m = re.match(r"\| `walkit ([^`]*)`", row)
        if m:
            words = []
            for w in m.group(1).replace("\\|", "|").split():
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                words.append(w)
            tools.append(words)
    return tools


def _run(cmd: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "WALKIT_PROGRESS": "0"}
    return subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=repo_root(), env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def test_the_readme_has_the_commands_this_test_knows():
    cmds = readme_commands()
    assert "make demo" in cmds and "make test" in cmds and "walkit test -k smoke" in cmds
    assert EXCLUDED <= set(cmds), "an exclusion names a command the README no longer has"
    assert len(table_tools()) >= 8


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda b: b[0][:40])
def test_readme_commands_run(block):
    for cmd in block:
        if cmd in EXCLUDED:
            continue
        # Builds in the source tree's build/ wait for each other (walkit.build's tree lock).
        r = _run(_standin(cmd))
        assert r.returncode == 0, (f"{cmd}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n"
                                   f"{r.stderr[-3000:]}")


@pytest.mark.parametrize("words", table_tools(), ids=lambda w: " ".join(w))
def test_readme_tool_has_help(words):
    r = _run(shlex.join(["walkit", *words, "--help"]), timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: walkit " + " ".join(words)), \
        r.stdout + r.stderr
