"""Compiled CPU kernels (numba) for the alignment recurrences no library provides (docs/metrics.md §2.9).

Needleman–Wunsch with a substitution matrix (ScanMatch), DTW, discrete Fréchet, MultiMatch's
shortest path (DP + back-track with tie detection) and the window edit distance (SBTDE). Each
kernel fills one pair's table row by row with the same recurrence, boundary values and order of
min/max/add as the torch anti-diagonal kernel (:mod:`scanpath.metrics._kernel`, kept for CUDA
batches), so the values are identical — except that the Euclidean DTW / Fréchet kernel computes its
local cost with IEEE ``sqrt`` (= numpy, ``math.sqrt``), where torch's CPU ``sqrt`` is off by one
ulp on ~1 % of inputs; the sums then differ by ≤ 1e-12 relative.

Sequences travel as one flat array plus offsets (:func:`pack`): no padding, no per-pair Python.
Kernels are compiled on first use and cached on disk (``cache=True``). Each has a serial pair loop
and a ``prange`` one (``parallel=True``); the parallel one is used — and only then compiled, which
costs several seconds once — when numba has more than one thread and the batch has at least
:data:`PARALLEL_MIN_PAIRS` pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from scanpath.metrics._packing import pack  # noqa: F401  (the layout every kernel takes)

INF = np.inf
PARALLEL_MIN_PAIRS = 20_000


def parallel(p: int) -> bool:
    """Whether a batch of ``p`` pairs runs on the ``prange`` loops."""
    import numba

    return p >= PARALLEL_MIN_PAIRS and numba.get_num_threads() > 1


# ----------------------------------------------------------------------------- Needleman–Wunsch
@njit(cache=True)
def _nw_one(va, a0, n, vb, b0, m, S, gap):  # pragma: no cover - compiled
    k = S.shape[0]
    row = np.empty(m + 1)
    for j in range(m + 1):
        row[j] = gap * j
    for i in range(1, n + 1):
        diag = row[0]
        row[0] = gap * i
        ai = min(max(va[a0 + i - 1], 0), k - 1)
        for j in range(1, m + 1):
            bj = min(max(vb[b0 + j - 1], 0), k - 1)
            up = row[j]
            v = max(up + gap, row[j - 1] + gap)
            v = max(v, diag + S[ai, bj])
            diag = up
            row[j] = v
    return row[m]


@njit(cache=True)
def _nw_serial(va, oa, vb, ob, li, ri, S, gap, out):  # pragma: no cover - compiled
    for p in range(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _nw_one(va, oa[i], oa[i + 1] - oa[i], vb, ob[j], ob[j + 1] - ob[j], S, gap)


@njit(cache=True, parallel=True)
def _nw_parallel(va, oa, vb, ob, li, ri, S, gap, out):  # pragma: no cover - compiled
    for p in prange(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _nw_one(va, oa[i], oa[i + 1] - oa[i], vb, ob[j], ob[j + 1] - ob[j], S, gap)


def nw_pairs(va, oa, vb, ob, li, ri, S, gap: float) -> np.ndarray:
    """Max NW score per pair; F[i,0] = gap·i, F[0,j] = gap·j; labels clamped into S's range."""
    out = np.empty(len(li))
    (_nw_parallel if parallel(len(li)) else _nw_serial)(va, oa, vb, ob, li, ri, S, float(gap), out)
    return out


# ----------------------------------------------------------------------------- DTW / Fréchet
@njit(cache=True)
def _warp_one(xa, a0, n, xb, b0, m, frechet):  # pragma: no cover - compiled
    row = np.empty(m + 1)
    row[0] = -INF if frechet else 0.0
    for j in range(1, m + 1):
        row[j] = INF
    for i in range(1, n + 1):
        diag = row[0]
        row[0] = INF
        x0, y0 = xa[a0 + i - 1, 0], xa[a0 + i - 1, 1]
        for j in range(1, m + 1):
            dx = x0 - xb[b0 + j - 1, 0]
            dy = y0 - xb[b0 + j - 1, 1]
            c = np.sqrt(dx * dx + dy * dy)
            up = row[j]
            if frechet:
                v = max(c, min(min(up, row[j - 1]), diag))
            else:
                v = min(min(up + c, row[j - 1] + c), diag + c)
            diag = up
            row[j] = v
    return row[m]


