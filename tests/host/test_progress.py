"""Long work shows progress (walkit build, first-time native builds, walkit bench shm used to sit
silent for 1-3 minutes); quick work prints nothing; on a terminal one line is redrawn."""

from __future__ import annotations

import io
import sys

import pytest

from walkit import progress

SLOW_BUILD = [sys.executable, "-c", (
    "import time, sys\n"
    "print('[ 10%] Building C object CMakeFiles/x.dir/deep/path/sqlite3.c.o', flush=True)\n"
    "time.sleep(0.6)\n"
    "print('compiler chatter', flush=True)\n"
    "time.sleep(0.6)\n"
    "print('[100%] Built target walkit-fw', flush=True)\n")]


@pytest.fixture(autouse=True)
def no_sink(monkeypatch):
    """The plugin sends progress past pytest's capture; these tests read the stream itself."""
    monkeypatch.setattr(progress, "_sink", None)


class Log(io.StringIO):
    def isatty(self):
        return False


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_slow_work_in_a_log_prints_its_steps_and_the_time(monkeypatch):
    monkeypatch.setattr(progress, "QUIET_FOR", 0.3)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.1)
    out = Log()
    monkeypatch.setattr(progress.sys, "stderr", out)
    r = progress.run_with_progress(SLOW_BUILD, "build of walkit-fw")
    assert r.returncode == 0 and "compiler chatter" in r.stdout  # everything kept for errors
    lines = out.getvalue().splitlines()
    assert any(line.startswith("walkit: build of walkit-fw: [ 10%] Building C object sqlite3.c.o")
               for line in lines), lines
    assert lines[-1].startswith("walkit: build of walkit-fw: done in ")
    assert "\r" not in out.getvalue()


def test_quick_work_in_a_log_prints_nothing(monkeypatch):
    out = Log()
    monkeypatch.setattr(progress.sys, "stderr", out)
    r = progress.run_with_progress([sys.executable, "-c", "print('[100%] Built target x')"], "quick")
    assert r.returncode == 0 and out.getvalue() == ""


def test_a_failure_says_failed(monkeypatch):
    monkeypatch.setattr(progress, "QUIET_FOR", 0.0)
    out = Log()
    monkeypatch.setattr(progress.sys, "stderr", out)
    r = progress.run_with_progress([sys.executable, "-c", "import time; time.sleep(1.3); exit(3)"],
                                   "doomed")
    assert r.returncode == 3
    assert out.getvalue().splitlines()[-1].startswith("walkit: doomed: failed in ")


def test_on_a_terminal_one_line_is_redrawn_with_the_elapsed_time(monkeypatch):
    out = Tty()
    monkeypatch.setattr(progress.sys, "stderr", out)
    monkeypatch.delenv("WALKIT_PROGRESS", raising=False)
    progress.run_with_progress(SLOW_BUILD, "build")
    text = out.getvalue()
    assert "\r\x1b[Kwalkit: build: [ 10%] Building C object sqlite3.c.o (" in text
    assert "\n" not in text[:-1] and text.endswith("\n")  # only the final line ends one


def test_walkit_progress_0_turns_it_off(monkeypatch):
    monkeypatch.setenv("WALKIT_PROGRESS", "0")
    out = Tty()
    monkeypatch.setattr(progress.sys, "stderr", out)
    progress.run_with_progress(SLOW_BUILD, "build")
    assert out.getvalue() == ""


def test_under_pytest_progress_goes_past_the_capture(tmp_path):
    """The first test that builds used to sit silent for 90 s: the plugin routes progress lines
    around pytest's output capture."""
    import subprocess

    (tmp_path / "test_p.py").write_text(
        "from walkit import progress\n"
        "import time\n"
        "def test_slow():\n"
        "    progress.QUIET_FOR = 0\n"
        "    with progress.Progress('building something big') as p:\n"
        "        time.sleep(1.5)\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_p.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "walkit: building something big: done in" in r.stderr  # shown, not captured
