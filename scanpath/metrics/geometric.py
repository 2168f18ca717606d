"""Point-wise geometric scanpath metrics, batched over pairs (docs/metrics.md §2.5, docs/humanoid360.md §4).

Inputs are lists of ``(L, 2)`` float arrays (x, y pixels, or yaw/pitch degrees for
``distance="orthodromic"``); pair ``k`` compares ``a[k]`` with ``b[k]``. DTW and discrete Fréchet
run on the numba kernels of :mod:`scanpath.metrics._dp` on CPU and on the anti-diagonal torch kernel
for CUDA (``backend``/``device`` as in :mod:`scanpath.metrics.sequence`); the values are identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from scanpath.metrics._kernel import wavefront_final
from scanpath.metrics.registry import metric
from scanpath.metrics.sequence import Backend, _pair_lengths, chunked_pairs, pair_index, use_torch

try:  # the core's batched great-circle op when it exists (issue 4)
    from scanpath.core import great_circle as _core_great_circle  # type: ignore[attr-defined]
except Exception:  # pragma: no cover - depends on the core landing
    _core_great_circle = None


def haversine_deg(lon1, lat1, lon2, lat2):
    """Great-circle angle in degrees between (lon, lat) points given in degrees (broadcasting).

    Small local helper (haversine, clamped) used until/unless ``scanpath.core.great_circle``
    exists; works on numpy arrays and torch tensors alike.
    """
    mod = torch if isinstance(lon1, torch.Tensor) else np
    r = np.pi / 180.0
    p1, p2 = lat1 * r, lat2 * r
    dphi = p2 - p1
    dl = (lon2 - lon1) * r
    h = mod.sin(dphi / 2) ** 2 + mod.cos(p1) * mod.cos(p2) * mod.sin(dl / 2) ** 2
    h = mod.clip(h, 0.0, 1.0) if mod is np else h.clamp(0.0, 1.0)
    return 2.0 * mod.arcsin(mod.sqrt(h)) / r


def _core_scale() -> float | None:
    """Unit factor that turns ``scanpath.core.great_circle`` output into degrees (None if absent
    or unusable: then the local haversine helper is used)."""
    if _core_great_circle is None:
        return None
    try:
        v = float(_core_great_circle(torch.tensor([[0.0, 0.0]], dtype=torch.float64),
                                     torch.tensor([[90.0, 0.0]], dtype=torch.float64)).reshape(-1)[0])
    except Exception:
        return None
    if abs(v - 90.0) < 1e-6:
        return 1.0
    if abs(v - np.pi / 2) < 1e-6:
        return 180.0 / np.pi
    return None


def angle_deg(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Great-circle angle (degrees) between broadcastable ``[..., 2]`` (yaw, pitch) degree tensors."""
    scale = _core_scale()
    if scale is not None:
        a, b = torch.broadcast_tensors(A, B)
        return _core_great_circle(a.contiguous(), b.contiguous()).to(torch.float64) * scale
    return haversine_deg(A[..., 0], A[..., 1], B[..., 0], B[..., 1])


def _pairwise(A: torch.Tensor, B: torch.Tensor, distance: str) -> torch.Tensor:
    """``[P, N, M]`` local distances between padded point sets ``A [P, N, 2]``, ``B [P, M, 2]``."""
    if distance == "euclidean":
        dx = A[:, :, None, 0] - B[:, None, :, 0]
        dy = A[:, :, None, 1] - B[:, None, :, 1]
        return torch.sqrt(dx * dx + dy * dy)
    if distance == "orthodromic":
        return angle_deg(A[:, :, None, :], B[:, None, :, :])
    raise ValueError(f"unknown distance {distance!r}; use 'euclidean' or 'orthodromic'")


def _points(seqs: Sequence) -> list[np.ndarray]:
    out = []
    for s in seqs:
        arr = np.asarray(s, dtype=np.float64).reshape(-1, 2)
        out.append(arr)
    return out


