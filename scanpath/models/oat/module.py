"""Thin Lightning wrapper around :class:`~scanpath.models.oat.torch_model.OATModel`.

* Training: teacher forcing, cross-entropy over the N+2 logits with PAD ignored, Adam (lr 1e-4 by
  default, ``_partial_`` optimizer from config); gradient clipping (1.0) comes from the trainer config.
* Validation / test: teacher-forced loss plus greedy rollouts (batched decoder) scored with OAT's Δ
  and its five statistics against the human scanpaths of the split (``val/delta`` is what early
  stopping and checkpoint selection monitor, as upstream).
* Prediction: ``sampling="greedy"`` (1 scanpath per trial) or ``"sample"`` (``samples`` rollouts per
  trial), object indices mapped to object-centre pixels, ``fixation_extra["object"]`` kept.

The network is built lazily when ``grid`` / ``appearance`` are ``auto``: in ``configure_model`` from
the attached datamodule (its ``grid``, ``layout_only`` and ``max_len``), from the checkpoint in
``on_load_checkpoint``, or from the first batch. What was resolved is stored in the checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from scanpath.models.base import ScanpathModel
from scanpath.models.oat.decoding import Rollouts, decode
from scanpath.models.oat.pe import get_pe_table, pe_rows_for_grid
from scanpath.models.oat.torch_model import OATInputs, OATModel, teacher_forcing_tokens
from scanpath.types import ScanpathBatch

log = logging.getLogger(__name__)

DEFAULT_MAX_LEN = 30


def batch_inputs(batch: Mapping[str, Any], device: torch.device | str | None = None) -> OATInputs:
    """Collated object-layout batch → :class:`OATInputs` (one grid per batch).

    Trials of one layout (the observers of a search array, the subjects of a collage) share their
    crops: with ``layout_id`` in the batch the crops are kept once per layout (``layout_index``), so
    the appearance CNN and the encoder run once per layout/target. A ``target_crop`` that is the
    layout's own crop of the target (all shipped datamodules) is dropped for the same reason."""
    grids = batch.get("grid")
    if grids is None or batch.get("target_index") is None:
        raise ValueError("OAT needs object-layout samples (keys 'grid', 'boxes', 'target_index'); "
                         "use data=search_arrays, amazon_covers or shelf")
    grids = [tuple(int(v) for v in g) for g in (grids if isinstance(grids, list) else grids.tolist())]
    if len(set(grids)) != 1:
        raise ValueError(f"an OAT batch must hold one grid size, got {sorted(set(grids))}; "
                         "batch trials by grid (e.g. per-type loaders for mixed wine+yogurt data)")
    tgt = torch.as_tensor(batch["target_index"], dtype=torch.long)
    crops = batch.get("crops")
    tcrop = batch.get("target_crop")
    if crops is not None and not isinstance(crops, Tensor):
        raise ValueError("crops of one batch must share a shape (N, 3, h, w)")
    tcrop = tcrop if isinstance(tcrop, Tensor) else None
    if crops is not None and tcrop is not None and torch.equal(tcrop, crops[torch.arange(len(tgt)), tgt]):
        tcrop = None  # the target token's crop is the layout's own crop of the target
    layout_index = None
    lids = batch.get("layout_id")
    if crops is not None and isinstance(lids, (list, tuple)) and len(lids) == len(tgt):
        first: dict[Any, int] = {}  # layout id → its first trial (insertion order = unique order)
        for i, lid in enumerate(lids):
            first.setdefault(lid, i)
        if len(first) < len(lids):
            order = {lid: u for u, lid in enumerate(first)}
            layout_index = torch.as_tensor([order[lid] for lid in lids], dtype=torch.long)
            crops = crops[torch.as_tensor(list(first.values()))]
    dev = device if device is not None else (crops.device if crops is not None else "cpu")
    return OATInputs(
        grid=grids[0],
        target=tgt.to(dev),
        crops=None if crops is None else crops.to(dev),
        target_crop=None if tcrop is None else tcrop.to(dev),
        layout_index=None if layout_index is None else layout_index.to(dev),
    )


