"""Send an evaluation's table, settings and figures to experiment loggers (built Lightning loggers).

``evaluate.py logger=wandb|tensorboard|csv|many_loggers`` builds the loggers of ``conf/logger/`` (the
ones training uses) and passes them here after the report is written; ``train.py`` passes its
trainer's loggers. Per logger:

* every logger: the settings block as hyperparameters, and each cell as a scalar
  ``eval/<row>/<column>`` (its SEM as ``eval/<row>/<column>/sem``);
* Weights & Biases: the table as a ``wandb.Table`` (``eval/metrics_table``) and each figure as an image;
* TensorBoard: the table as markdown text and each figure as an image;
* CSV: the table as ``metrics_table.csv`` and the figures copied under ``figures/`` of the logger's dir.

Nothing here reads a config: the entry points build the loggers.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanpath.evaluation.report import EvaluationResult, render_markdown, row_label, table_columns
from scanpath.io.atomic import atomic_open

log = logging.getLogger(__name__)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def table_records(result: EvaluationResult) -> tuple[list[str], list[list[Any]]]:
    """The metric table as numbers: ``row, role, n_stimuli`` then each column and its SEM."""
    cols = table_columns(result.rows)
    header = ["row", "role", "n_stimuli"]
    for title, _, _ in cols:
        header += [title, f"{title} SEM"]
    data = []
    for name, row in result.rows.items():
        line: list[Any] = [row_label(name, row), row.get("role"), row.get("n_stimuli")]
        for _, entry, dim in cols:
            res = (row.get("metrics") or {}).get(entry) or {}
            if dim is None:
                line += [_num(res.get("value")), _num(res.get("sem"))]
            else:
                line += [_num((res.get("values") or {}).get(dim)), _num((res.get("values_sem") or {}).get(dim))]
        data.append(line)
    return header, data


def scalar_metrics(result: EvaluationResult, prefix: str = "eval") -> dict[str, float]:
    """``{prefix/row/column: value, prefix/row/column/sem: SEM}`` for every finite cell."""
    out: dict[str, float] = {}
    for name, row in result.rows.items():
        for _, entry, dim in table_columns(result.rows):
            res = (row.get("metrics") or {}).get(entry) or {}
            col = entry if dim is None else f"{entry}.{dim}"
            v = _num(res.get("value") if dim is None else (res.get("values") or {}).get(dim))
            sem = _num(res.get("sem") if dim is None else (res.get("values_sem") or {}).get(dim))
            if v is not None:
                out[f"{prefix}/{name}/{col}"] = v
            if sem is not None:
                out[f"{prefix}/{name}/{col}/sem"] = sem
    return out


def flat_settings(settings: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    """Nested settings → ``{"a/b": scalar or str}`` (what every logger's hyperparameters accept)."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        key = f"{parent}/{k}" if parent else str(k)
        if isinstance(v, Mapping):
            out.update(flat_settings(v, key))
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = str(v)
    return out


def _figure_paths(result: EvaluationResult, run_dir: Path) -> list[Path]:
    return [run_dir / f for f in result.figures if (run_dir / f).suffix.lower() == ".png" and (run_dir / f).is_file()]


def _log_wandb(logger: Any, result: EvaluationResult, figures: Sequence[Path], prefix: str) -> None:
    header, data = table_records(result)
    logger.log_table(key=f"{prefix}/metrics_table", columns=header, data=data)
    for path in figures:
        logger.log_image(key=f"{prefix}/figures/{path.stem}", images=[str(path)])


def _log_tensorboard(logger: Any, result: EvaluationResult, figures: Sequence[Path], prefix: str) -> None:
    import matplotlib.image as mpimg

    writer = logger.experiment
    writer.add_text(f"{prefix}/metrics_table", render_markdown(result))
    for path in figures:
        img = mpimg.imread(str(path))
        writer.add_image(f"{prefix}/figures/{path.stem}", img[..., :3] if img.ndim == 3 else img,
                         dataformats="HWC" if img.ndim == 3 else "HW")
    writer.flush()


def _log_csv(logger: Any, result: EvaluationResult, figures: Sequence[Path]) -> None:
    folder = Path(logger.log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    header, data = table_records(result)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in line] for line in data])
    with atomic_open(folder / "metrics_table.csv", "w") as fh:
        fh.write(buf.getvalue())
    for path in figures:
        with atomic_open(folder / "figures" / path.name, "wb") as fh:
            fh.write(path.read_bytes())


def log_evaluation(result: EvaluationResult, run_dir: str | Path, loggers: Sequence[Any],
                   prefix: str = "eval") -> list[str]:
    """Log ``result`` (already written to ``run_dir``) to every logger; returns their class names."""
    run = Path(run_dir)
    figures = _figure_paths(result, run)
    scalars = scalar_metrics(result, prefix)
    done = []
    for lg in loggers:
        kind = type(lg).__name__
        lg.log_hyperparams(flat_settings(result.settings))
        if scalars:
            lg.log_metrics(scalars)
        if kind == "WandbLogger":
            _log_wandb(lg, result, figures, prefix)
        elif kind == "TensorBoardLogger":
            _log_tensorboard(lg, result, figures, prefix)
        elif kind == "CSVLogger":
            _log_csv(lg, result, figures)
        lg.save()
        done.append(kind)
        log.info("evaluation logged to %s (%d cells, %d figures)", kind, len(scalars), len(figures))
    return done


__all__ = ["flat_settings", "log_evaluation", "scalar_metrics", "table_records"]
