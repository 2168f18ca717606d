"""One anti-diagonal (wavefront) dynamic-programming kernel, batched over pairs (spec §2.9).

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

import torch

Reduce = Literal["min", "max"]


def _as_cell(v: torch.Tensor | float, shape: tuple[int, ...], dtype, device) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.to(dtype=dtype, device=device)
    return torch.full(shape, float(v), dtype=dtype, device=device)


def _diag_index(n: int, m: int, d: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells (i, j), 1-based in the padded table, with i + j = d + 2 (d = 0 .. n+m-2)."""
    i0 = max(1, d + 2 - m)
    i1 = min(n, d + 1)
    i = torch.arange(i0, i1 + 1, device=device)
    return i, d + 2 - i


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
) -> torch.Tensor:
    """Fill the DP table for a batch; return it as ``[P, N+1, M+1]`` (row/col 0 = boundary).

    ``up``/``left``/``diag``: ``[P, N, M]`` step costs (or scalars, then ``shape`` is required).
    ``row0`` ``[M+1]`` or ``[P, M+1]`` and ``col0`` ``[N+1]`` or ``[P, N+1]`` set the boundary;
    otherwise ``boundary`` fills both (``corner`` is ``D(0, 0)``). ``outer`` ``[P, N, M]``, when
    given, applies ``max(outer, ·)`` after the reduction (discrete Fréchet).
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
    U = _as_cell(up, shape, dtype, device)
    L = _as_cell(left, shape, dtype, device)
    G = _as_cell(diag, shape, dtype, device)
    O = None if outer is None else outer.to(dtype=dtype, device=device)
    D = torch.empty((p, n + 1, m + 1), dtype=dtype, device=device)
    fill = 0.0 if boundary is None else boundary
    D[:, 0, :] = fill if row0 is None else row0.to(dtype=dtype, device=device)
    D[:, :, 0] = fill if col0 is None else col0.to(dtype=dtype, device=device)
    if row0 is None and col0 is None:
        D[:, 0, 0] = corner
    if n == 0 or m == 0:
        return D
    red = torch.minimum if reduce == "min" else torch.maximum
    for d in range(n + m - 1):
        i, j = _diag_index(n, m, d, device)
        a = D[:, i - 1, j] + U[:, i - 1, j - 1]
        b = D[:, i, j - 1] + L[:, i - 1, j - 1]
        c = D[:, i - 1, j - 1] + G[:, i - 1, j - 1]
        v = red(red(a, b), c)
        if O is not None:
            v = torch.maximum(O[:, i - 1, j - 1], v)
        D[:, i, j] = v
    return D


def final_values(D: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``D[p, n_p, m_p]`` for every pair (the value of the full alignment)."""
    idx = torch.arange(D.shape[0], device=D.device)
    return D[idx, n.to(D.device), m.to(D.device)]


def pad_sequences(seqs: list, dtype: torch.dtype = torch.float64, fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of 1-D or 2-D array-likes to ``[B, T(, k)]``; return (padded, lengths)."""
    ts = [torch.as_tensor(s, dtype=dtype) for s in seqs]
    lengths = torch.tensor([t.shape[0] for t in ts], dtype=torch.long)
    tmax = int(lengths.max()) if len(ts) else 0
    tail = ts[0].shape[1:] if ts else ()
    out = torch.full((len(ts), tmax, *tail), fill, dtype=dtype)
    for k, t in enumerate(ts):
        if t.shape[0]:
            out[k, : t.shape[0]] = t
    return out, lengths
