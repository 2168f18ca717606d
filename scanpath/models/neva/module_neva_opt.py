"""Lightning wrapper of NeVA-OPT (``model=neva_opt``): optimised mode with a frozen classifier.

The math is :class:`scanpath.models.neva.optimised.NevaOpt` (docs/nevaclip.md §2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from scanpath.models.neva.module_optimised import OptimisedNevaModule
from scanpath.models.neva.optimised import NevaOpt
from scanpath.models.neva.torch_model import NevaResult


class NevaOptModule(OptimisedNevaModule):
    """NeVA-OPT: cross-entropy of a frozen classifier against its own argmax on the clean image.

    ``classifier`` is a module (Hydra-instantiated, e.g. :func:`~scanpath.models.neva.torch_model.build_classifier`
    with ``pretrained_weights: null`` offline, ``IMAGENET1K_V1`` with network/cache, or ``checkpoint:`` a
    local state dict). Defaults: jitter restarts, clamp ±2.5 in both modes (upstream clipped, so Q2
    does not apply). Other keys: see :class:`OptimisedNevaModule`.
    """

    display_name = "NeVA-OPT"
    search_defaults = {"restart": "jitter", "position_clip": 2.5, "upstream_position_clip": 2.5}

    def __init__(self, classifier: nn.Module, image_size: int = 224,
                 mean: Sequence[float] | None = (0.485, 0.456, 0.406),
                 std: Sequence[float] | None = (0.229, 0.224, 0.225), **kwargs: Any) -> None:
        if not isinstance(classifier, nn.Module):
            raise TypeError(
                f"NevaOptModule: classifier must be a module, got {type(classifier).__name__}; a file path is not "
                "unpickled (that could run code): build the architecture with model.classifier._target_ "
                "(e.g. scanpath.models.neva.torch_model.build_classifier) and give its state dict as "
                "model.classifier.checkpoint")
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["classifier"])
        self.image_size = int(image_size)
        self.net = NevaOpt(classifier, self.params, mean, std)

    @property
    def classifier(self) -> nn.Module:
        return self.net.classifier

    def run(self, batch: dict[str, Any], x: torch.Tensor) -> NevaResult:
        return self.net(x, self.ids(batch, x))
