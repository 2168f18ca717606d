"""Evaluate a scanpath model: ``python evaluate.py model=<name> data=<name> [ckpt_path=...]``.

Flow: instantiate data + model (zero-shot, or weights from ``ckpt_path``) → ``trainer.predict`` on one
query per evaluation key of the test split → score against the human scanpaths with
``scanpath.metrics.score_scanpaths`` and ``cfg.metrics`` → the same for every configured baseline →
human-consistency row (leave one subject out, ``scanpath.metrics.human_consistency``) → write into
the Hydra run dir: ``predictions.json`` (+ ``.meta.json`` sidecar; baselines as
``predictions_<name>.json``), ``metrics.json`` (every value with its params and the settings block),
``metrics.md`` (table + settings footer, also printed with rich) and PNG figures (scanpath overlays
for a few stimuli, the metric table).

Flows that are not "predict scanpaths then score them" set ``runner`` (a ``_partial_: true``
callable ``runner(cfg, output_dir) -> dict``); evaluate.py then calls it instead and prints the
``"table"`` it returns (or the dict itself).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

import scanpath  # noqa: E402
from scanpath.io.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from scanpath.io.coco import prediction_records, write_coco_json, write_predictions  # noqa: E402
from scanpath.types import Scanpath, ScanpathBatch, group_by_stimulus  # noqa: E402
from scanpath.utils import SYNTHETIC_BANNER, instantiate_callbacks, print_banner  # noqa: E402

log = logging.getLogger("scanpath.evaluate")
HUMAN_ROW = "Human"


# ------------------------------------------------------------------------------------ prediction
def make_trainer(cfg: DictConfig) -> pl.Trainer:
    """A fresh predict-only trainer (fresh callbacks: progress bars cannot be shared between trainers)."""
    return instantiate(
        cfg.trainer,
        callbacks=instantiate_callbacks(cfg.get("callbacks")),
        logger=False,
        enable_checkpointing=False,
        inference_mode=bool(cfg.get("inference_mode", True)),
    )


def predict(cfg: DictConfig, model: pl.LightningModule, datamodule: Any, ckpt_path: str | None = None) -> list[Scanpath]:
    """``trainer.predict`` → flat list of predicted :class:`Scanpath` (original-stimulus pixels)."""
    trainer = make_trainer(cfg)
    batches = trainer.predict(model, datamodule=datamodule, ckpt_path=ckpt_path)
    out: list[Scanpath] = []
    for b in batches or []:
        if not isinstance(b, ScanpathBatch):
            raise TypeError(f"{type(model).__name__}.predict_step must return a ScanpathBatch, got {type(b).__name__}")
        out.extend(b.to_list())
    return out


def predict_samples(datamodule: Any) -> Any:
    """The predict dataset when it is indexable (fully loaded samples), else the raw query samples."""
    ds = datamodule.predict_dataloader().dataset
    try:
        len(ds)
        return ds
    except TypeError:  # iterable dataset
        return datamodule.query_samples("test")


def first_sample(datamodule: Any) -> dict[str, Any]:
    """One fully loaded predict sample (what a model will see), for ``skip_reason`` checks."""
    ds = predict_samples(datamodule)
    if len(ds) == 0:
        raise ValueError(f"dataset {getattr(datamodule, 'name', '?')} has no test samples to evaluate")
    return ds[0]


# ------------------------------------------------------------------------------------- settings
def _sha256(path: str | Path) -> str | None:
    p = Path(str(path))
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _collapse(per_metric: Mapping[str, Any], unused: str = "n/a (no configured metric uses it)") -> Any:
    """One value when all metrics agree, else ``{metric: value}``."""
    if not per_metric:
        return unused
    vals = list(per_metric.values())
    if all(json.dumps(v, sort_keys=True, default=str) == json.dumps(vals[0], sort_keys=True, default=str) for v in vals):
        return vals[0]
    return dict(per_metric)


def _metric_name(entry: str, params: Mapping[str, Any]) -> str:
    return str(params.get("metric", entry))


def settings_block(
    cfg: DictConfig,
    results: Mapping[str, Mapping[str, Any]],
    datamodule: Any,
    humans: Sequence[Scanpath],
    samples_per_image: int,
) -> dict[str, Any]:
    """The settings every reported number carries (specs/metrics.md §4)."""
    params = {e: dict(r.get("params") or {}) for e, r in results.items()}

    def collect(fn: Any) -> dict[str, Any]:
        out = {}
        for e, p in params.items():
            v = fn(e, p)
            if v is not None:
                out[e] = v
        return out

    frame = collect(lambda e, p: (p.get("frame") or "original stimulus pixels") if "frame" in p else None)
    trunc = collect(
        lambda e, p: {"pred": p.get("truncate_pred"), "gt": p.get("truncate_gt"),
                      "cut_at_target": bool(p.get("cut_at_target", False))} if "truncate_pred" in p else None
    )

    def cluster(e: str, p: Mapping[str, Any]) -> Any:
        if p.get("labeler") != "cluster":
            return None
        path = p.get("cluster_file") or p.get("cluster_path")
        if p.get("trust_pickle"):
            return "upstream pickle"
        if not path:
            return {"path": None, "builder": "built from the evaluated human scanpaths (deterministic MeanShift)"}
        return {"path": str(path), "sha256": _sha256(path)}

    def padding_of(name: str) -> Any:
        v = collect(lambda e, p: p.get("short_policy", "nan") if _metric_name(e, p) == name else None)
        return _collapse(v, "not used")

    human_params = collect(lambda e, p: bool(p.get("include_self", False)) if "include_self" in p else None)
    files = getattr(datamodule, "annotations", None)
    files = [files] if isinstance(files, (str, Path)) else list(files or [])
    test_json = json.dumps([_plain_record(s) for s in humans], sort_keys=True, default=str).encode()
    return {
        "dataset": getattr(datamodule, "name", type(datamodule).__name__),
        "synthetic": bool(getattr(datamodule, "synthetic", False)),
        "split": "test",
        "eval_key": getattr(datamodule, "eval_key", "stimulus"),
        "coordinates": "pixels of the original stimulus (degrees yaw/pitch for 360°)",
        "frame": _collapse(frame),
        "truncation": _collapse(trunc),
        "cluster_source": _collapse(collect(cluster), "not used"),
        "padding": {"multimatch": padding_of("multimatch"), "scanmatch": padding_of("scanmatch")},
        "mm_tie_break": _collapse(collect(lambda e, p: p.get("tie_break") if _metric_name(e, p) == "multimatch" else None), "not used"),
        "duration_policy": _collapse(collect(lambda e, p: p.get("duration_policy")), "not used"),
        "pair_reduce": _collapse(collect(lambda e, p: p.get("pair_reduce"))),
        "key_reduce": _collapse(collect(lambda e, p: p.get("key_reduce"))),
        "human_consistency": {
            "computed": bool(cfg.get("human_consistency", True)),
            "loso": True,
            "include_self": _collapse(human_params, False),
        },
        "test_file_sha256": {str(f): _sha256(f) for f in files if _sha256(f)} or None,
        "test_set_sha256": hashlib.sha256(test_json).hexdigest(),
        "n_human_scanpaths": len(humans),
        "n_keys": len(group_by_stimulus(humans) if getattr(datamodule, "eval_key", "stimulus") == "stimulus"
                      else {(s.condition, s.task, s.stimulus) for s in humans}),
        "samples_per_image": samples_per_image,
        "seed": cfg.get("seed"),
        "library_version": scanpath.__version__,
    }


def _plain_record(s: Scanpath) -> dict[str, Any]:
    return {"stimulus": s.stimulus, "subject": s.subject, "task": s.task, "condition": s.condition,
            "x": s.x.tolist(), "y": s.y.tolist(), "d": None if s.duration is None else s.duration.tolist()}


# -------------------------------------------------------------------------------------- tables
def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    return f"{f:.3f}" if abs(f) < 1000 else f"{f:.1f}"


def _arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def table_columns(rows: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(column title, metric entry, sub-dimension or None) in metric-config order."""
    cols: list[tuple[str, str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for row in rows.values():
        for entry, res in (row.get("metrics") or {}).items():
            if (entry, None) not in seen:
                seen.add((entry, None))
                cols.append((f"{entry}{_arrow(res.get('higher_is_better'))}", entry, None))
            dirs = res.get("dim_higher_is_better") or {}
            for dim in (res.get("values") or {}):
                if (entry, dim) not in seen:
                    seen.add((entry, dim))
                    cols.append((f"{entry}.{dim}{_arrow(dirs.get(dim, res.get('higher_is_better')))}", entry, dim))
    return cols


def format_rows(rows: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], dict[str, dict[str, str]]]:
    cols = table_columns(rows)
    out: dict[str, dict[str, str]] = {}
    for name, row in rows.items():
        label = f"{name} ({row.get('role', '')})" if row.get("role") else name
        cells = {}
        for title, entry, dim in cols:
            res = (row.get("metrics") or {}).get(entry)
            if res is None:
                cells[title] = "–"
            else:
                cells[title] = _fmt(res.get("value") if dim is None else (res.get("values") or {}).get(dim))
        out[label] = cells
    return [c[0] for c in cols], out


def settings_footer(settings: Mapping[str, Any], skipped: Mapping[str, str]) -> str:
    lines = []
    if settings.get("synthetic"):
        lines.append(f"**{SYNTHETIC_BANNER}**")
    for k, v in settings.items():
        lines.append(f"- {k}: {json.dumps(v, default=str, ensure_ascii=False) if not isinstance(v, str) else v}")
    for name, reason in skipped.items():
        lines.append(f"- skipped {name}: {reason}")
    return "\n".join(lines)


def render_markdown(rows: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any], skipped: Mapping[str, str]) -> str:
    columns, cells = format_rows(rows)
    title = f"# Evaluation on {settings.get('dataset')} ({settings.get('split')} split)"
    if settings.get("synthetic"):
        title += f" — {SYNTHETIC_BANNER}"
    head = "| row | " + " | ".join(columns) + " |"
    sep = "|---|" + "---|" * len(columns)
    body = ["| " + label + " | " + " | ".join(c[col] for col in columns) + " |" for label, c in cells.items()]
    notes = (
        "Rows: the evaluated model, baselines scored the same way, and human consistency (each human "
        "scanpath scored against the other subjects of its key, never itself). ↑ higher is better, "
        "↓ lower is better; values are means over predictions (see metrics.json for n, NaN counts, params)."
    )
    return "\n".join([title, "", head, sep, *body, "", notes, "", "## Settings", "", settings_footer(settings, skipped), ""])


