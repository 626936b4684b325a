"""Running the C unit-test programs under tests/c/: each prints "ok NAME" or "FAIL NAME ..."
per check; a check that is missing from the output fails as surely as one that says FAIL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence


def run_checks(program: Path, expected: Sequence[str], args: Sequence[str] = (),
               timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([str(program), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    lines = r.stdout.splitlines()
    failed = [l for l in lines if l.startswith("FAIL")]
    assert not failed, "\n".join(failed) + "\n" + r.stderr
    passed = {l.split()[1] for l in lines if l.startswith("ok ")}
    missing = [name for name in expected if name not in passed]
    assert not missing, f"checks not reported: {missing}\n{r.stdout}\n{r.stderr}"
    assert r.returncode == 0, r.stdout + r.stderr
    return r
