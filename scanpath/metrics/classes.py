"""``torchmetrics.Metric`` wrappers (docs/metrics.md §2.9).

Human references are a constructor argument (identical on every rank); keys become integer ids
from the sorted key list. Per-prediction scores and key ids are ``cat`` states, counters ``sum``
states, so ``compute()`` after a distributed sync equals the single-process result.

* :class:`PairMetric` (and the family aliases :class:`SequenceScore`, :class:`MultiMatch`,
  :class:`ScanMatch`, :class:`DTW`, …): any registered pair metric.
* :class:`HumanConsistency`: LOSO scores of a shard of the human scanpaths.
* :class:`BehaviouralDelta`: OAT Δ from per-sample statistics.
* :class:`SearchEfficiency`, :class:`SaliencyMapMetrics`, :class:`DiversitySequenceScore`,
  :class:`ConditionalSaliency`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torchmetrics import Metric

from scanpath.metrics.evaluation import _prepare, _reduce_pairs, pair_indices
from scanpath.metrics.registry import resolve
from scanpath.types import Scanpath, ScanpathBatch, scanpath_key


def _as_list(preds: Sequence[Scanpath] | ScanpathBatch) -> list[Scanpath]:
    return preds.to_list() if isinstance(preds, ScanpathBatch) else list(preds)


def _dim_zero_cat(x):
    if isinstance(x, list):
        return torch.cat(x, dim=0) if x else torch.zeros(0)
    return x


class _KeyedMetric(Metric):
    full_state_update = False
    higher_is_better = None

    def __init__(self, humans: Sequence[Scanpath], key: str = "stimulus", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.humans = list(humans)
        self.key = key
        self.keys = sorted({scanpath_key(h, key) for h in self.humans})
        self.key_id = {k: i for i, k in enumerate(self.keys)}

    def _ids(self, sps: Sequence[Scanpath]) -> torch.Tensor:
        return torch.tensor([self.key_id.get(scanpath_key(s, self.key), -1) for s in sps], dtype=torch.long)


class PairMetric(_KeyedMetric):
    """A registered pair metric: each prediction meets every human of its key (pair_reduce), the
    compute() value is the mean over predictions (``key_reduce`` mean)."""

    metric_name = "ss"

    def __init__(self, humans: Sequence[Scanpath], params: Mapping[str, Any] | None = None,
                 key: str = "stimulus", metric: str | None = None, **kwargs: Any) -> None:
        super().__init__(humans, key, **kwargs)
        self.spec, self.params = resolve(metric or self.metric_name, params)
        if self.spec.kind != "pair":
            raise ValueError(f"{self.spec.name} is not a pair metric")
        self.dims = list(self.spec.subdims or (self.spec.name,))
        self._humans_p = _prepare(self.humans, self.params, self.params.get("truncate_gt"))
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("key_ids", default=[], dist_reduce_fx="cat")
        self.add_state("n_nan", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("n_pairs", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Sequence[Scanpath] | ScanpathBatch) -> None:  # type: ignore[override]
        preds = _prepare(_as_list(predictions), self.params, self.params.get("truncate_pred"),
                         bool(self.params.get("cut_at_target")))
        li, ri = pair_indices(preds, self._humans_p, self.key)
        k = len(self.dims)
        vals = (np.asarray(self.spec.fn(preds, self._humans_p, li, ri, self.params), dtype=np.float64)
                if len(li) else np.zeros((0, k))).reshape(len(li), k)
        how = self.params.get("pair_reduce", "mean")
        if how == "flat":
            per, ids = vals, self._ids([preds[i] for i in li])
        else:
            per = _reduce_pairs(vals, li, len(preds), how)
            has = np.zeros(len(preds), dtype=bool)
            has[li] = True
            per, ids = per[has], self._ids([p for p, h in zip(preds, has) if h])
        self.scores.append(torch.as_tensor(per, dtype=torch.float64))
        self.key_ids.append(ids)
        self.n_nan += int(np.isnan(vals).any(axis=1).sum()) if len(vals) else 0  # NaN in any dimension
        self.n_pairs += len(li)

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        s = _dim_zero_cat(self.scores).reshape(-1, len(self.dims))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(s.numpy(), axis=0) if len(s) else np.full(len(self.dims), np.nan)
        dims = {d: float(v) for d, v in zip(self.dims, means)}
        from scanpath.metrics.evaluation import _main_value

        out = {"value": _main_value(self.spec, dims), "n": int(torch.isfinite(s[:, 0]).sum()) if len(s) else 0,
               "n_nan": int(self.n_nan), "n_pairs": int(self.n_pairs), "params": dict(self.params)}
        if self.spec.subdims is not None:
            out["values"] = dims
        return out


class SequenceScore(PairMetric):
    metric_name = "ss"
    higher_is_better = True


class StringEditDistance(PairMetric):
    metric_name = "sed"
    higher_is_better = False


class MultiMatch(PairMetric):
    metric_name = "multimatch"
    higher_is_better = True


class ScanMatch(PairMetric):
    metric_name = "scanmatch"
    higher_is_better = True


class DTW(PairMetric):
    metric_name = "dtw"
    higher_is_better = False


class Frechet(PairMetric):
    metric_name = "frechet"
    higher_is_better = False


class Recurrence(PairMetric):
    metric_name = "recurrence"


class HumanConsistency(_KeyedMetric):
    """LOSO consistency of the constructor's humans; ``update(indices)`` scores a shard of them
    (each rank its own shard) against the other subjects of their keys."""

    def __init__(self, humans: Sequence[Scanpath], metric: str = "ss", params: Mapping[str, Any] | None = None,
                 key: str = "stimulus", **kwargs: Any) -> None:
        super().__init__(humans, key, **kwargs)
        self.spec, self.params = resolve(metric, params)
        self.dims = list(self.spec.subdims or (self.spec.name,))
        self._left = _prepare(self.humans, self.params, self.params.get("truncate_pred"))
        self._right = _prepare(self.humans, self.params, self.params.get("truncate_gt"))
        self.add_state("scores", default=[], dist_reduce_fx="cat")

    def update(self, indices: Sequence[int]) -> None:  # type: ignore[override]
        idx = np.asarray(list(indices), dtype=np.int64)
        li, ri = pair_indices(self._left, self._right, self.key, loso=True,
                              include_self=bool(self.params.get("include_self")))
        keep = np.isin(li, idx)
        li, ri = li[keep], ri[keep]
        k = len(self.dims)
        vals = (np.asarray(self.spec.fn(self._left, self._right, li, ri, self.params), dtype=np.float64)
                if len(li) else np.zeros((0, k))).reshape(len(li), k)
        per = _reduce_pairs(vals, li, len(self._left), self.params.get("pair_reduce", "mean"))
        self.scores.append(torch.as_tensor(per[np.unique(li)], dtype=torch.float64))

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        s = _dim_zero_cat(self.scores).reshape(-1, len(self.dims)).numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(s, axis=0) if len(s) else np.full(len(self.dims), np.nan)
        dims = {d: float(v) for d, v in zip(self.dims, means)}
        from scanpath.metrics.evaluation import _main_value

        out = {"value": _main_value(self.spec, dims), "n": int(np.isfinite(s[:, 0]).sum()) if len(s) else 0,
               "loso": True}
        if self.spec.subdims is not None:
            out["values"] = dims
        return out


class BehaviouralDelta(_KeyedMetric):
    """OAT Δ: per-sample statistics (cat state) grouped by trial key at compute().

    ``average="trial"`` (the upstream protocol, docs/oat.md §4; default): every human trial weighs the
    same — human statistics are the mean over trials, and a key's model statistics weigh as many times
    as the key has human trials (the trials of one key share their inputs, so this has the expectation
    of generating rollouts per trial and averaging over trials). ``average="key"``: statistics are
    averaged over each key's samples, then over keys (every (layout, target) weighs the same). The rule
    is :func:`scanpath.metrics.averaging.average_by_key`, the one the ``oat_delta`` registry entry uses.
    """

    higher_is_better = False

    def __init__(self, humans: Sequence[Scanpath], key: str = "stimulus", compat: bool = False,
                 average: str = "trial", **kwargs: Any) -> None:
        super().__init__(humans, key, **kwargs)
        from scanpath.metrics.averaging import check_average
        from scanpath.metrics.behavioural import STATS, averaged_stats, sample_stats

        self.compat = compat
        self.average = check_average(average)
        h_rows, self._human_keys = sample_stats(self.humans, key)
        self.human_stats = averaged_stats(h_rows, self._human_keys, self._human_keys, average)
        self._stats_names = STATS
        self.add_state("stats", default=[], dist_reduce_fx="cat")
        self.add_state("key_ids", default=[], dist_reduce_fx="cat")

    def update(self, predictions: Sequence[Scanpath] | ScanpathBatch) -> None:  # type: ignore[override]
        from scanpath.metrics.behavioural import STATS, oat_stats
        from scanpath.metrics.inputs import object_seq as _object_seq, target_of as _target_of

        preds = _as_list(predictions)
        rows = [[oat_stats(_object_seq(s), _target_of(s, None))[k] for k in STATS] for s in preds]
        self.stats.append(torch.tensor(rows, dtype=torch.float64).reshape(-1, len(STATS)))
        self.key_ids.append(self._ids(preds))

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        from scanpath.metrics.behavioural import STATS, averaged_stats, oat_delta

        st = _dim_zero_cat(self.stats).reshape(-1, len(STATS)).cpu().numpy()
        ids = _dim_zero_cat(self.key_ids).cpu().numpy()
        keep = ids >= 0  # predictions of keys without human trials are not scored
        keys = [self.keys[int(i)] for i in ids[keep]]
        m = averaged_stats(st[keep], keys, self._human_keys, self.average)
        with warnings.catch_warnings():
            if self.compat:
                warnings.simplefilter("ignore")
            delta, terms = oat_delta(m, self.human_stats, compat=self.compat)
        return {"value": delta, "values": m, "terms": terms, "n": len(set(keys))}


class SearchEfficiency(_KeyedMetric):
    """TFP curve / TFP-AUC / probability mismatch / scanpath ratio (per-prediction cat states)."""

    higher_is_better = True

    def __init__(self, humans: Sequence[Scanpath], max_steps: int = 6, key: str = "stimulus", **kwargs: Any) -> None:
        super().__init__(humans, key, **kwargs)
        from scanpath.metrics.search import _search_curve

        self.max_steps = max_steps
        self.human_curve, _, _, _ = _search_curve(self.humans, {"max_steps": max_steps})
        self.categories = sorted({str(h.task) for h in self.humans})
        self.add_state("steps", default=[], dist_reduce_fx="cat")
        self.add_state("ratios", default=[], dist_reduce_fx="cat")
        self.add_state("cats", default=[], dist_reduce_fx="cat")

    def update(self, predictions: Sequence[Scanpath] | ScanpathBatch) -> None:  # type: ignore[override]
        from scanpath.metrics import search
        from scanpath.metrics.inputs import bbox as _bbox

        preds = [s for s in _as_list(predictions) if s.condition in (None, "present")]
        cat_ids = {c: i for i, c in enumerate(self.categories)}
        self.steps.append(torch.tensor([search.steps_to_target(s.xy, _bbox(s)) for s in preds], dtype=torch.float64))
        self.ratios.append(torch.tensor([search.scanpath_ratio(s.xy, _bbox(s), self.max_steps) for s in preds],
                                        dtype=torch.float64))
        self.cats.append(torch.tensor([cat_ids.get(str(s.task), -1) for s in preds], dtype=torch.long))

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        from scanpath.metrics import search

        steps = _dim_zero_cat(self.steps).numpy()
        cats = _dim_zero_cat(self.cats).numpy()
        ratios = _dim_zero_cat(self.ratios).numpy()
        curve = search.tfp_curve(steps, cats.astype(str), self.max_steps)
        return {"value": search.tfp_auc(curve), "values": {
            "tfp_auc": search.tfp_auc(curve), "prob_mismatch": search.probability_mismatch(curve, self.human_curve),
            "scanpath_ratio": float(np.nanmean(ratios)) if np.isfinite(ratios).any() else float("nan")},
            "curve": curve.tolist(), "n": len(steps)}


class ConditionalSaliency(Metric):
    """cIG / cNSS / cAUC over teacher-forced steps (per-step cat states)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for n in ("cig", "cnss", "cauc"):
            self.add_state(n, default=[], dist_reduce_fx="cat")

    def update(self, maps: torch.Tensor, xy: torch.Tensor, prior: torch.Tensor) -> None:  # type: ignore[override]
        from scanpath.metrics import conditional as C

        self.cig.append(C.cig(maps, xy, prior))
        self.cnss.append(C.cnss(maps, xy))
        self.cauc.append(C.cauc(maps, xy))

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        vals = {n: float(_dim_zero_cat(getattr(self, n)).mean()) for n in ("cig", "cnss", "cauc")}
        return {"value": vals["cig"], "values": vals, "n": int(_dim_zero_cat(self.cig).numel())}


