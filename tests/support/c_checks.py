"""The C check programs (test_*.c beside their Python tests, macros in tests/support/checks.h): each CHECK
prints "ok NAME" or "FAIL NAME: why", and ``PROGRAM --list`` prints every check name the
program contains, so a name is written once, in its CHECK.

A test module builds its program at collection, parametrizes over ``program.names`` (one pytest
item per check) and runs the program once per module::

    PROGRAM = CheckProgram.build("test_bare", [HERE / "test_bare.c"], port=None)

    @pytest.fixture(scope="module")
    def run():
        return PROGRAM.run()

    @pytest.mark.parametrize("check", PROGRAM.names)
    def test_check(run, check):
        run.assert_ok(check)

    def test_run_is_clean(run):
        run.assert_clean()

A listed check missing from the output fails as surely as one that says FAIL, and a FAIL line
that is no listed check (a set-up step that failed), a crash or a non-zero exit fails
``assert_clean``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from walkit.native.build import build_program

SUPPORT = Path(__file__).parent


@dataclass
class CheckRun:
    returncode: int
    stdout: str
    stderr: str
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)   # name -> its first FAIL line

    @classmethod
    def parse(cls, r: subprocess.CompletedProcess) -> "CheckRun":
        run = cls(r.returncode, r.stdout, r.stderr)
        for line in r.stdout.splitlines():
            if line.startswith("ok "):
                run.passed.add(line[3:].strip())
            elif line.startswith("FAIL "):
                name = line[5:].split(":", 1)[0].strip()
                run.failed.setdefault(name, line)
        return run

    def assert_ok(self, name: str) -> None:
        assert name not in self.failed, self.failed[name] + "\n" + self.stderr[-4000:]
        assert name in self.passed, (f"check {name} not reported (exit {self.returncode})\n"
                                     f"{self.stdout[-4000:]}\n{self.stderr[-4000:]}")

    def assert_clean(self) -> None:
        assert not self.failed, "\n".join(self.failed.values()) + "\n" + self.stderr[-4000:]
        assert self.returncode == 0, f"exit {self.returncode}\n{self.stdout[-4000:]}\n{self.stderr[-4000:]}"


class CheckProgram:
    def __init__(self, path: Path):
        self.path = path
        r = subprocess.run([str(path), "--list"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{path} --list: exit {r.returncode}\n{r.stderr}"
        self.names = r.stdout.split()
        assert self.names, f"{path} --list printed no checks"

    @classmethod
    def build(cls, name: str, sources: Sequence[Path], **kw) -> "CheckProgram":
        """Builds the program (cached, see walkit.native.build) with tests/support on the
        include path, and learns its check names."""
        kw["include_dirs"] = [*kw.get("include_dirs", ()), SUPPORT]
        return cls(build_program(name, list(sources), **kw))

    def run(self, args: Sequence[str] = (), timeout: float = 120) -> CheckRun:
        r = subprocess.run([str(self.path), *map(str, args)], capture_output=True, text=True,
                           timeout=timeout)
        return CheckRun.parse(r)
