"""MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012) with multimatch-gaze 0.1.3 semantics.

Written from the spec (docs/metrics.md §2.3); the PyPI package is only a test oracle.

Pipeline per pair: saccade representation (saccade i leaves fixation i; vector, length ρ, angle θ,
duration of fixation i) → optional grouping (cached per scanpath) → alignment cost
D(i,j) = M_ij + min(D(i−1,j), D(i,j−1), D(i−1,j−1)), M_ij = ‖v¹_i − v²_j‖ (computed for the whole
batch) → DP and back-track per pair in the numba kernel :func:`scanpath.metrics._dp.mm_paths`
(``backend="torch"``: the anti-diagonal kernel and a vectorised back-track, identical values) →
medians along the path by masked sort.

Ties: a pair whose back-tracked path meets a cell with tied predecessors (|Δ| ≤ 1e-12·max(1, D)) is
re-solved with ``scipy.sparse.csgraph.dijkstra`` on the reference's graph (row-major nodes, edge
weight = destination's M, zero self-loop at the end) so that its tie order is reproduced exactly.
``tie_break="fixed"`` keeps the kernel's diagonal > up > left priority (fast; disagrees with the
reference on a few % of pairs on object grids). ``tie_break="legacy_port"`` instead emulates the O(V²) Dijkstra of the HAT/IRL/Gazeformer ports
(lowest row-major node at minimum distance; relax on strict improvement).

Short scanpaths (< 3 fixations) give NaN×5 with a warning (default), or are padded with fake
fixations (1, 1) of duration 1 as the COCO-Search18 repositories do (``short_policy="pad_ones"``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from scanpath.metrics._kernel import wavefront
from scanpath.metrics.registry import metric
from scanpath.types import Scanpath

DIMS = ("vector", "direction", "length", "position", "duration")
TIE_RTOL = 1e-12


# ------------------------------------------------------------------------- saccade representation
def _polar(vx: float, vy: float) -> tuple[float, float]:
    return float(np.sqrt(vx**2 + vy**2)), float(np.arctan2(vy, vx))


def saccades(fix: np.ndarray) -> dict[str, list]:
    """Vector representation of an ``(n, 3)`` [x, y, duration] array (lists, one entry per
    saccade; ``dur`` holds one entry per fixation)."""
    fix = np.asarray(fix, dtype=np.float64).reshape(-1, 3)
    x, y, d = fix[:, 0], fix[:, 1], fix[:, 2]
    lenx, leny = np.diff(x), np.diff(y)
    rho = np.sqrt(lenx**2 + leny**2)
    theta = np.arctan2(leny, lenx)
    return {
        "x": list(x[:-1]), "y": list(y[:-1]), "lenx": list(lenx), "leny": list(leny),
        "rho": list(rho), "theta": list(theta), "dur": list(d),
    }


def _angle_deg(ax: float, ay: float, bx: float, by: float) -> float:
    """Angle between two saccade vectors in degrees; cos clipped to [−1, 1] (the reference raises
    a math domain error on collinear vectors); a zero-length vector gives NaN (never merged)."""
    v1 = np.array([ax, ay])
    v2 = np.array([bx, by])
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2))
    if np.isnan(c):
        return float("nan")
    return math.degrees(math.acos(min(1.0, max(-1.0, float(c)))))


def _emit(out: dict[str, list], src: dict[str, list], i: int) -> None:
    for k in ("x", "y", "lenx", "leny", "rho", "theta"):
        out[k].append(src[k][i])
    out["dur"].append(src["dur"][i])


def _emit_merged(out: dict[str, list], src: dict[str, list], i: int, vx: float, vy: float) -> None:
    rho, theta = _polar(vx, vy)
    out["x"].append(src["x"][i])
    out["y"].append(src["y"][i])
    out["lenx"].append(vx)
    out["leny"].append(vy)
    out["rho"].append(rho)
    out["theta"].append(theta)
    out["dur"].append(src["dur"][i])


def _empty() -> dict[str, list]:
    return {k: [] for k in ("x", "y", "lenx", "leny", "rho", "theta", "dur")}


def _direction_pass(p: dict[str, list], tdir: float, tdur: float) -> dict[str, list]:
    n = len(p["x"])
    if n < 1:
        return p
    out, i = _empty(), 0
    while i < n:
        if i < n - 1:
            ang = _angle_deg(p["lenx"][i], p["leny"][i], p["lenx"][i + 1], p["leny"][i + 1])
            if ang < tdir and p["dur"][i + 1] < tdur:
                _emit_merged(out, p, i, p["lenx"][i] + p["lenx"][i + 1], p["leny"][i] + p["leny"][i + 1])
                i += 2
                continue
        _emit(out, p, i)
        i += 1
    out["dur"].append(p["dur"][-1])
    return out


def _amplitude_pass(p: dict[str, list], tamp: float, tdur: float) -> dict[str, list]:
    n = len(p["x"])
    if n < 1:
        return p
    out, i = _empty(), 0
    while i < n:
        short = p["rho"][i] < tamp
        if i == n - 1:
            if short and (p["dur"][-1] < tdur or p["dur"][-2] < tdur) and n >= 2 and out["x"]:
                # last saccade: overwrite the previously emitted saccade with the sum of the last
                # two ORIGINAL vectors (0.1.3 behaviour), keep its start; one extra duration entry
                vx = p["lenx"][-2] + p["lenx"][-1]
                vy = p["leny"][-2] + p["leny"][-1]
                rho, theta = _polar(vx, vy)
                out["lenx"][-1], out["leny"][-1], out["rho"][-1], out["theta"][-1] = vx, vy, rho, theta
                out["dur"].append(p["dur"][i - 1])
            else:  # includes the single-saccade case where the reference raises IndexError
                _emit(out, p, i)
            i += 1
        elif short and (p["dur"][i + 1] < tdur or p["dur"][i] < tdur):
            _emit_merged(out, p, i, p["lenx"][i] + p["lenx"][i + 1], p["leny"][i] + p["leny"][i + 1])
            i += 2
        else:
            _emit(out, p, i)
            i += 1
    out["dur"].append(p["dur"][-1])
    return out


def group(p: dict[str, list], tdir: float, tamp: float, tdur: float, max_rounds: int = 10_000) -> dict[str, list]:
    """Repeat a direction pass then an amplitude pass until the fixation (duration-entry) count
    stops changing (always terminates: see multimatch_gaze issue #46)."""
    prev = len(p["dur"])
    for _ in range(max_rounds):
        p = _amplitude_pass(_direction_pass(p, tdir, tdur), tamp, tdur)
        if len(p["dur"]) == prev:
            return p
        prev = len(p["dur"])
    return p


def representation(fix: np.ndarray, grouping: bool = False, tdir: float = 0.0, tdur: float = 0.0,
                   tamp: float = 0.0) -> dict[str, np.ndarray]:
    """Saccade arrays of one scanpath (grouped if asked), θ mapped to [0, 2π) the reference's way."""
    p = saccades(fix)
    if grouping:
        p = group(p, tdir, tamp, tdur)
    out = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
    th = out["theta"].copy()
    neg = th < 0
    th[neg] = math.pi + (math.pi + th[neg])
    out["theta2pi"] = th
    return out


# ------------------------------------------------------------------------- alignment
def _reference_graph_path(M: np.ndarray) -> list[tuple[int, int]]:
    """Shortest path with scipy's Dijkstra on the reference graph (used only for tied pairs)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    n, m = M.shape
    node = np.arange(n * m).reshape(n, m)
    rows, cols, w = [], [], []
    # same edge set and insertion order as the reference (row-major; right, down, diagonal)
    for i in range(n):
        for j in range(m):
            u = node[i, j]
            if i == n - 1 and j < m - 1:
                rows.append(u); cols.append(u + 1); w.append(M[i, j + 1])  # noqa: E702
            elif i < n - 1 and j == m - 1:
                rows.append(u); cols.append(u + m); w.append(M[i + 1, j])  # noqa: E702
            elif i == n - 1 and j == m - 1:
                rows.append(u); cols.append(u); w.append(0.0)  # noqa: E702
            else:
                rows += [u, u, u]
                cols += [u + 1, u + m, u + m + 1]
                w += [M[i, j + 1], M[i + 1, j], M[i + 1, j + 1]]
    g = sp.coo_matrix((np.asarray(w), (np.asarray(rows), np.asarray(cols))), shape=(n * m, n * m)).tocsr()
    _, pred = dijkstra(csgraph=g, directed=True, indices=0, return_predecessors=True)
    end = n * m - 1
    path = [end]
    while pred[path[-1]] != -9999:
        path.append(int(pred[path[-1]]))
    return [divmod(int(v), m) for v in path[::-1]]


def _legacy_port_path(M: np.ndarray) -> list[tuple[int, int]]:
    """O(V²) Dijkstra of the HAT/IRL/Gazeformer ports: pick the lowest row-major unvisited node at
    minimum distance, relax only on strict improvement."""
    n, m = M.shape
    V = n * m
    dist = np.full(V, np.inf)
    prev = np.full(V, -1)
    done = np.zeros(V, dtype=bool)
    dist[0] = 0.0
    for _ in range(V):
        cand = np.where(done, np.inf, dist)
        u = int(np.argmin(cand))  # argmin returns the lowest index among equal minima
        if not np.isfinite(cand[u]):
            break
        done[u] = True
        i, j = divmod(u, m)
        for di, dj in ((0, 1), (1, 0), (1, 1)):
            a, b = i + di, j + dj
            if a < n and b < m:
                v = a * m + b
                alt = dist[u] + M[a, b]
                if alt < dist[v]:
                    dist[v], prev[v] = alt, u
    path = [V - 1]
    while prev[path[-1]] >= 0:
        path.append(int(prev[path[-1]]))
    return [divmod(int(v), m) for v in path[::-1]]


KEYS = ("x", "y", "lenx", "leny", "rho", "theta2pi", "dur")


def _pad_rows(arrays: list[np.ndarray], width: int) -> np.ndarray:
    """Pad 1-D arrays to ``[S, width]`` (zeros) without a per-row Python copy loop."""
    S = len(arrays)
    out = np.zeros((S, max(width, 1)))
    lens = np.array([min(len(a), width) for a in arrays], dtype=np.int64)
    if lens.sum():
        flat = np.concatenate([a[:w] for a, w in zip(arrays, lens)])
        rows = np.repeat(np.arange(S), lens)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        out[rows, cols] = flat
    return out


def padded_representations(fixations: Sequence[np.ndarray | None], grouping: bool = False, tdir: float = 0.0,
                           tdur: float = 0.0, tamp: float = 0.0) -> dict[str, np.ndarray]:
    """Saccade representations of many scanpaths as padded ``[S, T]`` arrays plus ``n`` (saccade
    counts; 0 for ``None`` entries). Without grouping this is fully vectorised (the same
    floating-point operations as the per-scanpath form); with grouping each scanpath is grouped
    once (Python, O(length)) and then padded."""
    S = len(fixations)
    if grouping:
        reps = [None if f is None else representation(f, True, tdir, tdur, tamp) for f in fixations]
        n = np.array([0 if r is None else len(r["lenx"]) for r in reps], dtype=np.int64)
        T = int(n.max()) if S else 0
        empty = np.zeros(0)
        out = {k: _pad_rows([empty if r is None else r[k] for r in reps], T) for k in KEYS}
        out["n"] = n
        return out
    lens = np.array([0 if f is None else len(f) for f in fixations], dtype=np.int64)
    Lmax = int(lens.max()) if S else 0
    fx = [np.zeros((0, 3)) if f is None else np.asarray(f, dtype=np.float64).reshape(-1, 3) for f in fixations]
    X = _pad_rows([f[:, 0] for f in fx], Lmax)
    Y = _pad_rows([f[:, 1] for f in fx], Lmax)
    Dd = _pad_rows([f[:, 2] for f in fx], Lmax)
    lenx = X[:, 1:] - X[:, :-1]
    leny = Y[:, 1:] - Y[:, :-1]
    rho = np.sqrt(lenx**2 + leny**2)
    th = np.arctan2(leny, lenx)
    neg = th < 0
    th[neg] = math.pi + (math.pi + th[neg])
    return {"x": X[:, :-1], "y": Y[:, :-1], "lenx": lenx, "leny": leny, "rho": rho, "theta2pi": th,
            "dur": Dd, "n": np.maximum(lens - 1, 0)}


def _masked_median(vals: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Median over the True entries of each row (NaN when any included value is NaN, as numpy)."""
    has_nan = (torch.isnan(vals) & mask).any(dim=1)
    v = torch.where(mask, vals, torch.full_like(vals, float("inf")))
    v = torch.where(torch.isnan(v), torch.full_like(v, float("inf")), v)
    s, _ = torch.sort(v, dim=1)
    k = mask.sum(dim=1)
    lo = ((k - 1).clamp(min=0) // 2).unsqueeze(1)
    hi = (k // 2).clamp(max=vals.shape[1] - 1).unsqueeze(1)
    med = (s.gather(1, lo) + s.gather(1, hi)).squeeze(1) / 2
    med = torch.where(k % 2 == 1, s.gather(1, lo).squeeze(1), med)
    med[has_nan | (k == 0)] = float("nan")
    return med


def multimatch_pairs(
    left: Mapping[str, np.ndarray],
    right: Mapping[str, np.ndarray],
    li: np.ndarray,
    ri: np.ndarray,
    screen_size: np.ndarray,
    tie_break: str = "reference",
    chunk: int = 4096,
    backend: str = "auto",
    max_cells: int = 1 << 20,
) -> np.ndarray:
    """Batched MultiMatch on padded representations (:func:`padded_representations`) of the
    left and right scanpaths; pairs ``(li[p], ri[p])``; returns ``[P, 5]``.

    ``screen_size``: ``(2,)`` or ``[P, 2]`` (W, H) per pair. Pairs where either side has no
    saccade are NaN (the caller applies the < 3 fixation rule before). ``backend``: ``"native"``
    (= ``"auto"``: the numba path kernel) or ``"torch"`` (the anti-diagonal kernel); identical values.
    Pairs are processed in chunks of at most ``chunk`` pairs and ``max_cells`` cells of the padded
    ``[P, N, M]`` distance matrix (8 MB of float64 at the default; the chunk's temporaries scale with
    it), so memory does not grow with the number of pairs; chunking does not change any value.
    """
    if backend not in ("auto", "native", "torch"):
        raise ValueError(f"unknown backend {backend!r}; use 'auto', 'native' or 'torch'")
    li = np.asarray(li, dtype=np.int64)
    ri = np.asarray(ri, dtype=np.int64)
    P = len(li)
    out = np.full((P, 5), np.nan)
    if P == 0:
        return out
    ss = np.broadcast_to(np.asarray(screen_size, dtype=np.float64), (P, 2))
    nl, nr = left["n"], right["n"]
    ok = (nl[li] > 0) & (nr[ri] > 0)
    order = np.flatnonzero(ok)
    order = order[np.lexsort((nr[ri[order]], nl[li[order]]))]
    TL = {k: torch.from_numpy(np.ascontiguousarray(left[k])) for k in KEYS}
    TR = {k: torch.from_numpy(np.ascontiguousarray(right[k])) for k in KEYS}
    # the representations are CPU tensors: keep every allocation there even when the caller set
    # another default device (torch.set_default_device("cuda") would otherwise mix devices)
    with torch.device("cpu"):
        for s, e in _chunks(nl[li[order]], nr[ri[order]], chunk, max_cells):
            idx = order[s:e]
            out[idx] = _mm_pairs_chunk(TL, TR, nl, nr, li[idx], ri[idx], ss[idx], tie_break, backend)
    return out


def _chunks(n: np.ndarray, m: np.ndarray, chunk: int, max_cells: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges over pairs sorted by (n, m): at most ``chunk`` pairs each, and at most
    ``max_cells`` cells of the padded ``[P, max n, max m]`` matrix (always at least one pair)."""
    out, s, total = [], 0, len(n)
    while s < total:
        e_max = min(s + max(int(chunk), 1), total)
        cells = np.arange(1, e_max - s + 1) * np.maximum.accumulate(n[s:e_max]) * np.maximum.accumulate(m[s:e_max])
        e = s + max(int(np.searchsorted(cells, max_cells, side="right")), 1)
        out.append((s, e))
        s = e
    return out


def _mm_pairs_chunk(TL: dict, TR: dict, nl: np.ndarray, nr: np.ndarray, a_i: np.ndarray, b_i: np.ndarray,
                    ss: np.ndarray, tie_break: str, backend: str) -> np.ndarray:
    """One chunk of pairs: gather the padded representations, then :func:`_mm_chunk`."""
    n = torch.from_numpy(nl[a_i])
    m = torch.from_numpy(nr[b_i])
    N, Mx = int(n.max()), int(m.max())
    ta, tb = torch.from_numpy(a_i), torch.from_numpy(b_i)
    f = {k: (TL[k][ta, :N], TR[k][tb, :Mx]) for k in KEYS}
    return _mm_chunk(f, n, m, ss, tie_break, backend)


def _torch_paths(M, n, m, N, Mx, P):
    """Alignment DP on the anti-diagonal kernel and a vectorised back-track (the CUDA path)."""
    S = wavefront(M, M, M, reduce="min", boundary=float("inf"), corner=0.0, skewed=True)
    Sf = S.reshape(-1)
    stride_d = (N + 1) * P  # S[d, i, p] -> (d·(N+1) + i)·P + p

    # vectorised back-track from (n, m) to (1, 1) in table coordinates; D[p, i, j] = S[i+j, p, i]
    L = N + Mx - 1
    pi = torch.zeros((P, L), dtype=torch.long)
    pj = torch.zeros((P, L), dtype=torch.long)
    valid = torch.zeros((P, L), dtype=torch.bool)
    tie = torch.zeros(P, dtype=torch.bool)
    ci, cj = n.clone(), m.clone()
    active = torch.ones(P, dtype=torch.bool)
    rows = torch.arange(P)
    for t in range(L):
        pi[:, t], pj[:, t], valid[:, t] = ci - 1, cj - 1, active
        active = active & ~((ci == 1) & (cj == 1))
        if not bool(active.any()):
            break
        d2 = (ci + cj - 2) * stride_d + rows  # diagonal of (i-1, j-1)
        d1 = d2 + stride_d  # diagonal of (i-1, j) and (i, j-1)
        cand = torch.stack([Sf[d2 + (ci - 1) * P], Sf[d1 + (ci - 1) * P], Sf[d1 + ci * P]], dim=1)  # diag, up, left
        best, arg = cand.min(dim=1)
        tol = TIE_RTOL * torch.clamp(best.abs(), min=1.0)
        n_min = ((cand - best[:, None]).abs() <= tol[:, None]).sum(dim=1)
        tie |= active & (n_min > 1)
        ci = ci - (active & (arg <= 1)).long()
        cj = cj - (active & (arg != 1)).long()
    return pi, pj, valid, tie


def _mm_chunk(f: dict, n: torch.Tensor, m: torch.Tensor, ss: np.ndarray, tie_break: str,
              backend: str = "native") -> np.ndarray:
    P = len(n)
    N, Mx = int(n.max()), int(m.max())
    ax, bx = f["lenx"]
    ay, by = f["leny"]
    M = torch.sqrt(torch.abs(ax[:, :, None] - bx[:, None, :]) ** 2 + torch.abs(ay[:, :, None] - by[:, None, :]) ** 2)
    if backend == "torch":
        pi, pj, valid, tie = _torch_paths(M, n, m, N, Mx, P)
    else:
        from scanpath.metrics import _dp

        pi, pj, valid, tie = (torch.from_numpy(t) for t in _dp.mm_paths(
            np.ascontiguousarray(M.numpy()), n.numpy(), m.numpy(), TIE_RTOL))
    rows = torch.arange(P)

    # re-solve tied pairs (or all pairs, for the legacy tie order) on the explicit graph
    if tie_break not in ("reference", "legacy_port", "fixed"):
        raise ValueError(f"unknown tie_break {tie_break!r}; use 'reference', 'legacy_port' or 'fixed'")
    redo = torch.ones(P, dtype=torch.bool) if tie_break == "legacy_port" else tie
    if tie_break == "fixed":  # diagonal > up > left priority, no re-solve (NOT reference-exact)
        redo = torch.zeros(P, dtype=torch.bool)
    for p in torch.nonzero(redo).flatten().tolist():
        Mp = M[p, : int(n[p]), : int(m[p])].numpy()
        path = _reference_graph_path(Mp) if tie_break == "reference" else _legacy_port_path(Mp)
        path = path[::-1]
        valid[p] = False
        for t, (i, j) in enumerate(path):
            pi[p, t], pj[p, t], valid[p, t] = i, j, True

    def g(key: str, side: int, idx: torch.Tensor) -> torch.Tensor:
        return f[key][side].gather(1, idx)

    pi_c, pj_c = pi.clamp(min=0), pj.clamp(min=0)
    vec = M[rows[:, None], pi_c, pj_c]
    t1, t2 = g("theta2pi", 0, pi_c), g("theta2pi", 1, pj_c)
    dth = (t1 - t2).abs()
    dth = torch.where(dth > math.pi, 2 * math.pi - dth, dth)
    dlen = (g("rho", 0, pi_c) - g("rho", 1, pj_c)).abs()
    dpos = torch.sqrt((g("x", 0, pi_c) - g("x", 1, pj_c)) ** 2 + (g("y", 0, pi_c) - g("y", 1, pj_c)) ** 2)
    d1, d2 = g("dur", 0, pi_c), g("dur", 1, pj_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        ddur = (d1 - d2).abs() / torch.maximum(d1, d2).abs()
    meds = torch.stack([_masked_median(v, valid) for v in (vec, dth, dlen, dpos, ddur)], dim=1).numpy()
    diag = np.sqrt(ss[:, 0] ** 2 + ss[:, 1] ** 2)
    res = np.empty((P, 5))
    res[:, 0] = 1 - meds[:, 0] / (2 * diag)
    res[:, 1] = 1 - meds[:, 1] / math.pi
    res[:, 2] = 1 - meds[:, 2] / diag
    res[:, 3] = 1 - meds[:, 3] / diag
    res[:, 4] = 1 - meds[:, 4]
    return res


# ------------------------------------------------------------------------- public API
def _prep_fix(fix: np.ndarray, short_policy: str) -> np.ndarray | None:
    fix = np.asarray(fix, dtype=np.float64).reshape(-1, 3)
    if len(fix) >= 3:
        return fix
    if short_policy == "pad_ones":
        pad = np.ones((3 - len(fix), 3))
        return np.concatenate([fix, pad], axis=0)
    if short_policy == "nan":
        return None
    raise ValueError(f"unknown short_policy {short_policy!r}; use 'nan' or 'pad_ones'")


def multimatch_batch(
    left: Sequence[np.ndarray],
    right: Sequence[np.ndarray],
    li: np.ndarray | None = None,
    ri: np.ndarray | None = None,
    screen_size: Sequence[float] | np.ndarray = (1280, 720),
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
    short_policy: str = "nan",
    tie_break: str = "reference",
    warn: bool = True,
    legacy_float32: bool = False,
    backend: str = "auto",
) -> np.ndarray:
    """MultiMatch for many pairs: ``left``/``right`` are lists of ``(n, 3)`` [x, y, duration s]
    arrays, pairs ``(left[li[p]], right[ri[p]])`` (``li = ri = arange`` when omitted). Each
    scanpath's representation (and grouping) is computed once. Returns ``[P, 5]``."""
    if li is None:
        if len(left) != len(right):
            raise ValueError("without pair indices left and right must have the same length")
        li = ri = np.arange(len(left))
    if legacy_float32:  # HAT-port reproduction: coordinates and durations held in float32
        left = [np.asarray(a, dtype=np.float32).astype(np.float64) for a in left]
        right = [np.asarray(b, dtype=np.float32).astype(np.float64) for b in right]
    Lf = [_prep_fix(a, short_policy) for a in left]
    Rf = Lf if right is left else [_prep_fix(b, short_policy) for b in right]
    li = np.asarray(li, dtype=np.int64)
    ri = np.asarray(ri, dtype=np.int64)
    Lr = padded_representations(Lf, grouping, tdir, tdur, tamp)
    Rr = Lr if Rf is Lf else padded_representations(Rf, grouping, tdir, tdur, tamp)
    short_l = np.array([f is None for f in Lf], dtype=bool)
    short_r = np.array([f is None for f in Rf], dtype=bool)
    n_short = int((short_l[li] | short_r[ri]).sum()) if len(li) else 0
    if n_short and warn:
        warnings.warn(f"MultiMatch: {n_short} pair(s) with a scanpath of < 3 fixations are NaN "
                      "(short_policy='pad_ones' reproduces upstream padding)", stacklevel=2)
    return multimatch_pairs(Lr, Rr, li, ri, screen_size, tie_break, backend=backend)


def multimatch(
    a: np.ndarray,
    b: np.ndarray,
    screen_size: Sequence[float] = (1280, 720),
    grouping: bool = False,
    tdir: float = 0.0,
    tdur: float = 0.0,
    tamp: float = 0.0,
    short_policy: str = "nan",
    tie_break: str = "reference",
) -> np.ndarray:
    """MultiMatch of two ``(n, 3)`` [x, y, duration s] scanpaths → [vector, direction, length,
    position, duration] (multimatch-gaze 0.1.3 ``docomparison`` semantics)."""
    return multimatch_batch([np.asarray(a)], [np.asarray(b)], screen_size=screen_size, grouping=grouping,
                            tdir=tdir, tdur=tdur, tamp=tamp, short_policy=short_policy, tie_break=tie_break)[0]


# -------------------------------------------------------- registry entries (@metric): MultiMatch
MM_DIMS = ("vector", "direction", "length", "position", "duration")

MM_DEFAULTS = {"screen_size": None, "grouping": False, "tdir": 0.0, "tdur": 0.0, "tamp": 0.0, "short_policy": "nan",
               "tie_break": "reference", "duration_policy": "real", "default_duration_ms": None,
               "legacy_float32": False}


def _mm_fix(s: Scanpath, params) -> tuple[np.ndarray, bool]:
    """(n, 3) [x, y, duration s] for MultiMatch and whether the durations are real."""
    policy = params["duration_policy"]
    if policy == "ones":
        return np.column_stack([s.x, s.y, np.ones(len(s))]), True
    if s.duration is not None and policy in ("real", "default"):
        return np.column_stack([s.x, s.y, s.duration / 1000.0]), True
    if policy == "default" and params.get("default_duration_ms") is not None:
        return np.column_stack([s.x, s.y, np.full(len(s), params["default_duration_ms"] / 1000.0)]), True
    if policy not in ("real", "default"):
        raise ValueError(f"unknown duration_policy {policy!r}; use 'real', 'ones' or 'default'")
    return np.column_stack([s.x, s.y, np.ones(len(s))]), False


@metric(
    "multimatch", "pair",
    dict(MM_DEFAULTS),
    subdims=MM_DIMS,
    main=lambda d: float(np.mean([d["vector"], d["direction"], d["length"], d["position"]])),
    description="MultiMatch (multimatch-gaze 0.1.3 semantics); value = MM = mean of vector, direction, "
                "length, position",
)
def _multimatch(left, right, li, ri, params):
    fl = [_mm_fix(s, params) for s in left]
    fr = fl if right is left else [_mm_fix(s, params) for s in right]
    if params["screen_size"] is not None:
        ss = np.asarray(params["screen_size"], dtype=np.float64)
    else:
        from scanpath.metrics.labelers import image_size_of

        sizes = np.array([image_size_of(s) for s in left], dtype=np.float64)
        ss = sizes[li]
    out = multimatch_batch([f for f, _ in fl], [f for f, _ in fr], li, ri, screen_size=ss,
                           grouping=params["grouping"], tdir=params["tdir"], tdur=params["tdur"],
                           tamp=params["tamp"], short_policy=params["short_policy"], tie_break=params["tie_break"],
                           legacy_float32=params["legacy_float32"])
    no_dur = np.array([not fl[i][1] or not fr[j][1] for i, j in zip(li, ri)], dtype=bool)
    out[no_dur, 4] = np.nan
    return out


@metric(
    "multimatch_mm", "pair",
    dict(MM_DEFAULTS),
    description="per-pair MM = mean of MultiMatch vector, direction, length, position (so pair_reduce max "
                "picks the best human by MM; used by spp_multimatch)",
)
def _mm_mean(left, right, li, ri, params):
    return np.mean(_multimatch(left, right, li, ri, params)[:, :4], axis=1)
