"""``python -m scanpath <command>``: ``score`` a predictions file against human fixations (docs/scoring.md).

Subcommands are small functions registered in :data:`COMMANDS`, so ``download`` and others slot in
next to ``score``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a predictions file against a human fixation file",
                       description="Score COCO-Search18-style predictions (ours, HAT, Gazeformer, IRL) against "
                                   "human fixations with a metric preset; writes metrics.json, metrics.md, "
                                   "figures/metrics_table.png and report.html.")
    p.add_argument("predictions", help="predictions JSON (records with name, X, Y; subject/T/length optional)")
    p.add_argument("--humans", required=True, help="human fixations JSON (COCO-Search18 interchange records)")
    p.add_argument("--metrics", default="hat", help="metric preset of conf/metrics/ (hat, gazeformer, irl, "
                                                     "coco_search18, default, …) or a path to a metrics YAML")
    p.add_argument("--frame", default=None, help="pixel frame WxH of the predictions file when it has no "
                                                 "sidecar (HAT/Gazeformer: 512x320)")
    p.add_argument("--humans-frame", default=None, help="pixel frame WxH of the human file (default: its "
                                                        "sidecar, else 1680x1050)")
    p.add_argument("--key", choices=("task", "stimulus"), default=None,
                   help="evaluation key (default: task when every record has one)")
    p.add_argument("--model", default=None, help="row name (default: the sidecar's model, else the file name)")
    p.add_argument("--out", default=None, help="output folder (default: scores/<predictions file stem>)")
    p.add_argument("--no-human-row", action="store_true", help="skip the leave-one-subject-out human row")
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scanpath.scoring import score

    out = args.out or str(Path("scores") / Path(args.predictions).stem)
    score(args.predictions, args.humans, args.metrics, frame=args.frame, humans_frame=args.humans_frame,
          key=args.key, model=args.model, out_dir=out, human_consistency=not args.no_human_row, console=True)
    print(f"outputs written to {out} (metrics.json, metrics.md, report.html)")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_score]


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from scanpath.errors import ScanpathDataError

    prog = "scanpath" if sys.argv[0].endswith("scanpath") else "python -m scanpath"  # console script or -m
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except (ScanpathDataError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
