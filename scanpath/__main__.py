"""``python -m scanpath <command>``: ``score`` a predictions file against human fixations (docs/scoring.md),
``download`` a public dataset with checksums and its data config (docs/datasets.md).

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


def _add_download(sub: argparse._SubParsersAction) -> None:
    import os

    p = sub.add_parser("download", help="download a public dataset (checksums, resume, licence, data config)",
                       description="Download a dataset from its official location into --root, verify it, "
                                   "extract it atomically and print the Hydra overrides that point the data "
                                   "config at it (docs/datasets.md).")
    p.add_argument("dataset", nargs="?", help="dataset name (see --list)")
    p.add_argument("--list", action="store_true", help="list the datasets, their sources and checksum status")
    p.add_argument("--info", action="store_true", help="print the dataset's source, licence and files; download nothing")
    p.add_argument("--root", default=os.environ.get("SCANPATH_DATA_DIR", "data"),
                   help="folder the dataset is installed under, as <root>/<dataset> (default: $SCANPATH_DATA_DIR "
                        "or ./data, the paths.data_dir of the configs)")
    p.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                   help="accept the printed terms without the interactive prompt (remembered in the root)")
    p.add_argument("--sha256", action="append", metavar="[FILE=]HEX",
                   help="expected SHA-256 of a file (repeatable); a bare value when the dataset has one file")
    p.add_argument("--no-verify", action="store_true",
                   help="download files that have no published SHA-256 unverified (their SHA-256 is printed; "
                        "a third-party MD5 from the registry is still checked)")
    p.add_argument("--url", action="append", metavar="[FILE=]URL",
                   help="download a file from this URL instead (a mirror, or file:///path for a local copy)")
    p.add_argument("--force", action="store_true", help="download and install again over an existing install")
    p.add_argument("--keep-archives", action="store_true", help="keep the downloaded archives in <root>/.downloads")
    p.add_argument("--retries", type=int, default=3, help="resumed retries of an interrupted transfer (default 3)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds without a byte before an attempt is retried (default 30)")
    p.set_defaults(func=_run_download)


def _run_download(args: argparse.Namespace) -> int:
    from scanpath.download import REGISTRY, get_spec, install, report
    from scanpath.download.install import parse_file_values

    if args.list or not args.dataset:
        if not args.list:
            raise ValueError("name a dataset to download (python -m scanpath download --list shows them)")
        for name, spec in REGISTRY.items():
            checks = ", ".join(f"{f.name}: " + ("sha256" if f.sha256 else "md5 only" if f.md5 else
                                                 "no checksum" if f.url else "no URL") for f in spec.files)
            pad = " " * 22
            print(f"{name:22s} {spec.title}\n{pad} {spec.source}\n{pad} [{checks}]")
        return 0
    spec = get_spec(args.dataset)
    if args.info:
        print(spec.terms_text())
        for f in spec.files:
            print(f"  file {f.name}: {f.url or '(no URL)'}\n    sha256 {f.sha256 or '(unknown)'}"
                  + (f", md5 {f.md5} ({f.md5_source})" if f.md5 else "") + (f"\n    {f.note}" if f.note else ""))
        if spec.after:
            print(f"  manual step: {spec.after}")
        return 0
    inst = install(spec, args.root, accept_licence=args.accept_licence, no_verify=args.no_verify,
                   sha256=parse_file_values(args.sha256, spec, "sha256"), urls=parse_file_values(args.url, spec, "url"),
                   force=args.force, keep_archives=args.keep_archives, retries=args.retries, timeout=args.timeout)
    report(spec, inst)
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_score, _add_download]


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
