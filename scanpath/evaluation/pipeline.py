"""Predict → score → rows, for built objects: a datamodule, named models, the metric config.

:func:`evaluate_models` is the plain evaluation every flow starts from: each model and baseline
predicts one query per evaluation key of the test split, every prediction is scored against the
human scanpaths of its key (``scanpath.metrics.score_scanpaths``), the human-consistency row scores
each human against the other subjects of its key (leave one subject out), and predictions, overlays
and the :class:`~scanpath.evaluation.report.EvaluationResult` come back. Nothing here reads a Hydra
config: the entry points build the objects and pass them in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import scanpath
from scanpath.evaluation.manifest import file_sha256
from scanpath.evaluation.progress import track
from scanpath.evaluation.report import HUMAN_ROW, EvaluationResult, json_clean, run_labels, safe_name
from scanpath.io.coco import prediction_records, write_coco_json, write_predictions
from scanpath.types import Scanpath, ScanpathBatch, group_by_stimulus

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Entry:
    """One model to evaluate: its row name, the built model, its role and where its weights came from."""

    name: str
    model: Any
    role: str = "model"
    checkpoint: str | None = None
    config_key: str | None = None
    #: extra row fields (e.g. ``untrained: True`` for random-weight models)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


# ------------------------------------------------------------------------------------ prediction
def query_dataset(datamodule: Any) -> Any:
    """The predict dataset when indexable (fully loaded samples), else the raw query samples."""
    ds = datamodule.predict_dataloader().dataset
    try:
        len(ds)
        return ds
    except TypeError:  # iterable dataset
        return datamodule.query_samples("test")


def display_dataset(datamodule: Any) -> Any:
    """Samples to draw figures and the report from: the datamodule's lazy ``display_samples`` when it
    has them (an image left out of the loaders is still rendered for the few stimuli drawn), else
    the query dataset."""
    fn = getattr(datamodule, "display_samples", None)
    return fn("test") if callable(fn) else query_dataset(datamodule)


def first_sample(datamodule: Any) -> dict[str, Any]:
    """One fully loaded query sample (what a model will see), for ``skip_reason`` checks."""
    ds = query_dataset(datamodule)
    if len(ds) == 0:
        raise ValueError(f"dataset {getattr(datamodule, 'name', '?')} has no test samples to evaluate")
    return ds[0]


def _to_device(batch: Any, device: torch.device) -> Any:
    if device.type == "cpu":
        return batch
    from lightning_fabric.utilities.apply_func import move_data_to_device

    return move_data_to_device(batch, device)


def predict(model: Any, datamodule: Any, *, device: str | torch.device = "cpu", description: str | None = None,
            progress: bool = True) -> list[Scanpath]:
    """Predicted scanpaths (original-stimulus pixels) for every query of the test split."""
    device = torch.device(device)
    if isinstance(model, torch.nn.Module):
        model.to(device).eval()
    loader = datamodule.predict_dataloader()
    out: list[Scanpath] = []
    desc = description or f"predicting {getattr(model, 'display_name', type(model).__name__)}"
    with torch.no_grad():
        for batch in track(loader, description=desc, enabled=progress):
            res = model.predict_scanpaths(_to_device(batch, device))
            if not isinstance(res, ScanpathBatch):
                raise TypeError(f"{type(model).__name__}.predict_scanpaths must return a ScanpathBatch, "
                                f"got {type(res).__name__}")
            out.extend(res.to_list())
    return out


# ------------------------------------------------------------------------------------- settings
def test_set_sha256(humans: Sequence[Scanpath]) -> str:
    """A hash of the evaluated human scanpaths (ids and fixations), so two tables can be told comparable."""
    recs = [{"stimulus": s.stimulus, "subject": s.subject, "task": s.task, "condition": s.condition,
             "x": s.x.tolist(), "y": s.y.tolist(), "d": None if s.duration is None else s.duration.tolist()}
            for s in humans]
    return hashlib.sha256(json.dumps(recs, sort_keys=True, default=str).encode()).hexdigest()


def _collapse(per_metric: Mapping[str, Any], unused: str = "n/a (no configured metric uses it)") -> Any:
    """One value when all metrics agree, else ``{metric: value}``."""
    if not per_metric:
        return unused
    vals = list(per_metric.values())
    if all(json.dumps(v, sort_keys=True, default=str) == json.dumps(vals[0], sort_keys=True, default=str) for v in vals):
        return vals[0]
    return dict(per_metric)


def dataset_settings(datamodule: Any, humans: Sequence[Scanpath]) -> dict[str, Any]:
    """What identifies the evaluated data: name, synthetic flag, key, file and test-set hashes."""
    files = getattr(datamodule, "annotations", None)
    files = [files] if isinstance(files, (str, Path)) else list(files or [])
    return dataset_settings_of(getattr(datamodule, "name", type(datamodule).__name__), humans,
                               getattr(datamodule, "eval_key", "stimulus"), files=files,
                               synthetic=bool(getattr(datamodule, "synthetic", False)))


def dataset_settings_of(name: str, humans: Sequence[Scanpath], key: str, *, files: Sequence[Any] = (),
                        synthetic: bool = False, split: str = "test") -> dict[str, Any]:
    """:func:`dataset_settings` for data given as files (``scanpath.score``) rather than a datamodule."""
    return {
        "dataset": name,
        "synthetic": synthetic,
        "split": split,
        "eval_key": key,
        "coordinates": "pixels of the original stimulus (degrees yaw/pitch for 360°)",
        "test_file_sha256": {str(f): h for f in files if (h := file_sha256(f))} or None,
        "test_set_sha256": test_set_sha256(humans),
        "n_human_scanpaths": len(humans),
        "n_keys": len(group_by_stimulus(humans) if key == "stimulus"
                      else {(s.condition, s.task, s.stimulus) for s in humans}),
        "library_version": scanpath.__version__,
    }


def metric_settings(rows: Mapping[str, Mapping[str, Any]], human_consistency: bool) -> dict[str, Any]:
    """Frame, truncation, padding, reductions and cluster source, read from the scored params."""
    params = {e: dict(r.get("params") or {}) for row in rows.values() for e, r in (row.get("metrics") or {}).items()}

    def collect(fn: Any) -> dict[str, Any]:
        return {e: v for e, p in params.items() if (v := fn(e, p)) is not None}

    def name_of(e: str, p: Mapping[str, Any]) -> str:
        return str(p.get("metric", e))

    def cluster(e: str, p: Mapping[str, Any]) -> Any:
        if p.get("labeler") != "cluster":
            return None
        path = p.get("cluster_file") or p.get("cluster_path")
        if p.get("trust_pickle"):
            return "upstream pickle"
        if not path:
            return {"path": None, "builder": "built from the evaluated human scanpaths (deterministic MeanShift)"}
        return {"path": str(path), "sha256": file_sha256(path)}

    def padding_of(name: str) -> Any:
        return _collapse(collect(lambda e, p: p.get("short_policy", "nan") if name_of(e, p) == name else None), "not used")

    return {
        "frame": _collapse(collect(lambda e, p: (p.get("frame") or "original stimulus pixels") if "frame" in p else None)),
        "truncation": _collapse(collect(lambda e, p: {"pred": p.get("truncate_pred"), "gt": p.get("truncate_gt"),
                                                      "cut_at_target": bool(p.get("cut_at_target", False))}
                                        if "truncate_pred" in p else None)),
        "cluster_source": _collapse(collect(cluster), "not used"),
        "padding": {"multimatch": padding_of("multimatch"), "scanmatch": padding_of("scanmatch")},
        "mm_tie_break": _collapse(collect(lambda e, p: p.get("tie_break") if name_of(e, p) == "multimatch" else None),
                                  "not used"),
        "duration_policy": _collapse(collect(lambda e, p: p.get("duration_policy")), "not used"),
        "pair_reduce": _collapse(collect(lambda e, p: p.get("pair_reduce"))),
        "key_reduce": _collapse(collect(lambda e, p: p.get("key_reduce"))),
        "human_consistency": {
            "computed": bool(human_consistency), "loso": True,
            "include_self": _collapse(collect(lambda e, p: bool(p.get("include_self", False))
                                              if "include_self" in p else None), False),
        },
    }


# ------------------------------------------------------------------------------------- figures
def save_overlays(out_dir: Path, datamodule: Any, humans: Sequence[Scanpath],
                  predictions: Mapping[str, Sequence[Scanpath]], n_figures: int,
                  untrained: Sequence[str] = ()) -> list[str]:
    """Overlays of human and model scanpaths for the first ``n_figures`` test stimuli (relative paths),
    stamped with the run's labels (SYNTHETIC data; ``untrained`` rows among those shown)."""
    from scanpath.viz import save_scanpath_figure

    labels = run_labels(bool(getattr(datamodule, "synthetic", False)), [n for n in untrained if n in predictions])

    if n_figures <= 0:
        return []
    by_h = group_by_stimulus(humans)
    by_p = {name: group_by_stimulus(p) for name, p in predictions.items()}
    ds = display_dataset(datamodule)
    seen: set[str] = set()
    paths: list[str] = []
    for i in range(len(ds)):
        if len(paths) >= n_figures:
            break
        sample = ds[i]
        stim = str(sample.get("stimulus", ""))
        if stim in seen or stim not in by_h:
            continue
        seen.add(stim)
        size = sample.get("image_size")
        rel = Path("figures") / f"scanpaths_{len(paths):02d}_{safe_name(Path(stim).stem)}.png"
        task = by_h[stim][0].task
        title = stim + (f" — task: {task}" if task else "")  # SYNTHETIC / untrained: the stamped labels
        groups = {HUMAN_ROW: by_h.get(stim, []), **{n: p.get(stim, []) for n, p in by_p.items()}}
        boxes = sample.get("boxes")
        save_scanpath_figure(out_dir / rel, groups, labels, image=sample.get("image"),
                             image_size=tuple(size) if size is not None else None, title=title,
                             boxes=boxes.tolist() if hasattr(boxes, "tolist") else boxes)
        paths.append(str(rel))
    return paths


