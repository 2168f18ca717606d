"""Labelers: map a scanpath's fixations to integer symbols for the string metrics (docs/metrics.md §2.1).

* :class:`GridLabeler` — ``col = floor(int(x)·Xbin/W)``, ``row = floor(int(y)·Ybin/H)`` clamped,
  label ``row·Xbin + col``; ``wrap_x`` folds longitude (360° equirectangular grids, yaw in degrees).
  ``integer_cells`` uses the FixaTons cell ``min(floor(x/floor(W/Xbin)), Xbin−1)`` (NevaClip SED);
  ``integer_cells_compat`` the same without the clamp (upstream spill into the next row).
* :class:`SegmentationLabeler` — ``seg[clamp(int y), clamp(int x)]`` on a label map.
* :class:`ObjectLabeler` — ``fixation_extra["object"]`` when present, else the containing box,
  otherwise the box with the nearest centre.
* :class:`ClusterLabeler` — nearest MeanShift centre (see :mod:`scanpath.metrics.clusters`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.metrics._packing import Packed
from scanpath.types import Scanpath


def check_finite(s: Scanpath, what: str = "metrics") -> None:
    """Raise a clear :class:`ScanpathDataError` on NaN/inf coordinates (never scored silently)."""
    for name, arr in (("x", s.x), ("y", s.y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ScanpathDataError(
                f"fixation {i} has non-finite {name} ({arr[i]}); cannot compute {what}",
                record=f"{s.stimulus}/subject={s.subject}",
                field=name,
            )


def image_size_of(s: Scanpath, size: Sequence[int] | None = None) -> tuple[int, int]:
    if size is not None:
        return int(size[0]), int(size[1])
    if s.image_size is None:
        raise ScanpathDataError(
            "this metric needs the stimulus size (W, H); the scanpath has no image_size",
            record=f"{s.stimulus}/subject={s.subject}",
            field="image_size",
        )
    return s.image_size


class GridLabeler:
    """Grid cells on a (W, H) frame; ``grid=(Xbin, Ybin)``."""

    def __init__(self, grid: Sequence[int] = (5, 5), size: Sequence[int] | None = None,
                 wrap_x: bool = False, integer_cells_compat: bool = False, integer_cells: bool = False) -> None:
        self.xbin, self.ybin = int(grid[0]), int(grid[1])
        self.size = None if size is None else (float(size[0]), float(size[1]))
        self.wrap_x = wrap_x
        self.integer_cells_compat = integer_cells_compat
        self.integer_cells = integer_cells

    def labels_xy(self, x: np.ndarray, y: np.ndarray, size) -> np.ndarray:
        """Labels for coordinate arrays; ``size`` is (W, H) or per-point arrays (W[k], H[k])."""
        w = np.asarray(size[0], dtype=np.float64)
        h = np.asarray(size[1], dtype=np.float64)
        xi = np.trunc(np.asarray(x, dtype=np.float64))
        yi = np.trunc(np.asarray(y, dtype=np.float64))
        if self.wrap_x:
            xi = np.mod(xi, w)
        if self.integer_cells_compat or self.integer_cells:
            # FixaTons: integer cells W//n, H//n; upstream lets points past n·step spill into the
            # next row (compat), the fixed form clamps to the last cell
            sx = np.maximum(w.astype(np.int64) // self.xbin, 1)
            sy = np.maximum(h.astype(np.int64) // self.ybin, 1)
            col = (xi // sx).astype(np.int64)
            row = (yi // sy).astype(np.int64)
            if not self.integer_cells_compat:
                col = np.clip(col, 0, self.xbin - 1)
                row = np.clip(row, 0, self.ybin - 1)
            return row * self.xbin + col
        col = np.clip(np.floor(xi * self.xbin / w), 0, self.xbin - 1).astype(np.int64)
        row = np.clip(np.floor(yi * self.ybin / h), 0, self.ybin - 1).astype(np.int64)
        return row * self.xbin + col

    def __call__(self, s: Scanpath) -> np.ndarray:
        check_finite(s, "grid labels")
        return self.labels_xy(s.x, s.y, self.size or image_size_of(s))

    def label_many(self, scanpaths: Sequence[Scanpath]) -> Packed:
        """Labels of many scanpaths in one vectorised pass (same result as calling one by one),
        kept packed (:class:`~scanpath.metrics._packing.Packed`: no per-scanpath split)."""
        if not scanpaths:
            return Packed(np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64))
        lens = np.fromiter(map(len, scanpaths), dtype=np.int64, count=len(scanpaths))
        x = np.concatenate([s.x for s in scanpaths])
        y = np.concatenate([s.y for s in scanpaths])
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            for s in scanpaths:
                check_finite(s, "grid labels")
        if self.size is not None:
            size = self.size
        else:
            wh = np.array([image_size_of(s) for s in scanpaths], dtype=np.float64)
            size = (np.repeat(wh[:, 0], lens), np.repeat(wh[:, 1], lens))
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return Packed(self.labels_xy(x, y, size), offsets)


class EquirectGridLabeler(GridLabeler):
    """12 (longitude) × 8 (latitude) cells on yaw/pitch degrees with the seam wrapped (360°)."""

    def __init__(self, grid: Sequence[int] = (12, 8)) -> None:
        super().__init__(grid, size=(360.0, 180.0), wrap_x=True)

    def __call__(self, s: Scanpath) -> np.ndarray:
        check_finite(s, "equirectangular grid labels")
        lon = np.mod(np.asarray(s.x, dtype=np.float64) + 180.0, 360.0)  # [-180, 180) -> [0, 360)
        lat = 90.0 - np.asarray(s.y, dtype=np.float64)  # pitch +90 (up) -> row 0
        col = np.clip(np.floor(lon * self.xbin / 360.0), 0, self.xbin - 1).astype(np.int64)
        row = np.clip(np.floor(lat * self.ybin / 180.0), 0, self.ybin - 1).astype(np.int64)
        return row * self.xbin + col

    def label_many(self, scanpaths: Sequence[Scanpath]) -> list[np.ndarray]:
        return [self(s) for s in scanpaths]


class SegmentationLabeler:
    """``seg[clamp(int y), clamp(int x)]``; the map is in the scanpath's frame unless
    ``frame=(W, H)`` says which frame the coordinates must be rescaled to first."""

    def __init__(self, maps: Mapping[str, np.ndarray], frame: Sequence[int] | None = None) -> None:
        self.maps = maps
        self.frame = frame

    def __call__(self, s: Scanpath) -> np.ndarray:
        check_finite(s, "segmentation labels")
        from pathlib import Path

        name = s.stimulus if s.stimulus in self.maps else Path(str(s.stimulus)).stem
        if name not in self.maps:
            raise ScanpathDataError("no segmentation map for this stimulus", record=s.stimulus, field="stimulus")
        seg = np.asarray(self.maps[name])
        x, y = s.x, s.y
        if self.frame is not None and s.image_size is not None:
            x = x * self.frame[0] / s.image_size[0]
            y = y * self.frame[1] / s.image_size[1]
        h, w = seg.shape[:2]
        xi = np.clip(np.trunc(x).astype(np.int64), 0, w - 1)
        yi = np.clip(np.trunc(y).astype(np.int64), 0, h - 1)
        return seg[yi, xi].astype(np.int64)


class ObjectLabeler:
    """Object index per fixation: ``fixation_extra["object"]`` or boxes ``[N, 4]`` (x0, y0, x1, y1)."""

    def __init__(self, boxes: Mapping[str, np.ndarray] | None = None, field: str = "object") -> None:
        self.boxes = boxes
        self.field = field

    def __call__(self, s: Scanpath) -> np.ndarray:
        if self.field in s.fixation_extra:
            return np.asarray(s.fixation_extra[self.field]).astype(np.int64).reshape(-1)
        check_finite(s, "object labels")
        boxes = None
        if self.boxes is not None and s.stimulus in self.boxes:
            boxes = self.boxes[s.stimulus]
        elif "boxes" in s.extra:
            boxes = s.extra["boxes"]
        if boxes is None:
            raise ScanpathDataError(
                f"object labels need fixation_extra[{self.field!r}] or object boxes",
                record=f"{s.stimulus}/subject={s.subject}", field=self.field,
            )
        return boxes_to_objects(s.x, s.y, np.asarray(boxes, dtype=np.float64))


def boxes_to_objects(x: np.ndarray, y: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Containing box (first one), otherwise the box with the nearest centre (lowest index on ties)."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    y = np.asarray(y, dtype=np.float64)[:, None]
    inside = (x >= boxes[None, :, 0]) & (x <= boxes[None, :, 2]) & (y >= boxes[None, :, 1]) & (y <= boxes[None, :, 3])
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    dist = (x - cx[None]) ** 2 + (y - cy[None]) ** 2
    nearest = np.argmin(dist, axis=1)
    first_inside = np.argmax(inside, axis=1)
    return np.where(inside.any(axis=1), first_inside, nearest).astype(np.int64)


def make_labeler(params: Mapping[str, Any], context: Mapping[str, Any] | None = None):
    """Build a labeler from metric params (``labeler: grid|object|equirect|segmentation|cluster``)."""
    kind = params.get("labeler", "grid")
    context = context or {}
    if kind == "grid":
        cells = params.get("grid_cells", "fraction")
        if cells not in ("fraction", "integer"):
            raise ValueError(f"grid_cells must be 'fraction' or 'integer', got {cells!r}")
        compat = bool(params.get("sed_integer_cells_compat", False) or params.get("upstream_grid", False))
        return GridLabeler(params.get("grid", (5, 5)), integer_cells_compat=compat,
                           integer_cells=cells == "integer")
    if kind == "equirect":
        return EquirectGridLabeler(params.get("grid", (12, 8)))
    if kind == "object":
        return ObjectLabeler(context.get("boxes"))
    if kind == "segmentation":
        maps = context.get("segmentation_maps")
        if maps is None and params.get("segmentation_dir"):
            from scanpath.metrics.clusters import load_segmentation_maps

            maps = load_segmentation_maps(params["segmentation_dir"])
        if maps is None:
            raise ValueError("labeler 'segmentation' needs segmentation_dir or context['segmentation_maps']")
        return SegmentationLabeler(maps)
    if kind == "cluster":
        from scanpath.metrics.clusters import ClusterLabeler

        path = params.get("cluster_file") or context.get("cluster_file")
        if path is None:
            raise ValueError("labeler 'cluster' needs cluster_file (JSON written by build_clusters)")
        return ClusterLabeler.load(path)
    raise ValueError(f"unknown labeler {kind!r}")
