"""Fixtures shared by the whole suite: board images built once per session."""

from __future__ import annotations

import shutil

import pytest

from walkit.boards import load_board


@pytest.fixture(scope="session")
def build_image():
    """``build_image(board, target)`` -> Path: builds once per (board, target) per session.

    A board whose toolchain is missing fails the test with the bootstrap's message: `make test`
    installs every toolchain the default test set needs, so a missing one is a real failure.
    """
    from walkit.build import build

    built = {}

    def _build(board: str, target: str = "walkit-fw"):
        key = (board, target)
        if key not in built:
            b = load_board(board)
            if shutil.which(b.cc) is None:
                pytest.fail(f"{b.cc} missing: run `make bootstrap` (board {board})")
            built[key] = build(board, target)
        return built[key]

    return _build
