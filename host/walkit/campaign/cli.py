"""``walkit campaign``: power cuts at chosen flash operations of a workload, each verified."""

from __future__ import annotations

import os
import sys

from .points import POINTS_HELP


def register(sub) -> None:
    p = sub.add_parser("campaign", help="power-cut campaign: cut at flash operations, recover, verify",
                       description="Runs the workload once uncut (the dry run: T operations), then "
                       "once per cut point with the power cut at that operation, and verifies each "
                       "recovered image on the target and on the host (docs/recovery.md).")
    p.add_argument("--board", "-b", default=os.environ.get("WALKIT_BOARD", "qemu-virt-a15"))
    p.add_argument("--storage", default="littlefs",
                   help="where the database is: littlefs (default) or pool (the flash pool)")
    p.add_argument("--model", default="nor",
                   help="nor, torn, ooo, double, a comma list, or all (default nor)")
    p.add_argument("--sync", default="full", help="synchronous level: full, normal or both")
    p.add_argument("--workload", default="builtin",
                   help="builtin (generated on the target from --seed) or a SQL script file")
    p.add_argument("--check", default=None,
                   help="script workloads: the query whose result is compared (default: every table)")
    p.add_argument("--txns", type=int, default=None,
                   help="builtin: transactions (default 6; with --corrupt 4)")
    p.add_argument("--points", default="20", help=POINTS_HELP + " (default 20)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", "-j", type=int, default=0, help="parallel targets (default: one per CPU)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the points on a Dask distributed scheduler (or local:N for a "
                   "LocalCluster of N workers)")
    p.add_argument("--image", default=None, help="firmware image (default: walkit build)")
    p.add_argument("--workdir", default=None, help="keep points here (failures stay)")
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--corrupt", type=int, default=0, metavar="IMAGES",
                   help="run the corruption campaign instead: IMAGES damaged copies of a good "
                   "image (the database, its WAL, raw storage blocks), each booted and checked "
                   "(uses --board, --storage, --seed, --txns, --jobs, --image, --workdir, --json)")
    p.set_defaults(func=cmd_campaign)


def cmd_campaign(args) -> int:
    from .campaign import SYNCS, Config, run_campaign, summary
    from .runner import MODELS

    if args.corrupt:
        return _corrupt(args)
    models = MODELS if args.model == "all" else tuple(m.strip() for m in args.model.split(","))
    syncs = SYNCS if args.sync == "both" else (args.sync,)
    if args.workload != "builtin":
        from .script import run_script_campaign

        report = run_script_campaign(args.workload, board=args.board, models=models, syncs=syncs,
                                     points=args.points, seed=args.seed, check=args.check,
                                     image=args.image, workdir=args.workdir,
                                     json_path=args.json_path, storage=args.storage)
    else:
        cfg = Config(board=args.board, storage=args.storage, models=models, syncs=syncs,
                     seed=args.seed, txns=6 if args.txns is None else args.txns,
                     points=args.points, jobs=args.jobs,
                     dask=args.dask, workdir=args.workdir, image=args.image,
                     json_path=args.json_path,
                     progress=not args.no_progress and sys.stderr.isatty())
        report = run_campaign(cfg)
    print(summary(report))
    return 1 if report["failures"] else 0



def _corrupt(args) -> int:
    import json

    from .corrupt import corruption_campaign

    report = corruption_campaign(args.board, images=args.corrupt, seed=args.seed,
                                 txns=4 if args.txns is None else args.txns, image=args.image,
                                 workdir=args.workdir, jobs=args.jobs, storage=args.storage)
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(report, fh, indent=1)
    cases = ", ".join(f"{name} {c['ok']} ok/{c['bad']} bad" for name, c in report["by_case"].items())
    print(f"corruption campaign, {report['board']} ({report['storage']}): {report['points']} "
          f"images, {len(report['failures'])} failures, {report['seconds']} s; {cases}")
    for f in report["failures"][:10]:
        print(f"  image {f['index']} ({f['where']}/{f['kind']}, {f.get('damage', '?')}): {f['reason']}"
              + (f" [kept in {f['kept']}]" if f.get("kept") else ""))
    return 1 if report["failures"] else 0
