"""Procedural stimuli of the six search-asymmetry experiments (eccNET benchmark, docs/eccnet.md §2.5).

Twelve conditions in six experiments, all at 30 px per degree:

=====  ==============================  ==============================  =====================
exp    conditions (L / H by humans)    display / grid / cell / jitter  item canvas, bg, NumFix
=====  ==============================  ==============================  =====================
1      curve_in_lines / line_in_curves 339 / 6x6 / 56 / 8              48, 0, 37
2      top_down / left_right           198 / 4x4 / 49 / 18             31, 27, 17
3      non_cross / cross               615 / 3x3 / 205 / 27            177, 255, 10
4      Ts / Ls                         615 / 3x3 / 205 / 27            177, 255, 10
5      homo_t20 / homo_t0              339 / 4x4 / 84 / 15             69, 255, 17
6      hetero_t0 / hetero_t20          339 / 4x4 / 84 / 15             69, 255, 17
=====  ==============================  ==============================  =====================

Placement: ``n`` of the ``g x g`` cells are drawn without replacement, the target is one of them
(uniform); each item canvas overwrites the display at its cell corner + (jy, jx), jy, jx ~ U{0..J-1}.
The ground truth is the target's un-jittered cell. Trials are stored in set-size blocks and seeded
per (seed, condition, trial index), so any single trial can be regenerated on its own.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np

PX_PER_DEG = 30


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """Geometry and search parameters of one experiment."""

    key: str
    title: str
    display_deg: float
    grid: int
    cell: int
    jitter: int
    canvas: int
    set_sizes: tuple[int, ...]
    trials_per_size: int
    bg: int
    num_fix: int
    dog: tuple[tuple[int, float], tuple[int, float]]  # (k1, sigma1), (k2, sigma2) for the DoG sharpening
    conditions: tuple[str, str]  # (L, H): H has the larger human slope

    @property
    def display(self) -> int:
        return int(round(self.display_deg * PX_PER_DEG))

    @property
    def n_cells(self) -> int:
        return self.grid * self.grid

    @property
    def n_trials(self) -> int:
        return len(self.set_sizes) * self.trials_per_size

    def cell_corner(self, i: int) -> tuple[int, int]:
        """(row, col) of the top-left corner of cell ``i`` (row-major)."""
        return (i // self.grid) * self.cell, (i % self.grid) * self.cell


_CURV = dict(display_deg=11.3, grid=6, cell=56, jitter=8, canvas=48, set_sizes=(8, 16, 32), trials_per_size=30,
             bg=0, num_fix=37, dog=((3, 1.0), (5, 3.0)))
_LIGHT = dict(display_deg=6.6, grid=4, cell=49, jitter=18, canvas=31, set_sizes=(1, 6, 12), trials_per_size=30,
              bg=27, num_fix=17, dog=((3, 0.0), (5, 1.0)))
_INTER = dict(display_deg=20.5, grid=3, cell=205, jitter=27, canvas=177, set_sizes=(3, 6, 9), trials_per_size=36,
              bg=255, num_fix=10, dog=((5, 3.0), (7, 5.0)))
_ORIENT = dict(display_deg=11.3, grid=4, cell=84, jitter=15, canvas=69, set_sizes=(1, 4, 8, 12), trials_per_size=30,
               bg=255, num_fix=17, dog=((3, 1.0), (5, 3.0)))

EXPERIMENTS: dict[str, ExperimentSpec] = {
    "exp1": ExperimentSpec("exp1", "Curvature", conditions=("curve_in_lines", "line_in_curves"), **_CURV),
    "exp2": ExperimentSpec("exp2", "Lighting direction", conditions=("top_down", "left_right"), **_LIGHT),
    "exp3": ExperimentSpec("exp3", "Intersection", conditions=("non_cross", "cross"), **_INTER),
    "exp4": ExperimentSpec("exp4", "T vs L", conditions=("Ts", "Ls"), **_INTER),
    "exp5": ExperimentSpec("exp5", "Orientation (homogeneous)", conditions=("homo_t20", "homo_t0"), **_ORIENT),
    "exp6": ExperimentSpec("exp6", "Orientation (heterogeneous)", conditions=("hetero_t0", "hetero_t20"), **_ORIENT),
}
#: condition id (as in the human CSV) -> experiment key
CONDITION_EXPERIMENT: dict[str, str] = {c: k for k, e in EXPERIMENTS.items() for c in e.conditions}
CONDITIONS: tuple[str, ...] = tuple(CONDITION_EXPERIMENT)


def experiment_of(condition: str) -> ExperimentSpec:
    try:
        return EXPERIMENTS[CONDITION_EXPERIMENT[condition]]
    except KeyError:
        raise KeyError(f"unknown asymmetry condition {condition!r}; known: {', '.join(CONDITIONS)}") from None


# ----------------------------------------------------------------------------------------------- items
def _rotate(img: np.ndarray, angle: float, center: tuple[float, float]) -> np.ndarray:
    """Rotate by ``angle`` degrees (+ = counter-clockwise) with bilinear sampling and a 0 border."""
    m = cv2.getRotationMatrix2D(center, float(angle), 1.0)
    h, w = img.shape
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


CURVATURE_ROTATIONS = (-45.0, -90.0, -135.0, 180.0)


def curvature_line() -> np.ndarray:
    img = np.zeros((48, 48), np.uint8)
    img[21:27, 6:42] = 255
    return img


def curvature_curve() -> np.ndarray:
    img = np.zeros((48, 48), np.uint8)
    cv2.ellipse(img, (24, -2), (30, 30), 0, 52, 127, 255, thickness=5)
    return img


def curvature_item(kind: str, variant: int) -> np.ndarray:
    base = curvature_line() if kind == "line" else curvature_curve()
    return _rotate(base, CURVATURE_ROTATIONS[variant % 4], (24.0, 24.0))


def lighting_disc(bg: int = 27) -> np.ndarray:
    """Bottom-lit disc: 697 px with value 17*floor(r/2) inside (r-15)^2+(c-15)^2 < 225, ``bg`` outside."""
    r, c = np.mgrid[0:31, 0:31]
    inside = (r - 15) ** 2 + (c - 15) ** 2 < 225
    return np.where(inside, 17 * (r // 2), bg).astype(np.uint8)


def _glyph_canvas(black: np.ndarray) -> np.ndarray:
    canvas = np.full((177, 177), 255, np.uint8)
    glyph = np.where(black, 0, 255).astype(np.uint8)
    canvas[6:171, 6:171] = glyph
    return canvas


def glyph_mask(kind: str) -> np.ndarray:
    """Black-stroke mask (165 x 165) of ``cross``, ``non_cross``, ``L`` or ``T`` (inclusive ranges of §2.5)."""
    m = np.zeros((165, 165), bool)
    if kind == "cross":
        m[:, 74:90] = True
        m[49:66, :] = True
    elif kind == "non_cross":
        m[:, 74:90] = True
        m[49:66, 0:82] = True
        m[99:115, 82:165] = True
    elif kind == "L":
        m[:, 0:16] = True
        m[148:165, :] = True
    elif kind == "T":
        m[0:16, :] = True
        m[:, 74:90] = True
    else:
        raise ValueError(f"unknown glyph {kind!r}")
    return m


GLYPH_TRANSFORMS = ("identity", "vflip", "transpose", "transpose_hflip")


def _transform(img: np.ndarray, t: int) -> np.ndarray:
    if t == 0:
        return img
    if t == 1:
        return img[::-1, :].copy()
    if t == 2:
        return img.T.copy()
    return img.T[:, ::-1].copy()


def glyph_item(kind: str, transform: int) -> np.ndarray:
    return _transform(_glyph_canvas(glyph_mask(kind)), transform)


def orientation_bar(theta: float) -> np.ndarray:
    """Black bar on white: a white 60 x 9 bar rotated by ``theta`` about (34.5, 34.5), then inverted."""
    img = np.zeros((69, 69), np.uint8)
    img[4:64, 30:39] = 255
    return (255 - _rotate(img, theta, (34.5, 34.5))).astype(np.uint8)


_HETERO = {
    "hetero_t0": (0.0, (40.0, -40.0, 60.0, -60.0, 80.0, -80.0, 20.0, -20.0)),
    "hetero_t20": (-20.0, (40.0, -40.0, 60.0, -60.0, 80.0, -80.0, 20.0, 0.0)),
}
_HOMO = {"homo_t0": (0.0, -20.0), "homo_t20": (-20.0, 0.0)}


# ----------------------------------------------------------------------------------------------- trials
@dataclasses.dataclass
class Trial:
    """One generated search trial."""

    condition: str
    index: int
    seed: int
    set_size: int
    display: np.ndarray  # (H, H) uint8
    target: np.ndarray  # (c, c) uint8, the target's item canvas
    gt_mask: np.ndarray  # (H, H) bool
    cells: list[int]  # occupied cells; cells[target_slot] holds the target
    target_slot: int
    offsets: list[tuple[int, int]]  # (jy, jx) per placed item
    variants: list[Any]  # per placed item: rotation index / glyph transform / angle
    gt_box: tuple[int, int, int, int]  # (r0, c0, r1, c1) of the gt square, display px, end-exclusive

    @property
    def target_cell(self) -> int:
        return self.cells[self.target_slot]

    @property
    def experiment(self) -> ExperimentSpec:
        return experiment_of(self.condition)

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition, "index": self.index, "seed": self.seed, "set_size": self.set_size,
            "cells": [int(c) for c in self.cells], "target_cell": int(self.target_cell),
            "target_slot": int(self.target_slot), "offsets": [[int(a), int(b)] for a, b in self.offsets],
            "variants": [v if isinstance(v, str) else float(v) if isinstance(v, float) else int(v)
                         for v in self.variants],
            "gt_box": [int(v) for v in self.gt_box],
        }


def trial_rng(seed: int, condition: str, index: int) -> np.random.Generator:
    """Independent, reproducible stream per (seed, condition, trial)."""
    return np.random.default_rng([int(seed), zlib.crc32(condition.encode()), int(index)])


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV failure
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def _items(condition: str, n: int, target_slot: int, rng: np.random.Generator, bg: int) -> tuple[list, list]:
    """Item canvases and their variant labels, in placement order (target at ``target_slot``)."""
    canvases: list[np.ndarray] = []
    variants: list[Any] = []
    if condition in ("curve_in_lines", "line_in_curves"):
        tgt, dis = ("curve", "line") if condition == "curve_in_lines" else ("line", "curve")
        for k in range(n):
            canvases.append(curvature_item(tgt if k == target_slot else dis, k % 4))
            variants.append(k % 4)
    elif condition in ("top_down", "left_right"):
        base = lighting_disc(bg)
        if condition == "top_down":
            tgt, dis = base[::-1, :].copy(), base
        else:
            tgt, dis = base.T[:, ::-1].copy(), base.T.copy()
        for k in range(n):
            canvases.append(tgt if k == target_slot else dis)
            variants.append("target" if k == target_slot else "distractor")
    elif condition in ("cross", "non_cross", "Ls", "Ts"):
        tgt, dis = {"cross": ("cross", "non_cross"), "non_cross": ("non_cross", "cross"),
                    "Ls": ("L", "T"), "Ts": ("T", "L")}[condition]
        for k in range(n):
            t = int(rng.integers(0, 4))
            canvases.append(glyph_item(tgt if k == target_slot else dis, t))
            variants.append(t)
    elif condition in _HOMO:
        t_theta, d_theta = _HOMO[condition]
        for k in range(n):
            th = t_theta if k == target_slot else d_theta
            canvases.append(orientation_bar(th))
            variants.append(th)
    elif condition in _HETERO:
        t_theta, types = _HETERO[condition]
        nd = n - 1
        if nd <= len(types):
            chosen = [types[i] for i in rng.choice(len(types), size=nd, replace=False)]
        else:
            extra = [types[i] for i in rng.choice(len(types), size=nd - len(types), replace=False)]
            chosen = list(types) + extra
            chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        it = iter(chosen)
        for k in range(n):
            th = t_theta if k == target_slot else next(it)
            canvases.append(orientation_bar(th))
            variants.append(th)
    else:
        raise KeyError(f"unknown asymmetry condition {condition!r}; known: {', '.join(CONDITIONS)}")
    return canvases, variants


def make_trial(
    condition: str,
    index: int,
    seed: int = 0,
    jpeg_quality: int | None = None,
    lighting_gt_jitter: bool = False,
    trials_per_size: int | None = None,
) -> Trial:
    """Generate trial ``index`` (0-based, set-size blocks) of ``condition``.

    ``jpeg_quality`` round-trips display and target through JPEG (upstream preset: 95).
    ``lighting_gt_jitter`` reproduces upstream's Exp2 gt square at the *jittered* item position.
    ``trials_per_size`` overrides the block size (default: the experiment's trial count).
    """
    spec = experiment_of(condition)
    tps = spec.trials_per_size if trials_per_size is None else int(trials_per_size)
    n_total = tps * len(spec.set_sizes)
    if not 0 <= index < n_total:
        raise IndexError(f"trial index {index} outside 0..{n_total - 1} for {condition}")
    n = spec.set_sizes[index // tps]
    rng = trial_rng(seed, condition, index)
    cells = [int(c) for c in rng.choice(spec.n_cells, size=n, replace=False)]
    target_slot = int(rng.integers(0, n))
    canvases, variants = _items(condition, n, target_slot, rng, spec.bg)
    H = spec.display
    display = np.full((H, H), spec.bg, np.uint8)
    offsets = []
    for cell, canvas in zip(cells, canvases):
        jy, jx = (int(v) for v in rng.integers(0, spec.jitter, size=2))
        r0, c0 = spec.cell_corner(cell)
        h, w = canvas.shape
        display[r0 + jy:r0 + jy + h, c0 + jx:c0 + jx + w] = canvas
        offsets.append((jy, jx))
    r0, c0 = spec.cell_corner(cells[target_slot])
    if lighting_gt_jitter and spec.key == "exp2":
        jy, jx = offsets[target_slot]
        r0, c0 = r0 + jy, c0 + jx
    box = (r0, c0, min(r0 + spec.cell, H), min(c0 + spec.cell, H))
    gt = np.zeros((H, H), bool)
    gt[box[0]:box[2], box[1]:box[3]] = True
    target = canvases[target_slot].copy()
    if jpeg_quality:
        display, target = _jpeg(display, jpeg_quality), _jpeg(target, jpeg_quality)
    return Trial(condition, index, int(seed), n, display, target, gt, cells, target_slot, offsets, variants, box)


def iter_trials(
    condition: str,
    seed: int = 0,
    trials_per_size: int | None = None,
    max_trials_per_size: int | None = None,
    **kwargs: Any,
) -> Iterator[Trial]:
    """All trials of a condition in set-size blocks; ``max_trials_per_size`` keeps the first k of each block."""
    spec = experiment_of(condition)
    tps = spec.trials_per_size if trials_per_size is None else int(trials_per_size)
    keep = tps if max_trials_per_size is None else min(tps, int(max_trials_per_size))
    for b in range(len(spec.set_sizes)):
        for t in range(keep):
            yield make_trial(condition, b * tps + t, seed=seed, trials_per_size=tps, **kwargs)


def cell_masks(spec: ExperimentSpec) -> np.ndarray:
    """Boolean masks ``[cells, H, H]`` of every grid cell."""
    H = spec.display
    out = np.zeros((spec.n_cells, H, H), bool)
    for i in range(spec.n_cells):
        r0, c0 = spec.cell_corner(i)
        out[i, r0:r0 + spec.cell, c0:c0 + spec.cell] = True
    return out


def total_trials(conditions: Sequence[str] = CONDITIONS) -> int:
    return sum(experiment_of(c).n_trials for c in conditions)


def plot_trial(trial: Trial) -> Any:
    """Figure of one trial: the display with the gt cell outlined, and the target image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    spec = trial.experiment
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    axes[0].imshow(trial.display, cmap="gray", vmin=0, vmax=255)
    r0, c0, r1, c1 = trial.gt_box
    axes[0].add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec="tab:red", lw=1.2, ls="--"))
    axes[0].set_title(f"{trial.condition} ({spec.key}), set size {trial.set_size}", fontsize=9)
    axes[1].imshow(trial.target, cmap="gray", vmin=0, vmax=255)
    axes[1].set_title("target", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
