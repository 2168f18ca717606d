"""Shared Lightning predict path of the optimised modes (NevaClip, NeVA-OPT); no math here.

Subclasses build ``self.net`` (a module of :mod:`.optimised`) and say how a batch feeds it. The
optimised modes need gradients at prediction time: :meth:`predict_scanpaths` leaves inference mode
and enables gradients itself (cloning inputs), so it runs inside the evaluation's ``no_grad`` loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from scanpath.models.base import ScanpathModel
from scanpath.models.neva.batching import batch_ids, model_inputs, to_scanpath_batch
from scanpath.models.neva.params import SearchParams
from scanpath.models.neva.torch_model import NevaOptimizer, NevaResult, grad_enabled
from scanpath.types import ScanpathBatch


class OptimisedNevaModule(ScanpathModel):
    """Predict-only wrapper: batch → model inputs → ``self.net`` → ScanpathBatch in original pixels.

    ``resize_mode`` / ``resize`` say how the image becomes the ``S×S`` model input (must match the
    datamodule's), ``duration_ms`` fills durations, ``display_name`` names the row; every other
    keyword is a :class:`SearchParams` field (an unknown key is a :class:`TypeError` naming it).
    """

    trainable = False
    samples_per_stimulus = 1
    #: per-class defaults of the search settings (NeVA-OPT: jitter restarts, clamp ±2.5)
    search_defaults: Mapping[str, Any] = {}
    image_size: int
    net: torch.nn.Module

    def __init__(self, resize_mode: str = "shortest", resize: int | None = None, duration_ms: float | None = None,
                 display_name: str | None = None, **search: Any) -> None:
        super().__init__()
        self.params = SearchParams.from_kwargs(type(self).__name__, self.search_defaults, **search)
        self.resize_mode = resize_mode
        self.resize = resize
        self.duration_ms = duration_ms
        if display_name:
            self.display_name = display_name

    @property
    def upstream_quirks(self) -> bool:
        return self.params.upstream_quirks

    @property
    def optimizer(self) -> NevaOptimizer:
        """The fixation search (``self.net.search``)."""
        return self.net.search  # type: ignore[return-value]

    # ------------------------------------------------------------------ what subclasses provide
    def run(self, batch: dict[str, Any], x: torch.Tensor) -> NevaResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def condition_of(self, batch: dict[str, Any], n: int) -> list[str | None] | None:
        return None

    def extra_of(self, batch: dict[str, Any], n: int) -> list[dict[str, Any]]:
        return [{} for _ in range(n)]

    # ------------------------------------------------------------------ prediction
    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        with grad_enabled():
            x, geom = model_inputs(batch, self.image_size, self.resize_mode, self.resize, self.device)
            x = x.clone().to(torch.float32)
            res = self.run(batch, x)
        fx: dict[str, torch.Tensor] = {"loss": res.loss}
        if self.upstream_quirks:  # upstream's output frame: crop-relative (row, col) model-input pixels
            S = self.image_size
            fx["upstream_row"] = (res.fix_norm[..., 0] + 1) * (S - 1) / 2
            fx["upstream_col"] = (res.fix_norm[..., 1] + 1) * (S - 1) / 2
        n = x.shape[0]
        return to_scanpath_batch(batch, res.fix_norm, geom, fx, self.extra_of(batch, n), self.duration_ms,
                                 self.condition_of(batch, n))

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        if "clip_image" not in sample and "image" not in sample:
            return "needs the stimulus image ('clip_image' or 'image')"
        return None

    @staticmethod
    def ids(batch: dict[str, Any], x: torch.Tensor) -> list[str]:
        return batch_ids(batch, x.shape[0])
