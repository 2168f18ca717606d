"""Scoring pipeline used by evaluate.py: pairing, truncation, frames, reductions, human consistency.

``score_scanpaths(predictions, humans, metrics, key)``: each prediction meets every human scanpath
of its key (``scanpath.types.scanpath_key``); per-pair values are reduced over humans
(``pair_reduce``: mean (default) | max | min | flat) and then over predictions (``key_reduce``:
mean; per_task = mean over tasks of per-task means; trial / key = per-key means, then over keys
weighted by their human trials (OAT's upstream protocol) or equally, :mod:`scanpath.metrics.averaging`).
NaN pairs (e.g. MultiMatch on < 3 fixations, both strings empty) are excluded and counted in ``n_nan``.

``human_consistency(humans, metrics, key)``: leave-one-subject-out — every human scanpath is scored
as a prediction against the OTHER subjects of its key, never against itself (``include_self``
exists for reproducing published numbers only).

Each result: ``{"value", "values" (sub-dimensions, optional), "params", "n", "n_nan", ...}`` with
``n`` = scored units (predictions; pairs for ``pair_reduce="flat"``) with a finite value, ``n_nan`` =
pairs excluded because they are NaN in at least one dimension (``n_nan_values``: the count per
dimension for multi-dimensional metrics such as MultiMatch), ``n_pairs`` = pairs scored, ``n_unmatched`` = predictions without any human of
their key. Human consistency applies the prediction-side settings (``truncate_pred``,
``cut_at_target``) to the held-out human, as the model pipeline does.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.jsonable import to_plain
from scanpath.metrics import uncertainty
from scanpath.metrics.averaging import average_by_key, key_weights
from scanpath.metrics.labelers import check_finite
from scanpath.metrics.requirements import NEED_FIELDS, skipped_entry, unmet_reason
from scanpath.metrics.registry import MetricSpec, resolve
from scanpath.types import Scanpath, scanpath_key

log = logging.getLogger(__name__)


KEY_REDUCE = ("mean", "per_task", "trial", "key")


def _plain(obj: Any) -> Any:
    """OmegaConf / tuples / numpy scalars -> plain JSON-able Python."""
    return to_plain(obj)


def _cut_at_target(s: Scanpath) -> Scanpath:
    """Keep fixations up to and including the first one strictly inside ``extra["bbox"]`` (TP only)."""
    from scanpath.metrics.search import steps_to_target

    bbox = s.extra.get("bbox")
    if bbox is None or s.condition not in (None, "present"):
        return s
    k = steps_to_target(s.xy, bbox)
    return s if not np.isfinite(k) else s.truncated(int(k))


def _prepare(scanpaths: Sequence[Scanpath], params: Mapping[str, Any], truncate: int | None,
             cut: bool = False) -> list[Scanpath]:
    out = []
    frame = params.get("frame")
    for s in scanpaths:
        if cut:
            s = _cut_at_target(s)
        if frame is not None:
            if s.image_size is None:
                from scanpath.errors import ScanpathDataError

                raise ScanpathDataError("cannot rescale to the metric frame without image_size",
                                        record=f"{s.stimulus}/subject={s.subject}", field="image_size")
            s = s.rescaled((int(frame[0]), int(frame[1])))
        out.append(s.truncated(truncate))
    return out


def pair_indices(
    left: Sequence[Scanpath],
    right: Sequence[Scanpath],
    key: str = "stimulus",
    loso: bool = False,
    include_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (li, ri) of all (left, right) pairs sharing a key.

    With ``loso`` (left and right are the same human list) a pair (i, j) is kept only when i ≠ j
    and the subjects differ; ``include_self`` adds back the (i, i) pairs (reproduction only).
    """
    groups: dict[str, list[int]] = {}
    for j, s in enumerate(right):
        groups.setdefault(scanpath_key(s, key), []).append(j)
    li, ri = [], []
    for i, s in enumerate(left):
        for j in groups.get(scanpath_key(s, key), []):
            if loso:
                if i == j:
                    if not include_self:
                        continue
                elif s.subject is not None and right[j].subject is not None and s.subject == right[j].subject:
                    continue
            li.append(i)
            ri.append(j)
    return np.asarray(li, dtype=np.int64), np.asarray(ri, dtype=np.int64)


