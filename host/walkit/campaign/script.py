"""Power-cut campaigns on a user's own SQL: transactions, a check query, Python's sqlite3 as the
reference model.

A script is SQL text.  Each top-level statement is one transaction, except that the statements
from a ``BEGIN`` to its ``COMMIT``/``END`` form one.  The check query (default: every table's
rows, ordered) is what is compared.  The reference runs the transactions in Python's sqlite3
and keeps the check's result after each: ``states[i]`` after the first i transactions.

A point: boot on the base image, open ``/user.db`` (on littlefs, or on the flash pool:
``file:/user.db?vfs=pool``) in WAL mode at the synchronous level, arm the
cut, send the transactions one request each (a transaction is acknowledged when its reply
arrives), and after the cut boot again and run the check.  Right means: integrity_check ok and
the result equals ``states[j]`` for j = last acknowledged or the one after (FULL), or for some
j <= last acknowledged + 1 (NORMAL).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from .. import WalkitError
from ..console import TargetError
from ..sql import SqlError
from ..target import EXIT_CUT, Target, describe_status
from .oracle import target_path
from .points import mix, select_points

DB = "/user.db"
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB = 10, 11, 26
BASE_MODELS = ("nor", "torn", "ooo")


def split_transactions(sql: str) -> list[str]:
    """The transactions of a script (module docstring), each as the SQL text to send."""
    stmts, cur = [], ""
    for line in sql.splitlines(keepends=True):
        cur += line
        if sqlite3.complete_statement(cur):
            if cur.strip():
                stmts.append(cur.strip())
            cur = ""
    if cur.strip():
        raise WalkitError(f"script: incomplete statement at the end: {cur.strip()[:60]!r}")
    txns, group = [], None
    for s in stmts:
        head = s.lstrip("(").split(None, 1)[0].upper().rstrip(";")
        if head == "BEGIN":
            if group is not None:
                raise WalkitError("script: BEGIN inside a transaction")
            group = [s]
        elif head in ("COMMIT", "END"):
            if group is None:
                raise WalkitError("script: COMMIT without BEGIN")
            txns.append("\n".join(group + [s]))
            group = None
        elif group is not None:
            group.append(s)
        else:
            txns.append(s)
    if group is not None:
        raise WalkitError("script: BEGIN without COMMIT at the end")
    if not txns:
        raise WalkitError("script: no transaction")
    return txns


def _rows_of_all(execute) -> list:
    """Every table's rows as sorted tuples (the default check), via ``execute(sql)``."""
    out = [("sqlite_schema", r) for r in sorted(execute(
        "SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name"))]
    tables = [r[1][1] for r in out if r[1][0] == "table" and not r[1][1].startswith("sqlite_")]
    for name in tables:
        q = name.replace('"', '""')
        out += [(name, r) for r in sorted(execute(f'SELECT * FROM "{q}"'), key=repr)]
    return out


def reference_states(txns: list[str], check: str | None) -> list:
    """states[i]: the check's result after the first i transactions, by Python's sqlite3."""
    con = sqlite3.connect(":memory:", isolation_level=None)

    def ex(sql):
        return [tuple(r) for r in con.execute(sql).fetchall()]

    def state():
        if not check:
            return _rows_of_all(ex)
        try:
            return ex(check)
        except sqlite3.OperationalError as e:  # e.g. before the schema exists
            return ("error", str(e))

    states = [state()]
    for i, t in enumerate(txns):
        try:
            con.executescript(t)
        except sqlite3.Error as e:
            raise WalkitError(f"script: transaction {i + 1} fails in the reference: {e}") from None
        states.append(state())
    return states


def _target_state(t: Target, check: str | None, sync: str, db: str):
    c = t.console
    c.open("u", db)
    c.sql("u", f"PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}")
    integrity = c.sql("u", "PRAGMA integrity_check").rows[0][0]

    def ex(sql):
        return [tuple(r) for r in c.sql("u", sql).rows]

    if not check:
        return integrity, _rows_of_all(ex)
    try:
        return integrity, ex(check)
    except SqlError as e:  # the reference's ("error", message) for the same query
        if e.primary in (SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_IOERR):
            raise WalkitError(f"check query: {e}") from None
        return integrity, ("error", e.message)


