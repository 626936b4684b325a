"""Flash images shared by the tests of walkit.image (flash, cli)."""

from __future__ import annotations

import shutil

import pytest

from support.image_helpers import BOARD
from walkit.image import create_image


@pytest.fixture(scope="module")
def formatted(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "formatted.img"
    create_image(path, BOARD, format=True)
    return path


@pytest.fixture
def image(formatted, tmp_path):
    path = tmp_path / "flash.img"
    shutil.copyfile(formatted, path)
    return path
