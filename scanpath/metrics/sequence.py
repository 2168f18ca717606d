"""String metrics on label sequences, batched over pairs (docs/metrics.md §2.2, §2.4).

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
    """ScanMatch = max NW score / (Threshold · max(n, m)) on bin strings (docs/metrics.md §2.4).

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
    ``edit_distance(a, b, transpositions=True)``). Both empty → NaN (library rule)."""
    a, b = _labels(a), _labels(b)
    d = chunked_pairs(a, b, lambda A, la, B, lb: _dl(A.numpy(), la.numpy(), B.numpy(), lb.numpy()),
                      fill=-1, dtype=torch.long, li=li, ri=ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    d[(pa == 0) & (pb == 0)] = np.nan
    return d


def edit_similarity(d: np.ndarray, a: Sequence, b: Sequence, li=None, ri=None) -> np.ndarray:
    """1 − d / max(|a|, |b|) per pair (NaN when both are empty)."""
    pa, pb = _pair_lengths(_labels(a), _labels(b), li, ri)
    mx = np.maximum(pa, pb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mx > 0, 1.0 - np.asarray(d, dtype=np.float64) / np.where(mx > 0, mx, 1), np.nan)


def window_edit_distance(a: Sequence, b: Sequence, k: int = 3, transpositions: bool = True,
                         li=None, ri=None) -> np.ndarray:
    """SBTDE (string-based time-delay embedding): mean over a's k-windows of the minimum edit
    distance to any of b's k-windows, divided by k. NaN when either side has fewer than k labels.

    Window pairs are deduplicated (windows are short strings over a small alphabet) before the
    batched edit distance runs.
    """
    a, b = _labels(a), _labels(b)
    if li is None or ri is None:
        li = ri = np.arange(len(a))
    li, ri = np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)
    out = np.full(len(li), np.nan)

    def windows(s):
        return np.lib.stride_tricks.sliding_window_view(s, k) if len(s) >= k else np.zeros((0, k), np.int64)

    wa, wb = [windows(s) for s in a], [windows(s) for s in b]
    ok = np.array([len(wa[i]) > 0 and len(wb[j]) > 0 for i, j in zip(li, ri)], dtype=bool)
    if not ok.any():
        return out
    # every (pair, a-window, b-window) triple; windows coded as rows of a global window table
    all_w = np.concatenate([w for w in wa + wb if len(w)] or [np.zeros((0, k), np.int64)])
    uniq, code = np.unique(all_w, axis=0, return_inverse=True)
    code = code.reshape(-1)
    offs_a = np.cumsum([0] + [len(w) for w in wa])
    offs_b = offs_a[-1] + np.cumsum([0] + [len(w) for w in wb])
    pid, ca, cb, wa_id = [], [], [], []
    for p in np.flatnonzero(ok):
        i, j = li[p], ri[p]
        x = code[offs_a[i]:offs_a[i + 1]]
        y = code[offs_b[j]:offs_b[j + 1]]
        pid.append(np.full(len(x) * len(y), p))
        ca.append(np.repeat(x, len(y)))
        cb.append(np.tile(y, len(x)))
        wa_id.append(np.repeat(np.arange(len(x)), len(y)))
    pid, ca, cb, wa_id = map(np.concatenate, (pid, ca, cb, wa_id))
    pair_code, inv = np.unique(ca * len(uniq) + cb, return_inverse=True)
    ua, ub = pair_code // len(uniq), pair_code % len(uniq)
    rows = list(uniq)
    dist_fn = damerau_levenshtein if transpositions else edit_distance
    d = dist_fn(rows, rows, ua, ub)[inv.reshape(-1)]
    # min over b-windows per (pair, a-window), then mean over a-windows per pair
    grp = pid * (int(wa_id.max()) + 1) + wa_id
    g_u, g_inv = np.unique(grp, return_inverse=True)
    mins = np.full(len(g_u), np.inf)
    np.minimum.at(mins, g_inv.reshape(-1), d)
    g_pair = g_u // (int(wa_id.max()) + 1)
    sums = np.bincount(g_pair, weights=mins, minlength=len(li))
    cnt = np.bincount(g_pair, minlength=len(li))
    out[ok] = sums[ok] / cnt[ok] / k
    return out
