"""OAT evaluation runner (specs/oat.md §4), plugged into ``evaluate.py`` through its ``runner`` key.

``python evaluate.py model=oat ckpt_path=… data=amazon_covers`` → one table with rows
OAT (greedy, 1 rollout per trial), OAT (sampled, K=100 rollouts), the object baselines (random,
center, saliency, rgb-similarity; 100 rollouts each, image-less ones skipped with the reason) and the
human row (leave one subject out). Columns: Δ and its five statistics, SS and edit distance on object
strings, MultiMatch on object centres vs raw human fixations, NSS (pixel, object), SIM
(teacher-forced, model only). Everything goes through ``scanpath.metrics.score_scanpaths`` with
``conf/metrics/oat.yaml`` except NSS/SIM, which need the rollouts / the model's probabilities.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scanpath.io.atomic import atomic_write_json, atomic_write_text
from scanpath.models.oat.baselines import ObjectBaseline
from scanpath.models.oat.module import OATModule, batch_inputs, rollouts_to_batch
from scanpath.models.oat.torch_model import teacher_forcing_tokens
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


# ------------------------------------------------------------------------------------ runner
def _collate(samples: Sequence[Mapping[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    from scanpath.batch import collate_samples

    return [collate_samples([dict(s) for s in samples[i : i + batch_size]]) for i in range(0, len(samples), batch_size)]


def load_module(cfg: Any, datamodule: Any) -> OATModule:
    """The OAT module from ``cfg.model`` with the weights of ``cfg.ckpt_path`` (if any)."""
    from hydra.utils import instantiate

    module: OATModule = instantiate(cfg.model)
    ckpt = cfg.get("ckpt_path")
    if ckpt:
        state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
        module.on_load_checkpoint(state)
        if module.net is None:
            raise ValueError(f"checkpoint {ckpt} has no OAT network description ('oat' entry)")
        module.load_state_dict(state["state_dict"])
    else:
        log.warning("no ckpt_path: evaluating a randomly initialised OAT")
        app = module.hparams.appearance
        if app == "auto":
            app = "embedding" if datamodule.layout_only else "cnn"
        module.build(tuple(module.hparams.grid or datamodule.grid), app)
    if not module.max_len:
        module.max_len = int(datamodule.max_len)
    return module.eval()


def run_oat_evaluation(
    cfg: Any,
    output_dir: Path,
    metrics: Mapping[str, Any] | None = None,
    samples: int = 100,
    baseline_rollouts: int = 100,
    baselines: Sequence[str] = ("random", "center", "saliency", "rgb_similarity"),
    teacher_forced: bool = True,
    sim_include_pad: bool = False,
    batch_size: int = 16,
    split: str = "test",
    module: OATModule | None = None,
) -> dict[str, Any]:
    """Evaluate OAT (greedy + K samples), object baselines and humans; write metrics.json/.md."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from scanpath.metrics import human_consistency, score_scanpaths

    output_dir = Path(output_dir)
    metrics = OmegaConf.to_container(metrics, resolve=True) if OmegaConf.is_config(metrics) else dict(metrics or {})
    if cfg.get("seed") is not None:
        torch.manual_seed(int(cfg.seed))
    dm = instantiate(cfg.data)
    dm.setup("test")
    key = getattr(dm, "eval_key", "task")
    humans = dm.human_scanpaths(split)
    queries = _collate(dm.query_samples(split), batch_size)
    trials = _collate(dm.samples(split), batch_size)
    n_objects = int(np.prod(dm.grid))
    first = dict(dm.query_samples(split)[0])

    if module is None:
        module = load_module(cfg, dm)
    else:
        module.max_len = module.max_len or int(dm.max_len)
        module.eval()
    rows: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    predictions: dict[str, list[Scanpath]] = {}

    def model_preds(greedy: bool, k: int) -> list[Scanpath]:
        out: list[Scanpath] = []
        for b in queries:
            out.extend(rollouts_to_batch(module.rollouts(b, greedy=greedy, k=k), b).to_list())
        return out

    predictions["OAT (greedy)"] = model_preds(True, 1)
    if samples and samples > 0:
        predictions[f"OAT (sampled ×{samples})"] = model_preds(False, int(samples))
    sim_model = teacher_forced_sim(module, trials, sim_include_pad) if teacher_forced else float("nan")

    base_models: dict[str, ObjectBaseline] = {}
    for kind in baselines:
        bm = ObjectBaseline(kind=str(kind), rollouts=int(baseline_rollouts), seed=int(cfg.get("seed") or 0))
        why = bm.skip_reason(first)
        if why:
            skipped[bm.display_name] = why
            log.warning("skipping baseline %s: %s", bm.display_name, why)
            continue
        bm.fit_lengths(dm.human_scanpaths("train"))
        base_models[bm.display_name] = bm
        preds: list[Scanpath] = []
        for b in queries:
            preds.extend(bm.predict_scanpaths(b).to_list())
        predictions[bm.display_name] = preds

    for name, preds in predictions.items():
        scores = score_scanpaths(preds, humans, metrics, key=key)
        scores["nss_pixel"] = {"value": nss_pixel(preds, humans, key), "higher_is_better": True}
        scores["nss_object"] = {"value": nss_object(preds, humans, n_objects, key), "higher_is_better": True}
        if name.startswith("OAT"):
            scores["sim"] = {"value": sim_model, "higher_is_better": True, "params": {"teacher_forced": True}}
            role = "model"
        else:
            scores["sim"] = {"value": baseline_sim(base_models[name], trials), "higher_is_better": True}
            role = "baseline"
        rows[name] = {"role": role, "n_predictions": len(preds), "metrics": scores}
    rows["Human"] = {"role": "LOSO", "n_scanpaths": len(humans), "metrics": human_consistency(humans, metrics, key=key)}

    settings = {
        "dataset": getattr(dm, "name", type(dm).__name__),
        "synthetic": bool(getattr(dm, "synthetic", False)),
        "layout_only": bool(getattr(dm, "layout_only", False)),
        "split": split,
        "eval_key": key,
        "n_trials": len(humans),
        "n_keys": sum(len(b["scanpaths"]) for b in queries),
        "checkpoint": cfg.get("ckpt_path"),
        "samples": samples,
        "baseline_rollouts": baseline_rollouts,
        "max_len": module.max_len,
        "seed": cfg.get("seed"),
    }
    table = render_table(rows, settings, skipped)
    atomic_write_json(output_dir / "metrics.json", _plain({"settings": settings, "rows": rows, "skipped": skipped}))
    atomic_write_text(output_dir / "metrics.md", table)
    from scanpath.io.coco import write_coco_json, prediction_records

    for name, preds in predictions.items():
        safe = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower()
        write_coco_json(output_dir / f"predictions_{safe}.json", prediction_records(preds, humans, key),
                        {"model": name, **settings})
    return {"table": table, "rows": rows, "settings": settings, "skipped": skipped}


