"""Analyse upstream eccNET per-trial outputs (``vs_exp/eccNET/out/<model>/out_data/<exp>_<cond>.csv``).

docs/eccnet.md §3 / §5: the published asymmetry tables come from these one-hot ``found_at`` tables
(trials in set-size blocks, one-hot at column N, all zeros if unfound). This module reads a user's local
copy (never redistributed) and runs the §4 analysis on it, so the §5 rows can be checked:

    python -m scanpath.analysis.upstream_outputs /path/out/eccNET/out_data [--human-csv CSV]

Files are matched to conditions by their name ending ``_<condition>.csv``; when several condition ids
match (``..._non_cross.csv`` also ends in ``_cross.csv``) the longest wins.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.analysis.asymmetry import (
    EXPERIMENT_PAIRS,
    asymmetry_index,
    effective_fixations,
    markdown_table,
    read_found_at,
    read_human_rt,
    rt_slope,
    slope_correlation,
)
from scanpath.errors import ScanpathDataError
from scanpath.stimuli.asymmetry import CONDITIONS, experiment_of


def match_files(directory: str | Path) -> dict[str, Path]:
    """Condition id -> its ``*_<condition>.csv`` file in ``directory`` (conditions without a file are absent)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ScanpathDataError("directory not found", file=directory)
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.csv")):
        ids = [c for c in CONDITIONS if path.stem == c or path.stem.endswith("_" + c)]
        if not ids:
            continue
        cond = max(ids, key=len)
        if cond in found:
            raise ScanpathDataError(f"two files for condition {cond!r}: {found[cond].name} and {path.name}",
                                    file=path)
        found[cond] = path
    return found


def analyse_upstream_outputs(directory: str | Path, human_csv: str | Path | None = None,
                             human_slopes: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Slopes, asymmetry indices and the human-model slope correlation of one model's ``out_data``.

    The human slopes (which fix H/L per experiment) come from ``human_slopes`` when given, else from the
    human RT CSV (``human_csv``, default ../shared/data/asymmetry/human_rt_digitized.csv)."""
    files = match_files(directory)
    if not files:
        raise ScanpathDataError("no <exp>_<condition>.csv files for any asymmetry condition", file=directory)
    slopes: dict[str, float] = {}
    for cond, path in files.items():
        spec = experiment_of(cond)
        n = read_found_at(path)
        if len(n) != spec.n_trials:
            raise ScanpathDataError(f"{len(n)} rows, expected {spec.n_trials} trials of {cond} "
                                    f"({len(spec.set_sizes)} set sizes x {spec.trials_per_size})", file=path)
        set_size = np.repeat(np.asarray(spec.set_sizes), spec.trials_per_size)
        slopes[cond] = rt_slope(effective_fixations(np.maximum(n, 0), n >= 0, set_size), set_size)
    human = dict(human_slopes) if human_slopes is not None else {c: h.slope for c, h in read_human_rt(human_csv).items()}
    ai = asymmetry_index(slopes, human)
    corr = slope_correlation(slopes, {c: human[c] for c in slopes if c in human})
    return {"slopes": slopes, "asymmetry_index": ai, "slope_correlation": corr, "files": {c: str(p) for c, p in files.items()}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory", help="upstream out_data folder of one model")
    ap.add_argument("--human-csv", default=None, help="human RT CSV (default: ../shared/data/asymmetry/...)")
    args = ap.parse_args(argv)
    res = analyse_upstream_outputs(args.directory, args.human_csv)
    exps = [e for e in EXPERIMENT_PAIRS if e in res["asymmetry_index"]]
    ai = res["asymmetry_index"]
    print(markdown_table(["model", *exps, "mean"], [[Path(args.directory).parent.name, *[ai[e] for e in exps],
                                                    ai.get("mean", float("nan"))]]))
    print(markdown_table(["condition", "slope (ms/item)"], [[c, v] for c, v in res["slopes"].items()]))
    corr = res["slope_correlation"]
    print(f"Pearson r (human vs model slopes, n={corr['n']}): {corr['r']:.3f} (p = {corr['p']:.3f})")


if __name__ == "__main__":
    main()
