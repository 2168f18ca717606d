"""Uncertainty of a table cell over stimuli: n, SEM and a seeded bootstrap 95 % CI.

The unit of replication is the stimulus — the evaluation key of the data (``stimulus``, or
condition-task-stimulus for ``key="task"``; one trial of an object layout for OAT). A metric's
headline value is a mean over scored units (predictions, human scanpaths, pairs with
``pair_reduce: flat``); the units of one stimulus are not independent, so both estimates treat the
stimuli as clusters and never recompute a metric:

* **SEM**: the cluster-robust standard error of that mean, clusters = stimuli,
  ``sqrt(K/(K−1) · Σ_k (S_k − N_k·ȳ)²) / Σ_k N_k`` (``S_k`` the sum and ``N_k`` the number of finite
  unit values of stimulus k). With the same number of units on every stimulus it equals the SD of
  the per-stimulus means divided by √K. Needs ≥ 2 stimuli (else None).
* **95 % CI**: percentile bootstrap of the same mean, resampling stimuli with replacement
  (:data:`N_BOOT` resamples, generator seeded with :data:`SEED`, so rows with the same stimuli are
  resampled identically and the interval is reproducible).

With ``key_reduce: trial | key`` (:mod:`scanpath.metrics.averaging`) the value is a weighted mean of
the per-stimulus means (weights: human trials of the key, or 1): the same estimates with those
weights, ``sqrt(K/(K−1) Σ w_k²(m_k − ȳ)²) / Σ w_k`` (the formula above is the case w_k = N_k). With
``key_reduce: per_task`` the value is the mean over tasks of per-task means: the SEM combines the
per-task SEMs (``sqrt(Σ_t SEM_t²) / T``) and the bootstrap resamples stimuli within each task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

N_BOOT = 1000
SEED = 0
LEVEL = 0.95

#: what the settings block records about the estimates (docs/evaluation.md §3)
METHOD: dict[str, Any] = {
    "unit": "stimulus (the evaluation key); OAT: the trial (layout, target); 360°: the episode",
    "shown_in_tables": "value ± SEM over stimuli",
    "sem": "cluster-robust standard error of the mean, clusters = stimuli",
    "ci95": "percentile bootstrap over stimuli (metrics.json)",
    "n_boot": N_BOOT,
    "seed": SEED,
}


def cluster_se(means: np.ndarray, weights: np.ndarray) -> float | None:
    """Cluster-robust SE of the weighted mean ``Σ w·m / Σ w`` of per-cluster means ``m`` (weights: the
    cluster's unit count for a plain mean over units, 1 for a mean over stimuli, its human trials for
    ``key_reduce: trial``): ``sqrt(K/(K−1) Σ w²(m − ȳ)²) / Σ w``."""
    k = len(means)
    total = float(weights.sum())
    if k < 2 or total <= 0:
        return None
    mean = float((weights * means).sum()) / total
    return float(np.sqrt(k / (k - 1) * np.sum((weights * (means - mean)) ** 2)) / total)


def _boot_reps(means: np.ndarray, weights: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the weighted mean, resampling clusters with replacement."""
    k = len(means)
    draws = np.random.default_rng(seed).multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (draws @ (weights * means)) / (draws @ weights)


def _interval(reps: np.ndarray) -> list[float] | None:
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return None
    a = (1.0 - LEVEL) / 2.0
    return [float(np.quantile(reps, a)), float(np.quantile(reps, 1.0 - a))]


def _clusters(keys: Sequence[str],
              tasks: Sequence[str] | None) -> tuple[list[str], np.ndarray, list[str], np.ndarray | None]:
    """Cluster labels (sorted), the cluster of each unit, each cluster's stimulus label and its task."""
    if tasks is None:
        ids = [str(k) for k in keys]
    else:
        ids = [f"{t}\x00{k}" for t, k in zip(tasks, keys)]
    uniq = sorted(set(ids))
    pos = {c: i for i, c in enumerate(uniq)}
    inv = np.array([pos[c] for c in ids], dtype=np.int64)
    if tasks is None:
        return uniq, inv, uniq, None
    strata = [c.split("\x00", 1)[0] for c in uniq]
    stims = [c.split("\x00", 1)[1] for c in uniq]
    repeated = {s for s in stims if stims.count(s) > 1}
    labels = [f"{t}/{s}" if s in repeated else s for t, s in zip(strata, stims)]
    return uniq, inv, labels, np.array(strata)


