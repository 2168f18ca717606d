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
from scanpath.evaluation.schema import metric_value
from scanpath.io.coco import prediction_records, write_coco_json, write_predictions
from scanpath.metrics import score_scanpaths
from scanpath.models.oat.baselines import ObjectBaseline
from scanpath.models.oat.module import OATModule, batch_inputs, rollouts_to_batch
from scanpath.types import Scanpath, scanpath_key

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ OAT metrics
def nss_object(preds: Sequence[Scanpath], humans: Sequence[Scanpath], n_objects: int, key: str) -> float:
    """z-scored visit counts over the N objects (all rollouts of a key), averaged at the GT fixated
    objects; mean over human scanpaths (framework addition)."""
    counts: dict[str, np.ndarray] = {}
    for s in preds:
        c = counts.setdefault(scanpath_key(s, key), np.zeros(n_objects))
        np.add.at(c, np.asarray(s.fixation_extra["object"], dtype=int), 1.0)
    vals = []
    for h in humans:
        c = counts.get(scanpath_key(h, key))
        if c is None or len(h) == 0:
            continue
        sd = c.std()
        z = (c - c.mean()) / (sd if sd > 0 else 1.0)
        vals.append(float(z[np.asarray(h.fixation_extra["object"], dtype=int)].mean()))
    return float(np.mean(vals)) if vals else float("nan")


def nss_pixel(preds: Sequence[Scanpath], humans: Sequence[Scanpath], key: str) -> float:
    """Upstream NSS: binary W×H map P = 1 at the rounded centre pixel of every visited object, z-scored
    (population SD), averaged at the GT fixation pixels (computed analytically: P is sparse)."""
    visited: dict[str, set[tuple[int, int]]] = {}
    for s in preds:
        v = visited.setdefault(scanpath_key(s, key), set())
        v.update(zip(np.rint(s.x).astype(int).tolist(), np.rint(s.y).astype(int).tolist()))
    vals = []
    for h in humans:
        v = visited.get(scanpath_key(h, key))
        if not v or len(h) == 0 or h.image_size is None:
            continue
        w, hh = h.image_size
        p = len(v) / float(w * hh)
        sd = math.sqrt(p * (1 - p)) or 1.0
        hits = np.array([(int(x), int(y)) in v for x, y in zip(np.rint(h.x), np.rint(h.y))], dtype=float)
        vals.append(float(((hits - p) / sd).mean()))
    return float(np.mean(vals)) if vals else float("nan")


@torch.no_grad()
def teacher_forced_sim(module: OATModule, batches: Sequence[Mapping[str, Any]], include_pad: bool = False) -> float:
    """SIM: mean over GT steps of the teacher-forced probability of the true next object (EOS step
    excluded; PAD masked unless ``include_pad`` — upstream defect 6)."""
    module.eval()
    vals = []
    for batch in batches:
        logits, targets = module(batch)
        if not include_pad:
            logits = logits[..., :-1]
        p = torch.softmax(logits, -1)
        n = batch_inputs(batch).n_objects
        real = targets < n  # object steps only (EOS / PAD excluded)
        pt = p.gather(-1, targets.clamp(max=p.shape[-1] - 1)[..., None])[..., 0]
        vals.append(pt[real])
    return float(torch.cat(vals).mean()) if vals else float("nan")


def baseline_sim(model: ObjectBaseline, batches: Sequence[Mapping[str, Any]]) -> float:
    """SIM of a static baseline: mean p_b(true object) over GT steps."""
    vals = []
    for batch in batches:
        probs = model.distribution(batch)
        sp = batch["scanpaths"]
        objs = sp.fixation_extra["object"].long()
        mask = sp.mask
        vals.append(probs.gather(1, objs.clamp_min(0))[mask])
    return float(torch.cat(vals).mean()) if vals else float("nan")


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


def _collate(samples: Sequence[Mapping[str, Any]], batch_size: int, drop: Sequence[str] = ()) -> _Batches:
    return _Batches(samples, batch_size, drop)


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
                        n_nan=0 if finite else 1)


