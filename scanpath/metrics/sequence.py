"""String metrics on label sequences, batched over pairs (spec §2.2, §2.4).

Every function takes two equally long lists of 1-D integer label arrays (pair ``k`` compares
``a[k]`` with ``b[k]``) and returns a float64 numpy array with one value per pair. The recurrences
run in :func:`scanpath.metrics._kernel.wavefront`; pairs are sorted by size and processed in
chunks so padding and memory stay small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from scanpath.metrics._kernel import pad_sequences, wavefront_final

CHUNK_CELLS = 250_000  # cells per wavefront call (cache-sized chunks were fastest on the 2-core box)


def chunked_pairs(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], fn: Callable[..., np.ndarray], fill: float = 0.0,
    dtype: torch.dtype = torch.float64, li: np.ndarray | None = None, ri: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``fn(A, la, B, lb) -> [p]`` on size-sorted chunks of padded pairs; undo the order.

    Pairs are ``(a[li[k]], b[ri[k]])`` (``li = ri = arange`` when omitted): each sequence is
    padded once, pairs only index rows.
    """
    if li is None or ri is None:
        if len(a) != len(b):
            raise ValueError(f"need as many left as right sequences, got {len(a)} and {len(b)}")
        li = ri = np.arange(len(a))
    li = np.asarray(li, dtype=np.int64)
    ri = np.asarray(ri, dtype=np.int64)
    p = len(li)
    out = np.full(p, np.nan)
    if p == 0:
        return out
    A_all, la_all = pad_sequences(list(a), fill=fill, dtype=dtype)
    B_all, lb_all = pad_sequences(list(b), fill=fill, dtype=dtype)
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
        ti, tj = torch.from_numpy(li[idx]), torch.from_numpy(ri[idx])
        A, B = A_all[ti, :na], B_all[tj, :nb]
        out[idx] = np.asarray(fn(A, torch.from_numpy(la[idx]), B, torch.from_numpy(lb[idx])), dtype=np.float64)
    return out


def _pair_lengths(a, b, li, ri):
    la = np.array([len(x) for x in a], dtype=np.int64)
    lb = np.array([len(x) for x in b], dtype=np.int64)
    if li is None:
        return la, lb
    return la[np.asarray(li, dtype=np.int64)], lb[np.asarray(ri, dtype=np.int64)]


def _labels(seqs: Sequence) -> list[np.ndarray]:
    return [np.asarray(s, dtype=np.int64).reshape(-1) for s in seqs]


# --------------------------------------------------------------------------- kernels on padded
def _lcs(A, lA, B, lB):
    eq = (A[:, :, None] == B[:, None, :]).to(torch.float64)
    return wavefront_final(0.0, 0.0, eq, reduce="max", boundary=0.0, n=lA, m=lB).numpy()


def _lev(A, lA, B, lB):
    ne = (A[:, :, None] != B[:, None, :]).to(torch.float64)
    n, m = ne.shape[1], ne.shape[2]
    return wavefront_final(
        1.0, 1.0, ne, reduce="min",
        row0=torch.arange(m + 1, dtype=torch.float64), col0=torch.arange(n + 1, dtype=torch.float64),
        n=lA, m=lB,
    ).numpy()


def lcs_length(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """Length of the longest common subsequence of each pair."""
    return chunked_pairs(_labels(a), _labels(b), _lcs, fill=-1, dtype=torch.long, li=li, ri=ri)


def levenshtein(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """Unit-cost Levenshtein distance of each pair (FED, SemFED, SED, LEV)."""
    return chunked_pairs(_labels(a), _labels(b), _lev, fill=-1, dtype=torch.long, li=li, ri=ri)


def sequence_score(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """SS = LCS / max(|a|, |b|) (= NW with match 1, mismatch 0, gap 0). One empty side → 0;
    both empty → NaN (the pair is excluded by the caller and counted)."""
    a, b = _labels(a), _labels(b)
    lcs = chunked_pairs(a, b, _lcs, fill=-1, dtype=torch.long, li=li, ri=ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    mx = np.maximum(pa, pb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, lcs / np.where(mx > 0, mx, 1), np.nan)


def edit_distance(a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """Levenshtein distance with the library's empty rule: both empty → NaN."""
    a, b = _labels(a), _labels(b)
    d = levenshtein(a, b, li, ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    d[(pa == 0) & (pb == 0)] = np.nan
    return d


def repeat_by_duration(labels: np.ndarray, durations_ms: np.ndarray | None, bin_ms: float, mode: str = "floor") -> np.ndarray:
    """Repeat each label ⌊T/bin⌋ times (SS-time, ``mode="floor"``) or round-half-even(T/bin) times
    (ScanMatch TempBin, ``mode="round"``)."""
    labels = np.asarray(labels, dtype=np.int64)
    if durations_ms is None:
        raise ValueError("duration-binned strings need fixation durations")
    q = np.asarray(durations_ms, dtype=np.float64) / float(bin_ms)
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


def scanmatch_score(
    a: Sequence, b: Sequence, substitution: np.ndarray, threshold: float = 3.5, gap: float = 0.0,
    li=None, ri=None,
) -> np.ndarray:
    """ScanMatch = max NW score / (Threshold · max(n, m)) on bin strings (spec §2.4).

    Boundary F[i, 0] = gap·i, F[0, j] = gap·j (at the default gap 0 this equals upstream, whose
    first column carries an extra +gap).
    """
    S = torch.as_tensor(np.asarray(substitution, dtype=np.float64))
    a, b = _labels(a), _labels(b)

    def run(A, lA, B, lB):
        k = S.shape[0]
        sub = S[A.clamp(0, k - 1)[:, :, None], B.clamp(0, k - 1)[:, None, :]]
        n, m = sub.shape[1], sub.shape[2]
        return wavefront_final(
            float(gap), float(gap), sub, reduce="max",
            row0=gap * torch.arange(m + 1, dtype=torch.float64), col0=gap * torch.arange(n + 1, dtype=torch.float64),
            n=lA, m=lB,
        ).numpy()

    score = chunked_pairs(a, b, run, fill=0, dtype=torch.long, li=li, ri=ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    mx = np.maximum(pa, pb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, score / (threshold * np.where(mx > 0, mx, 1)), np.nan)
