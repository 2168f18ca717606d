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
from scanpath.models.oat.pe import get_pe_table, pe_dim_for_width, pe_rows_for_grid
from scanpath.models.oat.torch_model import (
    CROP_H,
    CROP_W,
    OATArch,
    OATInputs,
    TARGET_CUES,
    OATModel,
    resolve_arch,
    teacher_forcing_tokens,
)
from scanpath.types import ScanpathBatch

log = logging.getLogger(__name__)

DEFAULT_MAX_LEN = 30
CROP_HW = (CROP_H, CROP_W)


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


class LrShape:
    """Learning-rate multiplier per optimiser step: linear warm-up over ``warmup`` steps, then constant
    or (``total`` set) cosine decay to ``min_ratio`` at step ``total``. A class, not a closure, so the
    scheduler state pickles."""

    def __init__(self, warmup: int, total: int | None = None, min_ratio: float = 0.0) -> None:
        self.warmup, self.total, self.min_ratio = int(warmup), total, float(min_ratio)

    def __call__(self, step: int) -> float:
        if self.warmup and step < self.warmup:
            return (step + 1) / self.warmup
        if not self.total:
            return 1.0
        span = max(self.total - self.warmup, 1)
        frac = min(max(step - self.warmup, 0) / span, 1.0)
        return float(self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + np.cos(np.pi * frac)))


def human_objects(sp: ScanpathBatch) -> tuple[Tensor, Tensor]:
    """``fixation_extra["object"]`` ``(B, L)`` and lengths of a batch of human scanpaths."""
    if "object" not in sp.fixation_extra:
        raise ValueError("human scanpaths must carry fixation_extra['object'] (object index per fixation)")
    return sp.fixation_extra["object"].long(), sp.lengths.long()


