"""pytest plugin (entry point ``pytest11: walkit``): tests against boards running the firmware.

Fixtures (docs/writing-tests.md has a worked example):

``walkit_board``    the board name; every test that uses it (directly or through the fixtures
                    below) runs once per selected board.
``walkit_image``    the firmware image for that board, built once per session.
``target``          a :class:`walkit.target.Target` booted on a blank flash, console in machine
                    mode; power-cut and reaped after the test.
``db``              a connection (walkit.sql.Connection) to ``/test.db`` on ``target``.
``target_factory``  ``target_factory(flash=None, boot=True, **kw)`` for tests that need several
                    targets, their own flash image, or to boot later; all reaped after the test.
``shared_target``   one booted target per board for the whole session, for tests that only read
                    or use their own files; rebooted if a test left it dead, back in machine
                    mode if a test left its console interactive.
``power_cut``       ``power_cut(script, check=None, models=("nor",), syncs=("full",),
                    points="10", seed=1)``: a power-cut campaign of a SQL script on the board
                    (walkit.campaign.script); returns the report, whose ``failures`` must be
                    empty (each says why, how to replay it, where its image is kept).

Options: ``--board NAME`` (repeatable, or comma-separated, or ``all``; default
``$WALKIT_BOARDS`` or every board), ``--walkit-artifacts DIR`` (default ``<rootdir>/artifacts``),
``--walkit-flash-artifacts gzip|full|none`` (default gzip).
Marker: ``@pytest.mark.boards("host-sim", ...)`` limits a test to some boards.

When a test that used a target fails, the target's console log, the emulator's output and the
flash image (gzip-compressed unless ``--walkit-flash-artifacts full|none``) are copied to
``<artifacts>/<test id>/`` and the report says where, with the last console lines decoded for a
person (machine-mode frames as SQL and values), unless the error itself already shows them.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

_TARGETS = pytest.StashKey[list]()
_IMAGES = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("walkit", "walkit targets")
    group.addoption("--board", action="append", default=None, metavar="NAME",
                    help="board(s) for target tests: a name, a comma-separated list or 'all' "
                         "(repeatable; default $WALKIT_BOARDS or all boards)")
    group.addoption("--walkit-artifacts", default=None, metavar="DIR",
                    help="where console logs and flash images of failing tests go "
                         "(default <rootdir>/artifacts)")
    group.addoption("--walkit-flash-artifacts", default="gzip", choices=("gzip", "full", "none"),
                    help="the flash image of a failing test: gzip-compressed as flash.img.gz "
                         "(default: an erased 64 MiB flash is a few KiB), full as flash.img, "
                         "or none")


def pytest_configure(config):
    config.addinivalue_line("markers", "boards(*names): run this test only on these boards")
    config.stash[_IMAGES] = {}
    # Builds in fixtures (board images, first-time native builds) can take minutes: their
    # progress lines go past pytest's capture, so the wait is never silent.
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        from . import progress

        def sink(text: str) -> None:
            with capman.global_and_fixture_disabled():
                sys.stderr.write(text)
                sys.stderr.flush()

        progress.set_sink(sink)


def pytest_unconfigure(config):
    from . import progress

    progress.set_sink(None)


def selected_boards(config) -> list[str]:
    from .boards import board_names

    known = board_names()
    raw = config.getoption("--board") or [os.environ.get("WALKIT_BOARDS", "all")]
    names: list[str] = []
    for item in raw:
        for name in (n.strip() for n in item.split(",")):
            if not name:
                continue
            for n in (known if name == "all" else [name]):
                if n not in known:
                    raise pytest.UsageError(f"--board {n}: unknown board; boards: {', '.join(known)}")
                if n not in names:
                    names.append(n)
    return names


def pytest_generate_tests(metafunc):
    if "walkit_board" not in metafunc.fixturenames:
        return
    boards = selected_boards(metafunc.config)
    marker = metafunc.definition.get_closest_marker("boards")
    if marker:
        boards = [b for b in boards if b in marker.args]
    if not boards:
        # Not a skip that hides a failure: the user chose boards this test is not for.
        metafunc.parametrize("walkit_board", [pytest.param(None, marks=pytest.mark.skip(
            reason="none of the selected boards is one this test is for"))], scope="session")
        return
    metafunc.parametrize("walkit_board", boards, ids=boards, scope="session")


@pytest.fixture(scope="session")
def walkit_image(request, walkit_board):
    """The firmware for the board, built (``walkit build``) once per session."""
    images = request.config.stash[_IMAGES]
    if walkit_board not in images:
        from .build import build  # walkit.build locks the board's tree: parallel workers wait

        images[walkit_board] = build(walkit_board)
    return images[walkit_board]


def _register(node, target) -> None:
    node.stash.setdefault(_TARGETS, []).append(target)


@pytest.fixture
def target_factory(request, walkit_board, walkit_image, tmp_path):
    """Makes Targets for this test (blank flash unless one is given); reaps them all after."""
    from .target import Target

    made = []

    def make(flash=None, boot: bool = True, workdir=None, **kw):
        wd = Path(workdir) if workdir else tmp_path / f"target{len(made) + 1}"
        t = Target(walkit_board, image=kw.pop("image", walkit_image), flash=flash, workdir=wd, **kw)
        made.append(t)
        _register(request.node, t)
        if boot:
            t.boot()
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def power_cut(walkit_board, walkit_image, tmp_path):
    """Power-cut tests of the user's own SQL (docs/writing-tests.md, docs/recovery.md)."""
    from .campaign import power_cut_campaign

    def run(script, *, check=None, models=("nor",), syncs=("full",), points="10", seed=1):
        return power_cut_campaign(walkit_board, script, check=check, models=tuple(models),
                                  syncs=tuple(syncs), points=points, seed=seed,
                                  image=walkit_image, workdir=tmp_path / "power-cut")

    return run


