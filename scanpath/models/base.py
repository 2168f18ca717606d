"""The one model interface evaluate.py relies on.

Every model family (trained or zero-shot) and every baseline is a :class:`ScanpathModel`:
``predict_scanpaths(batch) -> ScanpathBatch`` turns a collated batch (see
:func:`scanpath.batch.collate_samples`) into predicted scanpaths in ORIGINAL-stimulus pixel
coordinates (degrees for 360°). ``predict_step`` calls it, so ``trainer.predict`` works for all.
Models that produce several samples per stimulus return them as consecutive rows and set
``meta[i]["subject"]`` to the 1-based sample index and ``meta[i]["stimulus"]`` to the stimulus id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl

from scanpath.types import ScanpathBatch


class ScanpathModel(pl.LightningModule):
    """Base LightningModule for every scanpath model."""

    #: Name shown in metric tables.
    display_name: str = "model"
    #: Whether the model is trained with ``train.py`` (has ``training_step``).
    trainable: bool = False
    #: Number of scanpaths predicted per stimulus.
    samples_per_stimulus: int = 1
    #: Validation metric that checkpointing and early stopping follow when ``optimized_metric`` is null.
    monitor: str = "val/loss"
    #: Sample keys the model reads (training and prediction), so a datamodule can leave out the heavy
    #: fields nobody needs (e.g. the rendered ``image`` for a centre-bias model); ``None`` = not
    #: declared: every key is served. See :func:`sample_keys_union`.
    required_sample_keys: tuple[str, ...] | None = None

    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:  # pragma: no cover - abstract
        raise NotImplementedError

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        """Why this model cannot run on data shaped like ``sample`` (one datamodule sample), or None.

        evaluate.py asks before predicting: a baseline that needs an input the datamodule does not
        give (e.g. ``"image"`` in layout-only mode) is skipped and the reason is reported.
        """
        return None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the model class, so loading a checkpoint into another model fails by name."""
        checkpoint["scanpath_model_class"] = f"{type(self).__module__}.{type(self).__qualname__}"

    def configure_callbacks(self) -> list[pl.Callback]:
        """Exact resume whatever the callbacks preset: every checkpoint also holds the RNG states and the
        training loader's position (:class:`scanpath.utils.resume.ResumeState`)."""
        from scanpath.utils.resume import ResumeState

        return [ResumeState()]

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> ScanpathBatch:
        return self.predict_scanpaths(batch)

    def configure_optimizers(self) -> Any:  # zero-shot models have nothing to optimise
        return None


def sample_keys_union(models: Iterable[Any]) -> frozenset[str] | None:
    """The union of the models' ``required_sample_keys``: what a datamodule must serve to all of
    them; ``None`` (serve everything) when any model does not declare its keys."""
    keys: set[str] = set()
    for m in models:
        own = getattr(m, "required_sample_keys", None)
        if own is None:
            return None
        keys.update(str(k) for k in own)
    return frozenset(keys)