def run_script_point(board: str, image, base: Path, workdir: Path, txns: list[str],
                     states: list, check: str | None, point: int, model: str, sync: str,
                     seed: int, storage: str = "littlefs") -> dict:
    """One cut point of a script workload; a result dict like runner.run_point's."""
    t0 = time.monotonic()
    db = target_path(storage, DB)
    pseed = mix(seed, point, sync == "full")
    d = workdir / f"s{point}-{model}-{sync}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    flash = d / "flash.img"
    shutil.copyfile(base, flash)
    res = {"point": point, "model": model, "sync": sync, "seed": seed, "ok": False, "reason": "",
           "acks": 0, "k": None, "second_cut": False}
    t = Target(board, image=image, flash=flash, workdir=d)
    try:
        first = BASE_MODELS[pseed % 3] if model == "double" else model
        t.boot()
        c = t.console
        c.open("u", db)
        c.sql("u", f"PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}")
        c.request(".fault", "arm", str(point), first, str(pseed & 0x7FFFFFFF))
        acked, status = 0, -1
        try:
            for sql in txns:
                c.sql("u", sql)
                acked += 1
        except TargetError:
            status = t.wait_exit(10.0)
        t.close()
        res["acks"] = acked
        if status != EXIT_CUT:
            raise WalkitError(f"the cut at operation {point} did not happen: the target "
                              f"{'finished the script' if status == -1 else describe_status(status)}")
        if model == "double":
            t = Target(board, image=image, flash=flash, workdir=d)
            t.boot()
            t.console.request(".fault", "arm", str(1 + (pseed >> 16) % 32),
                              BASE_MODELS[(pseed >> 8) % 3], str((pseed >> 1) & 0x7FFFFFFF))
            try:
                _target_state(t, check, sync, db)
                t.console.close_conn("u")
            except TargetError:
                res["second_cut"] = t.wait_exit(10.0) == EXIT_CUT
            t.close()
        t = Target(board, image=image, flash=flash, workdir=d)
        t.boot()
        integrity, got = _target_state(t, check, sync, db)
        t.close()
        lo = acked if sync == "full" else 0
        match = [j for j in range(lo, min(acked + 1, len(txns)) + 1) if states[j] == got]
        if integrity != "ok":
            res["reason"] = f"integrity_check: {integrity}"
        elif not match:
            res["reason"] = (f"the state after the cut is none of the reference states "
                             f"{lo}..{min(acked + 1, len(txns))} ({acked} acknowledged)")
        else:
            res["ok"], res["k"] = True, match[-1]
    except (WalkitError, OSError) as e:
        res["reason"] = str(e).splitlines()[0]
    finally:
        t.close()
    res["seconds"] = time.monotonic() - t0
    if res["ok"]:
        shutil.rmtree(d, ignore_errors=True)
    else:
        from .runner import keep_failure

        keep_failure(d, flash)
        res["kept"] = str(d)
    return res


def power_cut_campaign(board: str, script: str | list[str], *, check: str | None = None,
                       models=("nor",), syncs=("full",), points: str = "10", seed: int = 1,
                       image=None, workdir=None, storage: str = "littlefs") -> dict:
    """Runs a script workload under power cuts; returns a report like run_campaign's
    (``points``, ``failures`` with ``replay``, ``by_model``).  ``script``: SQL text or a
    list of transactions; ``storage``: littlefs or pool."""
    from ..build import build
    from .campaign import prepare_base

    db = target_path(storage, DB)
    txns = split_transactions(script) if isinstance(script, str) else list(script)
    states = reference_states(txns, check)
    image = Path(image) if image else build(board)
    own = workdir is None
    wd = Path(workdir or tempfile.mkdtemp(prefix="walkit-script-"))
    wd.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    base = prepare_base(board, image, wd)
    results, dry = [], {}
    for sync in syncs:
        with Target(board, image=image, flash=wd / "dry.img", workdir=wd / "dry") as t:
            shutil.copyfile(base, wd / "dry.img")
            t.boot()
            c = t.console
            c.open("u", db)
            c.sql("u", f"PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}")
            c.request(".fault", "arm", "0", "nor", str(seed))
            for sql in txns:
                c.sql("u", sql)
            st = dict(c.request(".fault", "status").rows)
        dry[sync] = {"total": st["ops"], "hash": st["hash"]}
        for i, p in enumerate(select_points(points, st["ops"], seed)):
            m = models[i % len(models)]
            results.append(run_script_point(board, image, base, wd, txns, states, check, p, m,
                                            sync, seed, storage))
    elapsed = time.monotonic() - t0
    failures = [dict(r, replay=f"walkit campaign --board {board} --storage {storage} "
                     f"--workload SCRIPT --model "
                     f"{r['model']} --sync {r['sync']} --seed {seed} --points list:{r['point']}")
                for r in results if not r["ok"]]
    if own and not failures:  # a failure's image and log stay, with the rest of its folder
        shutil.rmtree(wd, ignore_errors=True)
    by_model = {m: {"points": sum(1 for r in results if r["model"] == m),
                    "failures": sum(1 for r in results if r["model"] == m and not r["ok"])}
                for m in models}
    return {"board": board, "storage": storage, "seed": seed, "txns": len(txns),
            "models": list(models), "syncs": list(syncs), "points": len(results),
            "failures": failures, "by_model": by_model, "dry_runs": dry, "workers": 1,
            "second_cuts": sum(1 for r in results if r.get("second_cut")),
            "seconds": round(elapsed, 2), "load_average": list(os.getloadavg()),
            "points_per_minute": round(len(results) / max(elapsed, 1e-9) * 60, 1),
            "results": results}


def run_script_campaign(path: str, *, board, models, syncs, points, seed, check, image, workdir,
                        json_path, storage: str = "littlefs") -> dict:
    """``walkit campaign --workload FILE``."""
    import json

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise WalkitError(f"--workload {path}: {e.strerror}") from None
    report = power_cut_campaign(board, text, check=check, models=models, syncs=syncs,
                                points=points, seed=seed, image=image, workdir=workdir,
                                storage=storage)
    for f in report["failures"]:
        f["replay"] = f["replay"].replace("SCRIPT", path)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report
