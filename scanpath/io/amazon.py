"""Reader for the STI Amazon book-cover search data (``AmazonCovers/Amazon.json``).

Format (DFKI STI-Dataset; Stauden, Barz & Sonntag 2018, original data Sattar et al.; CC BY-NC-SA 4.0):
a JSON object keyed by collage file name ``"<n>.jpg"`` →

* ``fixations``: ``{"1": [[x, y], …], …, "6": …}`` pixel fixations per subject, no durations;
* ``ground_truth``: ``[{xmin, xmax, ymin, ymax}]`` the target cover's box;
* ``size``: ``{width, height}``; ``target``: ``"target_k.jpg"``.

Processing (docs/oat.md §3.1, the upstream OAT preprocessing with its bug fixed):

1. Collages, then subjects, are read in **file order** (so upstream index-based split lists apply).
2. Objects are the 6 × 14 = 84 covers, taken as grid cells W/14 × H/6; a fixation maps to its
   containing cell, clamped to the border cells (x = W → last column). With the user-supplied
   upstream masks (``binarymask/14x6-<key>``, ``mask_dir=``) the objects are the masks' external-
   contour bounding boxes sorted by (⌊ymin/10⌋·10, xmin); a fixation in no box goes to the
   nearest box centre.
3. The target is the object box with the highest IoU with ``ground_truth``.
4. One record per subject; records whose length lies outside μ ± 3s (μ, population SD s over all
   loaded scanpaths) are dropped.

**Upstream bug (reproducible, off by default).** Upstream OAT (commit ``bf532ef`` and HEAD) creates the
record dict once per collage, so all six records of a collage carry the *last* subject's scanpath;
the length filter (μ, s from the true lengths) then keeps or drops whole collages (474 of 480 on
the shared 80-collage file, 594 of 600 on the full file). ``upstream_duplicate_bug=True`` reproduces
it, for comparison only.

**Fixations outside the image** (``invalid_policy``): the raw pixels are the human data, so by default
(``"keep"``) they are kept unchanged in ``fix_xy`` and mapped to the nearest border cell (or nearest
box centre in mask mode) for the object string — this is what upstream does and what the published
record counts (468/474, 585/594) assume. ``"clip"`` clamps the pixels into ``[0, W] × [0, H]``,
``"drop"`` removes those fixations (before the length filter), ``"error"`` raises
:class:`~scanpath.errors.ScanpathDataError` naming file, collage and subject.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_json
from scanpath.io.object_trial import (
    ObjectTrial,
    box_iou,
    crop_boxes,
    grid_boxes,
    length_filter,
    points_to_boxes,
    points_to_cells,
    read_rgb,
)

log = logging.getLogger(__name__)

#: Amazon collages are 6 rows × 14 columns of book covers.
AMAZON_GRID = (6, 14)
#: Largest image side accepted from ``size`` (a sanity bound: the STI collages are ≈2560 px wide).
MAX_IMAGE_SIDE = 100_000
OUTSIDE_POLICIES = ("keep", "clip", "drop", "error")


@dataclasses.dataclass
class AmazonCollage:
    """One validated JSON entry."""

    key: str
    image_size: tuple[int, int]  # (W, H)
    ground_truth: tuple[float, float, float, float]  # (x0, y0, x1, y1)
    target: str
    fixations: dict[str, np.ndarray]  # subject → (L, 2) float64, file order


@dataclasses.dataclass
class AmazonData:
    """Result of :func:`load_amazon`: kept trials plus the bookkeeping of the length filter."""

    trials: list[ObjectTrial]
    raw: list[ObjectTrial]
    filter_stats: dict[str, float]
    mode: str  # "grid" or "mask"
    path: str

    @property
    def n_raw(self) -> int:
        return len(self.raw)

    @property
    def n_kept(self) -> int:
        return len(self.trials)


# ------------------------------------------------------------------------------------- parsing
def _number(value: Any, *, file: str, record: str, field: str) -> float:
    try:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(float(value))
    except OverflowError:  # an integer literal beyond float range (10**400)
        ok = False
    if not ok:
        raise ScanpathDataError(f"expected a finite number, got {str(value)[:40]!r}", file=file, record=record,
                                field=field)
    return float(value)


def read_amazon_json(path: str | Path) -> list[AmazonCollage]:
    """Parse and validate an STI ``Amazon.json`` (any number of collages), in file order."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise ScanpathDataError(
            "Amazon annotation file not found (set data.annotations to the STI AmazonCovers/Amazon.json)",
            file=file,
        )
    data = read_json(path, "Amazon annotation file")
    if not isinstance(data, dict):
        raise ScanpathDataError(f"top level must be an object keyed by collage name, got {type(data).__name__}", file=file)
    if not data:
        raise ScanpathDataError("no collages in file", file=file)

    out = []
    for key, entry in data.items():
        if "/" in key or "\\" in key or key in ("", ".", ".."):  # names an image file in image_dir / mask_dir
            raise ScanpathDataError("collage key must be a plain file name (it would point outside the image "
                                    "folder)", file=file, record=key)
        if not isinstance(entry, dict):
            raise ScanpathDataError(f"collage entry must be an object, got {type(entry).__name__}", file=file, record=key)
        for field in ("fixations", "ground_truth", "size", "target"):
            if field not in entry:
                raise ScanpathDataError("missing key", file=file, record=key, field=field)
        size = entry["size"]
        if not isinstance(size, dict):
            raise ScanpathDataError("must be {width, height}", file=file, record=key, field="size")
        wh = []
        for f in ("width", "height"):
            if f not in size:
                raise ScanpathDataError("missing key", file=file, record=key, field=f"size.{f}")
            v = _number(size[f], file=file, record=key, field=f"size.{f}")
            if not (v.is_integer() and 1 <= v <= MAX_IMAGE_SIDE):
                raise ScanpathDataError(f"must be a whole number of pixels in 1..{MAX_IMAGE_SIDE}, got {v:g}",
                                        file=file, record=key, field=f"size.{f}")
            wh.append(int(v))
        gt = entry["ground_truth"]
        if not isinstance(gt, list) or not gt or not isinstance(gt[0], dict):
            raise ScanpathDataError(
                "must be a non-empty list of {xmin, xmax, ymin, ymax}", file=file, record=key, field="ground_truth"
            )
        box = []
        for f in ("xmin", "ymin", "xmax", "ymax"):
            if f not in gt[0]:
                raise ScanpathDataError("missing key", file=file, record=key, field=f"ground_truth[0].{f}")
            box.append(_number(gt[0][f], file=file, record=key, field=f"ground_truth[0].{f}"))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ScanpathDataError(f"empty box {box}", file=file, record=key, field="ground_truth[0]")
        if box[0] >= wh[0] or box[1] >= wh[1] or box[2] <= 0 or box[3] <= 0:
            raise ScanpathDataError(f"box {box} (xmin, ymin, xmax, ymax) lies outside the {wh[0]}×{wh[1]} image",
                                    file=file, record=key, field="ground_truth[0]")
        target = entry["target"]
        if not isinstance(target, str) or not target:
            raise ScanpathDataError(f"must be a target file name, got {target!r}", file=file, record=key, field="target")
        fix = entry["fixations"]
        if not isinstance(fix, dict) or not fix:
            raise ScanpathDataError("must be a non-empty object {subject: [[x, y], …]}", file=file, record=key, field="fixations")
        subjects: dict[str, np.ndarray] = {}
        for sub, pts in fix.items():
            field = f"fixations.{sub}"
            if not isinstance(pts, list):
                raise ScanpathDataError(f"must be a list of [x, y], got {type(pts).__name__}", file=file, record=key, field=field)
            arr = np.empty((len(pts), 2), dtype=np.float64)
            for i, p in enumerate(pts):
                if not isinstance(p, (list, tuple)) or len(p) < 2:
                    raise ScanpathDataError(f"fixation must be [x, y], got {p!r}", file=file, record=key, field=f"{field}[{i}]")
                arr[i, 0] = _number(p[0], file=file, record=key, field=f"{field}[{i}].x")
                arr[i, 1] = _number(p[1], file=file, record=key, field=f"{field}[{i}].y")
            subjects[str(sub)] = arr
        out.append(AmazonCollage(str(key), (wh[0], wh[1]), tuple(box), target, subjects))  # type: ignore[arg-type]
    return out


