"""Read upstream's asymmetry stimuli (``dataset_asymmetry.zip``, unpacked) as :class:`Trial` objects.

docs/eccnet.md §3: the archive (HuggingFace shashikg/visual_search_klab) holds
``<exp>/<task>/{stimuli,target,gt}/<i>.jpg`` (i 1-based, trials in set-size blocks) and
``<exp>/gt_mask.npy`` (cells x H x W, 0/255), with exp in ``categorization`` (tasks ``homo/t0``,
``homo/t20``, ``hetero/t0``, ``hetero/t20``), ``curvature``, ``intersection`` and ``lightning_dir``
(sic) and task = the condition id otherwise. Reading it lets the network search upstream's exact
(JPEG, unseeded) stimuli instead of regenerated ones:

    trials = list(load_trials("cross", stimuli_root="/data/dataset_asymmetry"))

Images are read as grayscale; the gt mask is resized to the display (INTER_AREA) and thresholded at 125,
as upstream loads it. The occupied cells and the target cell are recovered from the pixels (cells whose
pixels differ from the background; the cell holding most gt pixels). Fields that only the generator knows
(per-item jitter and variants) are empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.stimuli.asymmetry import Trial, cell_masks, experiment_of, iter_trials

log = logging.getLogger(__name__)

#: condition id -> (exp folder, task folder) of the upstream archive
ARCHIVE_FOLDERS: dict[str, tuple[str, str]] = {
    "homo_t0": ("categorization", "homo/t0"), "homo_t20": ("categorization", "homo/t20"),
    "hetero_t0": ("categorization", "hetero/t0"), "hetero_t20": ("categorization", "hetero/t20"),
    "curve_in_lines": ("curvature", "curve_in_lines"), "line_in_curves": ("curvature", "line_in_curves"),
    "cross": ("intersection", "cross"), "non_cross": ("intersection", "non_cross"),
    "Ls": ("intersection", "Ls"), "Ts": ("intersection", "Ts"),
    "left_right": ("lightning_dir", "left_right"), "top_down": ("lightning_dir", "top_down"),
}
#: a pixel belongs to an item when it differs from the background by more than this (JPEG noise is smaller)
ITEM_THRESHOLD = 40
ARCHIVE_SEED = -1  # Trial.seed of archive trials: not generated


def _gray(path: Path, record: str, field: str) -> np.ndarray:
    if not path.is_file():
        raise ScanpathDataError("stimulus file not found (upstream layout <exp>/<task>/{stimuli,target,gt}/<i>.jpg)",
                                file=path, record=record, field=field)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ScanpathDataError("cannot read image", file=path, record=record, field=field)
    return img


def read_archive_cells(root: str | Path, condition: str) -> np.ndarray:
    """``<exp>/gt_mask.npy`` as bool ``[cells, H, W]``, checked against the experiment's grid."""
    exp, _ = ARCHIVE_FOLDERS[condition]
    spec = experiment_of(condition)
    path = Path(root) / exp / "gt_mask.npy"
    if not path.is_file():
        raise ScanpathDataError("cell masks not found", file=path, field="gt_mask")
    masks = np.load(path, allow_pickle=False)
    if masks.ndim != 3 or masks.shape[0] != spec.n_cells:
        raise ScanpathDataError(f"expected {spec.n_cells} cell masks of {spec.display}x{spec.display}, got shape "
                                f"{masks.shape}", file=path, field="gt_mask")
    if masks.shape[1:] != (spec.display, spec.display):
        masks = np.stack([cv2.resize(m.astype(np.uint8), (spec.display, spec.display), interpolation=cv2.INTER_AREA)
                          for m in masks])
    return masks > 125