def _warp(a: Sequence, b: Sequence, distance: str, li, ri, backend: str, device, frechet: bool) -> np.ndarray:
    if not use_torch(backend, device) and distance == "euclidean":
        from scanpath.metrics import _dp
        from scanpath.metrics._packing import pack

        xa, oa = pack(a, np.float64, 2)
        xb, ob = (xa, oa) if b is a else pack(b, np.float64, 2)
        lia, ria = pair_index(a, b, li, ri)
        out = _dp.warp_pairs(xa, oa, xb, ob, lia, ria, frechet) if len(lia) else np.zeros(0)
        out[(np.diff(oa)[lia] == 0) | (np.diff(ob)[ria] == 0)] = np.nan
        return out
    a, b = _points(a), _points(b)
    if use_torch(backend, device):
        def run(A, lA, B, lB):
            C = _pairwise(A, B, distance)
            if frechet:
                return wavefront_final(0.0, 0.0, 0.0, shape=tuple(C.shape), reduce="min", boundary=float("inf"),
                                       corner=float("-inf"), outer=C, n=lA, m=lB).cpu().numpy()
            return wavefront_final(C, C, C, reduce="min", boundary=float("inf"), corner=0.0, n=lA, m=lB).cpu().numpy()

        out = chunked_pairs(a, b, run, li=li, ri=ri, device=device)
    else:  # local costs from the batched torch op (the same values), the recurrence compiled
        from scanpath.metrics import _dp

        def run(A, lA, B, lB):
            C = _pairwise(A, B, distance).numpy()
            return _dp.warp_cost_pairs(np.ascontiguousarray(C), lA.numpy(), lB.numpy(), frechet)

        out = chunked_pairs(a, b, run, li=li, ri=ri)
    pa, pb = _pair_lengths(a, b, li, ri)
    out[(pa == 0) | (pb == 0)] = np.nan
    return out


def dtw(a: Sequence, b: Sequence, distance: str = "euclidean", li=None, ri=None, backend: Backend = "auto",
        device=None) -> np.ndarray:
    """Exact DTW: local cost = distance, steps (1,0), (0,1), (1,1), summed. Empty side → NaN."""
    return _warp(a, b, distance, li, ri, backend, device, frechet=False)


def frechet(a: Sequence, b: Sequence, distance: str = "euclidean", li=None, ri=None, backend: Backend = "auto",
            device=None) -> np.ndarray:
    """Discrete Fréchet distance c(i,j) = max(d(i,j), min(c(i−1,j), c(i−1,j−1), c(i,j−1)))."""
    return _warp(a, b, distance, li, ri, backend, device, frechet=True)