def human_objects(sp: ScanpathBatch) -> tuple[Tensor, Tensor]:
    """``fixation_extra["object"]`` ``(B, L)`` and lengths of a batch of human scanpaths."""
    if "object" not in sp.fixation_extra:
        raise ValueError("human scanpaths must carry fixation_extra['object'] (object index per fixation)")
    return sp.fixation_extra["object"].long(), sp.lengths.long()


class OATModule(ScanpathModel):
    """Lightning module for OAT (see module docstring)."""

    display_name = "OAT"
    trainable = True

    def __init__(
        self,
        optimizer: Any = None,
        grid: Sequence[int] | None = None,
        appearance: str = "auto",
        pe_rows: int | None = None,
        pe_sigma: float = 2.0,
        pe_seed: int = 0,
        pe_steps: int = 10_000,
        pe_lr: float = 0.01,
        pe_cache_dir: str | None = None,
        pe_path: str | None = None,
        d_model: int = 512,
        n_heads: int = 4,
        n_encoder_layers: int = 4,
        n_decoder_layers: int = 4,
        dim_feedforward: int = 512,
        dropout: float = 0.1,
        max_len: int | None = None,
        sampling: str = "greedy",
        samples: int = 1,
        decode_seed: int = 0,
        delta_compat: bool = False,
        gradient_clip_val: float | None = 1.0,
        train_budget: Mapping[str, Any] | None = None,
        display_name: str | None = None,
    ) -> None:
        super().__init__()
        # plain containers only: checkpoints must load with torch.load(weights_only=True)
        grid = None if grid is None else [int(g) for g in grid]
        train_budget = None if not train_budget else {str(k): v for k, v in dict(train_budget).items()}
        self.save_hyperparameters(ignore=["optimizer"])
        if sampling not in ("greedy", "sample"):
            raise ValueError(f"sampling must be 'greedy' or 'sample', got {sampling!r}")
        if appearance not in ("auto", "cnn", "embedding"):
            raise ValueError(f"appearance must be auto, cnn or embedding, got {appearance!r}")
        self.optimizer_factory = optimizer
        self.sampling = sampling
        self.samples_per_stimulus = int(samples) if sampling == "sample" else 1
        self.decode_seed = int(decode_seed)
        self.max_len = int(max_len) if max_len is not None else None
        if display_name:
            self.display_name = display_name
        elif sampling == "sample":
            self.display_name = f"OAT (sampled ×{self.samples_per_stimulus})"
        else:
            self.display_name = "OAT (greedy)"
        self.net: OATModel | None = None
        self.resolved: dict[str, Any] = {}
        self._eval_buffer: list[tuple[str, list[int], int, bool]] = []
        if grid is not None and appearance != "auto":
            self.build(tuple(grid), appearance)

    # ------------------------------------------------------------------ construction
    def build(self, grid: tuple[int, int], appearance: str) -> OATModel:
        """Create the network for ``grid`` and ``appearance`` (fits/loads the PE table)."""
        hp = self.hparams
        grid = (int(grid[0]), int(grid[1]))
        rows = int(hp.pe_rows) if hp.pe_rows else pe_rows_for_grid(grid)
        table = get_pe_table(rows, hp.pe_sigma, hp.pe_seed, hp.pe_steps, hp.pe_lr, hp.pe_cache_dir, hp.pe_path)
        self.net = OATModel(
            table, appearance=appearance, grid=grid, d_model=hp.d_model, n_heads=hp.n_heads,
            n_encoder_layers=hp.n_encoder_layers, n_decoder_layers=hp.n_decoder_layers,
            dim_feedforward=hp.dim_feedforward, dropout=hp.dropout,
        )
        self.resolved = {"grid": list(grid), "appearance": appearance}
        if appearance == "embedding":
            log.warning("OAT layout-only mode: learned per-cell embedding instead of the appearance CNN "
                        "(deviation; results are not comparable to published numbers)")
        return self.net

    def _datamodule(self) -> Any:
        trainer = getattr(self, "_trainer", None)
        return getattr(trainer, "datamodule", None) if trainer is not None else None

    def configure_model(self) -> None:
        dm = self._datamodule()
        if self.max_len is None and dm is not None and hasattr(dm, "max_len"):
            self.max_len = int(dm.max_len) or None
        if self.net is not None:
            return
        hp = self.hparams
        grid = tuple(hp.grid) if hp.grid is not None else (tuple(dm.grid) if dm is not None and hasattr(dm, "grid") else None)
        appearance = hp.appearance
        if appearance == "auto" and dm is not None and hasattr(dm, "layout_only"):
            appearance = "embedding" if dm.layout_only else "cnn"
        if grid is not None and appearance != "auto":
            self.build(grid, appearance)

    def _ensure_built(self, batch: Mapping[str, Any]) -> OATModel:
        if self.net is None:
            grid = tuple(self.hparams.grid) if self.hparams.grid is not None else tuple(batch["grid"][0])
            appearance = self.hparams.appearance
            if appearance == "auto":
                appearance = "cnn" if isinstance(batch.get("crops"), Tensor) else "embedding"
            self.build(grid, appearance)
            assert self.net is not None
            self.net.to(self.device)
        return self.net

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["oat"] = {**getattr(self, "resolved", {}), "max_len": self.max_len}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        info = checkpoint.get("oat") or {}
        if info.get("max_len"):
            self.max_len = int(info["max_len"])
        if info.get("grid") is not None:
            want = (tuple(info["grid"]), info["appearance"])
            have = (tuple(self.resolved["grid"]), self.resolved["appearance"]) if self.net is not None else None
            if have != want:
                self.build(want[0], want[1])

    @property
    def decode_len(self) -> int:
        return int(self.max_len) if self.max_len else DEFAULT_MAX_LEN

    # ------------------------------------------------------------------ training
    def forward(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits ``(T, B, N+2)`` and targets ``(T, B)``."""
        net = self._ensure_built(batch)
        x = batch_inputs(batch, self.device)
        objs, lengths = human_objects(batch["scanpaths"])
        inputs, targets, pad = teacher_forcing_tokens(objs.to(self.device), lengths.to(self.device), x.n_objects)
        return net(x, inputs, pad), targets

    def loss(self, batch: Mapping[str, Any]) -> Tensor:
        logits, targets = self(batch)
        pad = logits.shape[-1] - 1
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["scanpaths"]))
        return loss

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Trainer's ``gradient_clip_val`` when set, else the model's (upstream: norm 1.0)."""
        if gradient_clip_val is None and self.hparams.gradient_clip_val:
            gradient_clip_val, gradient_clip_algorithm = float(self.hparams.gradient_clip_val), "norm"
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm)

    def on_fit_start(self) -> None:
        """Apply ``train_budget`` (max_epochs, limit_train/val/test_batches) to the trainer.

        It exists so that ``python train.py model=oat`` is a short CPU run: a model config cannot
        override the ``trainer`` group, which Hydra merges after it. ``model.train_budget=null`` (as in
        ``experiment=oat_paper`` / ``oat_amazon``) leaves the trainer config untouched."""
        budget = dict(self.hparams.train_budget or {})
        if not budget or self.trainer.fast_dev_run:
            return
        trainer = self.trainer
        if "max_epochs" in budget:
            trainer.fit_loop.max_epochs = int(budget["max_epochs"])
        for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches"):
            if key in budget and budget[key] is not None:
                setattr(trainer, key, budget[key])
        log.info("OAT train_budget applied to the trainer: %s (model.train_budget=null disables)", budget)

    def configure_optimizers(self) -> Any:
        if self.net is None:
            raise RuntimeError("OAT network not built: set model.grid/appearance or attach an object-layout datamodule")
        if self.optimizer_factory is None:
            return torch.optim.Adam(self.parameters(), lr=1e-4)
        return self.optimizer_factory(params=self.parameters())

    # ------------------------------------------------------------------ validation / test
    def _eval_step(self, batch: Mapping[str, Any], stage: str) -> Tensor:
        loss = self.loss(batch)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["scanpaths"]))
        roll = self.rollouts(batch, greedy=True, k=1)
        sp: ScanpathBatch = batch["scanpaths"]
        objs, lengths = human_objects(sp)
        for i, meta in enumerate(sp.meta):
            key = f"{meta.get('task')}|{meta.get('stimulus')}"
            tgt = int(batch["target_index"][i])
            self._eval_buffer.append((key, objs[i, : int(lengths[i])].tolist(), tgt, True))
            self._eval_buffer.append((key, roll.tokens[i, 0, : int(roll.lengths[i, 0])].tolist(), tgt, False))
        return loss

    def _eval_epoch_end(self, stage: str) -> None:
        from scanpath.metrics import mean_stats, oat_delta, oat_stats

        if not self._eval_buffer:
            return
        groups: dict[bool, dict[str, list[dict[str, float]]]] = {True: {}, False: {}}
        for key, seq, tgt, is_human in self._eval_buffer:
            groups[is_human].setdefault(key, []).append(oat_stats(seq, tgt))
        self._eval_buffer = []
        human = mean_stats(list(groups[True].values()))
        model = mean_stats(list(groups[False].values()))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            delta, _ = oat_delta(model, human, compat=bool(self.hparams.delta_compat))
        self.log(f"{stage}/delta", delta, prog_bar=True)
        for k, v in model.items():
            self.log(f"{stage}/{k}", v)

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        return self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # ------------------------------------------------------------------ prediction
    def rollouts(self, batch: Mapping[str, Any], greedy: bool, k: int, max_len: int | None = None) -> Rollouts:
        net = self._ensure_built(batch)
        x = batch_inputs(batch, self.device)
        ids = batch.get("trial_id") or [m.get("stimulus") for m in batch["scanpaths"].meta]
        return decode(net, x, k=k, max_len=max_len or self.decode_len, greedy=greedy,
                      seed=self.decode_seed, trial_ids=ids)

    def predict_scanpaths(self, batch: Mapping[str, Any]) -> ScanpathBatch:
        greedy = self.sampling == "greedy"
        k = 1 if greedy else self.samples_per_stimulus
        roll = self.rollouts(batch, greedy=greedy, k=k)
        return rollouts_to_batch(roll, batch)