class _SetMetric(_KeyedMetric):
    """Set metrics over whole keys: predictions are kept as (key id, fixations) cat states and the
    registered set scorer runs at compute()."""

    metric_name = "dss"

    def __init__(self, humans: Sequence[Scanpath], params: Mapping[str, Any] | None = None,
                 key: str = "stimulus", **kwargs: Any) -> None:
        super().__init__(humans, key, **kwargs)
        self.spec, self.params = resolve(self.metric_name, params)
        self.add_state("rows", default=[], dist_reduce_fx="cat")  # [n_fix, 5]: key, sample, x, y, dur

    def update(self, predictions: Sequence[Scanpath] | ScanpathBatch) -> None:  # type: ignore[override]
        rows = []
        base = len(_dim_zero_cat(self.rows)) if isinstance(self.rows, list) and self.rows else 0
        for n, s in enumerate(_as_list(predictions)):
            kid = self.key_id.get(scanpath_key(s, self.key), -1)
            d = s.duration if s.duration is not None else np.full(len(s), np.nan)
            uid = hash((s.stimulus, str(s.subject), base + n, id(s))) % (2**52)
            rows += [[kid, uid, x, y, t] for x, y, t in zip(s.x, s.y, d)]
        self.rows.append(torch.tensor(rows, dtype=torch.float64).reshape(-1, 5))

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        r = _dim_zero_cat(self.rows).reshape(-1, 5).numpy()
        preds = []
        template = {self.key_id[scanpath_key(h, self.key)]: h for h in self.humans}
        for kid, uid in sorted({(int(a), b) for a, b in r[:, :2]}):
            sel = r[(r[:, 0] == kid) & (r[:, 1] == uid)]
            h = template.get(kid)
            if h is None:
                continue
            dur = None if np.isnan(sel[:, 4]).all() else sel[:, 4]
            preds.append(Scanpath(sel[:, 2], sel[:, 3], dur, stimulus=h.stimulus, subject=f"p{uid}", task=h.task,
                                  condition=h.condition, image_size=h.image_size, extra=dict(h.extra)))
        res = dict(self.spec.fn(preds, self.humans, self.key, self.params))
        for internal in ("unit_keys", "unit_values", "uncertainty_reason"):  # read by score_scanpaths only
            res.pop(internal, None)
        return res


class DiversitySequenceScore(_SetMetric):
    metric_name = "dss"


class SaliencyMapMetrics(_SetMetric):
    metric_name = "saliency"
