"""Lightning wrapper of NevaClip (``model=nevaclip``): zero-shot, caption / image / schedule targets.

The math is :class:`scanpath.models.neva.optimised.NevaClip`; this file reads captions and metadata
from the batch and labels the rows (docs/nevaclip.md §2.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from scanpath.models.neva.clip_factory import ClipBundle, build_clip
from scanpath.models.neva.module_optimised import OptimisedNevaModule
from scanpath.models.neva.optimised import TARGETS, NevaClip
from scanpath.models.neva.torch_model import NevaResult


class NevaClipModule(OptimisedNevaModule):
    """NevaClip: 1 − cos(CLIP(foveated image), target) minimised by signed-gradient position steps.

    ``clip``: :func:`~scanpath.models.neva.clip_factory.build_clip` kwargs. ``target``: ``caption``
    (the paper; needs ``"caption"`` in the batch), ``image`` (embedding of the sharp image; free
    viewing) or ``schedule`` (``l·e₁ + (1−l)·e₂``, ``l = (s/T)²``, with ``schedule_targets`` naming
    e₁ and e₂; Q7 with ``upstream_quirks``). Other keys: see :class:`OptimisedNevaModule`.
    """

    display_name = "NevaClip"

    def __init__(self, clip: Mapping[str, Any] | None = None, target: str = "caption",
                 schedule_targets: Sequence[str] = ("caption", "image"), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.save_hyperparameters(ignore=["clip"])
        self.clip_cfg = dict(clip or {})
        bundle: ClipBundle = build_clip(**self.clip_cfg)
        self.image_size = bundle.image_size
        self.net = NevaClip(bundle, self.params, target, schedule_targets)

    @property
    def target(self) -> str:
        return self.net.target

    @property
    def bundle(self) -> ClipBundle:
        return self.net.bundle

    def run(self, batch: dict[str, Any], x: torch.Tensor) -> NevaResult:
        caps = batch.get("caption")
        return self.net(x, None if caps is None else list(caps), self.ids(batch, x))

    def condition_of(self, batch: dict[str, Any], n: int) -> list[str | None]:
        modes = batch.get("caption_mode")
        if modes is None:
            return [self.target] * n
        return [f"{self.target}:{m}" for m in modes]

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        why = super().skip_reason(sample)
        if why is None and self.net.needs_caption and "caption" not in sample:
            why = f"target {self.target!r} needs a 'caption' per sample (data=capmit1003, or mit1003 with captions_db)"
        return why

    def extra_of(self, batch: dict[str, Any], n: int) -> list[dict[str, Any]]:
        caps = batch.get("caption") or [None] * n
        obs = batch.get("obs_uid") or [None] * n
        return [{"caption": c, "obs_uid": o, "target": self.target, "upstream_quirks": self.upstream_quirks,
                 "resize_mode": self.resize_mode} for c, o in zip(caps, obs)]