# ----------------------------------------------------------------------------------------- flow
def skip_reason(model: Any, sample: Mapping[str, Any]) -> str | None:
    """Why ``model`` cannot predict on samples like ``sample`` (None = it can)."""
    if not callable(getattr(model, "predict_scanpaths", None)):
        return (f"{type(model).__name__} is not an image scanpath model (a 360° head-rotation agent?): "
                "evaluate it with protocol=success360 on data=panoramas or data=hstar")
    fn = getattr(model, "skip_reason", None)
    return fn(dict(sample)) if callable(fn) else None


def score_predictions(name: str, preds: Sequence[Scanpath], humans: Sequence[Scanpath],
                      metrics: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``score_scanpaths`` for one model's predictions; a bad prediction raises naming the model (it is
    not a record of the user's file). Metrics the predictions cannot support come back skipped."""
    from scanpath.errors import ScanpathDataError
    from scanpath.metrics import score_scanpaths

    try:
        return score_scanpaths(preds, humans, metrics, key=key)
    except ScanpathDataError as exc:
        if exc.file is not None:  # the human data: the user's file, named as it is
            raise
        raise ScanpathDataError(f"{exc.message} (a prediction of model {name!r}, not a record of the data file)",
                                record=f"model {name}: {exc.record}", field=exc.field) from exc


def human_row(humans: Sequence[Scanpath], metrics: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The human-consistency row (leave one subject out)."""
    from scanpath.metrics import human_consistency

    return {"role": "human", "loso": True, "include_self": False, "n_predictions": len(humans),
            "metrics": human_consistency(humans, metrics, key=key)}


def observer_or_human(row: dict[str, Any], datamodule: Any) -> dict[str, Any]:
    """On SYNTHETIC data the human row is the simulated observer: role ``observer``."""
    if getattr(datamodule, "synthetic", False):
        row["role"] = "observer"
        row["note"] = "simulated observer (SYNTHETIC data), leave one subject out"
    return row


def fit_to_data(model: Any, datamodule: Any) -> None:
    """Let a baseline read what it takes from the data before predicting (``fit_length``: the median
    human length of the train split when ``n_fixations`` is not fixed by config), as ``setup`` does
    under a Lightning trainer — the plain pipeline predicts without one."""
    fit = getattr(model, "fit_length", None)
    if not callable(fit) or not hasattr(datamodule, "human_scanpaths"):
        return
    for split in ("train", "all", "test"):
        try:
            humans = datamodule.human_scanpaths(split)
        except (KeyError, ValueError):
            continue
        if humans:
            fit(humans)
            return


def prediction_digest(preds: Sequence[Scanpath]) -> str:
    """A hash of predicted scanpaths (keys, coordinates, durations): equal digests = identical rows."""
    h = hashlib.sha256()
    for s in preds:
        h.update(f"{s.condition}|{s.task}|{s.stimulus}|".encode())
        h.update(np.ascontiguousarray(s.xy, dtype=np.float64).tobytes())
        h.update(b"-" if s.duration is None else np.ascontiguousarray(s.duration, dtype=np.float64).tobytes())
    return h.hexdigest()


def check_unique_names(entries: Sequence[Entry]) -> None:
    """Two entries of one name would silently overwrite one table row: refuse, naming them."""
    seen: dict[str, Entry] = {}
    for e in entries:
        if e.name in seen:
            first = seen[e.name].config_key or seen[e.name].role
            raise ValueError(f"two evaluation entries are named {e.name!r} ({first} and {e.config_key or e.role}); "
                             "every row needs its own name")
        seen[e.name] = e


def evaluate_models(
    datamodule: Any,
    entries: Sequence[Entry],
    metrics: Mapping[str, Any],
    out_dir: str | Path,
    *,
    human_consistency: bool = True,
    n_figures: int = 4,
    device: str = "cpu",
    skipped: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    write_files: bool = True,
    progress: bool = True,
    n_stimuli: int = 6,
    skip_models: bool = False,
) -> EvaluationResult:
    """The plain flow: predict with every entry, score, add the human row, write predictions + overlays.

    A model that cannot run on the data raises, unless ``skip_models`` (leaderboards): then it is listed
    under ``skipped`` with the reason, as baselines always are."""
    out = Path(out_dir)
    metrics = json_clean(metrics) or {}
    datamodule.prepare_data()
    datamodule.setup("predict")
    key = getattr(datamodule, "eval_key", "stimulus")
    humans = datamodule.human_scanpaths("test")
    sample = first_sample(datamodule)
    skipped = dict(skipped or {})
    check_unique_names(entries)
    runnable: list[Entry] = []
    for e in entries:
        why = skip_reason(e.model, sample)
        if why:
            if e.role == "model" and not skip_models:
                raise ValueError(f"model {e.name} cannot run on dataset {getattr(datamodule, 'name', '?')}: {why}")
            skipped[e.name] = why
            log.warning("skipping %s: %s", e.name, why)
            continue
        runnable.append(e)

    meta = {"dataset": getattr(datamodule, "name", None), "synthetic": bool(getattr(datamodule, "synthetic", False)),
            "eval_key": key}
    rows: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[Scanpath]] = {}
    first_model = True
    digests: dict[str, str] = {}
    for e in runnable:
        try:
            fit_to_data(e.model, datamodule)
            preds = predict(e.model, datamodule, device=device, progress=progress)
        except Exception as exc:  # leaderboards report a model that fails on this data instead of stopping
            if not (skip_models and e.role == "model"):
                raise
            skipped[e.name] = f"failed while predicting: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:240]}"
            log.warning("skipping %s: %s", e.name, skipped[e.name])
            continue
        digest = prediction_digest(preds)
        twin = next((n for n, d in digests.items() if d == digest), None)
        if twin is not None:  # e.g. a "T=10" baseline row equal to the default one: never the same row twice
            skipped[e.name] = f"identical predictions to the row {twin!r}: not repeated in the table"
            log.warning("not repeating %s: %s", e.name, skipped[e.name])
            continue
        digests[e.name] = digest
        log.info("scoring %s (%d predictions)", e.name, len(preds))
        spi = int(getattr(e.model, "samples_per_stimulus", 1))
        rows[e.name] = {**e.extra, "role": e.role, "config": e.config_key, "checkpoint": e.checkpoint,
                        "samples_per_image": spi, "n_predictions": len(preds),
                        "metrics": score_predictions(e.name, preds, humans, metrics, key)}
        predictions[e.name] = preds
        if write_files:
            if e.role == "model" and first_model:
                write_predictions(out / "predictions.json", preds, humans, key=key, model=e.name,
                                  checkpoint=e.checkpoint, sampling=str(getattr(e.model, "sampling", "default")),
                                  samples_per_image=spi, extra_meta=meta)
                first_model = False
            else:
                suffix = safe_name((e.config_key or e.name).split(".", 1)[-1])
                write_coco_json(out / f"predictions_{suffix}.json", prediction_records(preds, humans, key),
                                {"model": e.name, "samples_per_image": spi, **meta})
    if human_consistency:
        log.info("scoring human consistency (leave one subject out, %d scanpaths)", len(humans))
        rows[HUMAN_ROW] = observer_or_human(human_row(humans, metrics, key), datamodule)
    model_spi = next((int(getattr(e.model, "samples_per_stimulus", 1)) for e in runnable if e.role == "model"), 1)
    block = {**dataset_settings(datamodule, humans), "protocol": "plain", **metric_settings(rows, human_consistency),
             "samples_per_image": model_spi, **dict(settings or {})}
    figures: list[str] = []
    model_preds = {n: p for n, p in predictions.items() if rows[n]["role"] == "model"}
    if write_files:
        figures = save_overlays(out, datamodule, humans, model_preds, n_figures,
                                untrained=[n for n, r in rows.items() if r.get("untrained")])
    return EvaluationResult(settings=block, rows=rows, skipped=skipped, figures=figures,
                            stimuli=report_stimuli(datamodule, humans, predictions, n_stimuli))


def report_stimuli(datamodule: Any, humans: Sequence[Scanpath], predictions: Mapping[str, Sequence[Scanpath]],
                   n_stimuli: int) -> list[dict[str, Any]]:
    """Playback records of the first ``n_stimuli`` test stimuli for report.html."""
    from scanpath.evaluation.html_report import stimulus_records

    if n_stimuli <= 0:
        return []
    ds = display_dataset(datamodule)
    samples = (ds[i] for i in range(len(ds)))
    return stimulus_records(samples, humans, predictions, n_stimuli=n_stimuli,
                            key=getattr(datamodule, "eval_key", "stimulus"))