@pytest.fixture
def target(target_factory):
    """A target booted on a blank flash; power cut and reaped after the test."""
    return target_factory()


@pytest.fixture
def db(target):
    """A connection to /test.db on ``target`` (no pragmas set: the test decides)."""
    conn = target.session().connect("/test.db")
    yield conn
    # Closed only on a console that can answer at once: after a reboot the connection is gone
    # with the firmware (nothing to send), after a timed-out request the firmware is still busy
    # with it (a close would wait the whole timeout); the target is power-cut next anyway.
    if target.running and target.console is not None and not target.console.busy:
        try:
            conn.close()
        except Exception:
            pass  # the test may have left the console unusable on purpose


@pytest.fixture(scope="session")
def _shared_targets(tmp_path_factory):
    targets: dict = {}
    yield targets
    for t in targets.values():
        t.close()


@pytest.fixture
def shared_target(request, walkit_board, walkit_image, _shared_targets, tmp_path_factory):
    """One booted target per board for the session (flash shared by the tests using it)."""
    from .target import Target

    t = _shared_targets.get(walkit_board)
    if t is None:
        t = Target(walkit_board, image=walkit_image,
                   workdir=tmp_path_factory.mktemp(f"shared-{walkit_board}"))
        _shared_targets[walkit_board] = t
    if not t.running or t.console is None:
        t.power_cut()
        t.boot()
    elif t.console.mode != "machine":  # a test switched it to interactive mode and left it so
        t.console.enter_machine_mode()
    _register(request.node, t)
    return t


def _artifact_dir(config, nodeid: str) -> Path:
    base = config.getoption("--walkit-artifacts") or Path(config.rootpath) / "artifacts"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]
    return Path(base) / safe


def save_artifacts(target, dest: Path, flash: str = "gzip") -> Path:
    """Copies the console log, the emulator output and the flash image of a target; the flash
    as ``flash``: "gzip" (``<name>.gz``, fast level: erased flash compresses to almost
    nothing), "full", or "none"."""
    import gzip

    dest.mkdir(parents=True, exist_ok=True)
    for src in (target.console_log, target.process_log):
        if src and Path(src).is_file():
            shutil.copy2(src, dest / Path(src).name)
    src = Path(target.flash) if target.flash else None
    if src and src.is_file() and flash != "none":
        if flash == "full":
            shutil.copy2(src, dest / src.name)
        else:
            with open(src, "rb") as fin, gzip.open(dest / (src.name + ".gz"), "wb",
                                                   compresslevel=1) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    return dest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    from .console import TargetError, readable_log

    targets = item.stash.get(_TARGETS, [])
    # A TargetError's message already ends with the console's last output: not twice.
    tail_shown = call.excinfo is not None and call.excinfo.errisinstance(TargetError)
    for i, t in enumerate(targets):
        dest = _artifact_dir(item.config, item.nodeid + (f"-{i + 1}" if len(targets) > 1 else ""))
        if rep.when == "teardown" and dest.exists():
            continue
        try:
            save_artifacts(t, dest, item.config.getoption("--walkit-flash-artifacts"))
        except OSError as e:
            rep.sections.append(("walkit", f"could not save artifacts to {dest}: {e}"))
            continue
        if tail_shown and len(targets) == 1:
            body = "last console output: in the error above"
        else:
            tail = t.link.tail(1500) if t.link else _file_tail(t.console_log)
            body = f"last console output:\n{readable_log(tail)}"
        rep.sections.append((f"walkit {t.board.name}: artifacts in {dest}", body))


def _file_tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""
