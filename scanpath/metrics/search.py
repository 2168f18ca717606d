"""Search-efficiency metrics for target-present visual search (docs/metrics.md §2.7).

* step to target s: 1-based index of the first fixation strictly inside the box (x0 < x < x0+w,
  y0 < y < y0+h); ∞ when none is;
* TFP(k) = fraction of scanpaths with s ≤ k, k = 1..K (K = max_steps + 1); per category then
  averaged over categories;
* TFP-AUC = Σ_k TFP(k); probability mismatch = Σ_k |TFP_model − TFP_human|;
* scanpath ratio = min(1, ‖box centre − f₁‖ / path length f₁→f_s), averaged over 2 ≤ s ≤ K.

Inputs are never mutated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from scanpath.metrics.inputs import bbox as _bbox
from scanpath.metrics.registry import metric


def steps_to_target(xy: np.ndarray, bbox: Sequence[float]) -> float:
    """1-based index of the first fixation strictly inside ``bbox`` = [x, y, w, h]; inf if none."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    x0, y0, w, h = (float(v) for v in bbox)
    inside = (xy[:, 0] > x0) & (xy[:, 0] < x0 + w) & (xy[:, 1] > y0) & (xy[:, 1] < y0 + h)
    idx = np.flatnonzero(inside)
    return float(idx[0] + 1) if len(idx) else math.inf


def tfp_curve(steps: Sequence[float], categories: Sequence[str] | None = None, max_steps: int = 6) -> np.ndarray:
    """TFP(k), k = 1..max_steps+1: per category, then the mean over categories."""
    steps = np.asarray(steps, dtype=np.float64)
    K = max_steps + 1
    ks = np.arange(1, K + 1)
    cats = np.asarray(categories if categories is not None else ["all"] * len(steps))
    curves = [(steps[cats == c][:, None] <= ks[None, :]).mean(axis=0) for c in np.unique(cats)]
    return np.mean(curves, axis=0) if curves else np.full(K, np.nan)


def tfp_auc(curve: np.ndarray) -> float:
    return float(np.sum(curve))


def probability_mismatch(model_curve: np.ndarray, human_curve: np.ndarray) -> float:
    return float(np.sum(np.abs(np.asarray(model_curve) - np.asarray(human_curve))))


def scanpath_ratio(xy: np.ndarray, bbox: Sequence[float], max_steps: int = 6) -> float:
    """min(1, ‖centre − f₁‖ / Σ‖f_{t+1} − f_t‖ up to f_s); NaN unless 2 ≤ s ≤ K."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    s = steps_to_target(xy, bbox)
    if not (2 <= s <= max_steps + 1):
        return float("nan")
    s = int(s)
    x0, y0, w, h = (float(v) for v in bbox)
    centre = np.array([x0 + w / 2, y0 + h / 2])
    path = float(np.sum(np.linalg.norm(np.diff(xy[:s], axis=0), axis=1)))
    direct = float(np.linalg.norm(centre - xy[0]))
    return min(1.0, direct / path) if path > 0 else float("nan")


# -------------------------------------------------------- registry entries (@metric): search efficiency

def _search_eff_human(humans, key, params):
    return _search_eff(humans, humans, key, params)


def _search_curve(sps, params):
    tp = [s for s in sps if s.condition in (None, "present")]
    steps = [steps_to_target(s.xy, _bbox(s)) for s in tp]
    curve = tfp_curve(steps, [str(s.task) for s in tp], params["max_steps"])
    ratios = np.array([scanpath_ratio(s.xy, _bbox(s), params["max_steps"]) for s in tp])
    return curve, ratios, steps, len(tp)


@metric(
    "search_efficiency", "set",
    {"max_steps": 6},
    human_fn=_search_eff_human,
    dim_higher_is_better={"tfp_auc": True, "prob_mismatch": False, "scanpath_ratio": True,
                                          "mean_steps_found": False},
    description="TFP(k), TFP-AUC, probability mismatch, scanpath ratio (target present)",
    needs=("bbox",),
)
def _search_eff(predictions, humans, key, params):
    cm, rm, steps, n = _search_curve(predictions, params)
    ch, _, _, _ = _search_curve(humans, params)
    finite = [s for s in steps if np.isfinite(s)]
    values = {"tfp_auc": tfp_auc(cm), "prob_mismatch": probability_mismatch(cm, ch),
              "scanpath_ratio": float(np.nanmean(rm)) if np.isfinite(rm).any() else float("nan"),
              "mean_steps_found": float(np.mean(finite)) if finite else float("nan")}
    values.update({f"tfp_{k + 1}": float(v) for k, v in enumerate(cm)})
    return {"value": values["tfp_auc"], "values": values, "n": n, "n_nan": int(np.isnan(rm).sum()),
            "uncertainty_reason": "TFP curves are proportions over all target-present scanpaths of a task "
                                  "(no per-stimulus values)"}
