"""Issue 12's acceptance for the WAL tools: mutated WALs and databases (bit flips, truncation,
garbage, header and frame fields set to hostile values with the checksum chain resealed so
that they are believed, commit frames claiming millions of pages, FIFOs, devices and symlink
loops in place of files) fed to ``walkit wal inspect / verify / compact`` and ``walkit
snapshot add``: every call answers within a time limit, under a memory cap, without a
traceback, with an exit status docs/wal-tools.md gives it (and a one-line error for 1), and
leaves its inputs unchanged.

Example count: ``WALKIT_PROPERTY_EXAMPLES`` (default 30, a CI size of well under a minute).
The full-size run:

    WALKIT_PROPERTY_EXAMPLES=500 .venv/bin/pytest tests/host/wal/test_cli_property.py
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from support.bounded_cli import judge, run_walkit
from support.wal_helpers import _cksum, make_db

EXAMPLES = int(os.environ.get("WALKIT_PROPERTY_EXAMPLES", "30"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIMEOUT = 15.0
MEM_MB = 250

# docs/wal-tools.md, "Exit status": 0 all well, 2 readable but not clean, 1 errors.
EXITS = {"inspect": {0, 1, 2}, "verify": {0, 1, 2}, "compact": {0, 1}, "add": {0, 1}}

HOSTILE_U32 = [0, 1, 2, 3, 511, 512, 513, 1024, 65536, 3_000_000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
KINDS = ["fifo", "dir", "loop", "devzero", "empty"]


def blob(n: int, seed: int) -> bytes:
    return bytes((seed * 37 + i * 11) % 253 for i in range(n))


@pytest.fixture(scope="module")
def bases():
    """Real (database, WAL) pairs: clean; with an uncommitted tail; big-page."""
    t = "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"
    ins = [("INSERT INTO t(v) VALUES (?)", (blob(700, i),)) for i in range(6)]
    upd = [("UPDATE t SET v = ? WHERE id = 2", (blob(300, 99),))]
    return [
        make_db(1024, [t], [ins, upd]),
        make_db(1024, [t], [ins], open_tail=[("INSERT INTO t(v) VALUES (?)", (blob(900, 7),))] * 8,
                cache_pages=2),
        make_db(4096, [t], [ins[:2]]),
    ]


def reseal(wal: bytearray) -> None:
    """Recompute the header checksum and the checksum of every whole frame, in the byte
    order the (possibly mutated) magic says, so that mutated fields are believed."""
    if len(wal) < 32:
        return
    magic, _, ps = struct.unpack_from(">3I", wal)
    big = bool(magic & 1)
    prev = _cksum(bytes(wal[:24]), big, 0, 0)
    struct.pack_into(">2I", wal, 24, *prev)
    if ps & (ps - 1) or not 512 <= ps <= 65536:
        return
    off = 32
    while off + 24 + ps <= len(wal):
        prev = _cksum(bytes(wal[off + 24:off + 24 + ps]), big, *_cksum(bytes(wal[off:off + 8]), big, *prev))
        struct.pack_into(">2I", wal, off + 16, *prev)
        off += 24 + ps


ALL_OPS = ("flip", "truncate", "append", "header", "frame", "commit", "commit")


@st.composite
def wal_mutation(draw, wal: bytes, ops: tuple[str, ...] = ALL_OPS) -> bytes:
    out = bytearray(wal)
    ps = struct.unpack_from(">I", wal, 8)[0]
    nframes = (len(wal) - 32) // (24 + ps)
    claimed = False
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(ops))
        if op == "flip" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del out[draw(st.integers(0, len(out))):]
        elif op == "append":
            out += draw(st.binary(max_size=3000))
        elif op == "header" and len(out) >= 32:
            struct.pack_into(">I", out, 4 * draw(st.integers(0, 5)), draw(st.sampled_from(HOSTILE_U32)))
        elif op in ("frame", "commit") and nframes:
            # the last frame's commit field is the database size SQLite would believe
            k = nframes - 1 if op == "commit" and draw(st.booleans()) else draw(st.integers(0, nframes - 1))
            field = 1 if op == "commit" else draw(st.integers(0, 3))
            off = 32 + k * (24 + ps) + 4 * field
            if off + 4 <= len(out):
                struct.pack_into(">I", out, off, draw(st.sampled_from(HOSTILE_U32)))
                claimed |= op == "commit"
    if claimed or draw(st.booleans()):  # a commit frame's claim matters most when it is believed
        reseal(out)
    return bytes(out)


@st.composite
def db_mutation(draw, db: bytes) -> bytes:
    op = draw(st.sampled_from(["same", "same", "flip", "truncate", "empty", "garbage"]))
    out = bytearray(db)
    if op == "flip":
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, min(len(out), 120) - 1))
            out[i] ^= draw(st.integers(1, 255))
    elif op == "truncate":
        del out[draw(st.integers(0, len(out))):]
    elif op == "empty":
        out = bytearray()
    elif op == "garbage":
        out = bytearray(draw(st.binary(max_size=4096)))
    return bytes(out)


@st.composite
def cases(draw, kinds=tuple(["file"] * 12 + KINDS)):
    """Which base pair, how each file is placed (mostly a regular file), and a data source
    for the mutations (drawn in the test, where the base is known)."""
    return {
        "base": draw(st.integers(0, 2)),
        "wal": draw(st.data()),
        "db_kind": draw(st.sampled_from(kinds)),
        "wal_kind": draw(st.sampled_from(kinds)),
    }


def place(path: Path, kind: str, data: bytes) -> None:
    if kind == "file":
        path.write_bytes(data)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "devzero":
        os.symlink("/dev/zero", path)
    elif kind == "empty":
        path.write_bytes(b"")


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


class _Found(Exception):
    pass


def wal_tools_case(db: bytes, wal: bytes, db_kind: str, wal_kind: str, *,
                   plant=None, timeout: float = TIMEOUT, first: bool = False) -> list[str]:
    """Every WAL tool on one (database, WAL) pair; the problems found (empty: all well).
    ``first``: stop at the first call with a problem."""
    with tempfile.TemporaryDirectory(prefix="walkit-prop-") as tmp:
        d = Path(tmp)
        dbp, walp = d / "app.db", d / "app.db-wal"
        place(dbp, db_kind, db)
        place(walp, wal_kind, wal)
        before = (digest(dbp), digest(walp))
        problems: list[str] = []

        def run(tool: str, *argv) -> int | None:
            o = run_walkit(*argv, timeout=timeout, mem_mb=MEM_MB, plant=plant)
            problems.extend(judge(o, EXITS[tool]))
            if first and problems:
                raise _Found
            return o.rc

        try:
            _all_tools(run, problems, d, dbp, walp)
        except _Found:
            return problems
        if (digest(dbp), digest(walp)) != before:
            problems.append("an input file changed")
        return problems


def _all_tools(run, problems: list[str], d: Path, dbp: Path, walp: Path) -> None:
    run("inspect", "wal", "inspect", walp)
    run("inspect", "wal", "inspect", "--json", "--summary", walp)
    rc = run("verify", "wal", "verify", dbp, walp, "--out", d / "after.db")
    if (rc == 0) != (d / "after.db").is_file():
        problems.append(f"verify exit {rc} but --out {'written' if (d / 'after.db').exists() else 'absent'}")
    rc = run("compact", "wal", "compact", walp, d / "c.wal")
    if (rc == 0) != (d / "c.wal").is_file():
        problems.append(f"compact exit {rc} but OUT {'written' if (d / 'c.wal').exists() else 'absent'}")
    run("add", "snapshot", "add", "--store", d / "store", dbp, walp)


@PROFILE
@given(case=cases())
def test_wal_tools_on_mutated_inputs(bases, case):
    f = bases[case["base"]]
    data = case["wal"]
    wal = data.draw(wal_mutation(f.wal), label="wal")
    db = data.draw(db_mutation(f.db), label="db")
    problems = wal_tools_case(db, wal, case["db_kind"], case["wal_kind"])
    assert not problems, "\n".join(problems)


def test_unmutated_inputs_are_clean(bases):
    """The baseline the mutations start from: every tool succeeds on it."""
    for f in bases:
        assert wal_tools_case(f.db, f.wal, "file", "file") == []


def _unbounded_checkpoint():
    import walkit.wal.ops as ops

    ops.unsupplied_pages = lambda *a, **k: []  # the size bound gone: a claim is believed


def _unbounded_reader():
    from pathlib import Path as P

    import walkit.inputs as inputs
    from walkit import WalkitError

    def read_regular(path, check_size=None, *, missing="no such file"):
        try:
            data = P(path).read_bytes()  # what walkit read with before: anything, to the end
        except FileNotFoundError:
            raise WalkitError(f"{path}: {missing}") from None
        return inputs.Input(data, os.stat(path))

    inputs.read_regular = read_regular


@pytest.mark.parametrize("plant, kinds, ops", [(_unbounded_checkpoint, ("file",), ("commit",)),
                                              (_unbounded_reader, tuple(KINDS), ALL_OPS)],
                         ids=["no-size-bound", "unbounded-reader"])
def test_the_property_catches_planted_bugs(bases, plant, kinds, ops):
    """With a fix planted away in the CLI processes, the same mutations and judge find a
    failing case within a modest budget (generation only, no shrinking: a planted hang
    costs its whole time limit).  Each probe draws from the part of the strategy its bug
    lives in (resealed commit claims in regular files for the size bound, other kinds of
    file for the reader), so that CI stays short."""

    @settings(max_examples=200, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=cases(kinds))
    def probe(case):
        f = bases[case["base"]]
        wal = case["wal"].draw(wal_mutation(f.wal, ops))
        db = case["wal"].draw(db_mutation(f.db))
        assert not wal_tools_case(db, wal, case["db_kind"], case["wal_kind"], plant=plant,
                                  timeout=3.0, first=True)

    with pytest.raises(AssertionError):
        probe()