def print_rich(rows: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any], skipped: Mapping[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    columns, cells = format_rows(rows)
    title = f"{settings.get('dataset')} — test split"
    if settings.get("synthetic"):
        title += f" — {SYNTHETIC_BANNER}"
    table = Table(title=title, caption="settings: see metrics.md / metrics.json", show_lines=False)
    table.add_column("row", style="bold")
    for c in columns:
        table.add_column(c, justify="right")
    for label, c in cells.items():
        table.add_row(label, *[c[col] for col in columns])
    console = Console(width=None if Console().is_terminal else 240)
    console.print(table)
    console.print(settings_footer(settings, skipped), markup=False, highlight=False)


# ------------------------------------------------------------------------------------- figures
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "stimulus"


def save_figures(cfg: DictConfig, out_dir: Path, datamodule: Any, humans: Sequence[Scanpath],
                 predictions: Sequence[Scanpath], model_name: str) -> list[Path]:
    """Overlays of human and model scanpaths for the first ``n_figures`` test stimuli."""
    from scanpath.viz import save_scanpath_figure

    n = int(cfg.get("n_figures", 0) or 0)
    if n <= 0:
        return []
    by_h = group_by_stimulus(humans)
    by_p = group_by_stimulus(predictions)
    images: dict[str, Any] = {}
    ds = predict_samples(datamodule)
    paths = []
    for i in range(len(ds)):
        if len(paths) >= n:
            break
        sample = ds[i]
        stim = str(sample.get("stimulus", ""))
        if stim in images or stim not in by_h:
            continue
        images[stim] = sample.get("image")
        size = sample.get("image_size")
        path = out_dir / "figures" / f"scanpaths_{len(paths):02d}_{_safe(stim)}.png"
        title = f"{stim}" + (f" — {SYNTHETIC_BANNER}" if getattr(datamodule, "synthetic", False) else "")
        save_scanpath_figure(path, {HUMAN_ROW: by_h.get(stim, []), model_name: by_p.get(stim, [])},
                             image=images[stim], image_size=tuple(size) if size is not None else None, title=title)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------- main
def _display_name(model: Any, fallback: str) -> str:
    name = getattr(model, "display_name", None)
    return name if name and name not in ("model", "baseline") else fallback


def run_runner(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """The evaluation-runner hook (eccNET asymmetry, 360° success rates …)."""
    runner = instantiate(cfg.runner)
    result = runner(cfg, out_dir)
    if not isinstance(result, Mapping):
        raise TypeError(f"runner must return a dict, got {type(result).__name__}")
    from rich.console import Console

    table = result.get("table")
    Console().print(table if table is not None else json.dumps(result, indent=2, default=str), markup=False)
    return dict(result)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Predict, score and write every output; returns the metrics.json payload."""
    from rich.progress import Progress

    from scanpath.metrics import human_consistency, score_scanpaths

    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("runner"):
        return run_runner(cfg, out_dir)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("predict")
    synthetic = bool(getattr(datamodule, "synthetic", False))
    if synthetic:
        print_banner(f"{SYNTHETIC_BANNER}: dataset {getattr(datamodule, 'name', '?')}")
    key = getattr(datamodule, "eval_key", "stimulus")
    humans = datamodule.human_scanpaths("test")
    sample = first_sample(datamodule)
    metrics_cfg = OmegaConf.to_container(cfg.metrics, resolve=True) if cfg.get("metrics") else {}

    model = instantiate(cfg.model)
    reason = model.skip_reason(sample) if hasattr(model, "skip_reason") else None
    if reason:
        raise ValueError(f"model cannot run on dataset {getattr(datamodule, 'name', '?')}: {reason}")
    ckpt = cfg.get("ckpt_path")
    if ckpt and not Path(str(ckpt)).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt}: file not found")

    entries: list[tuple[str, str, Any, str | None, str]] = []  # (row name, role, model, ckpt, config key)
    model_name = _display_name(model, str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1])
    entries.append((model_name, "model", model, str(ckpt) if ckpt else None, "model"))
    skipped: dict[str, str] = {}
    for bname, bcfg in (cfg.get("baselines") or {}).items():
        if bcfg is None:
            continue
        if OmegaConf.to_container(bcfg, resolve=True) == OmegaConf.to_container(cfg.model, resolve=True) and not ckpt:
            skipped[str(bname)] = "identical to the evaluated model"
            continue
        bmodel = instantiate(bcfg)
        name = _display_name(bmodel, str(bname))
        if name in {e[0] for e in entries}:
            name = f"{name} [{bname}]"
        why = bmodel.skip_reason(sample) if hasattr(bmodel, "skip_reason") else None
        if why:
            skipped[name] = why
            log.warning("skipping baseline %s: %s", name, why)
            continue
        entries.append((name, "baseline", bmodel, None, f"baselines.{bname}"))

    # 1) predictions (the trainer draws its own progress bar)
    predicted: list[tuple[str, str, Any, str | None, str, list[Scanpath]]] = []
    for name, role, m, m_ckpt, conf_key in entries:
        log.info("predicting: %s (%s)", name, role)
        predicted.append((name, role, m, m_ckpt, conf_key, predict(cfg, m, datamodule, m_ckpt)))

    # 2) scoring, then the human-consistency row
    rows: dict[str, dict[str, Any]] = {}
    model_predictions: list[Scanpath] = []
    meta = {"dataset": getattr(datamodule, "name", None), "synthetic": synthetic, "eval_key": key}
    do_human = bool(cfg.get("human_consistency", True))
    with Progress(transient=True) as progress:
        task = progress.add_task("scoring", total=len(predicted) + int(do_human))
        for name, role, m, m_ckpt, conf_key, preds in predicted:
            progress.update(task, description=f"scoring {name}")
            scores = score_scanpaths(preds, humans, metrics_cfg, key=key)
            spi = int(getattr(m, "samples_per_stimulus", 1))
            rows[name] = {"role": role, "config": conf_key,
                          "target": OmegaConf.select(cfg, conf_key + "._target_"),
                          "checkpoint": m_ckpt, "samples_per_image": spi,
                          "n_predictions": len(preds), "metrics": scores}
            if role == "model":
                model_predictions = preds
                write_predictions(out_dir / "predictions.json", preds, humans, key=key, model=name,
                                  checkpoint=m_ckpt, sampling=str(getattr(m, "sampling", "default")),
                                  samples_per_image=spi, extra_meta=meta)
            else:
                write_coco_json(out_dir / f"predictions_{_safe(conf_key.split('.', 1)[-1])}.json",
                                prediction_records(preds, humans, key),
                                {"model": name, "samples_per_image": spi, **meta})
            progress.advance(task)
        if do_human:
            progress.update(task, description="scoring human consistency (leave one subject out)")
            rows[HUMAN_ROW] = {"role": "LOSO", "loso": True, "include_self": False,
                               "n_scanpaths": len(humans),
                               "metrics": human_consistency(humans, metrics_cfg, key=key)}
            progress.advance(task)

    all_results = {e: r for row in rows.values() for e, r in (row.get("metrics") or {}).items()}
    settings = settings_block(cfg, all_results, datamodule, humans, int(getattr(model, "samples_per_stimulus", 1)))
    payload = {"settings": settings, "rows": rows, "skipped": skipped}
    atomic_write_json(out_dir / "metrics.json", _json_safe(payload))
    md = render_markdown(rows, settings, skipped)
    atomic_write_text(out_dir / "metrics.md", md)
    print_rich(rows, settings, skipped)

    from scanpath.viz import save_metric_table

    columns, cells = format_rows(rows)
    footer = "\n".join(f"{k}: {v}" for k, v in settings.items() if k in (
        "dataset", "synthetic", "frame", "truncation", "pair_reduce", "human_consistency", "library_version"))
    save_metric_table(out_dir / "figures" / "metrics_table.png", cells, columns, footer=footer,
                      title=f"{settings['dataset']}" + (f" — {SYNTHETIC_BANNER}" if synthetic else ""))
    save_figures(cfg, out_dir, datamodule, humans, model_predictions, model_name)
    log.info("outputs written to %s", out_dir)
    return payload


def _json_safe(obj: Any) -> Any:
    """NaN/inf → null-free JSON is not required (the spec allows NaN), but numpy types must go."""
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return obj.item()
        except (ValueError, TypeError):
            return str(obj)
    return obj


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    finally:
        from scanpath.utils import close_loggers

        close_loggers()


if __name__ == "__main__":
    main()
