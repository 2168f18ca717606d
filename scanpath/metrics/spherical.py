"""360° metrics on yaw/pitch degrees (docs/humanoid360.md §4).

∠ is the great-circle (haversine) angle in degrees. ``scanpath.core.great_circle`` is used when
it exists; otherwise the small local helper :func:`scanpath.metrics.geometric.haversine_deg`.

* DTW: exact, cost ∠, total reported;
* LEV: edit distance over 12 (longitude) × 8 (latitude) cells, the ±180° seam wrapped;
* REC / DET: L = min(n, m), c_ij = [∠ < 16.875°], R = Σ_{i<j} c_ij, REC = 100·2R/(L(L−1)),
  DET = 100·(points on diagonal runs ≥ 2)/R.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scanpath.metrics.geometric import dtw, recurrence
from scanpath.metrics.labelers import EquirectGridLabeler
from scanpath.metrics.registry import metric
from scanpath.metrics.sequence import levenshtein
from scanpath.types import Scanpath

REC_THRESHOLD_DEG = 16.875  # 12 px at 256 px per 360°


def sphere_dtw(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    """Orthodromic DTW for pairs of ``(L, 2)`` (yaw, pitch) degree arrays."""
    return dtw(a, b, distance="orthodromic")


def sphere_levenshtein(a: Sequence[np.ndarray], b: Sequence[np.ndarray], grid: tuple[int, int] = (12, 8)) -> np.ndarray:
    lab = EquirectGridLabeler(grid)
    la = [lab(Scanpath(np.asarray(x)[:, 0], np.asarray(x)[:, 1])) for x in a]
    lb = [lab(Scanpath(np.asarray(x)[:, 0], np.asarray(x)[:, 1])) for x in b]
    return levenshtein(la, lb)


def sphere_recurrence(a: np.ndarray, b: np.ndarray, threshold_deg: float = REC_THRESHOLD_DEG) -> dict[str, float]:
    r = recurrence(a, b, threshold_deg, 2, distance="orthodromic", variant="ram1n")
    return {"rec": r["rec"], "det": r["det"]}


# ----------------------------------------------------------------------------- 360° MultiMatch
MM360_DIMS = ("position", "duration", "length", "shape", "direction")
MM360_WEIGHTS = (1.0, 0.0, 1.0, 1.0, 1.0)


def _mercator(lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    lat = np.radians(np.clip(lat_deg, -90 + 1e-6, 90 - 1e-6))  # poles clipped to keep M finite
    return np.column_stack([np.radians(lon_deg), np.log(np.tan(np.pi / 4 + lat / 2))])


def _sphere_features(fix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-fixation features (NaN where undefined): amplitude a_i = ∠(p_{i−1}, p_i), Mercator
    saccade vector s_i (Δlon wrapped to (−π, π]), signed turn r_i between s_{i−1} and s_i."""
    from scanpath.metrics.geometric import haversine_deg

    fix = np.asarray(fix, dtype=np.float64).reshape(-1, 3)
    n = len(fix)
    amp = np.full(n, np.nan)
    vec = np.full((n, 2), np.nan)
    turn = np.full(n, np.nan)
    if n >= 2:
        amp[1:] = np.radians(haversine_deg(fix[:-1, 0], fix[:-1, 1], fix[1:, 0], fix[1:, 1]))
        M = _mercator(fix[:, 0], fix[:, 1])
        d = np.diff(M, axis=0)
        d[:, 0] = -np.remainder(-d[:, 0] + np.pi, 2 * np.pi) + np.pi  # wrap to (−π, π]
        vec[1:] = d
    if n >= 3:
        u, v = vec[1:-1], vec[2:]
        cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
        dot = (u * v).sum(1)
        zero = (np.hypot(*u.T) == 0) | (np.hypot(*v.T) == 0)
        turn[2:] = np.where(zero, np.nan, np.arctan2(cross, dot))
    return {"lonlat": fix[:, :2], "dur": fix[:, 2], "amp": amp, "vec": vec, "turn": turn}


def _wrap_pi(x: np.ndarray) -> np.ndarray:
    return -np.remainder(-x + np.pi, 2 * np.pi) + np.pi


