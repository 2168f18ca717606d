"""String metrics on label sequences, batched over pairs (docs/metrics.md §2.2, §2.4).

Every function takes two lists of 1-D integer label arrays (pair ``k`` compares ``a[k]`` with
``b[k]``, or ``a[li[k]]`` with ``b[ri[k]]``) and returns a float64 numpy array with one value per
pair. The lists may be :class:`~scanpath.metrics._packing.Packed` (what the labelers return: no
per-scanpath conversion) or lists of ``str`` (one character per label, e.g. strings a user built
already: rapidfuzz then scores them as given).

Backends (``backend=``): ``"native"`` runs on the CPU libraries made for the job — rapidfuzz for
LCS / Levenshtein / Damerau–Levenshtein / OSA (each label string mapped to a character string once,
all pairs in one ``rapidfuzz.process.cpdist`` call) and the numba kernels of
:mod:`scanpath.metrics._dp` for Needleman–Wunsch and the window edit distance; ``"torch"`` runs the
anti-diagonal kernel :func:`scanpath.metrics._kernel.wavefront` on ``device`` (the GPU path);
``"auto"`` (default) is native, also when a CUDA ``device`` is given: on an H200 the torch kernel took
0.04–0.06 s for 10,000 pairs (lengths 3–16) where the CPU libraries took 0.002–0.008 s
(benchmarks/RESULTS.md, GPU section), so it does not win there. Both give identical values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from scanpath.metrics._kernel import pad_sequences, wavefront_final
from scanpath.metrics._packing import _all_str, is_strings, lengths, pack, strings
from scanpath.metrics.inputs import LABEL_DEFAULTS, MIN_FIXATIONS, pad_ones as _pad_ones
from scanpath.metrics.inputs import labels as _scanpath_labels, timed as _timed
from scanpath.metrics.labelers import make_labeler
from scanpath.metrics.registry import metric

CHUNK_CELLS = 250_000  # cells per wavefront call (cache-sized chunks were fastest on the 2-core box)
Backend = Literal["auto", "native", "torch"]


def use_torch(backend: str, device) -> bool:
    """Whether a call runs on the torch kernel (see the module docstring)."""
    if backend == "torch":
        return True
    if backend == "native":
        return False
    if backend == "auto":
        return False  # native wins on CPU and against the CUDA kernel (module docstring)
    raise ValueError(f"unknown backend {backend!r}; use 'auto', 'native' or 'torch'")


def pair_index(a: Sequence, b: Sequence, li, ri) -> tuple[np.ndarray, np.ndarray]:
    """``(li, ri)`` as int64 arrays (``arange`` when omitted; then ``a`` and ``b`` must match)."""
    if li is None or ri is None:
        if len(a) != len(b):
            raise ValueError(f"need as many left as right sequences, got {len(a)} and {len(b)}")
        li = ri = np.arange(len(a))
    return np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)


def chunked_pairs(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], fn: Callable[..., np.ndarray], fill: float = 0.0,
    dtype: torch.dtype = torch.float64, li: np.ndarray | None = None, ri: np.ndarray | None = None,
    device=None,
) -> np.ndarray:
    """Run ``fn(A, la, B, lb) -> [p]`` on size-sorted chunks of padded pairs; undo the order.

    Pairs are ``(a[li[k]], b[ri[k]])`` (``li = ri = arange`` when omitted): each sequence is
    padded once, pairs only index rows. ``device``: where the padded chunks go (torch kernel).
    """
    li, ri = pair_index(a, b, li, ri)
    p = len(li)
    out = np.full(p, np.nan)
    if p == 0:
        return out
    A_all, la_all = pad_sequences(list(a), fill=fill, dtype=dtype)
    B_all, lb_all = pad_sequences(list(b), fill=fill, dtype=dtype)
    if device is not None:
        A_all, B_all = A_all.to(device), B_all.to(device)
    la = la_all.numpy()[li]
    lb = lb_all.numpy()[ri]
    order = np.lexsort((lb, la))
    # chunk boundaries from a per-pair cell bound (rows of the pair × the longest right side)
    cost = (la[order] + 1) * (int(lb.max()) + 1)
    cuts = np.searchsorted(np.cumsum(cost), np.arange(CHUNK_CELLS, int(cost.sum()) + CHUNK_CELLS, CHUNK_CELLS))
    bounds = np.unique(np.r_[0, np.minimum(cuts + 1, p), p])
    for start, stop in zip(bounds[:-1], bounds[1:]):
        idx = order[start:stop]
        na, nb = int(la[idx].max()), int(lb[idx].max())
        ti, tj = torch.from_numpy(li[idx]).to(A_all.device), torch.from_numpy(ri[idx]).to(A_all.device)
        A, B = A_all[ti, :na], B_all[tj, :nb]
        lengths = torch.from_numpy(la[idx]).to(A_all.device), torch.from_numpy(lb[idx]).to(A_all.device)
        out[idx] = np.asarray(fn(A, lengths[0], B, lengths[1]), dtype=np.float64)
    return out


def _pair_lengths(a, b, li, ri):
    la, lb = lengths(a), lengths(b)
    if li is None:
        return la, lb
    return la[np.asarray(li, dtype=np.int64)], lb[np.asarray(ri, dtype=np.int64)]


def _labels(seqs: Sequence) -> list[np.ndarray]:
    if is_strings(seqs):
        flat, offs = pack(seqs)
        return [flat[i:j] for i, j in zip(offs[:-1].tolist(), offs[1:].tolist())]
    return [np.asarray(s, dtype=np.int64).reshape(-1) for s in seqs]


# --------------------------------------------------------------------------- rapidfuzz glue
PARALLEL_MIN_PAIRS = 20_000  # below this a cpdist thread pool costs more than it saves


def rapidfuzz_workers(p: int) -> int:
    """``workers`` for ``cpdist``: 1 below :data:`PARALLEL_MIN_PAIRS` pairs, else torch's thread count
    (``OMP_NUM_THREADS``) capped by the CPUs this process may use."""
    if p < PARALLEL_MIN_PAIRS:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(torch.get_num_threads(), cpus))


def _packed_pairs(a: Sequence, b: Sequence, li, ri):
    """Packed sides, pair indices and per-pair lengths (one conversion per scanpath)."""
    va, oa = pack(a)
    vb, ob = (va, oa) if b is a else pack(b)
    li, ri = pair_index(a, b, li, ri)
    return va, oa, vb, ob, li, ri, np.diff(oa)[li], np.diff(ob)[ri]


def _string_pairs(a: Sequence, b: Sequence, li, ri, with_lengths: bool = True):
    """Per-pair left and right strings and lengths (``None`` unless ``with_lengths``): ``str``
    inputs used as they are, label arrays encoded once per scanpath
    (:func:`~scanpath.metrics._packing.strings`)."""
    if _all_str(a) and (b is a or _all_str(b)):
        sa, sb = a, b
        na = nb = None
        if with_lengths:
            na = np.fromiter(map(len, a), dtype=np.int64, count=len(a))
            nb = na if b is a else np.fromiter(map(len, b), dtype=np.int64, count=len(b))
    else:
        va, oa = pack(a)
        vb, ob = (va, oa) if b is a else pack(b)
        sa, sb = strings((va, oa)) * 2 if b is a else strings((va, oa), (vb, ob))
        na, nb = np.diff(oa), np.diff(ob)
    if li is None or ri is None:
        if len(sa) != len(sb):
            raise ValueError(f"need as many left as right sequences, got {len(sa)} and {len(sb)}")
        return sa, sb, na, nb
    li, ri = pair_index(a, b, li, ri)
    qa = np.array(sa, dtype=object)[li]
    qb = qa if (sb is sa and li is ri) else np.array(sb, dtype=object)[ri]
    return qa, qb, None if na is None else na[li], None if nb is None else nb[ri]


def rapidfuzz_pairs(a: Sequence, b: Sequence, scorer, li=None, ri=None, with_lengths: bool = True,
                    nan_both_empty: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``scorer(a[li[k]], b[ri[k]])`` for every pair in one ``rapidfuzz.process.cpdist`` call on
    character strings (float64; integer distances / similarities are exact), and the pair lengths
    (may be ``None`` without ``with_lengths``). ``nan_both_empty`` (distances only): NaN where both
    sides are empty, found among the zero-distance pairs when the lengths were not computed."""
    from rapidfuzz.process import cpdist

    qa, qb, la, lb = _string_pairs(a, b, li, ri, with_lengths)
    if len(qa) == 0:
        return np.zeros(0), la, lb
    v = cpdist(qa, qb, scorer=scorer, dtype=np.int64, workers=rapidfuzz_workers(len(qa))).astype(np.float64)
    if nan_both_empty:
        if la is not None:
            _nan_both_empty(v, la, lb)
        else:  # distance 0 = equal strings: both empty where the left one is
            zero = np.flatnonzero(v == 0)
            v[[k for k in zero.tolist() if not qa[k]]] = np.nan
    return v, la, lb