def rollouts_to_batch(roll: Rollouts, batch: Mapping[str, Any]) -> ScanpathBatch:
    """Object rollouts ``(B, K, L)`` → :class:`ScanpathBatch` of B·K rows at object-box centres, in
    original-stimulus pixels, ``fixation_extra["object"]`` kept; ``subject`` = 1-based sample index."""
    boxes = batch["boxes"]
    boxes = boxes if isinstance(boxes, Tensor) else torch.stack([torch.as_tensor(b) for b in boxes])
    boxes = boxes.detach().to("cpu", torch.float64)
    tokens = roll.tokens.cpu()
    b, k, lmax = tokens.shape
    lengths = roll.lengths.cpu().reshape(-1)
    lmax = max(int(lengths.max()) if lengths.numel() else 0, 0)
    tokens = tokens[:, :, :lmax]
    centres = torch.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], dim=-1)
    safe = tokens.clamp_min(0)
    xy = torch.gather(centres[:, None].expand(b, k, -1, 2), 2, safe[..., None].expand(b, k, lmax, 2))
    valid = tokens >= 0
    data = torch.full((b * k, lmax, 3), float("nan"), dtype=torch.float64)
    data[..., :2] = torch.where(valid[..., None], xy, torch.nan).reshape(b * k, lmax, 2)
    sp: ScanpathBatch = batch["scanpaths"]
    metas = []
    for i in range(b):
        base = sp.meta[i] if i < len(sp.meta) else {}
        extra = dict(base.get("extra") or {})
        extra["target_index"] = int(batch["target_index"][i])
        for j in range(k):
            metas.append({
                "stimulus": base.get("stimulus", ""),
                "subject": j + 1,
                "task": base.get("task"),
                "condition": base.get("condition"),
                "image_size": base.get("image_size"),
                "extra": dict(extra),
            })
    obj = torch.where(valid, tokens, torch.full_like(tokens, -1)).reshape(b * k, lmax)
    return ScanpathBatch(data=data, lengths=lengths.clone(), meta=metas, fixation_extra={"object": obj})


def trial_object_sequences(rows: Sequence[Any]) -> list[list[int]]:
    """Object sequences of a list of :class:`~scanpath.types.Scanpath` (``fixation_extra["object"]``)."""
    return [np.asarray(s.fixation_extra["object"]).astype(int).tolist() for s in rows]
