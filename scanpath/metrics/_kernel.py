"""One anti-diagonal (wavefront) dynamic-programming kernel, batched over pairs (docs/metrics.md §2.9).

Every alignment recurrence the library needs has the form

    D(i, j) = outer(C(i, j), reduce(D(i-1, j) + U(i, j), D(i, j-1) + L(i, j), D(i-1, j-1) + G(i, j)))

on a ``(n+1) × (m+1)`` table whose row 0 / column 0 hold boundary values. Cells on one
anti-diagonal ``i + j = d`` only depend on the two previous diagonals, so a whole diagonal of every
pair in the batch is updated with a handful of tensor ops: ``n + m`` Python iterations in total
instead of ``n · m`` per pair. Padded pairs are harmless: ``D(n_p, m_p)`` never depends on cells
beyond a pair's own lengths. All maths is float64 (torch, CPU by default, any device works).

Instances (``U``, ``L``, ``G`` may be scalars):

* LCS:           reduce=max, U=L=0, G=[a_i == b_j], boundary 0
* Levenshtein:   reduce=min, U=L=1, G=[a_i != b_j], boundary i / j
* NW/ScanMatch:  reduce=max, U=L=gap, G=S(a_i, b_j), boundary gap·i
* DTW / MultiMatch alignment cost: reduce=min, U=L=G=C, boundary +inf, D(0, 0)=0
* discrete Fréchet: outer=max(C, ·), reduce=min, U=L=G=0, boundary +inf, D(0, 0)=-inf
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Reduce = Literal["min", "max"]


def _as_cell(v: torch.Tensor | float, shape: tuple[int, ...], dtype, device) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.to(dtype=dtype, device=device)
    return torch.full(shape, float(v), dtype=dtype, device=device)


def _skew_index(n: int, m: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat cost index of table cell (i, d − i) for every diagonal d = 0..n+m and row i = 0..n.

    Cells outside 1 ≤ i ≤ n, 1 ≤ j ≤ m point at a padding slot ``n·m`` (value 0). Also returns
    the flat table index ``i·(m+1) + j`` (clamped) used to un-skew the result.
    """
    d = torch.arange(n + m + 1, device=device)[:, None]
    i = torch.arange(n + 1, device=device)[None, :]
    j = d - i
    valid = (i >= 1) & (j >= 1) & (j <= m)
    cost = torch.where(valid, (i - 1) * m + (j - 1), torch.full_like(j, n * m))
    return cost, valid


def _skew(t: torch.Tensor, cost_idx: torch.Tensor) -> torch.Tensor:
    """``[P, n, m]`` -> ``[n+m+1, n+1, P]`` diagonal-major copy, pairs innermost (padding cells 0)."""
    p = t.shape[0]
    flat = torch.cat([t.reshape(p, -1).t(), torch.zeros((1, p), dtype=t.dtype, device=t.device)], dim=0)
    return flat.index_select(0, cost_idx.reshape(-1)).view(*cost_idx.shape, p)


def _add(base: torch.Tensor, step: torch.Tensor | float, d: int) -> torch.Tensor:
    """``base + step`` for diagonal d (skips the add for a zero scalar step)."""
    if isinstance(step, torch.Tensor):
        return base + step[d, 1:]
    return base if step == 0.0 else base + step


