"""OAT behavioural statistics and Δ (docs/oat.md §4, docs/metrics.md §2.8).

A scanpath is a sequence of object indices; runs are maximal blocks of equal consecutive indices.

* found   = [last index = target]
* length  = L (number of fixations)
* search  = #runs on objects not seen before / L
* refix   = Σ_runs (run length − 1) / L
* revisit = #runs on objects already seen / L      (search + refix + revisit = 1)

Statistics are averaged over a trial's samples, then over trials. Δ = (1/5) Σ_k |m_k − h_k| / h_k.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from scanpath.metrics.inputs import object_seq as _object_seq, target_of as _target_of
from scanpath.metrics.registry import metric

STATS = ("found", "length", "search", "refix", "revisit")


def oat_stats(objects: Sequence[int], target: int) -> dict[str, float]:
    """Behavioural statistics of one object-index scanpath. An empty scanpath gives found 0,
    length 0 and NaN proportions."""
    seq = [int(o) for o in np.asarray(objects).reshape(-1)]
    n = len(seq)
    if n == 0:
        nan = float("nan")
        return {"found": 0.0, "length": 0.0, "search": nan, "refix": nan, "revisit": nan}
    seen: set[int] = set()
    search = revisit = refix = 0
    prev = None
    for o in seq:
        if o == prev:
            refix += 1
            continue
        if o in seen:
            revisit += 1
        else:
            search += 1
            seen.add(o)
        prev = o
    return {
        "found": float(seq[-1] == int(target)),
        "length": float(n),
        "search": search / n,
        "refix": refix / n,
        "revisit": revisit / n,
    }


def fill_empty_rollouts(rollouts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Upstream's handling of empty sampled rollouts (``delta_oat_compat``): an empty rollout is
    replaced by the rollout before it (the first non-empty one when it is the first), so it counts
    with that rollout's statistics instead of found 0 / length 0 / NaN proportions. All empty → kept."""
    seqs = [list(np.asarray(r).reshape(-1).astype(int)) for r in rollouts]
    first = next((s for s in seqs if s), None)
    if first is None:
        return seqs
    out: list[list[int]] = []
    prev = first
    for s in seqs:
        prev = s if s else prev
        out.append(prev)
    return out


def mean_stats(trials: Sequence[Sequence[Mapping[str, float]]]) -> dict[str, float]:
    """Average statistics over each trial's samples, then over trials (NaN-aware)."""
    per_trial = []
    for samples in trials:
        if len(samples) == 0:
            continue
        per_trial.append({k: _nanmean([s[k] for s in samples]) for k in STATS})
    return {k: _nanmean([t[k] for t in per_trial]) for k in STATS}


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def oat_delta(
    model_stats: Mapping[str, float], human_stats: Mapping[str, float], compat: bool = False
) -> tuple[float, dict[str, float]]:
    """Δ = (1/5) Σ_k |m_k − h_k| / h_k over found, length, search, refix, revisit.

    Default: a 0/0 term (model and human both 0) is dropped with a warning and the sum is still
    divided by 5 (upstream nansum); a term with h_k = 0 but m_k ≠ 0 is infinite (warned).
    ``compat=True`` (``delta_oat_compat``) reproduces upstream ``nansum/5`` without warnings.
    Returns (Δ, per-statistic relative errors).
    """
    terms: dict[str, float] = {}
    for k in STATS:
        m, h = float(model_stats[k]), float(human_stats[k])
        with np.errstate(divide="ignore", invalid="ignore"):
            terms[k] = float(np.float64(abs(m - h)) / np.float64(abs(h)))
    dropped = [k for k, v in terms.items() if math.isnan(v)]
    infinite = [k for k, v in terms.items() if math.isinf(v)]
    if not compat:
        if dropped:
            warnings.warn(f"OAT Δ: dropped 0/0 (or NaN) terms {dropped}; sum still divided by 5", stacklevel=2)
        if infinite:
            warnings.warn(f"OAT Δ: human statistic is 0 for {infinite}; Δ is infinite", stacklevel=2)
    delta = float(np.nansum([terms[k] for k in STATS]) / 5.0)
    return delta, terms