def sphere_multimatch(a: np.ndarray, b: np.ndarray, weights: Sequence[float] = MM360_WEIGHTS) -> np.ndarray:
    """360° MultiMatch (salient360 toolbox, bugs fixed; docs/humanoid360.md §4) of two ``(n, 3)``
    [yaw°, pitch°, duration] scanpaths → [position, duration, length, shape, direction].

    Pair costs per fixation pair (NaN where undefined, skipped): position ∠/π, duration
    |Δdur|/max dur, length |Δa|/π, shape ∠(s, t)/π, direction |wrap(Δr)|/π. The alignment is the
    minimum-cost monotone path (right, down, diagonal) from (0, 0) to (n−1, m−1) on the weighted
    mean of the defined costs (anti-diagonal kernel); score = 1 − mean cost along the path.
    """
    from scanpath.metrics.geometric import haversine_deg
    import torch

    from scanpath.metrics._kernel import wavefront

    fa, fb = _sphere_features(a), _sphere_features(b)
    n, m = len(fa["dur"]), len(fb["dur"])
    if n == 0 or m == 0:
        return np.full(5, np.nan)
    pos = np.radians(haversine_deg(fa["lonlat"][:, None, 0], fa["lonlat"][:, None, 1],
                                   fb["lonlat"][None, :, 0], fb["lonlat"][None, :, 1])) / np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        da, db = fa["dur"][:, None], fb["dur"][None, :]
        dur = np.abs(da - db) / np.maximum(da, db)
        length = np.abs(fa["amp"][:, None] - fb["amp"][None, :]) / np.pi
        u, v = fa["vec"][:, None, :], fb["vec"][None, :, :]
        cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
        dot = (u * v).sum(-1)
        shape = np.abs(np.arctan2(cross, dot)) / np.pi
        zero = (np.hypot(u[..., 0], u[..., 1]) == 0) | (np.hypot(v[..., 0], v[..., 1]) == 0)
        shape = np.where(zero, np.nan, shape)
        direction = np.abs(_wrap_pi(fa["turn"][:, None] - fb["turn"][None, :])) / np.pi
    costs = np.stack([pos, dur, length, shape, direction])  # [5, n, m]
    w = np.asarray(weights, dtype=np.float64)[:, None, None] * np.ones_like(costs)
    w = np.where(np.isnan(costs), 0.0, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        cell = np.where(w.sum(0) > 0, np.nansum(np.where(np.isnan(costs), 0, costs) * w, 0) / w.sum(0), 0.0)
    C = torch.from_numpy(cell)[None]
    D = wavefront(C, C, C, reduce="min", boundary=float("inf"), corner=0.0)[0].numpy()
    i, j, path = n, m, []
    while True:
        path.append((i - 1, j - 1))
        if i == 1 and j == 1:
            break
        cand = [(D[i - 1, j - 1], i - 1, j - 1), (D[i - 1, j], i - 1, j), (D[i, j - 1], i, j - 1)]
        _, i, j = min(cand, key=lambda c: c[0])
    pi_, pj_ = np.array(path).T
    along = costs[:, pi_, pj_]
    with np.errstate(invalid="ignore"):
        return np.array([1 - np.nanmean(r) if np.isfinite(r).any() else np.nan for r in along])


# -------------------------------------------------------- registry entries (@metric): 360° MultiMatch

@metric(
    "multimatch_360", "pair",
    {"weights": [1.0, 0.0, 1.0, 1.0, 1.0]},
    subdims=("position", "duration", "length", "shape", "direction"),
    main=lambda d: float(np.nanmean([d["position"], d["length"], d["shape"], d["direction"]])),
    description="360° MultiMatch (salient360 toolbox, fixed) on yaw/pitch degrees",
)
def _mm360(left, right, li, ri, params):
    def fix(s):
        d = s.duration if s.duration is not None else np.ones(len(s))
        return np.column_stack([s.x, s.y, d])

    fl = [fix(s) for s in left]
    fr = [fix(s) for s in right]
    return np.array([sphere_multimatch(fl[i], fr[j], params["weights"]) for i, j in zip(li, ri)]).reshape(-1, 5)