def wavefront(
    up: torch.Tensor | float,
    left: torch.Tensor | float,
    diag: torch.Tensor | float,
    *,
    shape: tuple[int, int, int] | None = None,
    reduce: Reduce = "min",
    row0: torch.Tensor | None = None,
    col0: torch.Tensor | None = None,
    corner: float = 0.0,
    boundary: float | None = None,
    outer: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    skewed: bool = False,
) -> torch.Tensor:
    """Fill the DP table for a batch; return it as ``[P, N+1, M+1]`` (row/col 0 = boundary), or,
    with ``skewed=True``, in the internal diagonal-major layout ``S[i + j, i, p] = D[p, i, j]``.

    ``up``/``left``/``diag``: ``[P, N, M]`` step costs (or scalars, then ``shape`` is required).
    ``row0`` ``[M+1]`` and ``col0`` ``[N+1]`` set the boundary; otherwise ``boundary`` fills both
    (``corner`` is ``D(0, 0)``). ``outer`` ``[P, N, M]``, when given, applies ``max(outer, ·)``
    after the reduction (discrete Fréchet).

    Internally one anti-diagonal is a contiguous ``[N+1, P]`` block (row i, pair p), so each step
    is three row-shifted slices and two min/max ops over the whole batch.
    """
    for t in (up, left, diag, outer):
        if isinstance(t, torch.Tensor):
            shape = tuple(t.shape)
            device = t.device if device is None else device
            break
    if shape is None:
        raise ValueError("wavefront needs a tensor input or an explicit shape")
    p, n, m = shape
    device = device or "cpu"
    fill = 0.0 if boundary is None else float(boundary)
    r0 = torch.full((m + 1,), fill, dtype=dtype, device=device) if row0 is None else row0.to(dtype=dtype, device=device).reshape(-1)
    c0 = torch.full((n + 1,), fill, dtype=dtype, device=device) if col0 is None else col0.to(dtype=dtype, device=device).reshape(-1)
    if row0 is None and col0 is None:
        r0[0] = corner
        c0[0] = corner
    if n == 0 or m == 0:
        if skewed:
            raise ValueError("skewed output needs n, m >= 1")
        D = torch.empty((p, n + 1, m + 1), dtype=dtype, device=device)
        D[:, 0, :] = r0
        D[:, :, 0] = c0
        return D
    cost_idx, _valid = _skew_index(n, m, device)

    def skew(v):
        if isinstance(v, torch.Tensor):
            return _skew(v.to(dtype=dtype, device=device), cost_idx)
        return float(v)

    U = skew(up)
    L = U if left is up else skew(left)
    G = U if diag is up else (L if diag is left else skew(diag))
    O = None if outer is None else skew(outer)
    red = torch.minimum if reduce == "min" else torch.maximum
    # cells outside the table are never read by a valid cell, so the buffer starts uninitialised
    S = torch.empty((n + m + 1, n + 1, p), dtype=dtype, device=device)
    S[0, 0] = r0[0]
    for d in range(1, n + m + 1):
        prev, cur = S[d - 1], S[d]
        # rows 1..n of diagonal d: up = (i-1, j) on d-1 at row i-1; left = (i, j-1) on d-1 at row i;
        # diag = (i-1, j-1) on d-2 at row i-1
        v = red(_add(prev[:-1], U, d), _add(prev[1:], L, d))
        if d >= 2:
            v = red(v, _add(S[d - 2][:-1], G, d), out=v)
        if O is not None:
            v = torch.maximum(O[d, 1:], v, out=v)
        cur[1:] = v
        if d <= m:
            cur[0] = r0[d]
        if d <= n:
            cur[d] = c0[d]
    if skewed:
        return S
    # un-skew: D[p, i, j] = S[i + j, i, p]
    ii = torch.arange(n + 1, device=device)[:, None].expand(n + 1, m + 1)
    jj = torch.arange(m + 1, device=device)[None, :].expand(n + 1, m + 1)
    return S[ii + jj, ii].permute(2, 0, 1).contiguous()


def wavefront_final(up, left, diag, n: torch.Tensor, m: torch.Tensor, **kwargs) -> torch.Tensor:
    """``D[p, n_p, m_p]`` straight from the diagonal-major table (no un-skewing of the full table)."""
    shape = kwargs.get("shape")
    for t in (up, left, diag, kwargs.get("outer")):
        if isinstance(t, torch.Tensor):
            shape = tuple(t.shape)
            break
    if shape is None or shape[1] == 0 or shape[2] == 0:
        return final_values(wavefront(up, left, diag, **kwargs), n, m)
    S = wavefront(up, left, diag, skewed=True, **kwargs)
    idx = torch.arange(S.shape[2], device=S.device)
    n = n.to(S.device)
    return S[n + m.to(S.device), n, idx]


def final_values(D: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``D[p, n_p, m_p]`` for every pair (the value of the full alignment)."""
    idx = torch.arange(D.shape[0], device=D.device)
    return D[idx, n.to(D.device), m.to(D.device)]


def pad_sequences(seqs: list, dtype: torch.dtype = torch.float64, fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of 1-D or 2-D array-likes to ``[B, T(, k)]``; return (padded, lengths).

    One concatenation and one scatter (no per-row copy loop)."""
    arrs = [np.asarray(x) for x in seqs]
    lengths = np.array([a.shape[0] for a in arrs], dtype=np.int64)
    b = len(arrs)
    tmax = int(lengths.max()) if b else 0
    tail = next((a.shape[1:] for a in arrs if a.ndim > 1), ())
    np_dtype = np.int64 if dtype in (torch.long, torch.int64) else np.float64
    out = np.full((b, max(tmax, 1), *tail), fill, dtype=np_dtype)
    if lengths.sum():
        flat = np.concatenate([a.reshape(a.shape[0], *tail) for a in arrs if a.shape[0]], axis=0)
        rows = np.repeat(np.arange(b), lengths)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = flat
    return torch.from_numpy(out[:, :tmax] if tmax else out[:, :0]).to(dtype), torch.from_numpy(lengths)
