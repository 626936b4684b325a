"""Pulling a database and its WAL out of a board's flash image."""

from __future__ import annotations

from dataclasses import dataclass

from .. import WalkitError
from ..image import open_image
from ..inputs import show
from ..wal.ops import DB_MAGIC

_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass
class Pulled:
    db: bytes
    wal: bytes | None
    db_path: str
    wal_path: str
    source: str


def pull_from_image(image: str, board: str, db_path: str | None = None,
                    wal_path: str | None = None) -> Pulled:
    """The database file (``db_path``, or the one SQLite database in the filesystem) and its
    WAL (``wal_path``, default the database path + "-wal"; None if absent) from ``image``."""
    with open_image(image, board) as img:
        if db_path is None:
            candidates = [e.path for e in img.files() if not e.is_dir
                          and not e.path.endswith(_SIDE_FILES) and img.read(e.path).startswith(DB_MAGIC)]
            if not candidates:
                raise WalkitError(f"{show(image)}: no SQLite database in the filesystem")
            if len(candidates) > 1:
                raise WalkitError(f"{show(image)}: several databases ({', '.join(map(show, candidates))}); "
                                  f"choose one with --db")
            db_path = candidates[0]
        db = img.read(db_path)
        wal_path = wal_path or db_path + "-wal"
        wal = img.read(wal_path) if img.exists(wal_path) else None
    return Pulled(db, wal, db_path, wal_path, f"{image}:{db_path}")
