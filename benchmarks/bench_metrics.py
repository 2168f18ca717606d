"""Benchmark: batched scanpath metrics vs per-pair reference loops.

N predicted scanpaths × K human scanpaths each (lengths uniform in [3, 16], 512×320 frame,
durations in seconds). For each metric the script times

* ours: the batched functional form used by ``score_scanpaths`` (labels / representations built
  once per scanpath, all pairs in one call on the anti-diagonal kernel), and
* the reference: ``multimatch_gaze.docomparison`` (PyPI 0.1.3) looped over pairs for MultiMatch,
  and plain-Python O(nm) double loops per pair for SS (LCS), ScanMatch (Needleman–Wunsch) and DTW,

checks that both give identical per-pair values (max |Δ| printed, must be ≤ 1e-6) and prints the
ratio. ``--ref-subset S`` times the reference on a seeded random subset of S pairs only and
extrapolates per pair (said explicitly in the output). Run with OMP_NUM_THREADS=1.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py --n-pred 1000 --n-hum 10
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings

import numpy as np
import torch

from scanpath.metrics import geometric, sequence
from scanpath.metrics.labelers import GridLabeler
from scanpath.metrics.multimatch_impl import multimatch_batch
from scanpath.types import Scanpath

W, H = 512, 320


def make_data(n_pred: int, n_hum: int, seed: int):
    rng = np.random.default_rng(seed)

    def sp(subj, stim):
        n = int(rng.integers(3, 17))
        return Scanpath(rng.uniform(0, W, n), rng.uniform(0, H, n), rng.uniform(80, 600, n), stimulus=stim,
                        subject=subj, image_size=(W, H))
    preds = [sp(1, f"img{i}") for i in range(n_pred)]
    humans = [sp(j, f"img{i}") for i in range(n_pred) for j in range(n_hum)]
    li = np.repeat(np.arange(n_pred), n_hum)
    ri = np.arange(n_pred * n_hum)
    return preds, humans, li, ri


# ----------------------------------------------------------------------------- plain references
def lcs_py(a, b):
    n, m = len(a), len(b)
    prev = [0] * (m + 1)
    for i in range(1, n + 1):
        cur = [0] * (m + 1)
        ai = a[i - 1]
        for j in range(1, m + 1):
            cur[j] = prev[j - 1] + 1 if ai == b[j - 1] else max(prev[j], cur[j - 1])
        prev = cur
    return prev[m]


def nw_py(a, b, S, gap=0.0):
    n, m = len(a), len(b)
    F = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        F[i][0] = gap * i
    for j in range(1, m + 1):
        F[0][j] = gap * j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            F[i][j] = max(F[i - 1][j - 1] + S[a[i - 1]][b[j - 1]], F[i - 1][j] + gap, F[i][j - 1] + gap)
    return F[n][m]


def dtw_py(x, y):
    n, m = len(x), len(y)
    inf = float("inf")
    D = [[inf] * (m + 1) for _ in range(n + 1)]
    D[0][0] = 0.0
    for i in range(1, n + 1):
        xi, yi = x[i - 1]
        for j in range(1, m + 1):
            c = math.sqrt((xi - y[j - 1][0]) ** 2 + (yi - y[j - 1][1]) ** 2)
            D[i][j] = c + min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1])
    return D[n][m]


def best_of(fn, repeat: int):
    """(result, best wall time over ``repeat`` runs)."""
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-pred", type=int, default=1000)
    ap.add_argument("--n-hum", type=int, default=10)
    ap.add_argument("--ref-subset", type=int, default=0, help="time the references on S random pairs (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs for ours and the plain-Python loops "
                    "(the multimatch-gaze loop runs once: it takes minutes)")
    ap.add_argument("--device", default="cpu", help="torch default device for the batched kernels (gpu_suite.sh)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_device(args.device)
    preds, humans, li, ri = make_data(args.n_pred, args.n_hum, args.seed)
    P = len(li)
    rng = np.random.default_rng(args.seed + 1)
    sub = np.sort(rng.choice(P, args.ref_subset, replace=False)) if 0 < args.ref_subset < P else np.arange(P)
    print(f"# bench_metrics: {args.n_pred} predictions × {args.n_hum} humans = {P} pairs; lengths U[3,16]; "
          f"{W}×{H}; torch threads {torch.get_num_threads()}; {platform.processor() or platform.machine()}; "
          f"best of {args.repeat} (multimatch-gaze loop: 1 run)")
    if len(sub) < P:
        print(f"# references timed on a seeded random subset of {len(sub)} pairs and EXTRAPOLATED per pair to {P}")
    rows = []

    # ---------------------------------------------------------------- MultiMatch
    import multimatch_gaze as mg

    fix_p = [np.column_stack([s.x, s.y, s.duration / 1000]) for s in preds]
    fix_h = [np.column_stack([s.x, s.y, s.duration / 1000]) for s in humans]
    ours, t_ours = best_of(lambda: multimatch_batch(fix_p, fix_h, li, ri, screen_size=(W, H)), args.repeat)
    rec = lambda a: np.rec.fromarrays([a[:, 0], a[:, 1], a[:, 2]], names="start_x,start_y,duration")  # noqa: E731
    rp = [rec(a) for a in fix_p]
    rh = [rec(a) for a in fix_h]
    ref = np.empty((len(sub), 5))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, p in enumerate(sub):
            ref[k] = mg.docomparison(rp[li[p]], rh[ri[p]], [W, H])
    t_ref = (time.perf_counter() - t0) * P / len(sub)
    rows.append(("MultiMatch", "multimatch_gaze.docomparison loop", t_ours, t_ref, float(np.nanmax(np.abs(ours[sub] - ref)))))

    # ---------------------------------------------------------------- SS (grid 5×5 labels)
    lab = GridLabeler((5, 5))
    def run_ss():
        lp_, lh_ = lab.label_many(preds), lab.label_many(humans)
        return sequence.sequence_score(lp_, lh_, li, ri)

    ours, t_ours = best_of(run_ss, args.repeat)
    lp, lh = lab.label_many(preds), lab.label_many(humans)
    lpl = [x.tolist() for x in lp]
    lhl = [x.tolist() for x in lh]
    ref, t_ref = best_of(lambda: np.array([lcs_py(lpl[li[p]], lhl[ri[p]]) / max(len(lpl[li[p]]), len(lhl[ri[p]]))
                                           for p in sub]), args.repeat)
    t_ref *= P / len(sub)
    rows.append(("SS (LCS/max)", "plain-Python LCS loop", t_ours, t_ref, float(np.max(np.abs(ours[sub] - ref)))))

    # ---------------------------------------------------------------- ScanMatch (16×12 on 512×320)
    g = GridLabeler((16, 12))
    S = sequence.scanmatch_substitution(16, 12, 3.5)
    def run_sm():
        a_, b_ = g.label_many(preds), g.label_many(humans)
        return sequence.scanmatch_score(a_, b_, S, 3.5, 0.0, li, ri)

    ours, t_ours = best_of(run_sm, args.repeat)
    sp_, sh_ = g.label_many(preds), g.label_many(humans)
    Sl = S.tolist()
    spl = [x.tolist() for x in sp_]
    shl = [x.tolist() for x in sh_]
    ref, t_ref = best_of(lambda: np.array([nw_py(spl[li[p]], shl[ri[p]], Sl) / (3.5 * max(len(spl[li[p]]), len(shl[ri[p]])))
                                           for p in sub]), args.repeat)
    t_ref *= P / len(sub)
    rows.append(("ScanMatch", "plain-Python Needleman–Wunsch loop", t_ours, t_ref, float(np.max(np.abs(ours[sub] - ref)))))

    # ---------------------------------------------------------------- DTW
    ours, t_ours = best_of(lambda: geometric.dtw([s.xy for s in preds], [s.xy for s in humans], li=li, ri=ri),
                           args.repeat)
    xp = [s.xy for s in preds]
    xh = [s.xy for s in humans]
    xpl = [x.tolist() for x in xp]
    xhl = [x.tolist() for x in xh]
    ref, t_ref = best_of(lambda: np.array([dtw_py(xpl[li[p]], xhl[ri[p]]) for p in sub]), args.repeat)
    t_ref *= P / len(sub)
    rows.append(("DTW", "plain-Python DTW loop", t_ours, t_ref, float(np.max(np.abs(ours[sub] - ref)))))

    print(f"{'metric':<14}{'reference':<38}{'ours s':>9}{'ref s':>10}{'ratio':>9}{'max|Δ|':>11}  identical")
    ok = True
    for name, refname, to, tr, d in rows:
        same = d <= 1e-6
        ok &= same
        print(f"{name:<14}{refname:<38}{to:>9.3f}{tr:>10.3f}{tr / to:>8.1f}×{d:>11.2e}  {'yes' if same else 'NO'}")
    if not ok:
        raise SystemExit("results differ from the reference")


if __name__ == "__main__":
    main()
