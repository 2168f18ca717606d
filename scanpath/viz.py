"""Figures: scanpath overlays on the stimulus (or a blank canvas of ``image_size``) and metric tables.

Matplotlib with the Agg backend; every figure is written by :func:`save_figure` (atomically, through
:func:`scanpath.io.atomic.atomic_save_figure`), which stamps the run's labels — SYNTHETIC data,
untrained rows — on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scanpath.io.atomic import atomic_save_figure  # noqa: E402
from scanpath.types import Scanpath  # noqa: E402

_COLOURS = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan", "tab:olive", "tab:brown"]


def _to_hwc(image: Any) -> np.ndarray | None:
    if image is None:
        return None
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return np.clip(arr, 0, 1) if arr.dtype.kind == "f" else arr


#: ``gid`` of the text :func:`stamp_labels` adds (tests find it among the figure's texts)
LABEL_GID = "scanpath-run-labels"


def stamp_labels(fig: Any, labels: Sequence[str]) -> Any:
    """Stamp the run's labels (SYNTHETIC data, untrained rows; :func:`scanpath.evaluation.report.run_labels`)
    above the figure in white on red, so a copied figure never loses them. Returns the text (or None)."""
    text = "  ·  ".join(str(x) for x in labels if x)
    if not text:
        return None
    return fig.text(0.5, 1.0, text, ha="center", va="bottom", fontsize=8, color="white", fontweight="bold",
                    bbox={"facecolor": "#b00020", "edgecolor": "none", "pad": 3}, gid=LABEL_GID, wrap=True)


def save_figure(fig: Any, path: str | Path, labels: Sequence[str] = (), **kwargs: Any) -> Path:
    """The one figure writer: stamp ``labels``, write ``fig`` atomically and free it (figures of long
    runs must not pile up in memory). A stamped figure is saved with a tight box so the label shows."""
    try:
        if stamp_labels(fig, labels) is not None:
            kwargs.setdefault("bbox_inches", "tight")
        atomic_save_figure(fig, path, **kwargs)
    finally:
        plt.close(fig)
    return Path(path)


def draw_scanpath(ax: Any, sp: Scanpath, colour: str, label: str | None = None, numbers: bool = True) -> None:
    """Saccade lines plus fixation discs (area ∝ duration when known), numbered in order."""
    if len(sp) == 0:
        ax.plot([], [], color=colour, label=f"{label} (empty)" if label else None)
        return
    sizes = 60.0 if sp.duration is None else 20 + 120 * np.clip(sp.duration / 400.0, 0, 3)
    ax.plot(sp.x, sp.y, "-", color=colour, lw=1.5, alpha=0.8, label=label)
    ax.scatter(sp.x, sp.y, s=sizes, color=colour, alpha=0.6, edgecolors="white", linewidths=0.8, zorder=3)
    if numbers:
        for i, (x, y) in enumerate(zip(sp.x, sp.y)):
            ax.annotate(str(i + 1), (x, y), color="white", fontsize=6, ha="center", va="center", zorder=4)


def scanpath_figure(
    groups: Mapping[str, Sequence[Scanpath]],
    image: Any = None,
    image_size: Sequence[int] | None = None,
    title: str = "",
    max_per_group: int = 5,
    bbox: Sequence[float] | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
    units: str = "px",
) -> Any:
    """One panel per group (e.g. ``{"Human": [...], "model": [...]}``) over the image, or over the
    drawn object layout (``boxes``) / a blank canvas; the target box is outlined; each panel title says
    how many of the group's scanpaths are shown; legends sit below the data."""
    img = _to_hwc(image)
    if image_size is None:
        for sps in groups.values():
            for s in sps:
                if s.image_size is not None:
                    image_size = s.image_size
                    break
    if image_size is None and img is not None:
        image_size = (img.shape[1], img.shape[0])
    if image_size is None:
        raise ValueError("scanpath_figure needs image_size or an image")
    if bbox is None:
        bbox = next((s.extra.get("bbox") for sps in groups.values() for s in sps if s.extra.get("bbox") is not None), None)
    w, h = int(image_size[0]), int(image_size[1])
    n = max(1, len(groups))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.2 * h / w + 1.4), squeeze=False)
    for ax, (name, sps) in zip(axes[0], groups.items()):
        sps = list(sps)
        if img is not None:
            ax.imshow(img, extent=(0, w, h, 0), cmap="gray" if img.ndim == 2 else None)
        else:
            ax.add_patch(plt.Rectangle((0, 0), w, h, color="0.92"))
            for b in boxes or []:  # object boxes (x0, y0, x1, y1)
                ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, color="0.6", lw=0.6))
        if bbox is not None:
            ax.add_patch(plt.Rectangle((bbox[0], bbox[1]), bbox[2], bbox[3], fill=False, color="gold", lw=1.8,
                                       label="target"))
        shown = sps[:max_per_group]
        for i, sp in enumerate(shown):
            label = f"subject {sp.subject}" if name == "Human" else (f"{name} #{i + 1}" if len(sps) > 1 else name)
            draw_scanpath(ax, sp, _COLOURS[i % len(_COLOURS)], label=label)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_aspect("equal")
        ax.set_title(f"{name} ({len(shown)} of {len(sps)} shown)" if len(sps) > len(shown) else
                     f"{name} ({len(sps)})", fontsize=9)
        ax.set_xlabel(f"x ({units})", fontsize=7)
        ax.set_ylabel(f"y ({units})", fontsize=7)
        ax.tick_params(labelsize=6)
        if sps or bbox is not None:
            ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_scanpath_figure(path: str | Path, groups: Mapping[str, Sequence[Scanpath]], labels: Sequence[str] = (),
                         **kwargs: Any) -> Path:
    return save_figure(scanpath_figure(groups, **kwargs), path, labels, dpi=110)


