"""Score anyone's predictions in one call: a predictions file against a human fixation file.

``scanpath.score(predictions, humans, metrics="hat")`` (and ``python -m scanpath score``) reads
COCO-Search18-style files — ours, HAT's ``predictions_TP.json``, Gazeformer's and IRL's prediction
files (``subject``, ``T``, ``length`` optional, extra keys kept) — scores them with a metric preset
of ``conf/metrics/<name>.yaml`` through the same scorer as ``evaluate.py`` (each prediction against the
human scanpaths of its key, plus the leave-one-subject-out human row) and writes the same outputs
through :func:`scanpath.evaluation.write_report`: ``metrics.json`` (one schema), ``metrics.md``, the PNG
table and ``report.html`` (scanpath playback without images). See docs/scoring.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanpath.resources import config_dir
from scanpath.types import Scanpath, scanpath_key

log = logging.getLogger(__name__)


def metric_presets() -> list[str]:
    """Names of the shipped metric presets (``conf/metrics/*.yaml``)."""
    return sorted(p.stem for p in (config_dir() / "metrics").glob("*.yaml"))


def load_metrics_preset(metrics: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A preset name (``hat``), a path to a metrics YAML, or a ``{entry: params}`` mapping → plain dict."""
    from omegaconf import OmegaConf

    if isinstance(metrics, Mapping):
        return dict(OmegaConf.to_container(OmegaConf.create(dict(metrics)), resolve=True))  # type: ignore[arg-type]
    path = Path(str(metrics))
    if not path.suffix:
        path = config_dir() / "metrics" / f"{metrics}.yaml"
        if not path.is_file():
            raise ValueError(f"unknown metric preset {metrics!r}; known: {', '.join(metric_presets())} "
                             "(or pass a path to a metrics YAML)")
    elif not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: a metrics file is a mapping {{entry: params}}")
    return cfg  # type: ignore[return-value]


def _fill_from_humans(preds: Sequence[Scanpath], humans: Sequence[Scanpath]) -> list[Scanpath]:
    """Task / condition / target box of predictions that lack them, from the humans of the same
    stimulus (and task) — HAT-style files may omit the condition."""
    import dataclasses

    by_st: dict[tuple[str, Any], Scanpath] = {}
    for h in humans:
        by_st.setdefault((h.stimulus, h.task), h)
        by_st.setdefault((h.stimulus, None), h)
    out = []
    for p in preds:
        h = by_st.get((p.stimulus, p.task)) or (by_st.get((p.stimulus, None)) if p.task is None else None)
        if h is None:
            out.append(p)
            continue
        extra = dict(p.extra)
        if extra.get("bbox") is None and h.extra.get("bbox") is not None:
            extra["bbox"] = h.extra["bbox"]
            if p.image_size is not None and h.image_size is not None and tuple(p.image_size) != tuple(h.image_size):
                sx, sy = p.image_size[0] / h.image_size[0], p.image_size[1] / h.image_size[1]
                bx, by, bw, bh = (float(v) for v in h.extra["bbox"])
                extra["bbox"] = [bx * sx, by * sy, bw * sx, bh * sy]
        out.append(dataclasses.replace(p, task=p.task if p.task is not None else h.task,
                                       condition=p.condition if p.condition is not None else h.condition,
                                       extra=extra))
    return out


def _read(obj: Any, *, predictions: bool, frame: tuple[int, int] | None) -> tuple[list[Scanpath], dict[str, Any]]:
    from scanpath.io.coco import read_coco_json, read_sidecar

    if isinstance(obj, (str, Path)):
        meta = read_sidecar(obj) or {}
        size = None if meta.get("frame") else frame
        return read_coco_json(obj, image_size=size, predictions=predictions), {"path": str(obj), **meta}
    return list(obj), {}


def score(
    predictions: str | Path | Sequence[Scanpath],
    humans: str | Path | Sequence[Scanpath],
    metrics: str | Path | Mapping[str, Any] = "hat",
    *,
    frame: Any = None,
    humans_frame: Any = None,
    key: str | None = None,
    model: str | None = None,
    out_dir: str | Path | None = None,
    human_consistency: bool = True,
    console: bool = False,
    n_stimuli: int = 6,
) -> dict[str, Any]:
    """Score ``predictions`` against ``humans`` with a metric preset; returns the ``metrics.json`` payload.

    ``predictions`` / ``humans``: COCO-Search18-style JSON files or lists of :class:`Scanpath`.
    ``frame`` (``"512x320"`` or ``(W, H)``): the predictions file's pixel frame when it has no sidecar
    saying so (HAT / Gazeformer write 512×320); ``humans_frame`` likewise for the human file (default:
    its sidecar, else COCO-Search18's 1680×1050). ``key``: ``task`` (condition-task-stimulus) when the
    records carry tasks, else ``stimulus``. Only the humans of the predicted keys are scored. With
    ``out_dir`` the evaluate.py outputs are written there.
    """
    from scanpath.evaluation.html_report import stimulus_records
    from scanpath.evaluation.pipeline import dataset_settings_of, human_row, metric_settings, score_predictions
    from scanpath.evaluation.report import HUMAN_ROW, EvaluationResult, write_report
    from scanpath.io.coco import parse_frame

    hum, hmeta = _read(humans, predictions=False, frame=parse_frame(humans_frame))
    preds, pmeta = _read(predictions, predictions=True, frame=parse_frame(frame))
    if not preds:
        raise ValueError("no predictions to score")
    preds = _fill_from_humans(preds, hum)
    if key is None:
        key = "task" if all(s.task is not None for s in preds) and all(s.task is not None for s in hum) else "stimulus"
    keys = {scanpath_key(s, key) for s in preds}
    hum = [h for h in hum if scanpath_key(h, key) in keys]
    if not hum:
        raise ValueError(f"no human scanpath shares a key ({key}) with the predictions: check that the files "
                         "describe the same stimuli (and tasks / conditions)")
    cfg = load_metrics_preset(metrics)
    human_keys = {scanpath_key(h, key) for h in hum}
    name = model or pmeta.get("model") or (Path(pmeta["path"]).stem if pmeta.get("path") else "model")
    per_key: dict[str, int] = {}
    for s in preds:
        per_key[scanpath_key(s, key)] = per_key.get(scanpath_key(s, key), 0) + 1
    spi = max(per_key.values())
    rows: dict[str, dict[str, Any]] = {
        name: {"role": "model", "predictions_file": pmeta.get("path"), "samples_per_image": spi,
               "n_predictions": len(preds), "metrics": score_predictions(name, preds, hum, cfg, key)}}
    if human_consistency:
        rows[HUMAN_ROW] = human_row(hum, cfg, key)
    settings = {**dataset_settings_of(Path(hmeta["path"]).name if hmeta.get("path") else "humans", hum, key,
                                      files=[p for p in (hmeta.get("path"), pmeta.get("path")) if p], split="as given"),
                "protocol": "score", "metrics_preset": str(metrics) if not isinstance(metrics, Mapping) else "custom",
                "predictions_frame": list(preds[0].image_size) if preds[0].image_size else None,
                "n_unmatched_predictions": sum(scanpath_key(s, key) not in human_keys for s in preds),
                **metric_settings(rows, human_consistency), "samples_per_image": spi}
    first = {}
    for h in hum:
        first.setdefault(scanpath_key(h, key), h)
    samples = [{"stimulus": h.stimulus, "scanpath": h, "image_size": h.image_size} for h in first.values()]
    result = EvaluationResult(settings=settings, rows=rows,
                              stimuli=stimulus_records(samples, hum, {name: preds}, n_stimuli=n_stimuli, key=key))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return write_report(result, out_dir, console=console)
    return result.payload()


__all__ = ["score", "load_metrics_preset", "metric_presets", "config_dir"]