# -------------------------------------------------------- registry entries (@metric): behavioural (OAT)

def sample_stats(scanpaths, key, fill_empty: bool = False) -> tuple[np.ndarray, list[str]]:
    """Statistics ``[n, 5]`` (order :data:`STATS`) of every scanpath and its key; ``fill_empty`` =
    upstream's replacement of an empty rollout by the one before it within its key
    (:func:`fill_empty_rollouts`, delta_oat_compat)."""
    from scanpath.types import scanpath_key

    groups: dict[str, list[int]] = {}
    for i, s in enumerate(scanpaths):
        groups.setdefault(scanpath_key(s, key), []).append(i)
    rows = np.zeros((len(scanpaths), len(STATS)))
    keys = [""] * len(scanpaths)
    for k, idx in groups.items():
        objs = [_object_seq(scanpaths[i]) for i in idx]
        if fill_empty:
            objs = fill_empty_rollouts(objs)
        for i, o in zip(idx, objs):
            st = oat_stats(o, _target_of(scanpaths[i], None))
            rows[i] = [st[n] for n in STATS]
            keys[i] = k
    return rows, keys


def averaged_stats(rows: np.ndarray, keys: Sequence[str], human_keys: Sequence[str],
                   average: str) -> dict[str, float]:
    """Per-key means of the statistics, then over keys by :func:`~scanpath.metrics.averaging.average_by_key`
    (``trial``: every human trial weighs the same, upstream; ``key``: every key)."""
    from scanpath.metrics.averaging import average_by_key

    m = np.asarray(average_by_key(rows.reshape(-1, len(STATS)), keys, human_keys, average)).reshape(-1)
    return {k: float(v) for k, v in zip(STATS, m)}


def _n_units(keys: Sequence[str], human_keys: Sequence[str], average: str) -> int:
    """Units behind an average: human trials whose key was scored (trial) or keys (key)."""
    scored = set(keys)
    return sum(k in scored for k in human_keys) if average == "trial" else len(scored)


_DELTA_NOTE = "Δ compares set-level statistics of the model and the humans (no per-trial values)"


def _oat_delta_human(humans, key, params):
    rows, keys = sample_stats(humans, key)
    average = params.get("average", "trial")
    h = averaged_stats(rows, keys, keys, average)
    delta, _ = oat_delta(h, h, compat=True)
    return {"value": delta, "values": dict(h), "n": _n_units(keys, keys, average), "n_nan": 0,
            "uncertainty_reason": _DELTA_NOTE}


@metric(
    "oat_delta", "set",
    {"delta_oat_compat": False, "average": "trial"},
    higher_is_better=False,
    dim_higher_is_better={},
    human_fn=_oat_delta_human,
    description="OAT behavioural Δ (found, length, search, refix, revisit)",
    needs=("objects",),
)
def _oat_delta(predictions, humans, key, params):
    from scanpath.metrics.averaging import check_average

    average = check_average(params.get("average", "trial"))
    rows, keys = sample_stats(predictions, key, fill_empty=bool(params["delta_oat_compat"]))
    h_rows, h_keys = sample_stats(humans, key)
    m = averaged_stats(rows, keys, h_keys, average)
    h = averaged_stats(h_rows, h_keys, h_keys, average)
    with warnings.catch_warnings():
        if params["delta_oat_compat"]:
            warnings.simplefilter("ignore")
        delta, _terms = oat_delta(m, h, compat=params["delta_oat_compat"])
    values = {f"{k}": v for k, v in m.items()}
    values.update({f"human_{k}": v for k, v in h.items()})
    return {"value": delta, "values": values, "n": _n_units(keys, h_keys, average), "n_nan": 0,
            "uncertainty_reason": _DELTA_NOTE}
