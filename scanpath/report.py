"""Rebuild ``report.html`` from a run dir's written files, without running any model:

    python -m scanpath.report <run dir>

Reads ``metrics.json`` (validated against the one schema) and ``report_data.json`` (the playback
records written by the evaluation), embeds the run's figures and writes ``<run dir>/report.html``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scanpath.evaluation.html_report import write_html_report
from scanpath.evaluation.report import EvaluationResult, load_metrics


def rebuild(run_dir: str | Path) -> Path:
    """Write ``report.html`` for ``run_dir`` from its ``metrics.json`` and ``report_data.json``."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run dir {str(run)!r} does not exist")
    metrics = run / "metrics.json"
    if not metrics.is_file():
        raise FileNotFoundError(f"{str(metrics)!r} not found: is {str(run)!r} an evaluation run dir?")
    payload = load_metrics(metrics)
    result = EvaluationResult(settings=payload["settings"], rows=payload["rows"], skipped=payload["skipped"],
                              figures=payload["figures"])
    return write_html_report(result, run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scanpath.report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="an evaluation run dir (holds metrics.json)")
    args = parser.parse_args(argv)
    try:
        path = rebuild(args.run_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