# ------------------------------------------------------------------------------------- objects
def amazon_cell_size(image_size: tuple[int, int], grid: tuple[int, int] = AMAZON_GRID) -> tuple[float, float]:
    """Cell (w, h) = (W/C, H/R): the covers tile the collage."""
    return image_size[0] / grid[1], image_size[1] / grid[0]


def mask_boxes(mask_path: str | Path, *, record: str | None = None, y_bin: int = 10) -> np.ndarray:
    """Object boxes from an upstream ``binarymask/14x6-<key>`` image: bounding rectangles of the
    external contours of the thresholded (> 127) mask, sorted by (⌊ymin/10⌋·10, xmin)."""
    import cv2

    img = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ScanpathDataError("mask image is missing or unreadable", file=str(mask_path), record=record, field="mask")
    _, binary = cv2.threshold(img, 127, 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for cnt in contours:
        x, y, w, h = cv2.boundingRect(cnt)
        boxes.append((x, y, x + w, y + h))
    boxes.sort(key=lambda b: ((b[1] // y_bin) * y_bin, b[0]))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _apply_outside_policy(xy: np.ndarray, size: tuple[int, int], policy: str, *, file: str, record: str, field: str) -> np.ndarray:
    w, h = size
    out = (xy[:, 0] < 0) | (xy[:, 0] > w) | (xy[:, 1] < 0) | (xy[:, 1] > h)
    if not out.any() or policy == "keep":
        return xy
    if policy == "error":
        i = int(np.flatnonzero(out)[0])
        raise ScanpathDataError(
            f"fixation {i} at ({xy[i, 0]:g}, {xy[i, 1]:g}) lies outside the {w}×{h} image "
            "(set invalid_policy to keep, clip or drop)",
            file=file,
            record=record,
            field=f"{field}[{i}]",
        )
    if policy == "clip":
        return np.stack([np.clip(xy[:, 0], 0, w), np.clip(xy[:, 1], 0, h)], axis=1)
    return xy[~out]


def load_amazon(
    path: str | Path,
    *,
    mask_dir: str | Path | None = None,
    upstream_duplicate_bug: bool = False,
    filter_sd: float | None = 3.0,
    invalid_policy: str = "keep",
    grid: tuple[int, int] = AMAZON_GRID,
) -> AmazonData:
    """Load the STI Amazon JSON as canonical per-subject :class:`ObjectTrial` records.

    ``filter_sd=None`` disables the length filter. See the module docstring for the rules.
    """
    if invalid_policy not in OUTSIDE_POLICIES:
        raise ValueError(f"invalid_policy must be one of {OUTSIDE_POLICIES}, got {invalid_policy!r}")
    file = str(path)
    grid = (int(grid[0]), int(grid[1]))
    n_obj = grid[0] * grid[1]
    collages = read_amazon_json(path)
    raw: list[ObjectTrial] = []
    for col in collages:
        if mask_dir is not None:
            mpath = Path(mask_dir) / f"{grid[1]}x{grid[0]}-{col.key}"
            boxes = mask_boxes(mpath, record=col.key)
            if len(boxes) != n_obj:
                raise ScanpathDataError(
                    f"mask has {len(boxes)} objects, expected {n_obj} ({grid[0]}×{grid[1]})",
                    file=str(mpath),
                    record=col.key,
                    field="mask",
                )
        else:
            boxes = grid_boxes(grid, amazon_cell_size(col.image_size, grid))
        ious = box_iou(col.ground_truth, boxes)
        if not np.any(ious > 0):  # argmax would silently make object 0 the target
            raise ScanpathDataError(f"ground-truth box {list(col.ground_truth)} overlaps none of the {len(boxes)} objects",
                                    file=file, record=col.key, field="ground_truth[0]")
        target = int(np.argmax(ious))
        second = float(np.sort(ious)[-2]) if len(ious) > 1 else 0.0
        mapped = {}
        for sub, xy in col.fixations.items():
            xy = _apply_outside_policy(xy, col.image_size, invalid_policy, file=file, record=col.key, field=f"fixations.{sub}")
            if mask_dir is not None:
                obj = points_to_boxes(xy, boxes)
            else:
                obj = points_to_cells(xy, grid, amazon_cell_size(col.image_size, grid))
            mapped[sub] = (xy, obj)
        last_sub = list(mapped)[-1]
        for sub, (xy, obj) in mapped.items():
            true_len = len(obj)
            if upstream_duplicate_bug:  # every record of the collage carries the last subject's data
                rec_sub, (xy, obj) = last_sub, mapped[last_sub]
            else:
                rec_sub = sub
            raw.append(
                ObjectTrial(
                    dataset="amazon_covers",
                    layout_id=col.key,
                    target_id=col.target,
                    subject_id=rec_sub,
                    trial_id=f"{col.key}#{sub}",
                    grid=grid,
                    image_size=col.image_size,
                    boxes=boxes,
                    target=target,
                    scanpath=obj,
                    fix_xy=xy,
                    synthetic=False,
                    extra={"target_iou": float(ious[target]), "second_iou": second, "true_length": true_len},
                )
            )
    if filter_sd is None:
        keep = np.ones(len(raw), dtype=bool)
        stats = {"mean": float("nan"), "sd": float("nan"), "low": -math.inf, "high": math.inf}
    else:
        _, stats = length_filter([t.extra["true_length"] for t in raw], filter_sd)
        lengths = np.asarray([len(t) for t in raw], dtype=np.float64)
        keep = (lengths >= stats["low"]) & (lengths <= stats["high"])
    kept = [t for t, k in zip(raw, keep) if k]
    log.info(
        "Amazon %s: %d collages, %d scanpaths, kept %d after the length filter [%.2f, %.2f]%s",
        file, len(collages), len(raw), len(kept), stats["low"], stats["high"],
        " (UPSTREAM DUPLICATE-SUBJECT BUG REPRODUCED)" if upstream_duplicate_bug else "",
    )
    return AmazonData(kept, raw, stats, "mask" if mask_dir is not None else "grid", file)


def amazon_crops(
    image_path: str | Path,
    boxes: np.ndarray,
    image_size: tuple[int, int],
    *,
    record: str | None = None,
    upstream_pixels: bool = False,
) -> np.ndarray:
    """``(N, 3, 150, 93)`` float32 object crops of one collage image.

    Default: RGB, min-max normalised to [0, 1] per crop. ``upstream_pixels=True`` reproduces the
    upstream Amazon crops (BGR channel order, raw 0–255, docs/oat.md §6 item 4). When the image's
    pixel size differs from the JSON ``size``, the boxes are scaled to the image (logged).
    """
    rgb = read_rgb(str(image_path), record=record)
    h, w = rgb.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64)
    if (w, h) != tuple(image_size):
        log.warning("%s is %d×%d but the JSON says %d×%d; scaling object boxes", image_path, w, h, *image_size)
        boxes = boxes * np.array([w / image_size[0], h / image_size[1]] * 2)
    if upstream_pixels:
        return crop_boxes(rgb[..., ::-1].copy(), boxes, normalise=False)
    return crop_boxes(rgb, boxes)
