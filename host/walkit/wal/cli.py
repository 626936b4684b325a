"""``walkit wal ...``: inspect, verify and compact WAL files.

Exit status: 0 when all is well, 2 when the input is readable but not clean (``inspect``: bytes
SQLite ignores, such as an uncommitted tail or frames after the valid prefix; ``verify``: the
WAL does not apply to the database), 1 for errors (including a WAL header SQLite rejects).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import WalkitError
from ..inputs import os_problem, read_input, show
from .format import Wal, WalFormatError, read_wal
from .ops import Verdict, compact, db_info, sha256, verify

EXIT_NOT_CLEAN = 2


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _frame_status(wal: Wal, index: int) -> str:
    if index <= wal.committed:
        return "committed"
    return "uncommitted" if index <= wal.valid else "ignored"


def inspect_dict(wal: Wal) -> dict:
    h = wal.header
    txn_of = {}
    for t in wal.transactions:
        for i in range(t.first, t.last + 1):
            txn_of[i] = t.number
    return {
        "file": wal.name,
        "size": len(wal.data),
        "header": {
            "magic": f"0x{h.magic:08x}", "byte_order": h.byte_order, "version": h.version,
            "page_size": h.page_size, "checkpoint_seq": h.checkpoint_seq,
            "salt1": h.salt1, "salt2": h.salt2, "checksum": list(h.checksum), "checksum_ok": True,
        },
        "frame_size": wal.frame_size,
        "frames": [
            {"index": f.index, "offset": f.offset, "page": f.pgno, "commit": f.is_commit,
             "db_pages": f.commit or None, "salt_ok": f.salt_ok, "checksum_ok": f.checksum_ok,
             "status": _frame_status(wal, f.index), "transaction": txn_of.get(f.index)}
            for f in wal.frames
        ],
        "transactions": [
            {"number": t.number, "first_frame": t.first, "last_frame": t.last,
             "db_pages": t.db_pages, "pages": list(t.pages)}
            for t in wal.transactions
        ],
        "valid_frames": wal.valid,
        "committed_frames": wal.committed,
        "uncommitted_frames": len(wal.uncommitted),
        "ignored_frames": len(wal.ignored),
        "trailing_bytes": wal.trailing,
        "valid_end": {"offset": wal.valid_end, "reason": wal.end_reason,
                      "description": wal.end_description()},
        "committed_end": wal.committed_end,
        "db_pages": wal.db_pages,
        "clean": wal.clean,
    }


def inspect_text(wal: Wal, frames: bool = True) -> str:
    h = wal.header
    d = inspect_dict(wal)
    lines = [
        f"{wal.name}: SQLite WAL, {len(wal.data)} bytes",
        f"header: magic 0x{h.magic:08x} ({h.byte_order} checksums), version {h.version}, "
        f"page size {h.page_size}, checkpoint sequence {h.checkpoint_seq}",
        f"        salts {h.salt1:08x}:{h.salt2:08x}, checksum {h.checksum[0]:08x}:{h.checksum[1]:08x} ok",
        f"frames: {len(wal.frames)} of {wal.frame_size} bytes: {wal.committed} committed, "
        f"{len(wal.uncommitted)} uncommitted, {len(wal.ignored)} ignored; {wal.trailing} trailing bytes",
        f"valid prefix: frames 1-{wal.valid}, ends at offset {wal.valid_end}: {wal.end_description()}"
        if wal.valid else f"valid prefix: empty, ends at offset {wal.valid_end}: {wal.end_description()}",
        f"committed log: {_n(len(wal.transactions), 'transaction')}, ends at offset {wal.committed_end}"
        + (f"; database size {wal.db_pages} pages ({wal.db_pages * h.page_size} bytes)" if wal.committed else ""),
    ]
    if wal.uncommitted:
        u = wal.uncommitted
        lines.append(f"uncommitted tail: frames {u[0].index}-{u[-1].index} (no commit frame follows)")
    if frames and wal.frames:
        lines.append("")
        lines.append(f"{'frame':>6} {'offset':>10} {'page':>8} {'commit':>8}  salt  checksum  status")
        for f in d["frames"]:
            lines.append(
                f"{f['index']:>6} {f['offset']:>10} {f['page']:>8} {f['db_pages'] or '-':>8}  "
                f"{'ok' if f['salt_ok'] else 'BAD':<4}  {'ok' if f['checksum_ok'] else 'BAD':<8}  "
                f"{f['status']}" + (f" (txn {f['transaction']})" if f["transaction"] else ""))
    if wal.transactions:
        lines.append("")
        lines.append("transactions:")
        for t in wal.transactions:
            pages = ",".join(map(str, t.pages[:12])) + (",..." if len(t.pages) > 12 else "")
            lines.append(f"  {t.number}: frames {t.first}-{t.last}, database {t.db_pages} pages, "
                         f"{_n(len(t.pages), 'page')} written ({pages})")
    lines.append("")
    lines.append("status: clean" if wal.clean else
                 "status: not clean (part of the file is not in the committed log)")
    return "\n".join(lines)


def cmd_inspect(args) -> int:
    wal = read_wal(args.file)
    if args.json:
        print(json.dumps(inspect_dict(wal), indent=2))
    else:
        print(inspect_text(wal, frames=not args.summary))
    return 0 if wal.clean else EXIT_NOT_CLEAN


def verify_dict(v: Verdict, db_name: str, wal_name: str) -> dict:
    w = v.wal
    res = v.result
    ps = w.page_size if w else v.db.page_size
    return {
        "db": {"file": db_name, "size": v.db.size, "page_size": v.db.page_size, "pages": v.db.pages,
               "wal_mode": v.db.wal_mode},
        "wal": None if w is None else {
            "file": wal_name, "page_size": w.page_size, "byte_order": w.header.byte_order,
            "salt1": w.header.salt1, "salt2": w.header.salt2, "checkpoint_seq": w.header.checkpoint_seq,
            "committed_frames": w.committed, "transactions": len(w.transactions),
            "uncommitted_frames": len(w.uncommitted), "ignored_frames": len(w.ignored),
            "valid_end": w.end_description(),
        },
        "wal_error": v.wal_error,
        "applies": v.applies,
        "problems": v.problems,
        "notes": v.notes,
        "after_checkpoint": None if res is None else {
            "size": len(res), "pages": len(res) // ps if ps else 0, "sha256": sha256(res),
            "changed_pages": v.changed_pages, "integrity_check": v.integrity,
        },
    }


def verify_text(v: Verdict, db_name: str, wal_name: str) -> str:
    d = verify_dict(v, db_name, wal_name)
    db = d["db"]
    lines = [f"DB  {db_name}: {db['size']} bytes" + (
        f", page size {db['page_size']}, {db['pages']} pages, "
        f"{'WAL' if db['wal_mode'] else 'rollback-journal'} mode" if db["size"] else " (empty)")]
    if d["wal"]:
        w = d["wal"]
        lines.append(f"WAL {wal_name}: page size {w['page_size']}, {w['byte_order']} checksums, "
                     f"{_n(w['committed_frames'], 'committed frame')} in {_n(w['transactions'], 'transaction')}")
    else:
        lines.append(f"WAL {wal_name}: unusable")
    lines += [f"note: {n}" for n in v.notes]
    lines += [f"problem: {p}" for p in v.problems]
    lines.append("applies: yes" if v.applies else "applies: NO")
    a = d["after_checkpoint"]
    if a:
        lines.append(f"after a checkpoint: {a['pages']} pages ({a['size']} bytes), sha256 {a['sha256']}, "
                     f"{len(a['changed_pages'])} pages changed"
                     + (f", integrity_check {a['integrity_check']}" if a["integrity_check"] else ""))
    return "\n".join(lines)


def cmd_verify(args) -> int:
    db = read_input(args.db)
    wal_data = read_input(args.wal)
    db_name, wal_name = show(args.db), show(args.wal)
    v = verify(db, wal_data, db_name, wal_name, integrity=not args.no_integrity)
    if args.json:
        print(json.dumps(verify_dict(v, db_name, wal_name), indent=2))
    else:
        print(verify_text(v, db_name, wal_name))
    if args.out:
        if not v.applies:
            raise WalkitError(f"{show(args.out)}: not written, the WAL does not apply")
        _write_new(args.out, v.result, args.force, (args.db, args.wal))
    return 0 if v.applies else EXIT_NOT_CLEAN


def _write_new(out: str, data: bytes, force: bool, inputs: tuple[str, ...]) -> None:
    """Write ``data`` to the new path ``out``, or with ``force`` over the regular file ``out``;
    anything else there (a directory, FIFO, device, socket) is refused, whatever ``force``."""
    from ..snapshot.fsops import FileOps

    path = Path(out)
    for i in inputs:
        if os.path.exists(i) and path.exists() and os.path.samefile(i, path):
            raise WalkitError(f"{show(out)}: is an input file; write the result to another file")
    if os.path.lexists(path) and not force:
        raise WalkitError(f"{show(out)}: already exists (use --force to replace it)")
    if not path.parent.is_dir():
        raise WalkitError(f"{show(path.parent)}: no such directory")
    try:
        FileOps().replace_file(path, data)  # refuses anything but a regular file or a new path
    except OSError as e:
        raise WalkitError(f"{show(out)}: cannot write: {os_problem(e)}") from None


def compact_dict(c, out: str) -> dict:
    w = c.source
    return {
        "in": w.name, "out": out, "in_size": len(w.data), "out_size": len(c.data),
        "committed_frames": w.committed, "kept_frames": len(c.kept),
        "kept": [{"frame": f.index, "page": f.pgno} for f in c.kept],
        "superseded_frames": c.superseded, "beyond_db_size": c.beyond_end, "db_pages": c.db_pages,
        "excluded_uncommitted": [f.index for f in w.uncommitted],
        "ignored_frames": len(w.ignored), "trailing_bytes": w.trailing,
        "valid_end": w.end_description(),
    }


def cmd_compact(args) -> int:
    wal = read_wal(args.input)
    c = compact(wal)
    _write_new(args.output, c.data, args.force, (args.input,))
    if args.json:
        print(json.dumps(compact_dict(c, show(args.output)), indent=2))
        return 0
    print(f"{wal.name}: {_n(wal.committed, 'committed frame')} in {_n(len(wal.transactions), 'transaction')}")
    print(f"{show(args.output)}: {_n(len(c.kept), 'frame')}, {len(c.data)} bytes (was {len(wal.data)}); "
          f"{c.superseded} superseded versions and {c.beyond_end} pages past the final size dropped"
          + (f"; database size {c.db_pages} pages" if c.db_pages else "; no committed transaction, empty WAL"))
    if wal.uncommitted:
        u = wal.uncommitted
        print(f"excluded: uncommitted tail, frames {u[0].index}-{u[-1].index} "
              f"(pages {','.join(str(p) for p in sorted({f.pgno for f in u}))})")
    if wal.ignored or wal.trailing:
        print(f"excluded: {len(wal.ignored)} frames and {wal.trailing} bytes after the valid log, "
              f"which ends {wal.end_description()}")
    return 0


def register(subparsers) -> None:
    top = subparsers.add_parser("wal", help="SQLite WAL files: inspect, verify against a database, compact")
    sub = top.add_subparsers(dest="wal_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("inspect", help="header, frames, transactions and where the valid log ends "
                                       "(exit 2 if part of the file is not committed log)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--summary", action="store_true", help="leave out the per-frame table")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("verify", help="does WAL apply to DB, and the database after a checkpoint "
                                      "(modifies neither; exit 2 if it does not apply)")
    p.add_argument("db", metavar="DB")
    p.add_argument("wal", metavar="WAL")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", metavar="FILE", help="write the database after a checkpoint to FILE")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file")
    p.add_argument("--no-integrity", action="store_true", help="skip PRAGMA integrity_check of the result")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("compact", help="last committed version of each page, one transaction, fresh checksums")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=cmd_compact)


__all__ = ["register", "inspect_dict", "verify_dict", "WalFormatError", "db_info"]
