"""OAT evaluation protocol (docs/oat.md §4).

``python evaluate.py model=oat ckpt_path=… data=amazon_covers`` → one table with rows
OAT (greedy, 1 rollout per trial), OAT (sampled, K=100 rollouts), the object baselines (random,
center, saliency, rgb-similarity; 100 rollouts each, image-less ones skipped with the reason) and the
human row (leave one subject out). Columns: Δ and its five statistics, SS and edit distance on object
strings, MultiMatch on object centres vs raw human fixations, NSS (pixel, object), SIM
(teacher-forced, model only). Everything goes through ``scanpath.metrics.score_scanpaths`` with
``conf/metrics/oat.yaml`` except NSS/SIM, which need the rollouts / the model's probabilities.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scanpath.evaluation.pipeline import (
    dataset_settings,
    human_row,
    metric_settings,
    observer_or_human,
    report_stimuli,
    save_overlays,
)
from scanpath.evaluation.progress import track
from scanpath.evaluation.report import HUMAN_ROW, EvaluationResult, json_clean, safe_name
from scanpath.evaluation.schema import metric_from_units, metric_value
from scanpath.io.coco import prediction_records, write_coco_json, write_predictions
from scanpath.metrics import score_scanpaths
from scanpath.metrics.averaging import average_by_key, check_average
from scanpath.models.oat.baselines import ObjectBaseline
from scanpath.models.oat.module import OATModule, batch_inputs, rollouts_to_batch
from scanpath.types import Scanpath, scanpath_key

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ OAT metrics
def nss_object(preds: Sequence[Scanpath], humans: Sequence[Scanpath], n_objects: int, key: str,
               average: str = "trial", per_trial: list[float] | None = None) -> float:
    """z-scored visit counts over the N objects (all rollouts of a key), averaged at the GT fixated
    objects of each human trial, then over trials (``average``, :mod:`scanpath.metrics.averaging`;
    framework addition). ``per_trial`` receives the value of each human trial (NaN: not scored)."""
    counts: dict[str, np.ndarray] = {}
    for s in preds:
        c = counts.setdefault(scanpath_key(s, key), np.zeros(n_objects))
        np.add.at(c, np.asarray(s.fixation_extra["object"], dtype=int), 1.0)
    vals = []
    for h in humans:
        c = counts.get(scanpath_key(h, key))
        if c is None or len(h) == 0:
            vals.append(float("nan"))
            continue
        sd = c.std()
        z = (c - c.mean()) / (sd if sd > 0 else 1.0)
        vals.append(float(z[np.asarray(h.fixation_extra["object"], dtype=int)].mean()))
    if per_trial is not None:
        per_trial.extend(vals)
    return _over_trials(vals, humans, key, average)


def nss_pixel(preds: Sequence[Scanpath], humans: Sequence[Scanpath], key: str, average: str = "trial",
              unique_pixels: bool = True, per_trial: list[float] | None = None) -> float:
    """Upstream NSS: binary W×H map P = 1 at the rounded centre pixel of every visited object, z-scored
    (population SD), read out at the GT fixation pixels (computed analytically: P is sparse).

    ``unique_pixels`` (upstream): the GT is a binary map too, so each GT pixel counts once however
    often it was fixated (upstream reads ``s_map[gt == 1]``); ``False`` averages over every fixation.
    Values are per human trial (``per_trial`` receives them), then averaged over trials (``average``)."""
    visited: dict[str, set[tuple[int, int]]] = {}
    for s in preds:
        v = visited.setdefault(scanpath_key(s, key), set())
        v.update(zip(np.rint(s.x).astype(int).tolist(), np.rint(s.y).astype(int).tolist()))
    vals = []
    for h in humans:
        v = visited.get(scanpath_key(h, key))
        if not v or len(h) == 0 or h.image_size is None:
            vals.append(float("nan"))
            continue
        w, hh = h.image_size
        p = len(v) / float(w * hh)
        sd = math.sqrt(p * (1 - p)) or 1.0
        gt = list(zip(np.rint(h.x).astype(int).tolist(), np.rint(h.y).astype(int).tolist()))
        if unique_pixels:
            gt = list(dict.fromkeys(gt))
        hits = np.array([xy in v for xy in gt], dtype=float)
        vals.append(float(((hits - p) / sd).mean()))
    if per_trial is not None:
        per_trial.extend(vals)
    return _over_trials(vals, humans, key, average)


def _over_trials(values: Sequence[float], humans: Sequence[Scanpath], key: str, average: str) -> float:
    """Mean of one value per human trial: every trial the same (``trial``) or every key (``key``)."""
    keys = [scanpath_key(h, key) for h in humans]
    return float(average_by_key(np.asarray(values, dtype=np.float64), keys, keys, average))


def reduce_sim(sums: Sequence[float], counts: Sequence[float], humans: Sequence[Scanpath], key: str,
               sim_average: str, average: str) -> float:
    """SIM from per-trial sums and step counts: ``trial`` = per-trial means, then over trials
    (``average``; upstream); ``step`` = one mean over all steps of all trials."""
    s, c = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    if sim_average == "step":
        return float(s.sum() / c.sum()) if c.sum() > 0 else float("nan")
    if sim_average != "trial":
        raise ValueError(f"sim_average must be 'trial' (upstream) or 'step', got {sim_average!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return _over_trials(np.where(c > 0, s / c, np.nan), humans, key, average)


@torch.no_grad()
def teacher_forced_sim(module: OATModule, batches: Sequence[Mapping[str, Any]],
                       include_pad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per trial: the sum over GT steps of the teacher-forced probability of the true next object and
    the number of steps (EOS step excluded; PAD masked unless ``include_pad`` — upstream defect 6)."""
    module.eval()
    sums, counts = [], []
    for batch in batches:
        logits, targets = module(batch)  # (T, B, ·), (T, B)
        if not include_pad:
            logits = logits[..., :-1]
        p = torch.softmax(logits, -1)
        n = batch_inputs(batch).n_objects
        real = targets < n  # object steps only (EOS / PAD excluded)
        pt = p.gather(-1, targets.clamp(max=p.shape[-1] - 1)[..., None])[..., 0]
        sums.append((pt * real).sum(0).double().cpu().numpy())
        counts.append(real.sum(0).double().cpu().numpy())
    return (np.concatenate(sums), np.concatenate(counts)) if sums else (np.zeros(0), np.zeros(0))