def read_archive_trial(root: str | Path, condition: str, index: int, cells: np.ndarray | None = None) -> Trial:
    """Trial ``index`` (0-based; file ``index + 1``) of ``condition`` from an unpacked upstream archive."""
    if condition not in ARCHIVE_FOLDERS:
        raise KeyError(f"unknown condition {condition!r}; known: {', '.join(ARCHIVE_FOLDERS)}")
    spec = experiment_of(condition)
    if not 0 <= index < spec.n_trials:
        raise IndexError(f"trial index {index} outside 0..{spec.n_trials - 1} for {condition}")
    exp, task = ARCHIVE_FOLDERS[condition]
    base = Path(root) / exp / task
    record = f"{condition} trial {index + 1}"
    H = spec.display
    display = _gray(base / "stimuli" / f"{index + 1}.jpg", record, "stimuli")
    if display.shape != (H, H):
        raise ScanpathDataError(f"display is {display.shape[1]}x{display.shape[0]}, expected {H}x{H} for {condition}",
                                file=base / "stimuli" / f"{index + 1}.jpg", record=record, field="stimuli")
    target = _gray(base / "target" / f"{index + 1}.jpg", record, "target")
    gt_img = _gray(base / "gt" / f"{index + 1}.jpg", record, "gt")
    if gt_img.shape != (H, H):
        gt_img = cv2.resize(gt_img, (H, H), interpolation=cv2.INTER_AREA)
    gt = gt_img > 125
    if not gt.any():
        raise ScanpathDataError("gt mask has no target pixel (> 125)", file=base / "gt" / f"{index + 1}.jpg",
                                record=record, field="gt")
    masks = read_archive_cells(root, condition) if cells is None else cells
    target_cell = int(np.argmax((masks & gt).reshape(len(masks), -1).sum(1)))
    item = np.abs(display.astype(np.int16) - spec.bg) > ITEM_THRESHOLD
    occupied = [int(c) for c in np.flatnonzero((masks & item).reshape(len(masks), -1).sum(1) >= 4)]
    if target_cell not in occupied:
        occupied = sorted(occupied + [target_cell])
    rows, cols = np.nonzero(gt)
    box = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    set_size = spec.set_sizes[index // spec.trials_per_size]
    return Trial(condition, index, ARCHIVE_SEED, set_size, display, target, gt, occupied,
                 occupied.index(target_cell), [], [], box)


def iter_archive_trials(root: str | Path, condition: str, max_trials_per_size: int | None = None) -> Iterator[Trial]:
    """All trials of a condition in set-size blocks; ``max_trials_per_size`` keeps the first k of each block."""
    spec = experiment_of(condition)
    tps = spec.trials_per_size
    keep = tps if max_trials_per_size is None else min(tps, int(max_trials_per_size))
    cells = read_archive_cells(root, condition)
    ours, theirs = cell_masks(spec).any(0), cells.any(0)
    iou = float((ours & theirs).sum() / max((ours | theirs).sum(), 1))
    if iou < 0.9:  # the search uses the experiment's grid (docs/eccnet.md §2.5): it must be the archive's
        raise ScanpathDataError(f"the archive's cells differ from the {spec.grid}x{spec.grid} grid of {spec.cell}-px "
                                f"cells of {condition} (IoU {iou:.3f})",
                                file=Path(root) / ARCHIVE_FOLDERS[condition][0] / "gt_mask.npy", field="gt_mask")
    if iou < 1.0:
        log.warning("%s: the archive's cell union differs slightly from the generated grid (IoU %.4f)", condition, iou)
    for b in range(len(spec.set_sizes)):
        for t in range(keep):
            yield read_archive_trial(root, condition, b * tps + t, cells)


def load_trials(condition: str, *, seed: int = 0, max_trials_per_size: int | None = None,
                stimuli_root: str | Path | None = None, **generator_kwargs: Any) -> Iterator[Trial]:
    """The trials of a condition: generated (seeded; ``generator_kwargs`` such as ``jpeg_quality``) or, with
    ``stimuli_root``, read from upstream's unpacked archive (then the generator options do not apply)."""
    if stimuli_root is None:
        return iter_trials(condition, seed=seed, max_trials_per_size=max_trials_per_size, **generator_kwargs)
    return iter_archive_trials(stimuli_root, condition, max_trials_per_size)
