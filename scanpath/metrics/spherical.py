"""360° metrics on yaw/pitch degrees (specs/humanoid360.md §4).

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