@njit(cache=True)
def _warp_serial(xa, oa, xb, ob, li, ri, frechet, out):  # pragma: no cover - compiled
    for p in range(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _warp_one(xa, oa[i], oa[i + 1] - oa[i], xb, ob[j], ob[j + 1] - ob[j], frechet)


@njit(cache=True, parallel=True)
def _warp_parallel(xa, oa, xb, ob, li, ri, frechet, out):  # pragma: no cover - compiled
    for p in prange(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _warp_one(xa, oa[i], oa[i + 1] - oa[i], xb, ob[j], ob[j + 1] - ob[j], frechet)


def warp_pairs(xa, oa, xb, ob, li, ri, frechet: bool) -> np.ndarray:
    """Euclidean DTW (``frechet=False``) or discrete Fréchet per pair on flat ``(N, 2)`` points
    (local cost = IEEE ``sqrt(dx² + dy²)``, as numpy and ``math.sqrt`` compute it)."""
    out = np.empty(len(li))
    (_warp_parallel if parallel(len(li)) else _warp_serial)(xa, oa, xb, ob, li, ri, bool(frechet), out)
    return out


@njit(cache=True)
def warp_cost_pairs(C, n, m, frechet):  # pragma: no cover - compiled
    """DTW / discrete Fréchet per pair on a padded local-cost tensor ``C [P, N, M]`` (any distance)."""
    P = C.shape[0]
    out = np.empty(P)
    for p in range(P):
        np_, mp = n[p], m[p]
        row = np.empty(mp + 1)
        row[0] = -INF if frechet else 0.0
        for j in range(1, mp + 1):
            row[j] = INF
        for i in range(1, np_ + 1):
            diag = row[0]
            row[0] = INF
            for j in range(1, mp + 1):
                c = C[p, i - 1, j - 1]
                up = row[j]
                if frechet:
                    v = max(c, min(min(up, row[j - 1]), diag))
                else:
                    v = min(min(up + c, row[j - 1] + c), diag + c)
                diag = up
                row[j] = v
        out[p] = row[mp]
    return out


# ----------------------------------------------------------------------------- MultiMatch path
@njit(cache=True)
def mm_paths(M, n, m, rtol):  # pragma: no cover - compiled
    """Minimum-cost monotone path per pair on ``M [P, N, Mx]`` (D = M + min of the three
    predecessors, D(0,0) = 0, borders +inf), back-tracked from (n, m) to (1, 1) with priority
    diagonal > up > left. Returns path rows/cols (0-based, end first), a validity mask and a
    per-pair flag set when the path meets tied predecessors (|Δ| ≤ rtol·max(1, |best|))."""
    P, N, Mx = M.shape
    L = N + Mx - 1
    pi = np.zeros((P, L), dtype=np.int64)
    pj = np.zeros((P, L), dtype=np.int64)
    valid = np.zeros((P, L), dtype=np.bool_)
    tie = np.zeros(P, dtype=np.bool_)
    for p in range(P):
        np_, mp = n[p], m[p]
        D = np.empty((np_ + 1, mp + 1))
        D[0, 0] = 0.0
        for j in range(1, mp + 1):
            D[0, j] = INF
        for i in range(1, np_ + 1):
            D[i, 0] = INF
            for j in range(1, mp + 1):
                c = M[p, i - 1, j - 1]
                v = min(D[i - 1, j] + c, D[i, j - 1] + c)
                D[i, j] = min(v, D[i - 1, j - 1] + c)
        ci, cj, t = np_, mp, 0
        while t < L:
            pi[p, t], pj[p, t], valid[p, t] = ci - 1, cj - 1, True
            t += 1
            if ci == 1 and cj == 1:
                break
            c0, c1, c2 = D[ci - 1, cj - 1], D[ci - 1, cj], D[ci, cj - 1]
            best, arg = c0, 0
            if c1 < best:
                best, arg = c1, 1
            if c2 < best:
                best, arg = c2, 2
            tol = rtol * max(abs(best), 1.0)
            cnt = int(abs(c0 - best) <= tol) + int(abs(c1 - best) <= tol) + int(abs(c2 - best) <= tol)
            if cnt > 1:
                tie[p] = True
            if arg <= 1:
                ci -= 1
            if arg != 1:
                cj -= 1
    return pi, pj, valid, tie


# ----------------------------------------------------------------------------- window edit distance
@njit(cache=True)
def _edit(a, b, transpositions):  # pragma: no cover - compiled
    """Levenshtein, or unrestricted Damerau–Levenshtein (Lowrance–Wagner), of two short int arrays."""
    n, m = a.shape[0], b.shape[0]
    big = n + m
    D = np.empty((n + 2, m + 2), dtype=np.int64)
    for i in range(n + 2):
        D[i, 0] = big
    for j in range(m + 2):
        D[0, j] = big
    for i in range(n + 1):
        D[i + 1, 1] = i
    for j in range(m + 1):
        D[1, j + 1] = j
    for i in range(1, n + 1):
        db = 0
        for j in range(1, m + 1):
            match = a[i - 1] == b[j - 1]
            v = min(D[i, j] + (0 if match else 1), min(D[i + 1, j], D[i, j + 1]) + 1)
            if transpositions:
                k = 0  # last row (1-based) before i where a holds b[j-1]
                for r in range(i - 1, 0, -1):
                    if a[r - 1] == b[j - 1]:
                        k = r
                        break
                v = min(v, D[k, db] + (i - k - 1) + 1 + (j - db - 1))
                if match:
                    db = j
            D[i + 1, j + 1] = v
    return D[n + 1, m + 1]


@njit(cache=True)
def _window_one(va, a0, n, vb, b0, m, k, transpositions):  # pragma: no cover - compiled
    n, m = n - k + 1, m - k + 1
    if n <= 0 or m <= 0:
        return np.nan
    s = 0.0
    for x in range(n):
        best = np.int64(1 << 62)
        wa = va[a0 + x:a0 + x + k]
        for y in range(m):
            d = _edit(wa, vb[b0 + y:b0 + y + k], transpositions)
            if d < best:
                best = d
        s += best
    return s / n / k


@njit(cache=True)
def _window_serial(va, oa, vb, ob, li, ri, k, transpositions, out):  # pragma: no cover - compiled
    for p in range(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _window_one(va, oa[i], oa[i + 1] - oa[i], vb, ob[j], ob[j + 1] - ob[j], k, transpositions)


@njit(cache=True, parallel=True)
def _window_parallel(va, oa, vb, ob, li, ri, k, transpositions, out):  # pragma: no cover - compiled
    for p in prange(li.shape[0]):
        i, j = li[p], ri[p]
        out[p] = _window_one(va, oa[i], oa[i + 1] - oa[i], vb, ob[j], ob[j + 1] - ob[j], k, transpositions)


def window_pairs(va, oa, vb, ob, li, ri, k: int, transpositions: bool) -> np.ndarray:
    """SBTDE per pair: mean over a's k-windows of the min edit distance to any of b's k-windows, / k
    (NaN when a side has fewer than k labels)."""
    out = np.empty(len(li))
    (_window_parallel if parallel(len(li)) else _window_serial)(va, oa, vb, ob, li, ri, int(k),
                                                                bool(transpositions), out)
    return out
