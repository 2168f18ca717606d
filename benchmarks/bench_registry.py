"""Benchmark: the registry path ``score_scanpaths`` for the string metrics vs the loop a user writes
from the same ``Scanpath`` objects.

Same data as ``bench_metrics.py`` (N predictions × K humans of the same stimulus, lengths U[3, 16],
512×320, durations in ms). For SS, SS-time (labels repeated ⌊T / 50 ms⌋ times) and SED (Levenshtein
distance) it times, in one process, round-robin (best of R):

* ours: ``score_scanpaths(predictions, humans, {metric: None})`` — labelling, pairing by stimulus,
  the batched metric, the per-prediction mean and the mean over predictions, with its checks;
* reference: a plain loop from the same scanpaths — ``GridLabeler`` per scanpath, a character
  string per scanpath, one rapidfuzz call per (prediction, human) pair, the mean per prediction and
  over predictions;

and checks that both give the same value (|Δ| ≤ 1e-12; the two sum in different orders). Run with
one thread:

    OMP_NUM_THREADS=1 python benchmarks/bench_registry.py --n-pred 1000 --n-hum 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's scanpath, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch

from bench_metrics import make_data
from scanpath.metrics import score_scanpaths
from scanpath.metrics.labelers import GridLabeler


def user_loop(preds, humans, scorer, norm: bool, bin_ms: float | None = None) -> float:
    """The per-pair loop from scanpaths (see the module docstring)."""
    lab = GridLabeler((5, 5))

    def text(s):
        labels = lab(s).tolist()
        if bin_ms is not None:
            reps = [max(int(t // bin_ms), 0) for t in s.duration.tolist()]
            labels = [c for c, r in zip(labels, reps) for _ in range(r)]
        return "".join(map(chr, labels))

    by_stim: dict = {}
    for h in humans:
        by_stim.setdefault(h.stimulus, []).append(text(h))
    per = []
    for p in preds:
        a = text(p)
        vals = []
        for b in by_stim.get(p.stimulus, []):
            if norm:
                mx = max(len(a), len(b))
                if mx:
                    vals.append(scorer(a, b) / mx)
            elif a or b:
                vals.append(scorer(a, b))
        if vals:
            per.append(sum(vals) / len(vals))
    return sum(per) / len(per)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-pred", type=int, default=1000)
    ap.add_argument("--n-hum", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from rapidfuzz.distance import LCSseq, Levenshtein

    preds, humans, _, _ = make_data(args.n_pred, args.n_hum, args.seed)
    print(f"# bench_registry: {args.n_pred} predictions × {args.n_hum} humans; best of {args.repeat}, round-robin; "
          f"load average {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    cases = [("ss", lambda: user_loop(preds, humans, LCSseq.similarity, True)),
             ("ss_time", lambda: user_loop(preds, humans, LCSseq.similarity, True, bin_ms=50.0)),
             ("sed", lambda: user_loop(preds, humans, Levenshtein.distance, False))]
    print(f"{'metric':<9}{'ours s':>9}{'loop s':>9}{'ratio':>8}{'|Δ|':>10}")
    ok = True
    warnings.simplefilter("ignore")
    for name, ref_fn in cases:
        def ours(name=name):
            return score_scanpaths(preds, humans, {name: None})[name]["value"]
        best, vals = [float("inf")] * 2, [None] * 2
        for _ in range(max(args.repeat, 1)):
            for k, fn in enumerate((ours, ref_fn)):
                t0 = time.perf_counter()
                vals[k] = fn()
                best[k] = min(best[k], time.perf_counter() - t0)
        d = abs(vals[0] - vals[1])
        ok &= d <= 1e-12
        print(f"{name:<9}{best[0]:>9.4f}{best[1]:>9.4f}{best[1] / best[0]:>7.1f}×{d:>10.1e}")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    if not ok:
        raise SystemExit("values differ from the loop")


if __name__ == "__main__":
    main()
