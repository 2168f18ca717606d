"""The optimised modes as plain torch modules (docs/nevaclip.md §2.2): targets + the fixation search.

* :class:`NevaClip` — a frozen CLIP; the target is the caption embedding (the paper), the embedding of
  the sharp image (free viewing), or the schedule ``l·e₁ + (1−l)·e₂`` (``l = (s/T)²``, Q7).
* :class:`NevaOpt` — a frozen classifier; the target is its own argmax on the clean image.

Both run :class:`~scanpath.models.neva.torch_model.NevaOptimizer` and return its
:class:`~scanpath.models.neva.torch_model.NevaResult`. Tensors in, tensors out (no batches, no Lightning).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scanpath.errors import ScanpathDataError
from scanpath.models.neva.clip_factory import ClipBundle
from scanpath.models.neva.params import SearchParams
from scanpath.models.neva.torch_model import NevaOptimizer, NevaResult, freeze, schedule_weights

TARGETS = ("caption", "image", "schedule")
SCHEDULE_PARTS = ("caption", "image")


class NevaClip(nn.Module):
    """NevaClip: 1 − cos(CLIP(foveated image), target), minimised over fovea positions."""

    def __init__(self, bundle: ClipBundle, params: SearchParams, target: str = "caption",
                 schedule_targets: Sequence[str] = ("caption", "image")) -> None:
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.target = target
        self.schedule_targets = tuple(schedule_targets)
        bad = [t for t in self.schedule_targets if t not in SCHEDULE_PARTS]
        if target == "schedule" and (len(self.schedule_targets) != 2 or bad):
            raise ValueError(f"schedule_targets must name two of {SCHEDULE_PARTS}, got {list(self.schedule_targets)}")
        self.bundle = bundle
        self.clip_model = bundle.model  # registered, so device moves take text and image towers together
        self.search = NevaOptimizer(bundle.visual, params, loss="cosine", mean=bundle.mean, std=bundle.std)

    @property
    def needs_caption(self) -> bool:
        return self.target == "caption" or (self.target == "schedule" and "caption" in self.schedule_targets)

    def embedding(self, kind: str, images: torch.Tensor, captions: Sequence[str] | None) -> torch.Tensor:
        if kind == "image":
            return self.search.image_target(images)
        if captions is None:
            raise ScanpathDataError("target 'caption' needs a 'caption' per sample (data=capmit1003)",
                                    field="caption")
        return self.bundle.encode_text(list(captions), images.device).to(images.dtype)

    def targets(self, images: torch.Tensor, captions: Sequence[str] | None) -> tuple[torch.Tensor, bool]:
        """``(target, per_step)``: ``[B, D]``, or ``[T, B, D]`` for the schedule."""
        if self.target != "schedule":
            return self.embedding(self.target, images, captions), False
        e1 = self.embedding(self.schedule_targets[0], images, captions)
        e2 = self.embedding(self.schedule_targets[1], images, captions)
        w = schedule_weights(self.search.n_fixations, self.search.upstream_quirks).to(images)
        return w[:, None, None] * e1[None] + (1 - w[:, None, None]) * e2[None], True

    def forward(self, images: torch.Tensor, captions: Sequence[str] | None = None,
                sample_ids: Sequence[object] | None = None) -> NevaResult:
        tgt, per_step = self.targets(images, captions)
        return self.search(images, tgt.clone(), sample_ids, per_step=per_step)


class NevaOpt(nn.Module):
    """NeVA-OPT: cross-entropy of a frozen classifier against its own argmax on the clean image."""

    def __init__(self, classifier: nn.Module, params: SearchParams, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.classifier = freeze(classifier)
        self.search = NevaOptimizer(self.classifier, params, loss="cross_entropy", mean=mean, std=std)

    def forward(self, images: torch.Tensor, sample_ids: Sequence[object] | None = None) -> NevaResult:
        tgt = self.search.image_target(images).argmax(1)
        return self.search(images, tgt.clone(), sample_ids)
