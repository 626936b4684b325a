"""Known WALs shared by the tests of walkit.wal (format, ops, cli)."""

from __future__ import annotations

import pytest

from support.wal_helpers import T, ins, make_db


@pytest.fixture(scope="module")
def three_txns():
    """Three committed transactions, the last rewriting pages of the first."""
    return make_db(1024, [T], [ins(3), ins(2, 2000), [("UPDATE t SET v = ? WHERE id = 1", (b"x" * 200,))]])


@pytest.fixture(scope="module")
def with_tail():
    """Two committed transactions and an uncommitted tail spilled by a transaction left open."""
    return make_db(1024, [T], [ins(2), ins(2)], open_tail=ins(30, 1500), cache_pages=3)