COLUMNS = [
    ("Δ ↓", "oat_delta", None), ("found", "oat_delta", "found"), ("length", "oat_delta", "length"),
    ("search", "oat_delta", "search"), ("refix", "oat_delta", "refix"), ("revisit", "oat_delta", "revisit"),
    ("SS ↑", "ss", None), ("ED ↓", "ed", None),
    ("MM.vec ↑", "multimatch", "vector"), ("MM.dir ↑", "multimatch", "direction"),
    ("MM.len ↑", "multimatch", "length"), ("MM.pos ↑", "multimatch", "position"), ("AvgMM ↑", "multimatch", None),
    ("NSS.pix ↑", "nss_pixel", None), ("NSS.obj ↑", "nss_object", None), ("SIM ↑", "sim", None),
]


def row_value(row: Mapping[str, Any], entry: str, dim: str | None) -> float:
    res = (row.get("metrics") or {}).get(entry)
    if res is None:
        return float("nan")
    v = res.get("value") if dim is None else (res.get("values") or {}).get(dim)
    return float("nan") if v is None else float(v)


def render_table(rows: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any], skipped: Mapping[str, str]) -> str:
    head = "| row | " + " | ".join(c[0] for c in COLUMNS) + " |"
    sep = "|---|" + "---|" * len(COLUMNS)
    body = []
    for name, row in rows.items():
        cells = [f"{row_value(row, e, d):.3f}" for _, e, d in COLUMNS]
        body.append(f"| {name} | " + " | ".join(cells) + " |")
    title = f"# OAT evaluation on {settings.get('dataset')} ({settings.get('split')} split)"
    if settings.get("synthetic"):
        title += " — SYNTHETIC — not human data"
    notes = [f"- {k}: {v}" for k, v in settings.items()] + [f"- skipped {k}: {v}" for k, v in skipped.items()]
    notes.append("- Human row: leave-one-subject-out (Δ = 0 by definition; statistics are the human means).")
    return "\n".join([title, "", head, sep, *body, "", *notes, ""])


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.generic, torch.Tensor)):
        return obj.item()
    return obj
