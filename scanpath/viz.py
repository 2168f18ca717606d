"""Figures: scanpath overlays on the stimulus (or a blank canvas of ``image_size``) and metric tables.

Matplotlib with the Agg backend; every figure is written with :func:`scanpath.io.atomic.atomic_save_figure`.
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
    max_per_group: int = 3,
) -> Any:
    """One panel per group (e.g. ``{"Human": [...], "model": [...]}``) over the image or a blank canvas."""
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
    w, h = int(image_size[0]), int(image_size[1])
    n = max(1, len(groups))
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 4.0 * h / w + 0.6), squeeze=False)
    for ax, (name, sps) in zip(axes[0], groups.items()):
        if img is not None:
            ax.imshow(img, extent=(0, w, h, 0), cmap="gray" if img.ndim == 2 else None)
        else:
            ax.add_patch(plt.Rectangle((0, 0), w, h, color="0.92"))
        for i, sp in enumerate(list(sps)[:max_per_group]):
            draw_scanpath(ax, sp, _COLOURS[i % len(_COLOURS)], label=f"{name} {sp.subject}")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=6)
        if sps:
            ax.legend(fontsize=6, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_scanpath_figure(path: str | Path, groups: Mapping[str, Sequence[Scanpath]], **kwargs: Any) -> Path:
    fig = scanpath_figure(groups, **kwargs)
    try:
        atomic_save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)


def metric_table_figure(
    rows: Mapping[str, Mapping[str, str]], columns: Sequence[str], footer: str = "", title: str = ""
) -> Any:
    """A metric table (already formatted cells) as a figure, with the settings footer below it."""
    cell_text = [[rows[r].get(c, "–") for c in columns] for r in rows]
    n_footer = footer.count("\n") + 1 if footer else 0
    table_h, footer_h = 0.3 * (len(rows) + 1), 0.16 * n_footer
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * (len(columns) + 1.5)), table_h + footer_h + 0.4))
    ax.axis("off")
    frac = table_h / (table_h + footer_h)
    table = ax.table(cellText=cell_text, rowLabels=list(rows), colLabels=list(columns),
                     bbox=[0.12, 1 - frac, 0.88, frac])
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    if footer:
        ax.text(0.0, 1 - frac - 0.03, footer, fontsize=6, va="top", family="monospace", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def save_metric_table(path: str | Path, rows: Mapping[str, Mapping[str, str]], columns: Sequence[str],
                      footer: str = "", title: str = "") -> Path:
    fig = metric_table_figure(rows, columns, footer, title)
    try:
        atomic_save_figure(fig, path, dpi=130, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


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


def save_learning_curve(path: str | Path, metrics_csv: str | Path, **kwargs: Any) -> Path:
    fig = learning_curve_figure(metrics_csv, **kwargs)
    try:
        atomic_save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)
