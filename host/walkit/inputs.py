"""Reading a user's input file with a one-line error instead of a traceback."""

from __future__ import annotations

from pathlib import Path

from . import WalkitError


def read_input(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise WalkitError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WalkitError(f"{path}: is a directory") from None
    except PermissionError:
        raise WalkitError(f"{path}: permission denied") from None
