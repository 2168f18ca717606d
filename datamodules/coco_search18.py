"""Datamodule over COCO-Search18-style interchange JSON (+ optional image folder).

Reads one or more interchange files with :func:`scanpath.io.coco.read_coco_json` (COCO-Search18
TP/TA train+valid(+test), COCO-FreeView, or any file our writer produced). One sample per human
scanpath: ``scanpath``, ``stimulus``, ``task``, ``condition``, ``image_size`` and, when
``image_dir`` is given, ``image`` (``[3, H, W]`` float in [0, 1], loaded lazily per item, resized to
``image_resize`` (W, H) when set — coordinates stay in the original frame).

Splits: ``split: auto`` uses each record's ``split`` key (``train``/``valid``/``val``/``test``)
when every record has one, otherwise the seeded by-stimulus split of the base class.
Evaluation key defaults to ``task`` (condition-task-stimulus, COCO-Search18 style).

Paths: a configured ``image_dir`` that does not exist is an error (never a silent no-image run); a
record ``name`` (or ``task``) that leads outside ``image_dir`` (absolute, ``..``) is an error unless
``allow_outside=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.io.coco import read_coco_json
from scanpath.datamodules.paths import require_dir
from scanpath.errors import ScanpathDataError
from scanpath.io.paths import resolve_under

log = logging.getLogger(__name__)
_SPLIT_NAMES = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}


def read_rgb(path: Path, record: Any = None) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` via OpenCV; an unreadable file raises naming it (and the record)."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ScanpathDataError("cannot read image", file=path, record=record)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` -> float ``[3, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


def load_image(path: Path, resize: Sequence[int] | None = None) -> torch.Tensor:
    """RGB image as ``[3, H, W]`` float in [0, 1] (OpenCV; optional resize to (W, H))."""
    import cv2

    rgb = read_rgb(path)
    if resize is not None:
        rgb = cv2.resize(rgb, (int(resize[0]), int(resize[1])), interpolation=cv2.INTER_AREA)
    return rgb_to_tensor(rgb)


class _LazyImageDataset(Dataset):
    def __init__(self, samples: list[dict[str, Any]], resize: Sequence[int] | None) -> None:
        self.samples = samples
        self.resize = resize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = dict(self.samples[i])
        path = s.pop("image_path", None)
        if path is not None:
            s["image"] = load_image(path, self.resize)
        return s


class CocoSearch18DataModule(ScanpathDataModule):
    """Human scanpaths from interchange JSON files; images optional."""

    name = "coco_search18"

    def __init__(
        self,
        annotations: str | Sequence[str],
        image_dir: str | None = None,
        image_resize: Sequence[int] | None = None,
        frame: Sequence[int] | None = None,
        split: str = "auto",
        fix_length_mismatch: str | None = None,
        name: str | None = None,
        synthetic: bool = False,
        allow_outside: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("eval_key", "task")
        super().__init__(**kwargs)
        self.annotations = [annotations] if isinstance(annotations, (str, Path)) else list(annotations)
        self.image_dir = Path(image_dir) if image_dir else None
        self.allow_outside = bool(allow_outside)
        self.image_resize = tuple(image_resize) if image_resize else None
        self.frame = tuple(int(v) for v in frame) if frame else None
        if split not in ("auto", "file", "stimulus"):
            raise ValueError(f"split must be auto | file | stimulus, got {split!r}")
        self.split = split
        self.fix_length_mismatch = fix_length_mismatch
        if name:
            self.name = name
        self.synthetic = bool(synthetic)

    def load_samples(self) -> list[dict[str, Any]]:
        require_dir(self.image_dir, "data.image_dir")
        samples = [s for ann in self.annotations for s in self.samples_from(ann)]
        log.info("%s: %d scanpaths from %s", self.name, len(samples), self.annotations)
        return samples

    def samples_from(self, ann: str | Path) -> list[dict[str, Any]]:
        """The samples of one annotation file (image paths resolved, not loaded)."""
        samples = []
        for sp in read_coco_json(
            ann, image_size=self.frame, invalid_policy=self.invalid_policy,
            fix_length_mismatch=self.fix_length_mismatch,
        ):
            sample: dict[str, Any] = {
                "scanpath": sp,
                "stimulus": sp.stimulus,
                "task": sp.task,
                "condition": sp.condition,
                "image_size": sp.image_size,
                "split_hint": sp.extra.get("split"),
            }
            if self.image_dir is not None:
                under = {"allow_outside": self.allow_outside, "file": ann, "record": sp.stimulus, "field": "name"}
                path = resolve_under(self.image_dir, sp.stimulus, **under)
                if not path.is_file() and sp.task:  # COCO-Search18 images/<task>/<name>
                    path = resolve_under(self.image_dir, Path(sp.task) / sp.stimulus, **under)
                if not path.is_file():
                    raise ScanpathDataError(f"image not found under {self.image_dir}", file=ann, field="name",
                                            record=sp.stimulus)
                sample["image_path"] = path
            samples.append(sample)
        return samples

    def split_samples(self, samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        use_file = self.split == "file" or (
            self.split == "auto" and samples and all(s["split_hint"] in _SPLIT_NAMES for s in samples)
        )
        if not use_file:
            return super().split_samples(samples)
        out: dict[str, list[dict[str, Any]]] = {"train": [], "val": [], "test": []}
        for i, s in enumerate(samples):
            if s["split_hint"] not in _SPLIT_NAMES:
                raise ScanpathDataError(f"unknown split {s['split_hint']!r}", record=i, field="split")
            out[_SPLIT_NAMES[s["split_hint"]]].append(s)
        return out

    def make_dataset(self, samples: list[dict[str, Any]]) -> Dataset:
        """Samples -> a dataset that loads the heavy fields (images) on access."""
        return _LazyImageDataset(samples, self.image_resize)