def baseline_sim(model: ObjectBaseline, batches: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """SIM of a static baseline per trial: the sum of p_b(true object) over GT steps and their number."""
    sums, counts = [], []
    for batch in batches:
        probs = model.distribution(batch)
        sp = batch["scanpaths"]
        objs = sp.fixation_extra["object"].long()
        mask = sp.mask
        pt = probs.gather(1, objs.clamp_min(0))
        sums.append((pt * mask).sum(1).double().cpu().numpy())
        counts.append(mask.sum(1).double().cpu().numpy())
    return (np.concatenate(sums), np.concatenate(counts)) if sums else (np.zeros(0), np.zeros(0))


def with_average(metric_cfg: Mapping[str, Any], average: str) -> dict[str, Any]:
    """The metric set with the protocol's ``average`` applied: ``average`` of ``oat_delta`` entries and
    ``key_reduce`` of pair metrics (both ``trial`` or ``key``)."""
    from scanpath.metrics.registry import resolve

    check_average(average)
    out: dict[str, Any] = {}
    for entry, params in metric_cfg.items():
        p = dict(params or {})
        spec, _ = resolve(entry, p)
        if spec.kind == "pair":
            p["key_reduce"] = average
        elif "average" in spec.defaults:
            p["average"] = average
        out[entry] = p
    return out


# ------------------------------------------------------------------------------------ protocol
class _Batches:
    """Collated batches of ``samples``, built one at a time when iterated (never all held at once);
    ``drop`` names heavy sample keys a consumer does not read (e.g. the rendered image)."""

    def __init__(self, samples: Sequence[Mapping[str, Any]], batch_size: int, drop: Sequence[str] = ()) -> None:
        self.samples, self.batch_size, self.drop = samples, int(batch_size), tuple(drop)

    def __len__(self) -> int:
        return (len(self.samples) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Any:
        from scanpath.batch import collate_samples

        for i in range(0, len(self.samples), self.batch_size):
            rows = []
            for s in self.samples[i : i + self.batch_size]:
                keys = [k for k in (s.keys() if hasattr(s, "keys") else dict(s)) if k not in self.drop]
                rows.append({k: s[k] for k in keys})
            yield collate_samples(rows)


#: sample keys that are rendered / converted when read (a float image, every crop of a layout)
HEAVY_KEYS = ("image", "crops", "target_crop")


def batches_for(reader: Any, samples: Sequence[Mapping[str, Any]], batch_size: int,
                drop: Sequence[str] = ()) -> _Batches:
    """Batches of ``samples`` that leave out every heavy key (:data:`HEAVY_KEYS`) ``reader`` does not
    read (its ``required_sample_keys``; ``None`` = it may read all) and the keys in ``drop``: e.g. the
    random baseline gets no crops, so no layout's crops are converted to float for it."""
    keys = getattr(reader, "required_sample_keys", None)
    unread = () if keys is None else tuple(k for k in HEAVY_KEYS if k not in keys)
    return _Batches(samples, batch_size, tuple(dict.fromkeys((*unread, *drop))))


def prepare_module(module: OATModule, datamodule: Any) -> OATModule:
    """Build a network that no checkpoint built (random init, warned) and fix the decode length."""
    if module.net is None:
        log.warning("no checkpoint: evaluating a randomly initialised OAT")
        module.build(module.resolve(datamodule))
    if not module.max_len:
        module.max_len = int(datamodule.max_len)
    return module.eval()


def _scalar(value: float, n: int, higher_is_better: bool = True, **params: Any) -> dict[str, Any]:
    finite = bool(np.isfinite(value))
    return metric_value(value, higher_is_better=higher_is_better, params=params, n=n if finite else 0,
                        n_nan=0 if finite else 1,
                        uncertainty_note="one mean over all ground-truth steps (sim_average: step), no per-trial values")


def _over_trials_metric(value: float, per_trial: Sequence[float], humans: Sequence[Scanpath], key: str,
                        how: str, **params: Any) -> dict[str, Any]:
    """``value`` (the protocol's per-trial average) with n, SEM and CI over trials, from the value of
    each human trial: clusters = the trials' keys, weighted as ``how`` (``average``) weighs them."""
    from scanpath.metrics.averaging import key_weights

    keys = [scanpath_key(h, key) for h in humans]
    uniq = sorted(set(keys))
    out = metric_from_units(per_trial, keys=keys, higher_is_better=True, params=params,
                            key_weights=dict(zip(uniq, key_weights(uniq, keys, how))))
    out["value"] = None if not np.isfinite(value) else float(value)
    return out


@dataclasses.dataclass
class OATProtocol:
    """OAT's evaluation (docs/oat.md §4): greedy and sampled OAT rows, object baselines, humans.

    ``samples`` rollouts per trial for the sampled row (100 published), ``baseline_rollouts`` per
    baseline; ``teacher_forced`` adds SIM from the model's next-object probabilities; ``metrics`` is
    the OAT metric set (``conf/metrics/oat.yaml``). Pixel baselines passed in are not used: the
    object baselines replace them.

    Rollouts are drawn once per (layout, target) key. ``average="trial"`` (upstream) weighs every human
    trial the same in every statistic (a key counts as often as it has test trials; the trials of a
    key share their inputs); ``"key"`` weighs every key the same. ``sim_average``: ``trial``
    (upstream: per-trial mean, then over trials) or ``step`` (one mean over all steps);
    ``nss_unique_pixels``: each GT pixel once in ``nss_pixel`` (upstream) or every fixation.
    """

    metrics: Mapping[str, Any] | None = None
    samples: int = 100
    baseline_rollouts: int = 100
    baselines: Sequence[str] = ("random", "center", "saliency", "rgb_similarity")
    teacher_forced: bool = True
    sim_include_pad: bool = False
    average: str = "trial"
    sim_average: str = "trial"
    nss_unique_pixels: bool = True
    batch_size: int = 16
    split: str = "test"
    name: str = "oat"

    def run(self, *, model: OATModule, datamodule: Any, out_dir: str | Path, metrics: Mapping[str, Any] | None = None,
            seed: int | None = None, checkpoint: str | None = None, n_figures: int = 4, n_stimuli: int = 6,
            untrained: bool = False, **_: Any) -> EvaluationResult:
        if not isinstance(model, OATModule):
            raise TypeError(f"the OAT protocol evaluates an OATModule, got {type(model).__name__} "
                            f"(use protocol=plain for other models)")
        out = Path(out_dir)
        metric_cfg = with_average(json_clean(self.metrics if self.metrics is not None else metrics) or {},
                                  self.average)
        if seed is not None:
            torch.manual_seed(int(seed))
        dm = datamodule
        untrained = untrained or (model.net is None and not checkpoint)
        dm.setup("test")
        key = getattr(dm, "eval_key", "task")
        humans = dm.human_scanpaths(self.split)
        query_samples = dm.query_samples(self.split)
        trial_samples = dm.samples(self.split)
        n_objects = int(np.prod(dm.grid))
        module = prepare_module(model, dm)
        # every consumer's batches carry only the heavy keys it reads (OAT: crops, never the image)
        queries = batches_for(module, query_samples, self.batch_size)
        trials = batches_for(module, trial_samples, self.batch_size)
        skipped: dict[str, str] = {}
        predictions: dict[str, list[Scanpath]] = {}

        def model_preds(greedy: bool, k: int, label: str) -> list[Scanpath]:
            out_: list[Scanpath] = []
            for b in track(queries, description=label):
                out_.extend(rollouts_to_batch(module.rollouts(b, greedy=greedy, k=k), b).to_list())
            return out_

        predictions["OAT (greedy)"] = model_preds(True, 1, "OAT greedy rollouts")
        if self.samples and self.samples > 0:
            predictions[f"OAT (sampled ×{self.samples})"] = model_preds(False, int(self.samples),
                                                                        f"OAT sampled rollouts ×{self.samples}")
        def sim_of(parts: tuple[np.ndarray, np.ndarray] | None, **params: Any) -> dict[str, Any]:
            """SIM from per-trial sums and step counts; n, SEM and CI over trials for the per-trial mean."""
            params = {**params, "sim_average": self.sim_average, "average": self.average}
            if parts is None:
                return _scalar(float("nan"), len(humans), **params)
            value = reduce_sim(*parts, humans, key, self.sim_average, self.average)
            if self.sim_average != "trial":
                return _scalar(value, len(humans), **params)
            s, c = (np.asarray(x, dtype=np.float64) for x in parts)
            with np.errstate(invalid="ignore", divide="ignore"):
                return _over_trials_metric(value, np.where(c > 0, s / c, np.nan), humans, key, self.average, **params)

        sim_parts = teacher_forced_sim(module, trials, self.sim_include_pad) if self.teacher_forced else None

        base_models: dict[str, ObjectBaseline] = {}
        base_batches: dict[str, dict[str, _Batches]] = {}
        first = dict(query_samples[0])
        for kind in self.baselines:
            bm = ObjectBaseline(kind=str(kind), rollouts=int(self.baseline_rollouts), seed=int(seed or 0))
            why = bm.skip_reason(first)
            if why:
                skipped[bm.display_name] = why
                log.warning("skipping baseline %s: %s", bm.display_name, why)
                continue
            bm.fit_lengths(dm.human_scanpaths("train"))
            base_models[bm.display_name] = bm
            # the saliency baseline reads one image per layout here, sample by sample, so no batch
            # carries the rendered image (a float 450×837 image per trial); only samples without a
            # layout id would need it in the batch
            drop = ("image",) if bm.needs_image and bm.prepare_layouts([*query_samples, *trial_samples]) else ()
            base_batches[bm.display_name] = {"queries": batches_for(bm, query_samples, self.batch_size, drop),
                                             "trials": batches_for(bm, trial_samples, self.batch_size, drop)}
            preds: list[Scanpath] = []
            for b in track(base_batches[bm.display_name]["queries"], description=f"{bm.display_name} rollouts"):
                preds.extend(bm.predict_scanpaths(b).to_list())
            predictions[bm.display_name] = preds

        rows: dict[str, dict[str, Any]] = {}
        for name, preds in predictions.items():
            log.info("scoring %s (%d rollouts)", name, len(preds))
            scores = score_scanpaths(preds, humans, metric_cfg, key=key)
            px: list[float] = []
            ob: list[float] = []
            scores["nss_pixel"] = _over_trials_metric(
                nss_pixel(preds, humans, key, self.average, self.nss_unique_pixels, per_trial=px), px, humans, key,
                self.average, average=self.average, unique_pixels=self.nss_unique_pixels)
            scores["nss_object"] = _over_trials_metric(nss_object(preds, humans, n_objects, key, self.average, ob),
                                                       ob, humans, key, self.average, average=self.average)
            if name.startswith("OAT"):
                scores["sim"] = sim_of(sim_parts, teacher_forced=True, include_pad=self.sim_include_pad)
                role, ckpt = "model", checkpoint
            else:
                scores["sim"] = sim_of(baseline_sim(base_models[name], base_batches[name]["trials"]),
                                       teacher_forced=False)
                role, ckpt = "baseline", None
            rows[name] = {"role": role, "checkpoint": ckpt, "n_predictions": len(preds), "metrics": scores,
                          **({"untrained": True} if untrained and role == "model" else {})}
        log.info("scoring human consistency (leave one subject out)")
        rows[HUMAN_ROW] = observer_or_human(human_row(humans, metric_cfg, key), dm)

        settings = {
            **dataset_settings(dm, humans), "protocol": self.name, **metric_settings(rows, True),
            "layout_only": bool(getattr(dm, "layout_only", False)),
            "architecture": module.arch_label,
            "n_trials": len(humans), "n_queries": len(query_samples), "checkpoint": checkpoint,
            "samples": self.samples, "baseline_rollouts": self.baseline_rollouts, "max_len": module.max_len,
            "samples_per_image": int(self.samples or 1), "seed": seed,
            "average": self.average, "sim_average": self.sim_average, "nss_unique_pixels": self.nss_unique_pixels,
        }
        meta = {"dataset": settings["dataset"], "synthetic": settings["synthetic"], "eval_key": key}
        write_predictions(out / "predictions.json", predictions["OAT (greedy)"], humans, key=key,
                          model="OAT (greedy)", checkpoint=checkpoint, sampling="greedy", samples_per_image=1,
                          extra_meta=meta)
        for name, preds in predictions.items():
            if name != "OAT (greedy)":
                write_coco_json(out / f"predictions_{safe_name(name).lower()}.json",
                                prediction_records(preds, humans, key), {"model": name, **meta})
        shown = {n: p for n, p in predictions.items() if n == "OAT (greedy)"}
        figures = save_overlays(out, dm, humans, shown, n_figures, untrained=list(shown) if untrained else [])
        stimuli = report_stimuli(dm, humans, predictions, n_stimuli)
        return EvaluationResult(settings=settings, rows=rows, skipped=skipped, figures=figures, stimuli=stimuli)


