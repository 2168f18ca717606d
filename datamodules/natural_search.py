"""Natural-image visual search data for eccNET / IVSN (docs/eccnet.md §2.6), COCO-Search18 style.

Reads interchange JSON (:mod:`scanpath.datamodules.coco_search18`) plus images, and gives every sample what a
target-search model needs besides the display:

* ``image``: the display ``[3, H, W]`` float in [0, 1], resized to ``display_size`` (W, H) (e.g. 896 x 736
  for NaturalDesign / Waldo, whose originals are 1280 x 1024); fixations stay in the original frame;
* ``target_crop``: the target ``[3, t, t]`` float in [0, 1] at ``target_size``, either cut from the
  original image at the record's ``bbox`` (``target_source: bbox``, COCO-Search18 records) or read from
  ``target_dir`` (``target_source: dir``, e.g. the Zhang et al. 2018 target images);
* ``gt_mask``: bool ``[H, W]`` in display pixels, the ``bbox`` scaled to the display
  (``gt_source: bbox``) or a mask image from ``gt_dir`` (``gt_source: dir``, pixels > 127).

File names in ``target_dir`` / ``gt_dir`` come from ``target_pattern`` / ``gt_pattern`` with the fields
``{name}`` (the record's image name), ``{stem}``, ``{suffix}`` and ``{task}``.
Target-absent records (``condition: absent``) are dropped when ``present_only`` (the default): a search
needs a target. Records without a usable ``bbox`` (when a source needs it) or with a missing file stop
setup with a :class:`ScanpathDataError` naming the file, record and field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from scanpath.datamodules.coco_search18 import CocoSearch18DataModule, read_rgb, rgb_to_tensor
from scanpath.datamodules.paths import require_dir
from scanpath.errors import ScanpathDataError
from scanpath.io.paths import resolve_under

log = logging.getLogger(__name__)
SOURCES = ("bbox", "dir")


def bbox_to_pixels(bbox: Sequence[float], scale_x: float, scale_y: float, width: int, height: int
                   ) -> tuple[int, int, int, int]:
    """``[x, y, w, h]`` (frame units) -> pixel rows/cols ``(r0, r1, c0, c1)`` of an image, clipped, >= 1 px."""
    x, y, w, h = (float(v) for v in bbox)
    c0, c1 = int(np.floor(x * scale_x)), int(np.ceil((x + w) * scale_x))
    r0, r1 = int(np.floor(y * scale_y)), int(np.ceil((y + h) * scale_y))
    c0, r0 = min(max(c0, 0), width - 1), min(max(r0, 0), height - 1)
    return r0, max(min(r1, height), r0 + 1), c0, max(min(c1, width), c0 + 1)


def check_bbox(bbox: Sequence[float], frame: Sequence[int], file: str | Path, record: str) -> None:
    """Raise when the target box has no overlap with the (W, H) frame."""
    W0, H0 = frame
    x, y, w, h = (float(v) for v in bbox)
    if x >= W0 or y >= H0 or x + w <= 0 or y + h <= 0:
        raise ScanpathDataError(f"target box {list(bbox)} lies outside the {W0}x{H0} frame", file=file,
                                record=record, field="bbox")


class NaturalSearchDataset(Dataset):
    """Loads display, target and gt mask of each sample on access."""

    def __init__(self, samples: list[dict[str, Any]], display_size: Sequence[int] | None,
                 target_size: Sequence[int], target_source: str, gt_source: str) -> None:
        self.samples = samples
        self.display_size = tuple(int(v) for v in display_size) if display_size else None
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.target_source, self.gt_source = target_source, gt_source

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = dict(self.samples[i])
        path = s.pop("image_path")
        target_path, gt_path = s.pop("target_path", None), s.pop("gt_path", None)
        rec = str(s["stimulus"])
        original = read_rgb(path, rec)
        h0, w0 = original.shape[:2]
        frame_w, frame_h = s["image_size"] if s.get("image_size") is not None else (w0, h0)
        s["image_size"] = (int(frame_w), int(frame_h))
        W, H = self.display_size or (w0, h0)
        display = original if (W, H) == (w0, h0) else cv2.resize(original, (W, H), interpolation=cv2.INTER_AREA)
        bbox = s["scanpath"].extra.get("bbox")  # checked against the frame at setup
        if self.target_source == "bbox":
            r0, r1, c0, c1 = bbox_to_pixels(bbox, w0 / frame_w, h0 / frame_h, w0, h0)
            target = original[r0:r1, c0:c1]
        else:
            target = read_rgb(target_path, rec)
        target = cv2.resize(target, self.target_size, interpolation=cv2.INTER_AREA)
        gt = np.zeros((H, W), bool)
        if self.gt_source == "bbox":
            r0, r1, c0, c1 = bbox_to_pixels(bbox, W / frame_w, H / frame_h, W, H)
            gt[r0:r1, c0:c1] = True
        else:
            m = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
            if m is None:
                raise ScanpathDataError("cannot read gt mask", file=gt_path, record=rec)
            gt = cv2.resize(m, (W, H), interpolation=cv2.INTER_NEAREST) > 127
            if not gt.any():
                raise ScanpathDataError("gt mask has no target pixel (> 127)", file=gt_path, record=rec)
        s["image"] = rgb_to_tensor(display)
        s["target_crop"] = rgb_to_tensor(target)
        s["gt_mask"] = torch.from_numpy(gt)
        return s


class NaturalSearchDataModule(CocoSearch18DataModule):
    """Target-present search trials on natural images (display + target + gt mask per scanpath)."""

    name = "natural_search"

    def __init__(
        self,
        annotations: str | Sequence[str],
        image_dir: str,
        display_size: Sequence[int] | None = None,
        target_size: int | Sequence[int] = 32,
        target_source: str = "bbox",
        target_dir: str | None = None,
        target_pattern: str = "{name}",
        gt_source: str = "bbox",
        gt_dir: str | None = None,
        gt_pattern: str = "{name}",
        present_only: bool = True,
        **kwargs: Any,
    ) -> None:
        if not image_dir:
            raise ValueError("natural_search needs image_dir (the search displays)")
        super().__init__(annotations, image_dir=image_dir, image_resize=display_size, **kwargs)
        for key, src, folder in (("target", target_source, target_dir), ("gt", gt_source, gt_dir)):
            if src not in SOURCES:
                raise ValueError(f"{key}_source must be one of {SOURCES}, got {src!r}")
            if src == "dir" and not folder:
                raise ValueError(f"{key}_source=dir needs {key}_dir")
        ts = (target_size, target_size) if isinstance(target_size, int) else tuple(target_size)
        if len(ts) != 2 or min(ts) < 1:
            raise ValueError(f"target_size must be a side or [w, h] >= 1, got {target_size!r}")
        self.target_size = (int(ts[0]), int(ts[1]))
        self.target_source, self.gt_source = target_source, gt_source
        self.target_dir = Path(target_dir) if target_dir else None
        self.gt_dir = Path(gt_dir) if gt_dir else None
        self.target_pattern, self.gt_pattern = target_pattern, gt_pattern
        self.present_only = bool(present_only)

    def _side_file(self, folder: Path, pattern: str, sp: Any, ann: str | Path, field: str) -> Path:
        name = Path(sp.stimulus)
        rel = pattern.format(name=sp.stimulus, stem=name.stem, suffix=name.suffix, task=sp.task or "")
        path = resolve_under(folder, rel, allow_outside=self.allow_outside, file=ann, record=sp.stimulus, field=field)
        if not path.is_file():
            raise ScanpathDataError(f"{field} file {path} not found", file=ann, record=sp.stimulus, field=field)
        return path

    def load_samples(self) -> list[dict[str, Any]]:
        require_dir(self.target_dir, "data.target_dir")
        require_dir(self.gt_dir, "data.gt_dir")
        return super().load_samples()

    def samples_from(self, ann: str | Path) -> list[dict[str, Any]]:
        out = []
        dropped = 0
        for s in super().samples_from(ann):
            sp = s["scanpath"]
            if self.present_only and sp.condition == "absent":
                dropped += 1
                continue
            if "bbox" in (self.target_source, self.gt_source):
                bbox = sp.extra.get("bbox")
                if bbox is None or min(float(bbox[2]), float(bbox[3])) <= 0:
                    raise ScanpathDataError(f"a target box [x, y, w, h] with w, h > 0 is needed (target_source="
                                            f"{self.target_source}, gt_source={self.gt_source}), got {bbox!r}",
                                            file=ann, record=sp.stimulus, field="bbox")
                if sp.image_size is not None:
                    check_bbox(bbox, sp.image_size, ann, sp.stimulus)
            if self.target_source == "dir":
                s["target_path"] = self._side_file(self.target_dir, self.target_pattern, sp, ann, "target")
            if self.gt_source == "dir":
                s["gt_path"] = self._side_file(self.gt_dir, self.gt_pattern, sp, ann, "gt")
            out.append(s)
        if dropped:
            log.info("%s: dropped %d target-absent scanpaths from %s (present_only)", self.name, dropped, ann)
        return out

    def make_dataset(self, samples: list[dict[str, Any]]) -> Dataset:
        return NaturalSearchDataset(samples, self.image_resize, self.target_size, self.target_source, self.gt_source)
