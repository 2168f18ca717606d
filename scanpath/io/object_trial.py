"""Canonical object-grid trial record and the geometry shared by the object-layout loaders.

Used by the STI Amazon book-cover reader (:mod:`scanpath.io.amazon`), the shelf reader
(:mod:`scanpath.io.shelf`) and the procedural search arrays (:mod:`scanpath.stimuli.search_arrays`).
Objects are numbered row-major from the top-left: object ``i`` sits at row ``i // C``, column
``i % C`` of an ``R × C`` grid (docs/oat.md §2). Everything here is 0-based.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from scanpath.types import Scanpath

#: Crop size fed to OAT's appearance CNN: (height, width) = 150 × 93 px.
CROP_HW = (150, 93)


@dataclasses.dataclass
class ObjectTrial:
    """One observer's search trial on one object layout (docs/oat.md §3, canonical record).

    ``scanpath`` holds the object index per fixation (refixations kept), ``fix_xy`` the raw pixel
    fixations ``(L, 2)``; ``boxes`` are ``(N, 4)`` pixel boxes (x0, y0, x1, y1), row-major.
    """

    dataset: str
    layout_id: str
    target_id: str
    subject_id: str
    trial_id: str
    grid: tuple[int, int]
    image_size: tuple[int, int]  # (W, H)
    boxes: np.ndarray
    target: int
    scanpath: np.ndarray
    fix_xy: np.ndarray
    synthetic: bool = False
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_objects(self) -> int:
        return int(self.boxes.shape[0])

    def __len__(self) -> int:
        return int(len(self.scanpath))

    def to_scanpath(self) -> Scanpath:
        """The trial as a :class:`Scanpath`: raw pixels, ``task`` = target id, object index kept."""
        return Scanpath(
            x=self.fix_xy[:, 0].astype(np.float64),
            y=self.fix_xy[:, 1].astype(np.float64),
            duration=None,
            stimulus=self.layout_id,
            subject=self.subject_id,
            task=self.target_id,
            image_size=self.image_size,
            extra={
                "dataset": self.dataset,
                "trial_id": self.trial_id,
                "target_index": int(self.target),
                "synthetic": bool(self.synthetic),
                **self.extra,
            },
            fixation_extra={"object": self.scanpath.astype(np.int64)},
        )


# ---------------------------------------------------------------------------------------- geometry
def grid_boxes(
    grid: tuple[int, int],
    cell_wh: tuple[float, float],
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Row-major ``(R·C, 4)`` float64 boxes of a regular grid of ``cell_wh`` = (w, h) cells."""
    rows, cols = int(grid[0]), int(grid[1])
    cw, ch = float(cell_wh[0]), float(cell_wh[1])
    r, c = np.divmod(np.arange(rows * cols), cols)
    x0 = origin[0] + c * cw
    y0 = origin[1] + r * ch
    return np.stack([x0, y0, x0 + cw, y0 + ch], axis=1).astype(np.float64)


def points_to_cells(
    xy: np.ndarray,
    grid: tuple[int, int],
    cell_wh: tuple[float, float],
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Map pixel points ``(L, 2)`` to the containing cell of a regular grid (int64, row-major).

    The column is ``floor((x − x0)/w)`` clamped to ``[0, C−1]`` (same for rows), so a point on the
    far edge (x = W) or outside the grid maps to the nearest border cell.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    rows, cols = int(grid[0]), int(grid[1])
    c = np.floor((xy[:, 0] - origin[0]) / float(cell_wh[0]))
    r = np.floor((xy[:, 1] - origin[1]) / float(cell_wh[1]))
    c = np.clip(c, 0, cols - 1).astype(np.int64)
    r = np.clip(r, 0, rows - 1).astype(np.int64)
    return r * cols + c


def points_to_boxes(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Map points to the first box that contains them (edges inclusive), else the nearest box centre.

    This is the rule used with user-supplied upstream mask boxes (docs/oat.md §3.1 step 2).
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    x, y = xy[:, :1], xy[:, 1:]
    inside = (boxes[None, :, 0] <= x) & (x <= boxes[None, :, 2]) & (boxes[None, :, 1] <= y) & (y <= boxes[None, :, 3])
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    dist = np.linalg.norm(xy[:, None, :] - centres[None], axis=-1)
    nearest = np.argmin(dist, axis=1)
    first_inside = np.argmax(inside, axis=1)
    return np.where(inside.any(axis=1), first_inside, nearest).astype(np.int64)


def box_iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each of ``boxes`` ``(N, 4)``."""
    b = np.asarray(box, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    iw = np.clip(np.minimum(b[2], boxes[:, 2]) - np.maximum(b[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(b[3], boxes[:, 3]) - np.maximum(b[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area_b + area - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def length_filter(lengths: Sequence[int], n_sd: float = 3.0) -> tuple[np.ndarray, dict[str, float]]:
    """Keep lengths in ``[μ − n_sd·s, μ + n_sd·s]`` (μ, population SD s of ``lengths``), as upstream.

    Returns the boolean keep mask and ``{"mean", "sd", "low", "high"}``.
    """
    arr = np.asarray(lengths, dtype=np.float64)
    if arr.size == 0:
        return np.zeros(0, dtype=bool), {"mean": float("nan"), "sd": float("nan"), "low": float("nan"), "high": float("nan")}
    mu = float(arr.mean())
    sd = float(arr.std())  # population SD (ddof = 0), as numpy/upstream
    lo, hi = mu - n_sd * sd, mu + n_sd * sd
    return (arr >= lo) & (arr <= hi), {"mean": mu, "sd": sd, "low": lo, "high": hi}


# ------------------------------------------------------------------------------------------- crops
def minmax01(crop: np.ndarray) -> np.ndarray:
    """Min-max normalise a whole crop (all channels together) to [0, 1] float32; flat → zeros."""
    crop = crop.astype(np.float32)
    lo, hi = float(crop.min()), float(crop.max())
    if hi <= lo:
        return np.zeros_like(crop, dtype=np.float32)
    return (crop - lo) / (hi - lo)


def crop_boxes(
    image_rgb: np.ndarray,
    boxes: np.ndarray,
    size_hw: tuple[int, int] = CROP_HW,
    normalise: bool = True,
) -> np.ndarray:
    """Cut ``boxes`` out of an ``(H, W, 3)`` uint8 RGB image, resize each to ``size_hw`` and return
    ``(N, 3, h, w)`` float32 — min-max normalised to [0, 1] per crop, or raw 0–255 values when
    ``normalise`` is False (upstream Amazon pixels, docs/oat.md §6 item 4)."""
    import cv2

    h_img, w_img = image_rgb.shape[:2]
    out = np.empty((len(boxes), 3, size_hw[0], size_hw[1]), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=np.float64)):
        xa, ya = int(np.clip(np.floor(x0), 0, w_img - 1)), int(np.clip(np.floor(y0), 0, h_img - 1))
        xb, yb = int(np.clip(np.ceil(x1), xa + 1, w_img)), int(np.clip(np.ceil(y1), ya + 1, h_img))
        crop = cv2.resize(image_rgb[ya:yb, xa:xb], (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR)
        crop = crop.transpose(2, 0, 1)
        out[i] = minmax01(crop) if normalise else crop.astype(np.float32)
    return out


def read_rgb(path: str, *, record: Any = None) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB; a missing/unreadable file is a data error."""
    import cv2

    from scanpath.errors import ScanpathDataError

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ScanpathDataError("image file is missing or unreadable", file=path, record=record, field="image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