def column_stats(values: np.ndarray, keys: Sequence[str], tasks: Sequence[str] | None = None, *,
                 key_weights: Mapping[str, float] | None = None, n_boot: int = N_BOOT,
                 seed: int = SEED) -> list[dict[str, Any]]:
    """Per column of ``values`` ([U] or [U, k] unit values, NaN = not scored): ``n_stimuli``, ``sem``,
    ``ci95`` and ``per_stimulus`` (``{key: mean of its finite units}``). ``keys`` names the stimulus of
    each unit; ``tasks`` (``key_reduce: per_task``) its task, for the mean-over-tasks statistic;
    ``key_weights`` the weight of each stimulus's mean when the value is a weighted mean of per-key
    means (``key_reduce: trial | key``; default: a plain mean over units)."""
    vals = np.asarray(values, dtype=np.float64)
    vals = vals.reshape(len(keys), -1) if vals.size else np.zeros((0, vals.shape[1] if vals.ndim == 2 else 1))
    uniq, inv, labels, strata = _clusters(keys, tasks)
    finite = np.isfinite(vals)
    sums = np.zeros((len(uniq), vals.shape[1]))
    counts = np.zeros((len(uniq), vals.shape[1]))
    np.add.at(sums, inv, np.where(finite, vals, 0.0))
    np.add.at(counts, inv, finite.astype(np.float64))
    out = []
    for c in range(vals.shape[1]):
        present = counts[:, c] > 0
        if key_weights is not None:
            present &= np.array([key_weights.get(lab, 0.0) > 0 for lab in labels], dtype=bool)
        labs = np.asarray(labels, dtype=object)[present]
        m = sums[present, c] / counts[present, c]
        w = counts[present, c] if key_weights is None else np.array([key_weights[lab] for lab in labs], np.float64)
        per_stim = {lab: float(mi) for lab, mi in zip(labs, m)}
        if not len(m):
            sem, ci = None, None
        elif strata is None:
            sem, ci = cluster_se(m, w), _interval(_boot_reps(m, w, n_boot, seed))
        else:
            st = strata[present]
            groups = [st == t for t in np.unique(st)]
            ses = [cluster_se(m[g], w[g]) for g in groups]
            sem = float(np.sqrt(sum(x * x for x in ses)) / len(ses)) if all(x is not None for x in ses) else None
            reps = np.stack([_boot_reps(m[g], w[g], n_boot, seed + i) for i, g in enumerate(groups)])
            ci = _interval(reps.mean(axis=0))
        out.append({"n_stimuli": int(present.sum()), "sem": sem, "ci95": ci, "per_stimulus": per_stim})
    return out


def attach(res: dict[str, Any], values: np.ndarray, keys: Sequence[str], names: Sequence[str] | None = None,
           main: np.ndarray | None = None, tasks: Sequence[str] | None = None,
           key_weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Add ``n_stimuli``, ``sem``, ``ci95``, ``per_stimulus`` (headline value) and, for metrics with
    sub-dimensions ``names``, ``values_n_stimuli`` / ``values_sem`` / ``values_ci95`` to a result.
    ``main`` = the per-unit headline values when the headline is not one of the columns."""
    cols = column_stats(values, keys, tasks, key_weights=key_weights)
    head = (column_stats(np.asarray(main, dtype=np.float64), keys, tasks, key_weights=key_weights)[0]
            if main is not None else cols[0])
    res.update(n_stimuli=head["n_stimuli"], sem=head["sem"], ci95=head["ci95"], per_stimulus=head["per_stimulus"])
    if names is not None and res.get("values") is not None:
        res["values_n_stimuli"] = {d: c["n_stimuli"] for d, c in zip(names, cols)}
        res["values_sem"] = {d: c["sem"] for d, c in zip(names, cols)}
        res["values_ci95"] = {d: c["ci95"] for d, c in zip(names, cols)}
    return res


def not_available(res: dict[str, Any], why: str) -> dict[str, Any]:
    """Mark a result whose uncertainty cannot be estimated without recomputing the metric."""
    res.setdefault("sem", None)
    res.setdefault("ci95", None)
    res.setdefault("uncertainty_note", why)
    return res


__all__ = ["LEVEL", "METHOD", "N_BOOT", "SEED", "attach", "cluster_se", "column_stats", "not_available"]