def _normalised(v: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """v / max(|a|, |b|) per pair, NaN when both are empty."""
    mx = np.maximum(la, lb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, v / np.where(mx > 0, mx, 1), np.nan)


# --------------------------------------------------------------------------- torch kernels on padded
def _lcs(A, lA, B, lB):
    eq = (A[:, :, None] == B[:, None, :]).to(torch.float64)
    return wavefront_final(0.0, 0.0, eq, reduce="max", boundary=0.0, n=lA, m=lB).cpu().numpy()


def _lev(A, lA, B, lB):
    ne = (A[:, :, None] != B[:, None, :]).to(torch.float64)
    n, m = ne.shape[1], ne.shape[2]
    return wavefront_final(
        1.0, 1.0, ne, reduce="min",
        row0=torch.arange(m + 1, dtype=torch.float64, device=ne.device),
        col0=torch.arange(n + 1, dtype=torch.float64, device=ne.device),
        n=lA, m=lB,
    ).cpu().numpy()


def lcs_length(a: Sequence, b: Sequence, li=None, ri=None, backend: Backend = "auto", device=None) -> np.ndarray:
    """Length of the longest common subsequence of each pair (rapidfuzz ``LCSseq``)."""
    if use_torch(backend, device):
        return chunked_pairs(_labels(a), _labels(b), _lcs, fill=-1, dtype=torch.long, li=li, ri=ri, device=device)
    from rapidfuzz.distance import LCSseq

    return rapidfuzz_pairs(a, b, LCSseq.similarity, li, ri, with_lengths=False)[0]


def levenshtein(a: Sequence, b: Sequence, li=None, ri=None, backend: Backend = "auto", device=None) -> np.ndarray:
    """Unit-cost Levenshtein distance of each pair (FED, SemFED, SED, LEV; rapidfuzz ``Levenshtein``)."""
    if use_torch(backend, device):
        return chunked_pairs(_labels(a), _labels(b), _lev, fill=-1, dtype=torch.long, li=li, ri=ri, device=device)
    from rapidfuzz.distance import Levenshtein

    return rapidfuzz_pairs(a, b, Levenshtein.distance, li, ri, with_lengths=False)[0]


def sequence_score(a: Sequence, b: Sequence, li=None, ri=None, backend: Backend = "auto", device=None) -> np.ndarray:
    """SS = LCS / max(|a|, |b|) (= NW with match 1, mismatch 0, gap 0). One empty side → 0;
    both empty → NaN (the pair is excluded by the caller and counted)."""
    if use_torch(backend, device):
        a, b = _labels(a), _labels(b)
        return _normalised(lcs_length(a, b, li, ri, backend, device), *_pair_lengths(a, b, li, ri))
    from rapidfuzz.distance import LCSseq

    return _normalised(*rapidfuzz_pairs(a, b, LCSseq.similarity, li, ri))


def _nan_both_empty(d: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    d[(la == 0) & (lb == 0)] = np.nan
    return d


def edit_distance(a: Sequence, b: Sequence, li=None, ri=None, backend: Backend = "auto", device=None) -> np.ndarray:
    """Levenshtein distance with the library's empty rule: both empty → NaN."""
    if use_torch(backend, device):
        a, b = _labels(a), _labels(b)
        return _nan_both_empty(levenshtein(a, b, li, ri, backend, device), *_pair_lengths(a, b, li, ri))
    from rapidfuzz.distance import Levenshtein

    return rapidfuzz_pairs(a, b, Levenshtein.distance, li, ri, with_lengths=False, nan_both_empty=True)[0]


def repeat_by_duration(labels: np.ndarray, durations_ms: np.ndarray | None, bin_ms: float, mode: str = "floor",
                       truncate_ms: bool = False) -> np.ndarray:
    """Repeat each label ⌊T/bin⌋ times (SS-time, ``mode="floor"``) or round-half-even(T/bin) times
    (ScanMatch TempBin, ``mode="round"``). ``truncate_ms``: cast T to whole milliseconds first (the
    GazeParser port of ScanMatch holds durations as integers; e.g. T = 25.7 ms, bin 50: 1 repeat
    by default, 0 truncated)."""
    labels = np.asarray(labels, dtype=np.int64)
    if durations_ms is None:
        raise ValueError("duration-binned strings need fixation durations")
    t = np.asarray(durations_ms, dtype=np.float64)
    if truncate_ms:
        t = np.trunc(t)
    q = t / float(bin_ms)
    reps = np.floor(q) if mode == "floor" else np.round(q)  # np.round is half-to-even
    return np.repeat(labels, np.maximum(reps, 0).astype(np.int64))


# --------------------------------------------------------------------------- ScanMatch
def scanmatch_substitution(xbins: int, ybins: int, threshold: float = 3.5) -> np.ndarray:
    """Substitution matrix S_ij = |D_ij − Dmax| − (Dmax − Threshold), D in bin units (§2.4).

    Bin index = row · Xbin + col.
    """
    idx = np.arange(xbins * ybins)
    col, row = idx % xbins, idx // xbins
    d = np.hypot(col[:, None] - col[None, :], row[:, None] - row[None, :])
    dmax = float(np.hypot(xbins - 1, ybins - 1))
    return np.abs(d - dmax) - (dmax - threshold)


SHORT_POLICIES = ("nan", "pad_ones", "keep")


def short_pairs(la: np.ndarray, lb: np.ndarray, policy: str, what: str = "ScanMatch") -> np.ndarray:
    """Mask of pairs to set to NaN under ``policy`` (pairs with a side of < 3 fixations for "nan",
    with a warning that counts them; none otherwise)."""
    if policy not in SHORT_POLICIES:
        raise ValueError(f"unknown short_policy {policy!r}; use one of {SHORT_POLICIES}")
    if policy != "nan":
        return np.zeros(len(la), dtype=bool)
    short = (np.asarray(la) < MIN_FIXATIONS) | (np.asarray(lb) < MIN_FIXATIONS)
    if short.any():
        import warnings

        warnings.warn(f"{what}: {int(short.sum())} pair(s) with a scanpath of < {MIN_FIXATIONS} fixations are NaN "
                      "(short_policy='pad_ones' reproduces the upstream padding)", stacklevel=3)
    return short


def pad_short_labels(seqs: Sequence, pad_label: int = 0) -> list[np.ndarray]:
    """Label strings of < 3 fixations padded at the end with ``pad_label`` up to 3 (the bin of the
    fake fixation (1, 1) px that HAT / IRL / Gazeformer / GazeXplain / ScanDiff append: bin 0)."""
    out = []
    for x in _labels(seqs):
        if len(x) < MIN_FIXATIONS:
            x = np.concatenate([x, np.full(MIN_FIXATIONS - len(x), int(pad_label), dtype=np.int64)])
        out.append(x)
    return out


def scanmatch_score(
    a: Sequence, b: Sequence, substitution: np.ndarray, threshold: float = 3.5, gap: float = 0.0,
    li=None, ri=None, backend: Backend = "auto", device=None, short_policy: str = "nan", pad_label: int = 0,
) -> np.ndarray:
    """ScanMatch = max NW score / (Threshold · max(n, m)) on bin strings (docs/metrics.md §2.4).

    Boundary F[i, 0] = gap·i, F[0, j] = gap·j (at the default gap 0 this equals upstream, whose
    first column carries an extra +gap). Labels outside the matrix are clamped into it.

    ``short_policy`` (one label per fixation): ``"nan"`` (default) — a pair with a side of < 3
    fixations is NaN (warned with a count; the pipeline excludes and counts it); ``"pad_ones"`` —
    such sides are padded with ``pad_label`` (the fake fixation (1, 1) px of the upstream
    repositories) to 3; ``"keep"`` — score the strings as given. With TempBin the strings are
    repeated labels and no longer count fixations: apply the policy before repeating (the registry
    entry ``scanmatch`` does) and pass ``"keep"``.
    """
    if short_policy == "pad_ones":
        a, b = pad_short_labels(a, pad_label), pad_short_labels(b, pad_label)
    elif short_policy not in SHORT_POLICIES:
        raise ValueError(f"unknown short_policy {short_policy!r}; use one of {SHORT_POLICIES}")
    if use_torch(backend, device):
        a, b = _labels(a), _labels(b)
        S = torch.as_tensor(np.asarray(substitution, dtype=np.float64), device=device)

        def run(A, lA, B, lB):
            k = S.shape[0]
            sub = S[A.clamp(0, k - 1)[:, :, None], B.clamp(0, k - 1)[:, None, :]]
            n, m = sub.shape[1], sub.shape[2]
            return wavefront_final(
                float(gap), float(gap), sub, reduce="max",
                row0=gap * torch.arange(m + 1, dtype=torch.float64, device=sub.device),
                col0=gap * torch.arange(n + 1, dtype=torch.float64, device=sub.device),
                n=lA, m=lB,
            ).cpu().numpy()

        score = chunked_pairs(a, b, run, fill=0, dtype=torch.long, li=li, ri=ri, device=device)
        pa, pb = _pair_lengths(a, b, li, ri)
    else:
        from scanpath.metrics import _dp

        va, oa, vb, ob, lia, ria, pa, pb = _packed_pairs(a, b, li, ri)
        score = _dp.nw_pairs(va, oa, vb, ob, lia, ria, np.ascontiguousarray(substitution, dtype=np.float64),
                             float(gap))
    mx = np.maximum(pa, pb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mx > 0, score / (threshold * np.where(mx > 0, mx, 1)), np.nan)
    out[short_pairs(pa, pb, short_policy)] = np.nan
    return out


# --------------------------------------------------------------------------- Damerau–Levenshtein
def _dl(A, lA, B, lB):
    """Unrestricted Damerau–Levenshtein (Lowrance–Wagner) on padded label rows, vectorised over pairs.

    ``D[i+1, j+1]`` holds the distance of the prefixes a[:i], b[:j]; row/column 0 hold the
    "infinite" border (n + m) the transposition step reads when a symbol was not seen before.
    """
    A, B = np.asarray(A), np.asarray(B)
    p, n = A.shape
    m = B.shape[1]
    _, inv = np.unique(np.concatenate([A.ravel(), B.ravel()]), return_inverse=True)
    Ac, Bc = inv[: A.size].reshape(p, n), inv[A.size:].reshape(p, m)
    k_sym = int(inv.max()) + 1 if inv.size else 1
    big = float(n + m)
    D = np.empty((p, n + 2, m + 2))
    D[:, 0, :] = big
    D[:, :, 0] = big
    D[:, 1, 1:] = np.arange(m + 1)
    D[:, 1:, 1] = np.arange(n + 1)
    da = np.zeros((p, k_sym), dtype=np.int64)  # last row (1-based) where each symbol occurred in a
    rows = np.arange(p)
    for i in range(1, n + 1):
        ai = Ac[:, i - 1]
        db = np.zeros(p, dtype=np.int64)  # last column (1-based) of a match in this row
        for j in range(1, m + 1):
            bj = Bc[:, j - 1]
            k = da[rows, bj]
            l = db
            match = ai == bj
            trans = D[rows, k, l] + (i - k - 1) + 1 + (j - l - 1)
            best = np.minimum(D[:, i, j] + (~match), np.minimum(D[:, i + 1, j], D[:, i, j + 1]) + 1.0)
            D[:, i + 1, j + 1] = np.minimum(best, trans)
            db = np.where(match, j, db)
        da[rows, ai] = i
    return D[rows, np.asarray(lA) + 1, np.asarray(lB) + 1]


def damerau_levenshtein(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """Unrestricted Damerau–Levenshtein distance of each pair (insert, delete, substitute and
    transpose adjacent symbols, with edits allowed between transposed symbols; = nltk 3.9
    ``edit_distance(a, b, transpositions=True)``; rapidfuzz ``DamerauLevenshtein``). Both empty →
    NaN (library rule)."""
    from rapidfuzz.distance import DamerauLevenshtein

    return rapidfuzz_pairs(a, b, DamerauLevenshtein.distance, li, ri, with_lengths=False, nan_both_empty=True)[0]


def damerau_levenshtein_numpy(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """The same distance on the pair-vectorised numpy recurrence (independent cross-check)."""
    a, b = _labels(a), _labels(b)
    d = chunked_pairs(a, b, lambda A, la, B, lb: _dl(A.numpy(), la.numpy(), B.numpy(), lb.numpy()),
                      fill=-1, dtype=torch.long, li=li, ri=ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    d[(pa == 0) & (pb == 0)] = np.nan
    return d


def optimal_string_alignment(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """Optimal string alignment (restricted Damerau–Levenshtein: adjacent transpositions, no edit
    between transposed symbols; rapidfuzz ``OSA``) of each pair. Both empty → NaN."""
    from rapidfuzz.distance import OSA

    return rapidfuzz_pairs(a, b, OSA.distance, li, ri, with_lengths=False, nan_both_empty=True)[0]


def edit_similarity(d: np.ndarray, a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """1 − d / max(|a|, |b|) per pair (NaN when both are empty)."""
    pa, pb = _pair_lengths(a, b, li, ri)
    mx = np.maximum(pa, pb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, 1.0 - np.asarray(d, dtype=np.float64) / np.where(mx > 0, mx, 1), np.nan)


def window_edit_distance(a: Sequence, b: Sequence, k: int = 3, transpositions: bool = True,
                         li=None, ri=None) -> np.ndarray:
    """SBTDE (string-based time-delay embedding): mean over a's k-windows of the minimum edit
    distance (Damerau–Levenshtein, or Levenshtein without ``transpositions``) to any of b's
    k-windows, divided by k. NaN when either side has fewer than k labels. Numba kernel over pairs.
    """
    from scanpath.metrics import _dp

    va, oa, vb, ob, li, ri, _, _ = _packed_pairs(a, b, li, ri)
    if len(li) == 0:
        return np.zeros(0)
    return _dp.window_pairs(va, oa, vb, ob, li, ri, int(k), bool(transpositions))


# -------------------------------------------------------- registry entries (@metric): string metrics
SED_DEFAULTS = {**LABEL_DEFAULTS, "grid_cells": "fraction", "upstream_grid": False, "transpositions": False}


@metric(
    "ss", "pair",
    dict(LABEL_DEFAULTS),
    description="Sequence Score = LCS/max length on label strings (grid 5×5 by default)",
)
@metric(
    "semss", "pair",
    {**LABEL_DEFAULTS, "labeler": "segmentation", "segmentation_dir": None,
                                          "frame": [512, 320]},
    description="SS on segmentation-map labels",
)
def _ss(left, right, li, ri, params):
    a, b = _scanpath_labels(left, params), _scanpath_labels(right, params)
    return sequence_score(a, b, li, ri)


@metric(
    "ss_time", "pair",
    {**LABEL_DEFAULTS, "bin_ms": 50.0, "default_duration_ms": None},
    description="SS on strings with each label repeated ⌊T/50 ms⌋ times",
    needs=lambda p: () if p.get("default_duration_ms") is not None else ("durations",),
)
def _ss_time(left, right, li, ri, params):
    a = _timed(_scanpath_labels(left, params), left, params["bin_ms"], "floor", params.get("default_duration_ms"))
    b = _timed(_scanpath_labels(right, params), right, params["bin_ms"], "floor", params.get("default_duration_ms"))
    return sequence_score(a, b, li, ri)


@metric(
    "fed", "pair",
    {**LABEL_DEFAULTS, "labeler": "cluster", "cluster_file": None},
    higher_is_better=False,
    length_dependent=True,
    description="Levenshtein distance on cluster strings",
)
@metric(
    "semfed", "pair",
    {**LABEL_DEFAULTS, "labeler": "segmentation", "segmentation_dir": None,
                                           "frame": [512, 320]},
    higher_is_better=False,
    length_dependent=True,
    description="Levenshtein distance on segmentation labels",
)
def _ed(left, right, li, ri, params):
    a, b = _scanpath_labels(left, params), _scanpath_labels(right, params)
    return edit_distance(a, b, li, ri)


@metric(
    "scanmatch", "pair",
    {"grid": [8, 6], "frame": [1024, 768], "threshold": 3.5, "gap": 0.0, "temp_bin": 0.0,
                     "default_duration_ms": None, "short_policy": "nan", "temp_bin_truncate_ms": False},
    description="ScanMatch (Cristino et al. 2010), NW on grid bins; NaN for scanpaths of < 3 "
                                "fixations unless short_policy pad_ones / keep",
    needs=lambda p: ("durations",) if p.get("temp_bin") and p.get("default_duration_ms") is None else (),
)
def _scanmatch(left, right, li, ri, params):
    """ScanMatch on grid bins; ``short_policy`` acts on fixations, before any TempBin repetition."""
    policy = params["short_policy"]
    if policy == "pad_ones":
        left, right = [_pad_ones(s) for s in left], [_pad_ones(s) for s in right]
    p = dict(params)
    p["labeler"] = "grid"
    xb, yb = p["grid"]
    a, b = _scanpath_labels(left, p), _scanpath_labels(right, p)
    if params["temp_bin"]:
        trunc = bool(params["temp_bin_truncate_ms"])
        a = _timed(a, left, params["temp_bin"], "round", params.get("default_duration_ms"), trunc)
        b = _timed(b, right, params["temp_bin"], "round", params.get("default_duration_ms"), trunc)
    sub = scanmatch_substitution(int(xb), int(yb), params["threshold"])
    out = scanmatch_score(a, b, sub, params["threshold"], params["gap"], li, ri, short_policy="keep")
    nl = np.array([len(s) for s in left], dtype=np.int64)
    nr = np.array([len(s) for s in right], dtype=np.int64)
    out[short_pairs(nl[np.asarray(li)], nr[np.asarray(ri)], policy)] = np.nan
    return out


@metric(
    "sed", "pair",
    dict(SED_DEFAULTS),
    higher_is_better=False,
    length_dependent=True,
    subdims=("distance", "similarity"),
    main="distance",
    dim_higher_is_better={"distance": False, "similarity": True},
    description="string-edit distance on grid labels (5×5; pair_reduce mean or min); values "
                                "also give the similarity 1 − d/max(|a|,|b|), each column reduced on its own",
)
def _sed_pairs(left, right, li, ri, params):
    """(distance, similarity) per pair: Levenshtein, or unrestricted Damerau–Levenshtein with
    ``transpositions``; similarity = 1 − d/max(|a|, |b|)."""
    a, b = _scanpath_labels(left, params), _scanpath_labels(right, params)
    fn = damerau_levenshtein if params["transpositions"] else edit_distance
    d = fn(a, b, li, ri)
    return np.column_stack([d, edit_similarity(d, a, b, li, ri)])


@metric(
    "sed_similarity", "pair",
    dict(SED_DEFAULTS),
    description="SED similarity 1 − d/max(|a|,|b|) alone (for best-match reductions, pair_reduce max)",
)
def _sed_sim(left, right, li, ri, params):
    return _sed_pairs(left, right, li, ri, params)[:, 1]


@metric(
    "sbtde", "pair",
    {**LABEL_DEFAULTS, "grid": [4, 4], "grid_cells": "integer", "upstream_grid": False,
                     "transpositions": True, "k": 3},
    higher_is_better=False,
    description="string-based time-delay embedding: mean over model k-windows of min SED to any "
                                "human k-window, / k (FixaTons cells, Damerau–Levenshtein)",
)
def _sbtde(left, right, li, ri, params):
    a, b = _scanpath_labels(left, params), _scanpath_labels(right, params)
    return window_edit_distance(a, b, int(params["k"]), bool(params["transpositions"]), li, ri)

# -------------------------------------------------------- registry entries (@metric): DSS

def _distinct_pair_mean(labels: list[np.ndarray]) -> float:
    n = len(labels)
    if n < 2:
        return float("nan")
    ii, jj = np.triu_indices(n, k=1)
    v = sequence_score([labels[i] for i in ii], [labels[j] for j in jj])
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


@metric(
    "dss", "set",
    {**LABEL_DEFAULTS, "frame": None, "timed": False, "bin_ms": 50.0,
                                        "default_duration_ms": None, "dss_scandiff_compat": False},
    description="diversity-aware sequence score SS_HM/(1+|SS_MM−SS_HH|) per key (ScanDiff)",
    needs=lambda p: ("durations",) if p.get("timed") and p.get("default_duration_ms") is None else (),
)
def _dss(predictions, humans, key, params):
    from scanpath.types import group_by_stimulus

    p = dict(params)
    lab = make_labeler(p)

    def labels(sps):
        ls = [lab(s) for s in sps]
        if params["timed"]:
            ls = _timed(ls, sps, params["bin_ms"], "floor", params.get("default_duration_ms"))
        return ls

    gp = group_by_stimulus(predictions, key)
    gh = group_by_stimulus(humans, key)
    per_key, keys, n_nan = [], [], 0
    for k in sorted(gp):
        if k not in gh:
            continue
        lp, lh = labels(gp[k]), labels(gh[k])
        hm_pairs = [(a, b) for a in lp for b in lh]
        hm = sequence_score([a for a, _ in hm_pairs], [b for _, b in hm_pairs])
        ss_hm = float(np.nanmean(hm)) if np.isfinite(hm).any() else float("nan")
        if params["dss_scandiff_compat"] and not params["timed"]:
            # ScanDiff's no-duration DSS compares the predictions' T lists (zeros when no durations
            # are predicted), not their label strings, in SS_MM
            mm_seqs = [np.round(s.duration if s.duration is not None else np.zeros(len(s))).astype(np.int64)
                       for s in gp[k]]
            ss_mm = _distinct_pair_mean(mm_seqs)
        else:
            ss_mm = _distinct_pair_mean(lp)
        ss_hh = _distinct_pair_mean(lh)
        val = ss_hm / (1 + abs(ss_mm - ss_hh))
        if np.isnan(val):
            n_nan += 1
        else:
            per_key.append(val)
            keys.append(k)
    return {"value": float(np.mean(per_key)) if per_key else float("nan"), "n": len(per_key), "n_nan": n_nan,
            "unit_keys": keys, "unit_values": per_key}
