"""The sample/batch contract: what every datamodule collates to and every model reads.

A *sample* is one human scanpath with the stimulus it was recorded on. Required keys:
``"scanpath"`` (:class:`scanpath.types.Scanpath`, pixels of the original stimulus) and
``"stimulus"`` (id string). Optional keys read by models: ``"image"`` (float ``[3, H, W]`` in
[0, 1]), ``"image_size"`` ((W, H)), ``"task"``, and family-specific fields (OAT: ``"boxes"``,
``"grid"``, ``"target_index"``, ``"crops"`` …). :func:`collate_samples` turns a list of samples into
a *batch*: scanpaths become one :class:`~scanpath.types.ScanpathBatch` under ``"scanpaths"``,
equal-shape tensors are stacked, ``image_size`` becomes a ``[B, 2]`` long tensor and everything else
a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import torch

from scanpath.types import Scanpath, ScanpathBatch

#: keys every sample carries
REQUIRED_SAMPLE_KEYS = ("scanpath", "stimulus")


class Sample(TypedDict, total=False):
    """One human scanpath and its stimulus (the common keys; families add their own)."""

    scanpath: Scanpath
    stimulus: str
    task: str | None
    condition: str | None
    image: torch.Tensor
    image_size: tuple[int, int]


class Batch(TypedDict, total=False):
    """What :func:`collate_samples` returns and ``predict_scanpaths`` reads."""

    scanpaths: ScanpathBatch
    stimulus: list[str]
    task: list[Any]
    image: torch.Tensor | list[Any]
    image_size: torch.Tensor


def collate_samples(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate sample dicts into a :class:`Batch` (see the module docstring for the rules)."""
    batch: dict[str, Any] = {"scanpaths": ScanpathBatch.from_list([s["scanpath"] for s in samples])}
    keys = {k for s in samples for k in s} - {"scanpath"}
    for k in sorted(keys):
        vals = [s.get(k) for s in samples]
        if k == "image_size" and all(v is not None for v in vals):
            batch[k] = torch.as_tensor(np.asarray(vals), dtype=torch.long)
        elif all(isinstance(v, torch.Tensor) for v in vals) and len({tuple(v.shape) for v in vals}) == 1:
            batch[k] = torch.stack(vals)
        else:
            batch[k] = vals
    return batch
