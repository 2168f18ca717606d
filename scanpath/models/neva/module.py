"""Lightning modules for NeVA / NevaClip (thin wrappers around :mod:`.torch_model`).

* :class:`NevaClipModule` (``model=nevaclip``): zero-shot, caption / image / schedule targets.
* :class:`NevaOptModule` (``model=neva_opt``): optimised mode with a frozen classifier.
* :class:`NevaModule` (``model=neva``): trained attention network (``train.py model=neva``).

Predictions are :class:`~scanpath.types.ScanpathBatch` rows in ORIGINAL-image pixels (x, y), mapped
back with the per-sample geometry (docs/nevaclip.md §2.4). Optimised modes need gradients at prediction time:
``evaluate.py`` must run with ``inference_mode=false`` (the model configs set it); the modules also
leave inference mode themselves (cloning inputs) so they work under either setting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from scanpath.models.base import ScanpathModel
from scanpath.models.neva.clip_factory import ClipBundle, build_clip
from scanpath.core.coords import norm_to_pixels, preprocess_tensor
from scanpath.models.neva.torch_model import (
    NevaOptimizer,
    SimpleAttentionNet,
    SmallClassifier,
    cross_entropy_loss,
    foveated_accuracy,
    freeze,
    get_loss,
    glimpse_losses,
    schedule_weights,
)
from scanpath.core import blur_levels, gaussian_mask, update_memory
from scanpath.errors import ScanpathDataError
from scanpath.types import Scanpath, ScanpathBatch

log = logging.getLogger(__name__)

TARGETS = ("caption", "image", "schedule")


@contextlib.contextmanager
def grad_enabled() -> Any:
    """Leave inference mode and enable autograd (the optimised modes descend on positions)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def model_inputs(
    batch: dict[str, Any], size: int, resize_mode: str, resize: int | None = None, device: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 3, S, S]`` model inputs in [0, 1] and ``[B, 7]`` geometries from a collated batch.

    Uses ``clip_image``/``geometry`` from the datamodule when they match ``size`` (the transform
    the dataloader actually applied); otherwise preprocesses ``image`` (original resolution) here.
    """
    ci, geo = batch.get("clip_image"), batch.get("geometry")
    if isinstance(ci, torch.Tensor) and isinstance(geo, torch.Tensor) and ci.shape[-1] == size and resize is None:
        if not bool((geo[:, 6] == size).all()):
            raise ScanpathDataError(f"geometry S {geo[:, 6].tolist()} does not match the model size {size}",
                                    field="geometry")
        x, g = ci, geo
    else:
        imgs = batch.get("image")
        if imgs is None:
            raise ScanpathDataError(
                f"batch has neither 'clip_image' of size {size} nor 'image'; set data.clip_size={size} "
                "or serve images (data.include_image=true)", field="image",
            )
        seq = list(imgs) if not isinstance(imgs, torch.Tensor) else list(imgs.unbind(0))
        outs = [preprocess_tensor(im, size, resize_mode, resize) for im in seq]
        x = torch.stack([o[0] for o in outs])
        g = torch.stack([o[1].as_tensor() for o in outs])
    if device is not None:
        x = x.to(device)
    return x, g


def batch_ids(batch: dict[str, Any], n: int) -> list[str]:
    """Stable per-sample ids for the candidate generators (obs_uid, else stimulus/task/condition)."""
    if "obs_uid" in batch:
        return [str(v) for v in batch["obs_uid"]]
    meta = batch["scanpaths"].meta if "scanpaths" in batch else [{} for _ in range(n)]
    return [f"{m.get('stimulus', i)}|{m.get('task')}|{m.get('condition')}" for i, m in enumerate(meta)]


def to_scanpath_batch(
    batch: dict[str, Any],
    fix_norm: torch.Tensor,
    geometry: torch.Tensor,
    extra_fixation: dict[str, torch.Tensor] | None = None,
    extra: Sequence[dict[str, Any]] | None = None,
    duration_ms: float | None = None,
    condition: Sequence[str | None] | None = None,
) -> ScanpathBatch:
    """Rows of (x, y) in original pixels from ``fix_norm [B, T, 2]`` (row, col)."""
    px = norm_to_pixels(fix_norm.detach().cpu(), geometry.cpu(), clamp=True).numpy()
    raw = norm_to_pixels(fix_norm.detach().cpu(), geometry.cpu(), clamp=False).numpy()
    B, T = px.shape[:2]
    meta = batch["scanpaths"].meta if "scanpaths" in batch else [{} for _ in range(B)]
    geo = geometry.cpu().numpy()
    out = []
    for i in range(B):
        m = meta[i] if i < len(meta) else {}
        fx = {"x_raw": raw[i, :, 0], "y_raw": raw[i, :, 1],
              "u_row": fix_norm[i, :, 0].detach().cpu().double().numpy(),
              "u_col": fix_norm[i, :, 1].detach().cpu().double().numpy()}
        for k, v in (extra_fixation or {}).items():
            fx[k] = v[i].detach().cpu().double().numpy()
        out.append(
            Scanpath(
                x=px[i, :, 0],
                y=px[i, :, 1],
                duration=None if duration_ms is None else np.full(T, float(duration_ms)),
                stimulus=m.get("stimulus", ""),
                subject=1,
                task=m.get("task"),
                condition=(condition[i] if condition is not None else m.get("condition")),
                image_size=(int(geo[i, 0]), int(geo[i, 1])),
                extra=dict(extra[i]) if extra is not None else {},
                fixation_extra=fx,
            )
        )
    return ScanpathBatch.from_list(out)


# ============================================================================ optimised modes
class _OptimisedNeva(ScanpathModel):
    """Shared predict path of the optimised modes (NevaClip, NeVA-OPT)."""

    trainable = False
    samples_per_stimulus = 1

    def __init__(
        self,
        n_fixations: int = 10,
        n_iter: int = 20,
        lr: float = 0.1,
        n_candidates: int = 1,
        sigma_f: float = 0.2,
        blur_k: int = 41,
        blur_sigma: float = 10.0,
        noise: float = 0.0,
        forgetting: float = 0.0,
        levels: int = 1,
        restart: str = "uniform",
        position_clip: float | None = 1.0,
        upstream_position_clip: float | None = None,
        upstream_quirks: bool = False,
        faithful: bool | None = None,
        seed: int = 0,
        chunk_size: int | None = None,
        resize_mode: str = "shortest",
        resize: int | None = None,
        precision: str = "fp32",
        duration_ms: float | None = None,
        display_name: str | None = None,
    ) -> None:
        super().__init__()
        quirks = bool(upstream_quirks if faithful is None else faithful)
        self.upstream_quirks = quirks
        self.resize_mode = resize_mode
        self.resize = resize
        self.duration_ms = duration_ms
        if display_name:
            self.display_name = display_name
        autocast = {"fp32": None, "amp_bf16": torch.bfloat16, "amp_fp16": torch.float16}
        if precision not in autocast:
            raise ValueError(f"precision must be one of {sorted(autocast)}, got {precision!r}")
        self.opt_kwargs = dict(
            n_fixations=n_fixations, n_iter=n_iter, lr=lr, n_candidates=n_candidates, sigma_f=sigma_f,
            blur_k=blur_k, blur_sigma=blur_sigma, noise=noise, forgetting=forgetting, levels=levels,
            restart=restart, clip=position_clip, upstream_clip=upstream_position_clip, upstream_quirks=quirks, seed=seed,
            chunk_size=chunk_size, autocast_dtype=autocast[precision],
        )

    # subclasses set self.optimizer (NevaOptimizer) and implement targets()
    optimizer: NevaOptimizer
    image_size: int

    def targets(self, batch: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, bool]:  # pragma: no cover
        raise NotImplementedError

    def condition_of(self, batch: dict[str, Any], n: int) -> list[str | None] | None:
        return None

    def extra_of(self, batch: dict[str, Any], n: int) -> list[dict[str, Any]]:
        return [{} for _ in range(n)]

    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        with grad_enabled():
            x, geom = model_inputs(batch, self.image_size, self.resize_mode, self.resize, self.device)
            x = x.clone().to(torch.float32)
            tgt, per_step = self.targets(batch, x)
            res = self.optimizer(x, tgt.clone(), batch_ids(batch, x.shape[0]), per_step=per_step)
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


class NevaClipModule(_OptimisedNeva):
    """NevaClip: 1 − cos(CLIP(foveated image), target) minimised by signed-gradient position steps.

    ``target``: ``caption`` (the paper; needs ``"caption"`` in the batch), ``image`` (embedding of the
    sharp image; free viewing) or ``schedule`` (``l·e₁ + (1−l)·e₂``, ``l = (s/T)²``, with
    ``schedule_targets`` naming e₁ and e₂; Q7 with ``upstream_quirks``).
    """

    display_name = "NevaClip"

    def __init__(
        self,
        clip: dict[str, Any] | None = None,
        target: str = "caption",
        schedule_targets: Sequence[str] = ("caption", "image"),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.target = target
        self.schedule_targets = tuple(schedule_targets)
        self.save_hyperparameters(ignore=["clip"])
        self.clip_cfg = dict(clip or {})
        self.bundle: ClipBundle = build_clip(**self.clip_cfg)
        self.clip_model = self.bundle.model  # registered, so Lightning moves text and image towers together
        self.image_size = self.bundle.image_size
        self.optimizer = NevaOptimizer(
            self.bundle.visual, loss="cosine", mean=self.bundle.mean, std=self.bundle.std, **self.opt_kwargs
        )

    def _embedding(self, kind: str, batch: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        if kind == "image":
            return self.optimizer.image_target(x)
        if kind == "caption":
            caps = batch.get("caption")
            if caps is None:
                raise ScanpathDataError("target 'caption' needs a 'caption' per sample (data=capmit1003)",
                                        field="caption")
            return self.bundle.encode_text(list(caps), x.device).to(x.dtype)
        raise ValueError(f"unknown schedule target {kind!r}; use 'caption' or 'image'")

    def targets(self, batch: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        if self.target != "schedule":
            return self._embedding(self.target, batch, x), False
        e1 = self._embedding(self.schedule_targets[0], batch, x)
        e2 = self._embedding(self.schedule_targets[1], batch, x)
        w = schedule_weights(self.optimizer.n_fixations, self.upstream_quirks).to(x)
        return w[:, None, None] * e1[None] + (1 - w[:, None, None]) * e2[None], True

    def condition_of(self, batch: dict[str, Any], n: int) -> list[str | None]:
        modes = batch.get("caption_mode")
        base = self.target if self.target != "caption" else "caption"
        if modes is None:
            return [base] * n
        return [f"{base}:{m}" for m in modes]

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        why = super().skip_reason(sample)
        needs_caption = self.target == "caption" or (self.target == "schedule" and "caption" in self.schedule_targets)
        if why is None and needs_caption and "caption" not in sample:
            why = f"target {self.target!r} needs a 'caption' per sample (data=capmit1003, or mit1003 with captions_db)"
        return why

    def extra_of(self, batch: dict[str, Any], n: int) -> list[dict[str, Any]]:
        caps = batch.get("caption") or [None] * n
        obs = batch.get("obs_uid") or [None] * n
        return [{"caption": c, "obs_uid": o, "target": self.target, "upstream_quirks": self.upstream_quirks,
                 "resize_mode": self.resize_mode} for c, o in zip(caps, obs)]


class NevaOptModule(_OptimisedNeva):
    """NeVA-OPT: cross-entropy of a frozen classifier against its own argmax on the clean image.

    ``classifier`` is a module (Hydra-instantiated, e.g. ``torchvision.models.resnet50`` with
    ``weights: null`` offline, or ``IMAGENET1K_V1`` with network/cache) or a local checkpoint path of a
    pickled module. Defaults: jitter restarts, clip ±2.5 (upstream clipped, so Q2 does not apply).
    """

    display_name = "NeVA-OPT"

    def __init__(
        self,
        classifier: nn.Module | str,
        image_size: int = 224,
        mean: Sequence[float] | None = (0.485, 0.456, 0.406),
        std: Sequence[float] | None = (0.229, 0.224, 0.225),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("restart", "jitter")
        kwargs.setdefault("position_clip", 2.5)
        kwargs.setdefault("upstream_position_clip", 2.5)
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["classifier"])
        if isinstance(classifier, str):
            classifier = torch.load(classifier, map_location="cpu", weights_only=False)
        self.classifier = freeze(classifier)
        self.image_size = int(image_size)
        self.optimizer = NevaOptimizer(self.classifier, loss="cross_entropy", mean=mean, std=std, **self.opt_kwargs)

    def targets(self, batch: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        return self.optimizer.image_target(x).argmax(1), False


# ============================================================================ trained mode
class NevaModule(ScanpathModel):
    """NeVA trained mode: an attention network learns to place glimpses that minimise a frozen
    downstream loss (docs/nevaclip.md §2.3). ``train.py model=neva`` trains it; ``predict_scanpaths`` rolls it out.

    ``downstream``:
    * ``reconstruction`` (default; needs no weights, works on any image data): identity downstream,
      loss = MSE between the foveated and the sharp image — the net learns to fixate where blur
      destroys the most information. Validation: foveated MSE (lower is better).
    * ``classifier``: cross-entropy on the dataset labels (``label_key``) of a frozen classifier —
      ``classifier_ckpt`` (pickled module) or a :class:`SmallClassifier` fitted for
      ``classifier_fit_steps`` Adam steps on the training images at fit start, then frozen.
      Validation adds foveated accuracy (upstream ``run_accuracy``).
    * ``clip``: 1 − cos to the CLIP image embedding of the sharp image (``clip`` = factory kwargs).
    """

    trainable = True
    display_name = "NeVA"

    def __init__(
        self,
        attention: nn.Module | None = None,
        downstream: str = "reconstruction",
        optimizer: Any = None,
        scheduler: Any = None,
        input_size: int = 64,
        resize_mode: str = "longest",
        n_glimpses: int = 8,
        n_glimpses_eval: int = 10,
        sigma_f: float = 0.15,
        forgetting: float = 0.8,
        noise: float = 0.15,
        blur_k: int = 41,
        blur_sigma: float = 10.0,
        step_per_glimpse: bool = True,
        upstream_quirks: bool = False,
        val_blur_k: int = 41,
        val_blur_sigma: float = 35.0,
        val_sigma_f: float = 0.15,
        label_key: str = "label",
        num_classes: int | None = None,
        classifier_ckpt: str | None = None,
        classifier_fit_steps: int = 200,
        clip: dict[str, Any] | None = None,
        duration_ms: float | None = None,
    ) -> None:
        super().__init__()
        if downstream not in ("reconstruction", "classifier", "clip"):
            raise ValueError(f"downstream must be reconstruction, classifier or clip, got {downstream!r}")
        self.save_hyperparameters(ignore=["attention", "optimizer", "scheduler"])
        self.automatic_optimization = False
        self.attention = attention if attention is not None else SimpleAttentionNet()
        self.downstream_kind = downstream
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.input_size = int(input_size)
        self.resize_mode = resize_mode
        self.n_glimpses, self.n_glimpses_eval = int(n_glimpses), int(n_glimpses_eval)
        self.sigma_f, self.forgetting, self.noise = float(sigma_f), float(forgetting), float(noise)
        self.blur_k = int(blur_k)
        # Q9: old NeVA training ignored blur_sigma and always used σ 5
        self.blur_sigma = 5.0 if upstream_quirks else float(blur_sigma)
        self.step_per_glimpse = bool(step_per_glimpse)
        self.val_blur = (int(val_blur_k), float(val_blur_sigma))
        self.val_sigma_f = float(val_sigma_f)
        self.label_key = label_key
        self.classifier_fit_steps = int(classifier_fit_steps)
        self.duration_ms = duration_ms
        self.mean = self.std = None
        self.classifier: nn.Module | None = None
        self.clip_bundle: ClipBundle | None = None
        if downstream == "classifier":
            if classifier_ckpt is not None:
                self.classifier = freeze(torch.load(classifier_ckpt, map_location="cpu", weights_only=False))
                self.classifier_fit_steps = 0
            else:
                if num_classes is None:
                    raise ValueError("downstream=classifier without classifier_ckpt needs num_classes")
                self.classifier = SmallClassifier(int(num_classes))
        elif downstream == "clip":
            self.clip_bundle = build_clip(**dict(clip or {"pretrained": None}))
            self.input_size = self.clip_bundle.image_size
            self.register_buffer("clip_mean", torch.tensor(self.clip_bundle.mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("clip_std", torch.tensor(self.clip_bundle.std).view(1, 3, 1, 1), persistent=False)
            self.clip_visual = self.clip_bundle.visual

    # ------------------------------------------------------------------ downstream
    def downstream(self, x: torch.Tensor) -> torch.Tensor:
        if self.downstream_kind == "reconstruction":
            return x
        if self.downstream_kind == "classifier":
            assert self.classifier is not None
            return self.classifier(x)
        return self.clip_visual((x - self.clip_mean) / self.clip_std)

    @torch.no_grad()
    def target_of(self, batch: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        if self.downstream_kind == "reconstruction":
            return x
        if self.downstream_kind == "classifier":
            return self.labels(batch).to(x.device)
        return self.downstream(x)

    def labels(self, batch: dict[str, Any]) -> torch.Tensor:
        lab = batch.get(self.label_key)
        if lab is None:
            raise ScanpathDataError(f"downstream=classifier needs per-sample labels in '{self.label_key}'",
                                    field=self.label_key)
        return torch.as_tensor(lab).long()

    def loss_fn(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.downstream_kind == "reconstruction":
            return get_loss("mse")(out, target)
        if self.downstream_kind == "classifier":
            return cross_entropy_loss(out, target)
        return get_loss("cosine")(out, target)

    def inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        x, g = model_inputs(batch, self.input_size, self.resize_mode, None, self.device)
        return x.to(torch.float32), g

    def _blurred(self, x: torch.Tensor, k: int, sigma: float, noise: float = 0.0) -> torch.Tensor:
        k = k if k // 2 < x.shape[-1] else 2 * (x.shape[-1] // 2) - 1
        return blur_levels(x, 1, k, sigma, noise)[0]

    # ------------------------------------------------------------------ fit-time classifier
    def on_fit_start(self) -> None:
        if self.downstream_kind == "classifier" and self.classifier_fit_steps > 0:
            self.fit_classifier(self.trainer.datamodule.train_dataloader(), self.classifier_fit_steps)
        if self.classifier is not None:
            freeze(self.classifier)
        if self.clip_bundle is not None:
            freeze(self.clip_visual)

    def fit_classifier(self, loader: Any, steps: int, lr: float = 1e-3) -> float:
        """Fit the small classifier on sharp and blurred training images, then freeze it.
        Returns the final training accuracy on the last batch."""
        assert self.classifier is not None
        clf = self.classifier.to(self.device).train()
        for p in clf.parameters():
            p.requires_grad_(True)
        opt = torch.optim.Adam(clf.parameters(), lr=lr)
        done, acc = 0, float("nan")
        with grad_enabled():
            while done < steps:
                for batch in loader:
                    x, _ = self.inputs(batch)
                    y = self.labels(batch).to(x.device)
                    blurred = self._blurred(x, *self.val_blur)
                    xx = torch.cat([x, blurred, 0.5 * (x + blurred)])
                    yy = y.repeat(3)
                    logits = clf(xx)
                    loss = nn.functional.cross_entropy(logits, yy)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    acc = float((logits[: len(y)].argmax(1) == y).float().mean())
                    done += 1
                    if done >= steps:
                        break
        freeze(clf)
        log.info("NeVA downstream classifier fitted for %d steps (last-batch train acc %.3f)", steps, acc)
        return acc

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x, _ = self.inputs(batch)
        blurred = self._blurred(x, self.blur_k, self.blur_sigma, self.noise)
        target = self.target_of(batch, x)
        opt = self.optimizers()

        def step(loss: torch.Tensor) -> None:
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()

        losses, _ = glimpse_losses(
            self.attention, self.downstream, x, blurred, target, self.loss_fn, self.n_glimpses,
            self.sigma_f, self.forgetting, step if self.step_per_glimpse else None,
        )
        if self.step_per_glimpse:
            total = torch.stack(losses).mean()
        else:
            total = torch.stack(losses).sum()
            step(total)
            total = total.detach() / len(losses)
        sch = self.lr_schedulers()
        if sch is not None and self.trainer.is_last_batch:
            sch.step()
        self.log("train/loss", total, prog_bar=True, batch_size=x.shape[0])
        return total

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, _ = self.inputs(batch)
        k, s = self.val_blur
        k = k if k // 2 < x.shape[-1] else 2 * (x.shape[-1] // 2) - 1
        B = x.shape[0]
        if self.downstream_kind == "classifier":
            accs, _ = foveated_accuracy(self.attention, self.downstream, x, self.labels(batch).to(x.device),
                                        self.n_glimpses_eval, self.val_sigma_f, k, s)
            self.log("val/foveated_acc", accs.mean(), prog_bar=True, batch_size=B)
        labels = self.labels(batch).to(x.device) if self.downstream_kind == "classifier" else None
        self.log("val/loss", self.foveated_loss(x, k, s, labels), prog_bar=True, batch_size=B)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, _ = self.inputs(batch)
        k, s = self.val_blur
        k = k if k // 2 < x.shape[-1] else 2 * (x.shape[-1] // 2) - 1
        labels = self.labels(batch).to(x.device) if self.downstream_kind == "classifier" else None
        self.log("test/loss", self.foveated_loss(x, k, s, labels), batch_size=x.shape[0])

    @torch.no_grad()
    def foveated_loss(self, x: torch.Tensor, k: int, sigma: float, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Mean downstream loss over t = 1…T on x + (blur−x)·clip(1 − Σ g_s, 0, 1) (validation)."""
        (blurred,) = blur_levels(x, 1, k, sigma)
        B, _, H, W = x.shape
        total = torch.zeros(B, H, W, device=x.device, dtype=x.dtype)
        if self.downstream_kind == "classifier":
            if labels is None:
                raise ValueError("foveated_loss with a classifier needs labels")
            target = labels
        else:
            target = x if self.downstream_kind == "reconstruction" else self.downstream(x)
        vals = []
        for _ in range(self.n_glimpses_eval):
            p = self.attention(x + (blurred - x) * (1 - total).clamp(0, 1)[:, None])
            total = total + gaussian_mask(p.to(x.dtype), (H, W), self.val_sigma_f)
            out = self.downstream(x + (blurred - x) * (1 - total).clamp(0, 1)[:, None])
            vals.append(self.loss_fn(out, target).mean())
        return torch.stack(vals).mean()

    def configure_optimizers(self) -> Any:
        params = [p for p in self.attention.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params) if self.optimizer_factory is not None else torch.optim.Adam(params, lr=1e-4)
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": self.scheduler_factory(opt)}

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        x, geom = self.inputs(batch)
        (blurred,) = blur_levels(x, 1, *self._val_or_train_blur(x))
        B, _, H, W = x.shape
        memory = torch.zeros(B, H, W, device=x.device, dtype=x.dtype)
        fixes = []
        for _ in range(self.n_glimpses_eval):
            p = self.attention(x + (blurred - x) * (1 - memory).clamp(0, 1)[:, None])
            fixes.append(p.clamp(-1, 1))
            memory = update_memory(memory, p, (H, W), self.forgetting, self.sigma_f)
        fix = torch.stack(fixes, 1).double()
        return to_scanpath_batch(batch, fix, geom, None, [{"model": "neva"} for _ in range(B)], self.duration_ms)

    def _val_or_train_blur(self, x: torch.Tensor) -> tuple[int, float]:
        k = self.blur_k if self.blur_k // 2 < x.shape[-1] else 2 * (x.shape[-1] // 2) - 1
        return k, self.blur_sigma