@dataclasses.dataclass
class OATProtocol:
    """OAT's evaluation (docs/oat.md §4): greedy and sampled OAT rows, object baselines, humans.

    ``samples`` rollouts per trial for the sampled row (100 published), ``baseline_rollouts`` per
    baseline; ``teacher_forced`` adds SIM from the model's next-object probabilities; ``metrics`` is
    the OAT metric set (``conf/metrics/oat.yaml``). Pixel baselines passed in are not used: the
    object baselines replace them.
    """

    metrics: Mapping[str, Any] | None = None
    samples: int = 100
    baseline_rollouts: int = 100
    baselines: Sequence[str] = ("random", "center", "saliency", "rgb_similarity")
    teacher_forced: bool = True
    sim_include_pad: bool = False
    batch_size: int = 16
    split: str = "test"
    name: str = "oat"

    def run(self, *, model: OATModule, datamodule: Any, out_dir: str | Path, metrics: Mapping[str, Any] | None = None,
            seed: int | None = None, checkpoint: str | None = None, n_figures: int = 4, n_stimuli: int = 6,
            **_: Any) -> EvaluationResult:
        if not isinstance(model, OATModule):
            raise TypeError(f"the OAT protocol evaluates an OATModule, got {type(model).__name__} "
                            f"(use protocol=plain for other models)")
        out = Path(out_dir)
        metric_cfg = json_clean(self.metrics if self.metrics is not None else metrics) or {}
        if seed is not None:
            torch.manual_seed(int(seed))
        dm = datamodule
        dm.setup("test")
        key = getattr(dm, "eval_key", "task")
        humans = dm.human_scanpaths(self.split)
        query_samples = dm.query_samples(self.split)
        # only the saliency baseline reads the rendered image: every other consumer's batches leave it
        # out, so it is neither rendered nor stacked for them (one float 450×837 image per trial)
        queries = _collate(query_samples, self.batch_size, ("image",))
        trials = _collate(dm.samples(self.split), self.batch_size, ("image",))
        with_image = {"queries": _collate(query_samples, self.batch_size), "trials": _collate(dm.samples(self.split),
                                                                                            self.batch_size)}
        n_objects = int(np.prod(dm.grid))
        module = prepare_module(model, dm)
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
        sim_model = teacher_forced_sim(module, trials, self.sim_include_pad) if self.teacher_forced else float("nan")

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
            base_batches[bm.display_name] = with_image if bm.needs_image else {"queries": queries, "trials": trials}
            preds: list[Scanpath] = []
            for b in track(base_batches[bm.display_name]["queries"], description=f"{bm.display_name} rollouts"):
                preds.extend(bm.predict_scanpaths(b).to_list())
            predictions[bm.display_name] = preds

        rows: dict[str, dict[str, Any]] = {}
        for name, preds in predictions.items():
            log.info("scoring %s (%d rollouts)", name, len(preds))
            scores = score_scanpaths(preds, humans, metric_cfg, key=key)
            scores["nss_pixel"] = _scalar(nss_pixel(preds, humans, key), len(humans))
            scores["nss_object"] = _scalar(nss_object(preds, humans, n_objects, key), len(humans))
            if name.startswith("OAT"):
                scores["sim"] = _scalar(sim_model, len(humans), teacher_forced=True, include_pad=self.sim_include_pad)
                role, ckpt = "model", checkpoint
            else:
                scores["sim"] = _scalar(baseline_sim(base_models[name], base_batches[name]["trials"]), len(humans),
                                        teacher_forced=False)
                role, ckpt = "baseline", None
            rows[name] = {"role": role, "checkpoint": ckpt, "n_predictions": len(preds), "metrics": scores}
        log.info("scoring human consistency (leave one subject out)")
        rows[HUMAN_ROW] = observer_or_human(human_row(humans, metric_cfg, key), dm)

        settings = {
            **dataset_settings(dm, humans), "protocol": self.name, **metric_settings(rows, True),
            "layout_only": bool(getattr(dm, "layout_only", False)),
            "architecture": module.arch_label,
            "n_trials": len(humans), "n_queries": len(query_samples), "checkpoint": checkpoint,
            "samples": self.samples, "baseline_rollouts": self.baseline_rollouts, "max_len": module.max_len,
            "samples_per_image": int(self.samples or 1), "seed": seed,
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
        figures = save_overlays(out, dm, humans, shown, n_figures)
        stimuli = report_stimuli(dm, humans, predictions, n_stimuli)
        return EvaluationResult(settings=settings, rows=rows, skipped=skipped, figures=figures, stimuli=stimuli)