def metric_table_figure(
    rows: Mapping[str, Mapping[str, str]], columns: Sequence[str], footer: str = "", title: str = "",
    max_columns: int = 8,
) -> Any:
    """A metric table (already formatted cells) as a figure, split into stacked panels of at most
    ``max_columns`` columns (no 3,000-px strips), with the settings footer below."""
    chunks = [list(columns[i:i + max_columns]) for i in range(0, max(len(columns), 1), max_columns)] or [[]]
    n_footer = footer.count("\n") + 1 if footer else 0
    panel_h = 0.3 * (len(rows) + 1) + 0.25
    footer_h = 0.16 * n_footer
    width = max(6.0, 1.5 * (min(len(columns), max_columns) + 2.5))
    fig = plt.figure(figsize=(width, panel_h * len(chunks) + footer_h + 0.5))
    total = panel_h * len(chunks) + footer_h + 0.5
    for k, cols in enumerate(chunks):
        top = 1 - (0.4 + k * panel_h) / total
        ax = fig.add_axes([0.0, top - (panel_h - 0.25) / total, 1.0, (panel_h - 0.25) / total])
        ax.axis("off")
        cell_text = [[rows[r].get(c, "–") for c in cols] for r in rows]
        frac = 0.74 * len(cols) / max(1, min(len(columns), max_columns))
        table = ax.table(cellText=cell_text, rowLabels=list(rows), colLabels=cols, bbox=[0.25, 0.0, frac, 1.0])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    if footer:
        fig.text(0.01, footer_h / total, footer, fontsize=6, va="top", family="monospace")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def save_metric_table(path: str | Path, rows: Mapping[str, Mapping[str, str]], columns: Sequence[str],
                      footer: str = "", title: str = "", labels: Sequence[str] = ()) -> Path:
    return save_figure(metric_table_figure(rows, columns, footer, title), path, labels, dpi=130, bbox_inches="tight")


def learning_curve_figure(metrics_csv: str | Path, keys: Sequence[str] = ("val/loss", "train/loss"),
                          monitor: str | None = None, title: str = "") -> Any:
    """Per-epoch curves from a Lightning ``metrics.csv``: losses on the left, the monitored metric right."""
    import csv

    rows = list(csv.DictReader(open(metrics_csv, encoding="utf-8")))
    by_epoch: dict[str, dict[int, float]] = {}
    for r in rows:
        if not r.get("epoch"):
            continue
        e = int(float(r["epoch"]))
        for k, v in r.items():
            if k != "epoch" and v not in (None, ""):
                try:
                    by_epoch.setdefault(k, {})[e] = float(v)
                except ValueError:
                    continue
    panels = [list(keys)] + ([[monitor]] if monitor and monitor not in keys else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.4), squeeze=False)
    for ax, group in zip(axes[0], panels):
        for k in group:
            series = by_epoch.get(k) or by_epoch.get(f"{k}_epoch")
            if series:
                xs = sorted(series)
                ax.plot(xs, [series[x] for x in xs], "o-", label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel(", ".join(group))
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_learning_curve(path: str | Path, metrics_csv: str | Path, labels: Sequence[str] = (), **kwargs: Any) -> Path:
    return save_figure(learning_curve_figure(metrics_csv, **kwargs), path, labels, dpi=110)