def stde(a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> float:
    """Scaled time-delay embedding similarity (FixaTons): coordinates ÷ max(W, H); for
    k = 1..min length, mean over predicted k-windows of exp(−min over human k-windows of the mean
    point distance); STDE is the mean over k. ``a`` = prediction, ``b`` = human; not mutated."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2) / max(size)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2) / max(size)
    n = min(len(a), len(b))
    if n == 0:
        return float("nan")
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # [La, Lb]
    scores = []
    for k in range(1, n + 1):
        scores.append(float(np.mean(np.exp(-_window_min(d, k)))))
    return float(np.mean(scores))


def _window_min(d: np.ndarray, k: int) -> np.ndarray:
    """For each predicted k-window start i: min over human starts j of Σ_t d[i+t, j+t] / k."""
    la, lb = d.shape
    acc = np.zeros((la - k + 1, lb - k + 1))
    for t in range(k):
        acc += d[t : la - k + 1 + t, t : lb - k + 1 + t]
    return (acc / k).min(axis=1)


def tde(a: np.ndarray, b: np.ndarray, k: int = 3, distance: str = "euclidean") -> float:
    """Time-delay embedding distance (360° protocol): one k, unscaled, no exp; mean over predicted
    k-windows of the minimum mean distance to a human k-window."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    if len(a) < k or len(b) < k:
        return float("nan")
    if distance == "orthodromic":
        d = haversine_deg(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
    else:
        d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    return float(np.mean(_window_min(d, k)))


def recurrence(
    a: np.ndarray,
    b: np.ndarray,
    radius: float,
    min_line: int = 2,
    distance: str = "euclidean",
    variant: str = "anderson",
) -> dict[str, float]:
    """Cross-recurrence REC/DET/LAM/CORM (Anderson et al. 2015).

    Both scanpaths are truncated to N = the shorter length; c_ij = [d(f_i, g_j) ≤ radius].
    ``variant="ram1n"`` reproduces the rAm1n / ScanDMM lineage: upper triangle with ``<``,
    REC = 100·2Σ_{i<j}c_ij/(N(N−1)); DET from diagonal runs ≥ L within that triangle.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    n = min(len(a), len(b))
    nan = {"rec": float("nan"), "det": float("nan"), "lam": float("nan"), "corm": float("nan")}
    if n < 2:
        return nan
    a, b = a[:n], b[:n]
    if distance == "orthodromic":
        d = haversine_deg(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
    else:
        d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    if variant == "ram1n":
        c = (d < radius) & np.triu(np.ones((n, n), dtype=bool), k=1)
        r = int(c.sum())
        rec = 100.0 * 2 * r / (n * (n - 1))
        det = 100.0 * _diag_run_points(c, min_line) / r if r else float("nan")
        return {"rec": rec, "det": det, "lam": float("nan"), "corm": float("nan")}
    c = d <= radius
    total = int(c.sum())
    rec = 100.0 * total / (n * n)
    if total == 0:
        return {"rec": rec, "det": float("nan"), "lam": float("nan"), "corm": float("nan")}
    det = 100.0 * _diag_run_points(c, min_line) / total
    hor = _run_points(c, min_line)
    ver = _run_points(c.T, min_line)
    lam = 100.0 * (hor + ver) / (2 * total)
    ii, jj = np.nonzero(c)
    corm = 100.0 * float(np.sum(jj - ii)) / ((n - 1) * total)
    return {"rec": rec, "det": det, "lam": lam, "corm": corm}


def _runs_1d(v: np.ndarray, min_line: int) -> int:
    """Number of True points lying on runs of length ≥ min_line."""
    pts, run = 0, 0
    for x in list(v) + [False]:
        if x:
            run += 1
        else:
            if run >= min_line:
                pts += run
            run = 0
    return pts


def _run_points(c: np.ndarray, min_line: int) -> int:
    return sum(_runs_1d(row, min_line) for row in c)


def _diag_run_points(c: np.ndarray, min_line: int) -> int:
    n = c.shape[0]
    return sum(_runs_1d(np.diagonal(c, offset=k), min_line) for k in range(-n + 1, n))


# -------------------------------------------------------- registry entries (@metric): geometric
REC_DIMS = ("rec", "det", "lam", "corm")


def _xy(scanpaths):
    return [s.xy for s in scanpaths]


@metric(
    "dtw", "pair",
    {"distance": "euclidean"},
    higher_is_better=False,
    length_dependent=True,
    description="exact dynamic time warping (Euclidean, pixels of the metric frame)",
)
def _dtw(left, right, li, ri, params):
    a, b = _xy(left), _xy(right)
    return dtw(a, b, distance=params["distance"], li=li, ri=ri)


@metric(
    "frechet", "pair",
    {"distance": "euclidean"},
    higher_is_better=False,
    description="discrete Fréchet distance",
)
def _frechet(left, right, li, ri, params):
    a, b = _xy(left), _xy(right)
    return frechet(a, b, distance=params["distance"], li=li, ri=ri)


@metric(
    "stde", "pair",
    {},
    description="scaled time-delay embedding similarity (FixaTons)",
)
def _stde(left, right, li, ri, params):
    out = np.empty(len(li))
    for p, (i, j) in enumerate(zip(li, ri)):
        size = params.get("frame") or left[i].image_size
        if size is None:
            from scanpath.metrics.labelers import image_size_of

            size = image_size_of(left[i])
        out[p] = stde(left[i].xy, right[j].xy, tuple(size))
    return out


@metric(
    "tde", "pair",
    {"k": 3, "distance": "euclidean"},
    higher_is_better=False,
    description="time-delay embedding distance, one k, unscaled",
)
def _tde(left, right, li, ri, params):
    return np.array([tde(left[i].xy, right[j].xy, params["k"], params["distance"]) for i, j in zip(li, ri)])


@metric(
    "recurrence", "pair",
    {"radius": None, "min_line": 2, "distance": "euclidean", "variant": "anderson"},
    subdims=REC_DIMS,
    main="rec",
    description="cross-recurrence REC/DET/LAM/CORM",
)
def _rec(left, right, li, ri, params):
    if params["radius"] is None:
        raise ValueError("recurrence metrics need an explicit radius (e.g. 12 px at 128×256, 16.875° for 360°)")
    out = np.empty((len(li), 4))
    for p, (i, j) in enumerate(zip(li, ri)):
        r = recurrence(left[i].xy, right[j].xy, params["radius"], params["min_line"],
                                 params["distance"], params["variant"])
        out[p] = [r[k] for k in REC_DIMS]
    return out