def _reduce_pairs(vals: np.ndarray, li: np.ndarray, n_left: int, how: str) -> np.ndarray:
    """Reduce per-pair values [P, k] to per-left values [n_left, k] (NaN pairs excluded)."""
    k = vals.shape[1]
    out = np.full((n_left, k), np.nan)
    if len(li) == 0:
        return out
    order = np.argsort(li, kind="stable")
    li_s, v_s = li[order], vals[order]
    starts = np.flatnonzero(np.r_[True, li_s[1:] != li_s[:-1]])
    sizes = np.diff(np.r_[starts, len(li_s)])
    fn = {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[how]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # one call per group size (not one per left scanpath): the groups of size g are stacked to
        # [G, g, k] and reduced over axis 1 — the same reduction, in the same order, per group
        for g in np.unique(sizes):
            first = starts[sizes == g]
            out[li_s[first]] = fn(v_s[first[:, None] + np.arange(g)], axis=1)
    return out


def _unit_main(spec: MetricSpec, per_unit: np.ndarray, names: Sequence[str]) -> np.ndarray | None:
    """Per-unit headline values when the headline is a function of the sub-dimensions (else None)."""
    if not callable(spec.main):
        if not isinstance(spec.main, str) or spec.main == names[0]:
            return None
        return per_unit[:, list(names).index(spec.main)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array([spec.main(dict(zip(names, row))) for row in per_unit], dtype=np.float64)


def _main_value(spec: MetricSpec, dims: dict[str, float]) -> float:
    if spec.main is None:
        return next(iter(dims.values()))
    if callable(spec.main):
        return float(spec.main(dims))
    return dims[spec.main]


def _score_pairs(
    spec: MetricSpec, params: dict[str, Any], left: Sequence[Scanpath], right: Sequence[Scanpath],
    key: str, loso: bool,
) -> dict[str, Any]:
    left_p = _prepare(left, params, params.get("truncate_pred"), bool(params.get("cut_at_target")))
    right_p = _prepare(right, params, params.get("truncate_gt"))
    li, ri = pair_indices(left_p, right_p, key, loso=loso, include_self=bool(params.get("include_self")))
    names = list(spec.subdims or (spec.name,))
    if len(li):
        with warnings.catch_warnings():  # per-pair NaN notices: counted in n_nan below, logged once
            warnings.filterwarnings("ignore", message=r".*pair\(s\) with a scanpath of < \d+ fixations", category=UserWarning)
            vals = np.asarray(spec.fn(left_p, right_p, li, ri, params), dtype=np.float64).reshape(len(li), -1)
    else:  # no prediction met a human of its key
        vals = np.zeros((0, len(names)))
    main_col = names.index(spec.main) if isinstance(spec.main, str) and spec.main in names else 0
    nan_cells = np.isnan(vals)
    n_nan = int(nan_cells.any(axis=1).sum()) if len(vals) else 0  # a pair NaN in ANY dimension was excluded there
    how = params.get("pair_reduce", "mean")
    if how == "flat":
        per_unit, unit_ids = vals, li
    else:
        per_left = _reduce_pairs(vals, li, len(left_p), how)
        has_pair = np.zeros(len(left_p), dtype=bool)
        has_pair[li] = True
        unit_ids = np.flatnonzero(has_pair)
        per_unit = per_left[unit_ids]
    key_reduce = params.get("key_reduce", "mean")
    if key_reduce not in KEY_REDUCE:
        raise ValueError(f"{spec.name}: key_reduce must be one of {KEY_REDUCE}, got {key_reduce!r}")
    unit_keys = [scanpath_key(left_p[i], key) for i in unit_ids]
    weights = None
    if key_reduce in ("trial", "key"):  # per-key means weighted by human trials / every key the same
        human_keys = [scanpath_key(h, key) for h in right_p]
        uniq = sorted(set(unit_keys))
        weights = dict(zip(uniq, key_weights(uniq, human_keys, key_reduce)))
        col_means = np.atleast_1d(average_by_key(per_unit, unit_keys, human_keys, key_reduce))
    elif key_reduce == "per_task":
        tasks = np.array([str(left_p[i].task) for i in unit_ids])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            col_means = np.nanmean(
                np.stack([np.nanmean(per_unit[tasks == t], axis=0) for t in np.unique(tasks)]), axis=0
            ) if len(tasks) else np.full(len(names), np.nan)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            col_means = np.nanmean(per_unit, axis=0) if len(per_unit) else np.full(len(names), np.nan)
    dims = {n: float(v) for n, v in zip(names, col_means)}
    res: dict[str, Any] = {
        "value": _main_value(spec, dims),
        "params": _plain(params),
        "n": int(np.isfinite(per_unit[:, main_col]).sum()) if len(per_unit) else 0,
        "n_nan": n_nan,
        "n_pairs": int(len(li)),
        "n_unmatched": int(len(left_p) - len(np.unique(li))),
        "higher_is_better": spec.higher_is_better,
    }
    if spec.subdims is not None:
        res["values"] = dims
        res["dim_higher_is_better"] = spec.dim_directions(dims)
        res["n_nan_values"] = {n: int(nan_cells[:, k].sum()) for k, n in enumerate(names)}
    if spec.length_dependent:
        res["length_dependent"] = True
    scored = np.unique(unit_ids)
    res["mean_length"] = float(np.mean([len(left_p[i]) for i in scored])) if len(scored) else None
    uncertainty.attach(res, per_unit, unit_keys, names if spec.subdims is not None else None,
                       _unit_main(spec, per_unit, names), key_weights=weights,
                       tasks=[str(left_p[i].task) for i in unit_ids] if key_reduce == "per_task" else None)
    if n_nan:  # reported as n_nan in every result (metrics.json, tables); a log line, not a warning
        log.info("%s: %d of %d pairs are NaN (e.g. scanpaths shorter than the metric needs) and excluded",
                 spec.name, n_nan, len(li))
    return res


def _all_finite(arrays: list[np.ndarray]) -> bool:
    """One ``isfinite`` pass over many arrays (the per-scanpath checks run only when it fails)."""
    return not arrays or bool(np.isfinite(np.concatenate(arrays)).all())


def _check_inputs(scanpaths: Sequence[Scanpath], needs_xy: bool) -> None:
    if needs_xy and not (_all_finite([s.x for s in scanpaths]) and _all_finite([s.y for s in scanpaths])):
        for s in scanpaths:
            check_finite(s)
    durations = [s.duration for s in scanpaths if s.duration is not None]
    if _all_finite(durations):
        return
    for s in scanpaths:  # an infinite / NaN duration would silently turn duration dimensions into NaN
        if s.duration is not None and not np.isfinite(s.duration).all():
            from scanpath.errors import ScanpathDataError

            i = int(np.flatnonzero(~np.isfinite(s.duration))[0])
            raise ScanpathDataError(f"fixation {i} has non-finite duration ({s.duration[i]}); cannot compute metrics",
                                    record=f"{s.stimulus}/subject={s.subject}", field="duration")


def _finish_result(res: Mapping[str, Any], spec: Any, params: Mapping[str, Any]) -> dict:
    """Attach plain params and the metric's direction to a set-level metric's result."""
    res = dict(res)
    keys, units = res.pop("unit_keys", None), res.pop("unit_values", None)
    if keys is not None:
        uncertainty.attach(res, np.asarray(units, dtype=np.float64), keys,
                           list(res["values"]) if res.get("values") is not None else None)
    else:
        uncertainty.not_available(res, res.pop("uncertainty_reason", None)
                                  or "a set-level statistic without per-stimulus values")
    res["params"] = _plain(res.get("params", params))
    res.setdefault("higher_is_better", spec.higher_is_better)
    if res.get("values") is not None:
        res.setdefault("dim_higher_is_better", spec.dim_directions(res["values"]))
    return res


def score_scanpaths(
    predictions: Sequence[Scanpath],
    humans: Sequence[Scanpath],
    metrics: Mapping[str, Mapping[str, Any] | None],
    key: str = "stimulus",
) -> dict[str, dict]:
    """Score predictions against the human scanpaths of their keys with every configured metric."""
    metrics = _plain(metrics) or {}
    out: dict[str, dict] = {}
    for entry, p in metrics.items():
        spec, params = resolve(entry, p)
        _check_inputs(list(predictions) + list(humans), needs_xy=params.get("labeler") != "object")
        why = unmet_reason(spec, params, {"predictions": predictions, "human scanpaths": humans})
        if why is None:
            try:
                if spec.kind == "pair":
                    out[entry] = _score_pairs(spec, params, predictions, humans, key, loso=False)
                else:
                    out[entry] = _finish_result(spec.fn(list(predictions), list(humans), key, params), spec, params)
                continue
            except ScanpathDataError as exc:  # a need the spec did not declare
                if exc.field not in NEED_FIELDS:
                    raise
                why = exc.message
        warnings.warn(f"metric {entry} skipped: {why}", stacklevel=2)
        out[entry] = skipped_entry(spec, params, why)
    return out


def human_consistency(
    humans: Sequence[Scanpath],
    metrics: Mapping[str, Mapping[str, Any] | None],
    key: str = "stimulus",
) -> dict[str, dict]:
    """Leave-one-subject-out human consistency for every configured metric."""
    metrics = _plain(metrics) or {}
    out: dict[str, dict] = {}
    for entry, p in metrics.items():
        spec, params = resolve(entry, p)
        _check_inputs(humans, needs_xy=params.get("labeler") != "object")
        why = unmet_reason(spec, params, {"human scanpaths": humans})
        if why is None:
            try:
                out[entry] = _human_entry(spec, params, humans, key)
                continue
            except ScanpathDataError as exc:
                if exc.field not in NEED_FIELDS:
                    raise
                why = exc.message
        out[entry] = skipped_entry(spec, params, why)
    return out


def _human_entry(spec: MetricSpec, params: dict[str, Any], humans: Sequence[Scanpath], key: str) -> dict:
    """One metric of the human row (leave one subject out)."""
    if spec.kind == "pair":
        res = _score_pairs(spec, params, humans, humans, key, loso=True)
        res["loso"] = True
        return res
    if spec.human_fn is not None:
        return _finish_result(spec.human_fn(list(humans), key, params), spec, params)
    return {"value": float("nan"), "params": _plain(params), "n": 0, "n_nan": 0,
            "note": "no human consistency defined for this metric"}


__all__ = ["score_scanpaths", "human_consistency", "pair_indices"]
