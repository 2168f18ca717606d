"""Averaging a statistic over evaluation keys or over human trials (docs/metrics.md §2.8, docs/oat.md §4).

One rule, used by OAT Δ (registry entry and :class:`~scanpath.metrics.BehaviouralDelta`, i.e. val/delta),
the pair metrics' ``key_reduce: trial | key`` and the OAT protocol's NSS and SIM:

* values are first averaged within each key (NaN left out);
* ``average="trial"``: each key then weighs as many times as it has human trials, so every human trial
  weighs the same. OAT's upstream evaluation generates rollouts for every test trial and averages over
  trials; the trials of one (layout, target) key share their inputs, so scoring one set of rollouts per
  key and weighting it by the key's trial count has the same expectation;
* ``average="key"``: every key weighs the same (keys with fewer subjects weigh more per subject).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

AVERAGES = ("trial", "key")


def check_average(average: str) -> str:
    """``average`` if it is ``"trial"`` or ``"key"``, else a ValueError naming both."""
    if average not in AVERAGES:
        raise ValueError(f"average must be 'trial' (every human trial weighs the same) or 'key' "
                         f"(every key weighs the same), got {average!r}")
    return average


def key_weights(keys: Sequence[str], human_keys: Sequence[str], average: str) -> np.ndarray:
    """Weight of each key in ``keys``: its number of human trials (``trial``) or 1 (``key``)."""
    check_average(average)
    if average == "key":
        return np.ones(len(keys))
    counts = Counter(str(k) for k in human_keys)
    return np.asarray([counts.get(str(k), 0) for k in keys], dtype=np.float64)


def average_by_key(values: Sequence[float] | np.ndarray, keys: Sequence[str], human_keys: Sequence[str],
                   average: str = "trial") -> np.ndarray | float:
    """Mean of ``values`` (one row per unit, 1-D or ``[n, d]``) whose units carry ``keys``: per-key
    NaN-aware means, then their mean weighted by :func:`key_weights`. NaN where nothing is left;
    a float for 1-D input."""
    v = np.asarray(values, dtype=np.float64)
    one_d = v.ndim == 1
    v = v.reshape(len(v), -1)
    if len(v) == 0:
        out = np.full(v.shape[1], np.nan)
        return float(out[0]) if one_d else out
    uniq, inv = np.unique(np.asarray([str(k) for k in keys]), return_inverse=True)
    ok = ~np.isnan(v)
    sums = np.zeros((len(uniq), v.shape[1]))
    counts = np.zeros_like(sums)
    np.add.at(sums, inv, np.where(ok, v, 0.0))
    np.add.at(counts, inv, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
        w = np.where(counts > 0, key_weights(list(uniq), human_keys, average)[:, None], 0.0)
        out = (np.where(counts > 0, means, 0.0) * w).sum(0) / w.sum(0)
    return float(out[0]) if one_d else out


__all__ = ["AVERAGES", "average_by_key", "check_average", "key_weights"]