class OATModule(ScanpathModel):
    """Lightning module for OAT (see module docstring)."""

    display_name = "OAT"
    trainable = True
    monitor = "val/delta"  # early stopping and checkpoint choice on validation Δ, as upstream
    #: every object-layout key OAT can read; ``skip_batch_keys`` takes some out (:attr:`required_sample_keys`)
    SAMPLE_KEYS = ("scanpath", "stimulus", "task", "grid", "boxes", "target_index", "layout_id", "trial_id",
                   "image_size", "crops", "target_crop")

    @property
    def required_sample_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """:attr:`SAMPLE_KEYS` less ``skip_batch_keys`` (the rendered ``image`` is never read)."""
        skip = set(self.hparams.get("skip_batch_keys") or ())
        return tuple(k for k in self.SAMPLE_KEYS if k not in skip)

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
        pe_init: str = "auto",
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
        crop_hw: Sequence[int] | None = None,
        lr_warmup_steps: int = 0,
        lr_schedule: str = "constant",
        lr_min_ratio: float = 0.0,
        label: str | None = None,
        skip_batch_keys: Sequence[str] | None = None,
        val_sampling: str = "greedy",
        val_samples: int = 1,
        val_average: str = "trial",
        target_cue: str = "token",
    ) -> None:
        super().__init__()
        # plain containers only: checkpoints must load with torch.load(weights_only=True)
        grid = None if grid is None else [int(g) for g in grid]
        crop_hw = None if crop_hw is None else [int(v) for v in crop_hw]
        skip_batch_keys = None if skip_batch_keys is None else [str(k) for k in skip_batch_keys]
        if val_average not in ("trial", "key"):
            raise ValueError(f"val_average must be 'trial' (upstream) or 'key', got {val_average!r}")
        if val_sampling not in ("greedy", "sample"):
            raise ValueError(f"val_sampling must be 'greedy' or 'sample', got {val_sampling!r}")
        if target_cue not in TARGET_CUES:
            raise ValueError(f"target_cue must be one of {TARGET_CUES}, got {target_cue!r}")
        if lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
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
        self._eval_buffer: list[tuple[list[Any], list[Any]]] = []
        self._delta_metric: Any = None
        self.arch: OATArch | None = None
        if grid is not None and appearance != "auto":
            self.build(tuple(grid), appearance)

    # ------------------------------------------------------------------ construction
    def arch_sizes(self) -> dict[str, Any]:
        hp = self.hparams
        return {"d_model": int(hp.d_model), "n_heads": int(hp.n_heads), "n_encoder_layers": int(hp.n_encoder_layers),
                "n_decoder_layers": int(hp.n_decoder_layers), "dim_feedforward": int(hp.dim_feedforward),
                "dropout": float(hp.dropout), "target_cue": str(hp.get("target_cue") or "token")}

    def resolve(self, source: Any = None) -> OATArch | None:
        """The architecture from the config, completed from ``source`` (datamodule or batch)."""
        hp = self.hparams
        return resolve_arch(hp.grid, hp.appearance, hp.get("crop_hw"), source, **self.arch_sizes())

    def build(self, grid: tuple[int, int] | OATArch, appearance: str | None = None,
              crop_hw: Sequence[int] | None = None) -> OATModel:
        """Create the network for an :class:`OATArch` (or ``grid, appearance[, crop_hw]``); fits/loads
        the PE table."""
        hp = self.hparams
        arch = grid if isinstance(grid, OATArch) else resolve_arch(grid, appearance or "cnn", crop_hw or hp.get("crop_hw"),
                                                                   None, **self.arch_sizes())
        assert arch is not None
        rows = int(hp.pe_rows) if hp.pe_rows else pe_rows_for_grid(arch.grid)
        table = get_pe_table(rows, hp.pe_sigma, hp.pe_seed, hp.pe_steps, hp.pe_lr, hp.pe_cache_dir, hp.pe_path,
                             dim=pe_dim_for_width(arch.d_model), init=str(hp.get("pe_init") or "auto"))
        self.net = OATModel.from_arch(arch, table)
        self.arch = arch
        self.resolved = {"grid": list(arch.grid), "appearance": arch.appearance, "crop_hw": list(arch.crop_hw)}
        if arch.appearance == "embedding":
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
        if self.net is None and (arch := self.resolve(dm)) is not None:
            self.build(arch)

    def _ensure_built(self, batch: Mapping[str, Any]) -> OATModel:
        if self.net is None:
            arch = self.resolve(batch)
            if arch is None:
                raise ValueError("cannot decide the OAT architecture from the batch (no 'grid')")
            self.build(arch).to(self.device)
        assert self.net is not None
        return self.net

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["oat"] = {**getattr(self, "resolved", {}), "max_len": self.max_len}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        info = checkpoint.get("oat") or {}
        if info.get("max_len"):
            self.max_len = int(info["max_len"])
        if info.get("grid") is not None:
            # sizes as trained (a checkpoint of the published width loads into a quick-start config)
            saved = dict(checkpoint.get("hyper_parameters") or {})
            saved.setdefault("target_cue", "token")  # checkpoints from before the option: as specified
            sizes = {k: type(v)(saved.get(k, v)) for k, v in self.arch_sizes().items()}
            for k, v in sizes.items():
                self.hparams[k] = v
            want = resolve_arch(info["grid"], info["appearance"], info.get("crop_hw") or CROP_HW, None, **sizes)
            if self.net is None or getattr(self, "arch", None) != want:
                self.build(want)

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

    def setup(self, stage: str) -> None:
        """Apply ``train_budget`` before the optimiser is configured (the cosine schedule needs the
        budgeted number of steps) and tell an object-layout datamodule which sample keys OAT never
        reads (``skip_batch_keys``), so its loaders neither render nor stack them."""
        if stage == "fit":
            self.apply_train_budget()
        dm = self._datamodule()
        skip = tuple(self.hparams.get("skip_batch_keys") or ())
        if skip and dm is not None and hasattr(dm, "loader_exclude"):
            dm.loader_exclude = tuple(dict.fromkeys((*dm.loader_exclude, *skip)))

    def apply_train_budget(self) -> None:
        """Apply ``train_budget`` (max_epochs, limit_train/val/test_batches) to the trainer.

        It exists so that ``python train.py model=oat`` is a short CPU run: a model config cannot
        override the ``trainer`` group, which Hydra merges after it. ``model.train_budget=null`` (as in
        ``experiment=oat_paper`` / ``oat_amazon``) leaves the trainer config untouched."""
        budget = dict(self.hparams.train_budget or {})
        if not budget or self._trainer is None or self.trainer.fast_dev_run:
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
            opt = torch.optim.Adam(self.parameters(), lr=1e-4)
        else:
            opt = self.optimizer_factory(params=self.parameters())
        hp = self.hparams
        warm = int(hp.get("lr_warmup_steps") or 0)
        cosine = hp.get("lr_schedule", "constant") == "cosine"
        if not warm and not cosine:
            return opt  # upstream: constant learning rate
        total = None
        if cosine:
            total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else None
            if not total or total == float("inf"):
                raise ValueError("lr_schedule=cosine needs a finite number of training steps (max_epochs or max_steps)")
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=LrShape(warm, total, float(hp.get("lr_min_ratio") or 0.0)))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @property
    def arch_label(self) -> str:
        """``"published"`` or what differs from it, e.g. ``"quick: d=128, 2+2 layers, crops 75×46"``
        (every table of a quick-start model should carry it); ``model.label`` overrides."""
        if self.hparams.get("label"):
            return str(self.hparams.label)
        arch = getattr(self, "arch", None) or resolve_arch((1, 1), "cnn", self.hparams.get("crop_hw"), None,
                                                           **self.arch_sizes())
        return arch.label

    # ------------------------------------------------------------------ validation / test
    def _eval_step(self, batch: Mapping[str, Any], stage: str) -> Tensor:
        loss = self.loss(batch)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["scanpaths"]))
        greedy = self.hparams.get("val_sampling", "greedy") == "greedy"
        k = 1 if greedy else int(self.hparams.get("val_samples") or 1)
        preds = rollouts_to_batch(self.rollouts(batch, greedy=greedy, k=k), batch).to_list()
        if self._delta_metric is not None:
            self._delta_metric.update(preds)
        else:  # no datamodule to take the split's humans from: collect them from the batches
            self._eval_buffer.append((batch["scanpaths"].to_list(), preds))
        return loss

    def _eval_epoch_start(self, stage: str) -> None:
        """The Δ metric of this epoch: a torchmetrics ``BehaviouralDelta`` over the split's human
        scanpaths, so rollouts of every DDP rank are gathered before Δ is computed."""
        from scanpath.metrics import BehaviouralDelta

        self._eval_buffer = []
        self._delta_metric = None
        dm = self._datamodule()
        if dm is not None and hasattr(dm, "human_scanpaths"):
            humans = dm.human_scanpaths(stage)
            self._delta_metric = self._make_delta(humans, getattr(dm, "eval_key", "task")).to(self.device)

    def _make_delta(self, humans: Sequence[Any], key: str) -> Any:
        from scanpath.metrics import BehaviouralDelta

        return BehaviouralDelta(humans, key=key, compat=bool(self.hparams.delta_compat),
                                average=str(self.hparams.get("val_average") or "trial"))

    def _eval_epoch_end(self, stage: str) -> None:
        metric = self._delta_metric
        if metric is None:
            if not self._eval_buffer:
                return
            metric = self._make_delta([h for hs, _ in self._eval_buffer for h in hs], "task")
            for _, preds in self._eval_buffer:
                metric.update(preds)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = metric.compute()
        metric.reset()
        self._eval_buffer, self._delta_metric = [], None
        self.log(f"{stage}/delta", float(out["value"]), prog_bar=True)
        for name, v in out["values"].items():
            self.log(f"{stage}/{name}", float(v))

    def on_validation_epoch_start(self) -> None:
        self._eval_epoch_start("val")

    def on_test_epoch_start(self) -> None:
        self._eval_epoch_start("test")

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
