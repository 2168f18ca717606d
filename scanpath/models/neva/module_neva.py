"""Lightning wrapper of the NeVA trained mode (``train.py model=neva``): steps, optimisers, logging.

The math (downstream choice, glimpse loop, foveated loss and accuracy, classifier fitting, rollout)
is :class:`scanpath.models.neva.trained.NevaNet` (docs/nevaclip.md §2.3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from scanpath.errors import ScanpathDataError
from scanpath.models.base import ScanpathModel
from scanpath.models.neva.batching import model_inputs, to_scanpath_batch
from scanpath.models.neva.params import NevaParams
from scanpath.models.neva.trained import NevaNet
from scanpath.types import ScanpathBatch

#: submodule names of checkpoints written before the torch model moved into ``self.net``
_LEGACY_PREFIXES = ("attention.", "classifier.", "clip_visual.")


class NevaModule(ScanpathModel):
    """NeVA trained mode: an attention network learns to place glimpses that minimise a frozen
    downstream loss; ``predict_scanpaths`` rolls it out.

    ``attention`` / ``classifier``: modules (Hydra ``_target_`` nodes); ``optimizer`` / ``scheduler``:
    partial factories. Every other keyword is a :class:`~scanpath.models.neva.params.NevaParams`
    field (an unknown key is a :class:`TypeError` naming it). ``downstream``:

    * ``reconstruction`` (default; needs no weights): identity downstream, MSE to the sharp image —
      the net learns to fixate where blur destroys the most information. Validation: foveated MSE.
    * ``classifier``: cross-entropy on the dataset labels (``label_key``) of a frozen classifier —
      ``classifier_ckpt`` (a state dict) or a :class:`~scanpath.models.neva.torch_model.SmallClassifier`
      fitted for ``classifier_fit_steps`` Adam steps on the training images at fit start. Validation
      adds foveated accuracy (upstream ``run_accuracy``).
    * ``clip``: 1 − cos to the CLIP image embedding of the sharp image (``clip`` = factory kwargs).
    """

    trainable = True
    display_name = "NeVA"

    def __init__(self, attention: nn.Module | None = None, classifier: nn.Module | None = None,
                 optimizer: Any = None, scheduler: Any = None, **kwargs: Any) -> None:
        super().__init__()
        params = NevaParams.from_kwargs(type(self).__name__, **kwargs)
        self.save_hyperparameters(ignore=["attention", "classifier", "optimizer", "scheduler"])
        self.automatic_optimization = False
        self.params = params
        self.net = NevaNet(params, attention, classifier)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    @property
    def attention(self) -> nn.Module:
        return self.net.attention

    @property
    def classifier(self) -> nn.Module | None:
        return self.net.classifier

    # ------------------------------------------------------------------ batch → tensors
    def inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        x, g = model_inputs(batch, self.net.input_size, self.params.resize_mode, None, self.device)
        return x.to(torch.float32), g

    def labels(self, batch: dict[str, Any]) -> torch.Tensor:
        key = self.params.label_key
        lab = batch.get(key)
        if lab is None:
            raise ScanpathDataError(f"downstream=classifier needs per-sample labels in '{key}'", field=key)
        return torch.as_tensor(lab).long()

    def _labels_if_needed(self, batch: dict[str, Any], x: torch.Tensor) -> torch.Tensor | None:
        return self.labels(batch).to(x.device) if self.net.kind == "classifier" else None

    # ------------------------------------------------------------------ fit
    def on_fit_start(self) -> None:
        if self.net.kind == "classifier" and self.net.classifier_fit_steps > 0:
            self.net.fit_classifier(_LabelledImages(self, self.trainer.datamodule.train_dataloader()),
                                    self.net.classifier_fit_steps)
        self.net.freeze_downstream()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x, _ = self.inputs(batch)
        labels = self._labels_if_needed(batch, x)
        opt = self.optimizers()

        def step(loss: torch.Tensor) -> None:
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()

        total = self.net.training_loss(x, labels, step)
        sch = self.lr_schedulers()
        if sch is not None and self.trainer.is_last_batch:
            sch.step()
        self.log("train/loss", total, prog_bar=True, batch_size=x.shape[0])
        return total

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, _ = self.inputs(batch)
        B = x.shape[0]
        if self.net.kind == "classifier":
            accs = self.net.foveated_accuracy(x, self.labels(batch).to(x.device))
            self.log("val/foveated_acc", accs.mean(), prog_bar=True, batch_size=B)
        self.log("val/loss", self.net.foveated_loss(x, self._labels_if_needed(batch, x)), prog_bar=True, batch_size=B)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, _ = self.inputs(batch)
        self.log("test/loss", self.net.foveated_loss(x, self._labels_if_needed(batch, x)), batch_size=x.shape[0])

    def configure_optimizers(self) -> Any:
        params = [p for p in self.net.attention.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params) if self.optimizer_factory is not None else torch.optim.Adam(params, lr=1e-4)
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": self.scheduler_factory(opt)}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """Also loads checkpoints written before the torch model moved into ``self.net``
        (keys ``attention.*``, ``classifier.*``, ``clip_visual.*``), whichever loader calls it."""
        if not any(k.startswith("net.") for k in state_dict):
            state_dict = {("net." + k if k.startswith(_LEGACY_PREFIXES) else k): v for k, v in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        if "clip_image" not in sample and "image" not in sample:
            return "needs the stimulus image ('clip_image' or 'image'); this dataset serves none (layout-only?)"
        return None

    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        x, geom = self.inputs(batch)
        fix = self.net.rollout(x)
        B = x.shape[0]
        return to_scanpath_batch(batch, fix, geom, None, [{"model": "neva"} for _ in range(B)],
                                 self.params.duration_ms)


class _LabelledImages:
    """Re-iterable ``(images, labels)`` view of a dataloader (the classifier is fitted over epochs)."""

    def __init__(self, module: NevaModule, loader: Any) -> None:
        self.module, self.loader = module, loader

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self.loader:
            x, _ = self.module.inputs(batch)
            yield x, self.module.labels(batch).to(x.device)
