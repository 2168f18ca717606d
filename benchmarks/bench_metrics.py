"""Benchmark: batched scanpath metrics vs the per-pair loops a user would otherwise write.

N predicted scanpaths × K human scanpaths each (lengths uniform in [3, 16], 512×320 frame,
durations in ms). For each metric the script times, in one process on the same pairs,

* ours: the batched functional form ``score_scanpaths`` calls, on what the labelers hand it (the
  packed label arrays of ``GridLabeler.label_many``; points per scanpath as numpy arrays), all
  pairs in one call; any per-scanpath conversion is inside the timing,
* for the string metrics (``LCSseq.similarity`` / ``Levenshtein`` / ``DamerauLevenshtein`` /
  ``OSA``), like against like: (1) ours and a per-pair rapidfuzz loop on the same list of label
  arrays (the loop builds a character string once per scanpath, then calls once per pair, all
  inside the timing — what a user holding the library's input writes); (2) ours and a rapidfuzz
  loop on the same per-pair strings, prepared outside the timing (rapidfuzz's best case). Also
  shown: ours on the labelers' packed labels (what ``score_scanpaths`` passes), and, as a cross
  comparison, the prepared-strings loop against ours on packed labels (ours still has to turn the
  labels into strings),
* a plain-Python O(nm) double loop per pair (inputs as Python lists, prepared outside the timing),
* ``multimatch_gaze.docomparison`` (PyPI 0.1.3) looped over pairs for MultiMatch,

and checks identical per-pair values (max |Δ| vs every reference, ≤ 1e-9; and, where the library
has the torch anti-diagonal kernel as its CUDA path, max |Δ| to that kernel run on CPU: 0 except
for Euclidean DTW / Fréchet, where torch's CPU ``sqrt`` is one ulp off on ~1 % of inputs and the
compiled kernel's IEEE ``sqrt`` equals the plain-Python loop exactly). The
slow references (multimatch-gaze, plain-Python SBTDE) are timed on a seeded random subset of
``--slow-subset`` pairs and extrapolated per pair (said in the output). Run with one thread:

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_metrics.py --n-pred 1000 --n-hum 10
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's scanpath, not an installed one

import numpy as np
import torch

from scanpath.metrics import geometric, sequence
from scanpath.metrics.labelers import GridLabeler
from scanpath.types import Scanpath

try:  # renamed in the metrics layout change (issue 12)
    from scanpath.metrics.multimatch_scoring import multimatch_batch
except ImportError:  # pragma: no cover - the code before the rename
    from scanpath.metrics.multimatch_impl import multimatch_batch

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


# ----------------------------------------------------------------------------- plain-Python references
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


def lev_py(a, b):
    n, m = len(a), len(b)
    prev = list(range(m + 1))
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        ai = a[i - 1]
        for j in range(1, m + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ai != b[j - 1]))
        prev = cur
    return prev[m]


def dl_py(a, b):
    """Unrestricted Damerau–Levenshtein (Lowrance–Wagner)."""
    n, m = len(a), len(b)
    big = n + m
    D = [[big] * (m + 2) for _ in range(n + 2)]
    for i in range(n + 1):
        D[i + 1][1] = i
    for j in range(m + 1):
        D[1][j + 1] = j
    last = {}
    for i in range(1, n + 1):
        db = 0
        for j in range(1, m + 1):
            k, l = last.get(b[j - 1], 0), db
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if not cost:
                db = j
            D[i + 1][j + 1] = min(D[i][j] + cost, D[i + 1][j] + 1, D[i][j + 1] + 1,
                                  D[k][l] + (i - k - 1) + 1 + (j - l - 1))
        last[a[i - 1]] = i
    return D[n + 1][m + 1]


def osa_py(a, b):
    n, m = len(a), len(b)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[n][m]


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
            dx, dy = xi - y[j - 1][0], yi - y[j - 1][1]
            D[i][j] = math.sqrt(dx * dx + dy * dy) + min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1])
    return D[n][m]


def frechet_py(x, y):
    n, m = len(x), len(y)
    inf = float("inf")
    D = [[inf] * (m + 1) for _ in range(n + 1)]
    D[0][0] = -inf
    for i in range(1, n + 1):
        xi, yi = x[i - 1]
        for j in range(1, m + 1):
            dx, dy = xi - y[j - 1][0], yi - y[j - 1][1]
            D[i][j] = max(math.sqrt(dx * dx + dy * dy), min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1]))
    return D[n][m]


def sbtde_py(a, b, k=3):
    if len(a) < k or len(b) < k:
        return float("nan")
    wa = [a[i:i + k] for i in range(len(a) - k + 1)]
    wb = [b[i:i + k] for i in range(len(b) - k + 1)]
    return sum(min(dl_py(x, y) for y in wb) for x in wa) / len(wa) / k


def best_of(fn, repeat: int):
    """(result, best wall time over ``repeat`` runs)."""
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def best_of_interleaved(fns, repeat: int):
    """[(result, best wall time)] of several functions run round-robin ``repeat`` times, so that a
    burst of load on the shared machine hits ours and the reference alike."""
    best, outs = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(max(repeat, 1)):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return list(zip(outs, best))


def _maxdiff(x, y) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    ok = ~np.isnan(x)
    return float(np.max(np.abs(x[ok] - y[ok]))) if ok.any() else 0.0


def _accepts(fn, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-pred", type=int, default=1000)
    ap.add_argument("--n-hum", type=int, default=10)
    ap.add_argument("--slow-subset", "--ref-subset", type=int, default=1000,
                    help="pairs the slow references (multimatch-gaze, plain-Python SBTDE) run on (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5, help="best of R runs (ours and the fast references)")
    ap.add_argument("--only", default="", help="comma-separated metric names to run (default all)")
    ap.add_argument("--device", default="cpu", help="device of the torch anti-diagonal kernels in the last column "
                    "(gpu_suite.sh passes cuda); everything else runs on the CPU")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(1)
        nb = f"numba {numba.__version__} threads {numba.get_num_threads()}"
    except ImportError:
        nb = "no numba"
    import rapidfuzz
    from rapidfuzz.distance import LCSseq, Levenshtein, OSA, DamerauLevenshtein

    preds, humans, li, ri = make_data(args.n_pred, args.n_hum, args.seed)
    P = len(li)
    rng = np.random.default_rng(args.seed + 1)
    slow = (np.sort(rng.choice(P, args.slow_subset, replace=False)) if 0 < args.slow_subset < P else np.arange(P))
    print(f"# bench_metrics: {args.n_pred} predictions × {args.n_hum} humans = {P} pairs; lengths U[3,16]; "
          f"{W}×{H}; torch threads {torch.get_num_threads()}; {nb}; rapidfuzz {rapidfuzz.__version__}; "
          f"{platform.processor() or platform.machine()}; best of {args.repeat} (string rows: round-robin); "
          f"load average {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# slow references (multimatch-gaze, plain-Python SBTDE) timed on {len(slow)} seeded pairs, "
          f"extrapolated per pair to {P}")
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731
    rows = []  # (metric, ours s, [(ref name, ref s, max|Δ|)], torch-identical or None)

    def torch_same(fn, ours, *a, **kw):
        """(max |Δ|, seconds) of the torch anti-diagonal kernel (the CUDA path) on ``--device``, timed
        after one warm-up call (None: the metric has no torch path)."""
        if not _accepts(fn, "backend"):
            return None
        if _accepts(fn, "device"):
            kw["device"] = args.device
        fn(*a, backend="torch", **kw)  # warm-up (CUDA context, kernel caches)
        sync = torch.cuda.synchronize if str(args.device).startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        out = fn(*a, backend="torch", **kw)
        sync()
        return _maxdiff(out, ours), time.perf_counter() - t0

    # warm-up: compile / load cached kernels outside the timings
    lab5 = GridLabeler((5, 5))
    lp, lh = lab5.label_many(preds), lab5.label_many(humans)  # packed, as score_scanpaths gets them
    lpl_arr, lhl_arr = list(lp), list(lh)  # the same labels as a plain list of arrays, built outside the timings
    chars = lambda ls: ["".join(map(chr, x.tolist())) for x in ls]  # noqa: E731
    sp_, sh_ = chars(lp), chars(lh)
    lpl, lhl = [x.tolist() for x in lp], [x.tolist() for x in lh]
    li_l, ri_l = li.tolist(), ri.tolist()
    pairs_s = [(sp_[i], sh_[j]) for i, j in zip(li_l, ri_l)]
    pairs_l = [(lpl[i], lhl[j]) for i, j in zip(li, ri)]
    S = sequence.scanmatch_substitution(16, 12, 3.5)
    xp, xh = [s.xy for s in preds], [s.xy for s in humans]
    w = min(20, len(lp))  # warm-up pairs (aligned: as many on each side)
    for fn in (sequence.sequence_score, sequence.levenshtein, sequence.damerau_levenshtein):
        fn(lp[:w], lh[:w])
    sequence.scanmatch_score(lp[:w], lh[:w], sequence.scanmatch_substitution(5, 5, 3.5))
    geometric.dtw(xp[:w], xh[:w])
    geometric.frechet(xp[:w], xh[:w])
    sequence.window_edit_distance(lp[:w], lh[:w])

    # ---------------------------------------------------------------- string metrics (5×5 grid labels)
    def rf_from_labels(rf_fn, norm):
        """The rapidfuzz loop as written from the library's input (label arrays, as a plain list):
        strings built once per scanpath, then one call per pair — all inside the timing."""
        def run():
            a_s, b_s = chars(lpl_arr), chars(lhl_arr)
            if norm:
                return [rf_fn(a_s[i], b_s[j]) / max(len(a_s[i]), len(b_s[j])) for i, j in zip(li_l, ri_l)]
            return [rf_fn(a_s[i], b_s[j]) for i, j in zip(li_l, ri_l)]
        return run

    qa_s, qb_s = [a for a, _ in pairs_s], [b for _, b in pairs_s]  # per-pair strings, built outside the timings

    def string_row(name, ours_fn, rf_fn, py_fn, norm):
        if norm:
            rf_str = lambda: [rf_fn(a, b) / max(len(a), len(b)) for a, b in zip(qa_s, qb_s)]  # noqa: E731
            py, t_py = best_of(lambda: [py_fn(a, b) / max(len(a), len(b)) for a, b in pairs_l], args.repeat)
        else:
            rf_str = lambda: [rf_fn(a, b) for a, b in zip(qa_s, qb_s)]  # noqa: E731
            py, t_py = best_of(lambda: [py_fn(a, b) for a, b in pairs_l], args.repeat)
        (ours, t), (ours_s, t_s), (ours_l, t_list), (rf, t_rf), (rf2, t_rf2) = best_of_interleaved(
            [lambda: ours_fn(lp, lh, li, ri), lambda: ours_fn(qa_s, qb_s), lambda: ours_fn(lpl_arr, lhl_arr, li, ri),
             rf_str, rf_from_labels(rf_fn, norm)], args.repeat)
        string_rows.append((name, t, t_s, t_list, t_rf2, t_rf, t_py))
        rows.append((name, t, [("rapidfuzz loop, from label list", t_rf2, _maxdiff(ours, rf2)),
                               ("ours on label list | rf loop, list", t_rf2, _maxdiff(ours_l, rf2), t_list),
                               ("ours on strings | rf loop, strings", t_rf, _maxdiff(ours_s, rf), t_s),
                               ("rapidfuzz loop, strings (cross)", t_rf, _maxdiff(ours, rf)),
                               ("plain-Python loop", t_py, _maxdiff(ours, py))],
                     torch_same(ours_fn, ours, lp, lh, li, ri) if ours_fn is not sequence.damerau_levenshtein else None))

    string_rows = []  # (metric, ours labels, ours strings, ours list of arrays, rf labels, rf strings, python)
    if want("ss"):
        string_row("SS (LCS/max)", sequence.sequence_score, LCSseq.similarity, lcs_py, True)
    if want("lev"):
        string_row("Levenshtein", sequence.levenshtein, Levenshtein.distance, lev_py, False)
    if want("dl"):
        string_row("Damerau–Lev.", sequence.damerau_levenshtein, DamerauLevenshtein.distance, dl_py, False)
    osa = getattr(sequence, "optimal_string_alignment", None)
    if want("osa") and osa is not None:
        string_row("OSA", osa, OSA.distance, osa_py, False)

    # ---------------------------------------------------------------- ScanMatch (16×12 on 512×320)
    if want("scanmatch"):
        g = GridLabeler((16, 12))
        ga, gb = g.label_many(preds), g.label_many(humans)
        ours, t = best_of(lambda: sequence.scanmatch_score(ga, gb, S, 3.5, 0.0, li, ri), args.repeat)
        Sl = S.tolist()
        gal, gbl = [x.tolist() for x in ga], [x.tolist() for x in gb]
        ref, t_py = best_of(lambda: [nw_py(gal[i], gbl[j], Sl) / (3.5 * max(len(gal[i]), len(gbl[j])))
                                     for i, j in zip(li, ri)], args.repeat)
        rows.append(("ScanMatch", t, [("plain-Python NW loop", t_py, _maxdiff(ours, ref))],
                     torch_same(sequence.scanmatch_score, ours, ga, gb, S, 3.5, 0.0, li, ri)))

    # ---------------------------------------------------------------- DTW / Fréchet (Euclidean px)
    xpl, xhl = [x.tolist() for x in xp], [x.tolist() for x in xh]
    for name, fn, ref_fn in (("DTW", geometric.dtw, dtw_py), ("Fréchet", geometric.frechet, frechet_py)):
        if not want(name.lower().replace("é", "e")):
            continue
        ours, t = best_of(lambda: fn(xp, xh, li=li, ri=ri), args.repeat)
        ref, t_py = best_of(lambda: [ref_fn(xpl[i], xhl[j]) for i, j in zip(li, ri)], args.repeat)
        rows.append((name, t, [(f"plain-Python {name} loop", t_py, _maxdiff(ours, ref))],
                     torch_same(fn, ours, xp, xh, li=li, ri=ri)))

    # ---------------------------------------------------------------- SBTDE (window edit distance, k=3)
    if want("sbtde"):
        ours, t = best_of(lambda: sequence.window_edit_distance(lp, lh, 3, True, li, ri), args.repeat)
        t0 = time.perf_counter()
        ref = [sbtde_py(lpl[li[p]], lhl[ri[p]]) for p in slow]
        t_py = (time.perf_counter() - t0) * P / len(slow)
        rows.append(("SBTDE (k=3)", t, [("plain-Python loop (extrap.)", t_py, _maxdiff(ours[slow], ref))], None))

    # ---------------------------------------------------------------- MultiMatch
    if want("multimatch"):
        import multimatch_gaze as mg

        fix_p = [np.column_stack([s.x, s.y, s.duration / 1000]) for s in preds]
        fix_h = [np.column_stack([s.x, s.y, s.duration / 1000]) for s in humans]
        ours, t = best_of(lambda: multimatch_batch(fix_p, fix_h, li, ri, screen_size=(W, H)), args.repeat)
        rec = lambda a: np.rec.fromarrays([a[:, 0], a[:, 1], a[:, 2]], names="start_x,start_y,duration")  # noqa: E731
        rp, rh = [rec(a) for a in fix_p], [rec(a) for a in fix_h]
        ref = np.empty((len(slow), 5))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, p in enumerate(slow):
                ref[k] = mg.docomparison(rp[li[p]], rh[ri[p]], [W, H])
        t_ref = (time.perf_counter() - t0) * P / len(slow)
        same = (_maxdiff(multimatch_batch(fix_p, fix_h, li, ri, screen_size=(W, H), backend="torch"), ours)
                if _accepts(multimatch_batch, "backend") else None)
        rows.append(("MultiMatch", t, [("multimatch-gaze loop (extrap.)", t_ref, _maxdiff(ours[slow], ref))], same))

    print(f"{'metric':<15}{'ours s':>9}  {'reference':<36}{'ref s':>9}{'ratio':>9}{'max|Δ|':>10}  identical  "
          f"torch kernel on {args.device}: max|Δ| (s)")
    ok = True
    for name, t, refs, same in rows:
        same, t_torch = same if isinstance(same, tuple) else (same, None)
        for k, ref in enumerate(refs):
            rname, tr, d = ref[:3]
            t_own = ref[3] if len(ref) > 3 else t  # a reference compared with its own "ours" time
            ident = d <= 1e-9
            ok &= ident and (same is None or same <= 1e-9)
            tsame = "" if k else ("n/a" if same is None else ("identical" if same == 0 else f"max|Δ| {same:.1e}"))
            if not k and t_torch is not None:
                tsame += f" ({t_torch:.4f} s)"
            ours_s = f"{t_own:>9.4f}" if (not k or len(ref) > 3) else " " * 9
            print(f"{name if not k else '':<15}{ours_s}  {rname:<36}{tr:>9.4f}"
                  f"{tr / t_own:>8.1f}×{d:>10.1e}  {'yes' if ident else 'NO':<9}  {tsame}")
    if string_rows:
        print("\n# string metrics, like against like: each ratio = the reference / ours on the same input")
        print(f"{'metric':<15}{'ours packed':>12}{'ours list':>10}{'rf list':>9}{'ratio':>8}{'ours str':>10}"
              f"{'rf str':>9}{'ratio':>8}{'python':>9}{'ratio':>8}{'cross':>8}")
        for name, t, t_s, t_list, t_rf2, t_rf, t_py in string_rows:
            print(f"{name:<15}{t:>12.4f}{t_list:>10.4f}{t_rf2:>9.4f}{t_rf2 / t_list:>7.1f}×{t_s:>10.4f}{t_rf:>9.4f}"
                  f"{t_rf / t_s:>7.1f}×{t_py:>9.4f}{t_py / t:>7.1f}×{t_rf / t:>7.1f}×")
        print("# packed = the labelers' form (what score_scanpaths passes); list = the same labels as a list of arrays "
              "(rf list: strings built from it inside the timing); str = per-pair strings given to both; python = "
              "plain-Python loop on label lists vs ours packed; cross = rf loop on given strings / ours packed")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    if not ok:
        raise SystemExit("results differ from a reference")


if __name__ == "__main__":
    main()
