"""Reference baselines that every evaluation table carries next to the model.

All baselines are :class:`~scanpath.models.base.ScanpathModel` subclasses, so evaluate.py runs them
with ``trainer.predict`` on any datamodule that gives ``image_size`` (and ``image`` when present):

* :class:`RandomBaseline` — fixations uniform over the image.
* :class:`CenterBias` — fixations drawn from a Gaussian around the image centre (``mode="gaussian"``,
  σ = ``sigma_frac`` × image width/height per axis, clipped to the image), or all exactly at the
  centre (``mode="point"``). Its Gaussian (mean and log-σ in image-normalised units) is a learnable
  parameter: ``train.py model=center_bias`` fits it to the human fixations by maximum likelihood
  (a *learned centre bias*); zero-shot use keeps the initial values above.
* :class:`SaliencyIOR` — spectral-residual saliency (Hou & Zhang, CVPR 2007) with winner-take-all
  selection and disc inhibition of return.
* :class:`TargetSimilarity` — colour similarity of the (locally averaged) image to the mean colour of
  ``target_crop``, with the same winner-take-all + inhibition of return; it needs ``image`` and
  ``target_crop`` and otherwise reports a skip reason (:meth:`skip_reason`).

Common behaviour: seeded per stimulus (the same stimulus gets the same scanpath whatever the batch
composition), ``samples`` scanpaths per stimulus returned as consecutive rows with 1-based
``subject``; ``n_fixations`` fixations each — when None, the median human scanpath length of the
datamodule's train split (rounded, ≥ 1), else ``default_n_fixations``. No durations unless
``duration_ms`` is set. When the batch carries object ``boxes`` (object-layout datasets), every
fixation is labelled with the containing box (else the nearest box centre) in
``fixation_extra["object"]``, so object-string metrics apply.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scanpath.core import ior_mask
from scanpath.models.base import ScanpathModel
from scanpath.types import ScanpathBatch

__all__ = [
    "BaselineModel",
    "CenterBias",
    "RandomBaseline",
    "SaliencyIOR",
    "TargetSimilarity",
    "label_objects",
    "spectral_residual_saliency",
    "wta_ior",
]


# ------------------------------------------------------------------------------------------ helpers
#: Query-record extras that describe the human observer, not the stimulus (not copied to predictions).
_PER_OBSERVER_KEYS = {"RT", "fixOnTarget", "correct", "split", "true_length", "subject", "length"}


def label_objects(xy: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Object index per fixation: the first box containing it, else the box with the nearest centre.

    ``xy`` ``[T, 2]``, ``boxes`` ``[N, 4]`` (x0, y0, x1, y1) → ``[T]`` int64.
    """
    if boxes.numel() == 0 or xy.numel() == 0:
        return torch.full((xy.shape[0],), -1, dtype=torch.long)
    b = boxes.to(xy)
    x, y = xy[:, None, 0], xy[:, None, 1]
    inside = (x >= b[None, :, 0]) & (x <= b[None, :, 2]) & (y >= b[None, :, 1]) & (y <= b[None, :, 3])
    centres = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], dim=1)
    nearest = torch.cdist(xy, centres).argmin(dim=1)
    first_inside = torch.where(inside.any(1), inside.float().argmax(1), nearest)
    return first_inside.long()


def _gaussian_kernel1d(sigma: float, dtype: torch.dtype) -> torch.Tensor:
    radius = max(1, int(4.0 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, h, w]`` maps with replicate borders."""
    if sigma <= 0:
        return maps
    k = _gaussian_kernel1d(sigma, maps.dtype).to(maps.device)
    r = (k.numel() - 1) // 2
    x = maps[:, None]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return x[:, 0]


def _normalise01(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return (maps - lo[:, None, None]) / span[:, None, None]


def _resize_width(images: torch.Tensor, width: int) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` to the given width, keeping the aspect ratio (antialiased)."""
    h, w = images.shape[-2:]
    new_h = max(1, round(width * h / w))
    return F.interpolate(images, size=(new_h, width), mode="bilinear", align_corners=False, antialias=True)


def spectral_residual_saliency(
    images: torch.Tensor, width: int = 64, avg_size: int = 3, blur_sigma: float = 2.5
) -> torch.Tensor:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007), batched.

    ``images`` ``[B, 3, H, W]`` (or ``[B, 1, H, W]``) in [0, 1] → ``[B, h, width]`` maps in [0, 1] at
    the reduced resolution (h keeps the aspect ratio). Steps, as in the paper: grey image resized to
    width 64; log amplitude L and phase P of its FFT; residual R = L − (avg_size × avg_size mean
    filter of L); saliency = |IFFT(exp(R + iP))|², smoothed by a Gaussian (σ = 2.5 map pixels as in
    the authors' published MATLAB snippet; the paper text states σ = 8) and min–max normalised.
    """
    x = images.to(torch.float64)
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
        x = (x * w[None, :, None, None]).sum(1, keepdim=True)
    x = _resize_width(x, width)[:, 0]
    spec = torch.fft.fft2(x)
    log_amp = torch.log(spec.abs().clamp_min(1e-12))
    phase = torch.angle(spec)
    r = avg_size // 2
    avg = F.avg_pool2d(F.pad(log_amp[:, None], (r, r, r, r), mode="replicate"), avg_size, stride=1)[:, 0]
    residual = log_amp - avg
    sal = torch.fft.ifft2(torch.exp(torch.complex(residual, phase))).abs() ** 2
    return _normalise01(_blur(sal, blur_sigma))


def wta_ior(
    maps: torch.Tensor, n: int, radius: float, noise: float = 0.0, generators: Sequence[torch.Generator] | None = None
) -> torch.Tensor:
    """Winner-take-all scan of ``maps`` ``[B, h, w]`` with disc inhibition of return.

    Each step picks the arg-max (lowest flat index on ties), then sets every map pixel whose centre
    lies within ``radius`` map pixels of the winner to −inf (a disc IOR that never decays; mask from
    :func:`scanpath.core.ior_mask`). When all
    pixels are inhibited, the inhibition is lifted (the map is restored) so scanning continues.
    ``noise`` > 0 adds seeded Gaussian noise (std ``noise`` × map range) before the scan, which makes
    multiple samples differ. Returns ``[B, n, 2]`` (x, y) in map-pixel units (pixel centres at +0.5).
    """
    b, h, w = maps.shape
    m = maps.clone().to(torch.float64)
    if noise > 0:
        gens = generators or [None] * b  # type: ignore[list-item]
        eps = torch.stack([torch.randn(h, w, generator=g, dtype=torch.float64) for g in gens])
        m = m + noise * eps.to(m.device)
    base = m.clone()
    out = torch.empty(b, n, 2, dtype=torch.float64, device=m.device)
    rows = torch.arange(b, device=m.device)
    for t in range(n):
        exhausted = torch.isinf(m.flatten(1)).all(1)
        if exhausted.any():
            m[exhausted] = base[exhausted]
        idx = m.flatten(1).argmax(1)
        cy, cx = (idx // w).to(torch.float64), (idx % w).to(torch.float64)
        out[:, t, 0], out[:, t, 1] = cx + 0.5, cy + 0.5
        disc = ior_mask((h, w), "disc", centers=out[:, t : t + 1], radius=radius).to(m.device)
        m = m.masked_fill(disc, float("-inf"))
        m[rows, cy.long(), cx.long()] = float("-inf")
    return out


# ------------------------------------------------------------------------------------------- models
class BaselineModel(ScanpathModel):
    """Shared machinery: sizes, seeding, fixation count, packing rows into a :class:`ScanpathBatch`."""

    display_name = "baseline"
    #: sizes, the query's stimulus fields and object boxes (``image`` only stands in for a missing
    #: ``image_size``; the map baselines add what their maps read)
    required_sample_keys: tuple[str, ...] = ("scanpath", "stimulus", "image_size", "boxes", "target_index")

    def __init__(
        self,
        n_fixations: int | None = None,
        samples: int = 1,
        seed: int = 0,
        duration_ms: float | None = None,
        default_n_fixations: int = 10,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if n_fixations is not None and int(n_fixations) < 1:
            raise ValueError(f"n_fixations must be ≥ 1 or None, got {n_fixations}")
        if int(samples) < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        self.n_fixations = None if n_fixations is None else int(n_fixations)
        self.samples_per_stimulus = int(samples)
        self.seed = int(seed)
        self.duration_ms = duration_ms
        self.default_n_fixations = int(default_n_fixations)
        if name:
            self.display_name = name
        self.n_fixations_source = "config" if n_fixations is not None else "default"

    # ------------------------------------------------------------ configuration from the datamodule
    def setup(self, stage: str | None = None) -> None:
        if self.n_fixations is not None and self.n_fixations_source == "config":
            return
        dm = getattr(getattr(self, "_trainer", None), "datamodule", None)
        if dm is not None and hasattr(dm, "human_scanpaths"):
            self.fit_length(dm.human_scanpaths("train") or dm.human_scanpaths("all"))

    def fit_length(self, humans: Sequence[Any]) -> int:
        """Set ``n_fixations`` to the rounded median human length (when not fixed by config)."""
        lengths = [len(h) for h in humans]
        if lengths and self.n_fixations_source != "config":
            self.n_fixations = max(1, int(round(float(np.median(lengths)))))
            self.n_fixations_source = "median human length"
        return self.num_fixations

    @property
    def num_fixations(self) -> int:
        return self.n_fixations if self.n_fixations is not None else self.default_n_fixations

    # ------------------------------------------------------------------------------- batch plumbing
    @staticmethod
    def image_sizes(batch: dict[str, Any]) -> torch.Tensor:
        """``[B, 2]`` (W, H) from ``image_size``, the query scanpaths' meta, or the image shape."""
        if isinstance(batch.get("image_size"), torch.Tensor):
            return batch["image_size"].to(torch.float64).cpu()
        sp: ScanpathBatch = batch["scanpaths"]
        sizes = []
        for i, meta in enumerate(sp.meta):
            size = meta.get("image_size")
            if size is None and batch.get("image") is not None:
                img = batch["image"][i]
                size = (img.shape[-1], img.shape[-2])
            if size is None:
                raise ValueError(
                    f"baseline needs the stimulus size: row {i} (stimulus {meta.get('stimulus')!r}) has no "
                    "'image_size', no scanpath image_size and no 'image'"
                )
            sizes.append(size)
        return torch.as_tensor(sizes, dtype=torch.float64)

    def generators(self, batch: dict[str, Any]) -> list[torch.Generator]:
        """One generator per (row, sample), seeded by (seed, stimulus, task, sample index)."""
        gens = []
        for meta in batch["scanpaths"].meta:
            for s in range(self.samples_per_stimulus):
                key = f"{self.seed}|{meta.get('stimulus')}|{meta.get('task')}|{meta.get('condition')}|{s}"
                gens.append(torch.Generator().manual_seed(zlib.crc32(key.encode())))
        return gens

    def sample_xy(self, batch: dict[str, Any], sizes: torch.Tensor, n: int) -> torch.Tensor:
        """``[B, S, n, 2]`` fixations in original pixels (S = samples per stimulus)."""
        raise NotImplementedError

    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        sizes = self.image_sizes(batch)
        n = self.num_fixations
        xy = self.sample_xy(batch, sizes, n).to(torch.float64).cpu()
        b, s = xy.shape[:2]
        xy = torch.minimum(xy.clamp_min(0), sizes[:, None, None, :])  # stay inside the image
        data = torch.full((b * s, n, 3), float("nan"), dtype=torch.float64)
        data[..., :2] = xy.reshape(b * s, n, 2)
        if self.duration_ms is not None:
            data[..., 2] = float(self.duration_ms)
        metas = []
        targets = batch.get("target_index")
        for i, meta in enumerate(batch["scanpaths"].meta):
            # stimulus-level fields of the query record (e.g. trial id, target box); never its fixations
            extra = {k: v for k, v in (meta.get("extra") or {}).items() if k not in _PER_OBSERVER_KEYS}
            if targets is not None:
                extra["target_index"] = int(targets[i])
            for k in range(s):
                metas.append(
                    {
                        "stimulus": meta.get("stimulus"),
                        "subject": k + 1,
                        "task": meta.get("task"),
                        "condition": meta.get("condition"),
                        "image_size": tuple(int(v) for v in sizes[i].tolist()),
                        "extra": dict(extra),
                    }
                )
        fixation_extra = {}
        boxes = batch.get("boxes")
        if boxes is not None:
            labels = torch.stack(
                [label_objects(data[r, :, :2], torch.as_tensor(boxes[r // s])) for r in range(b * s)]
            )
            fixation_extra["object"] = labels
        return ScanpathBatch(
            data=data,
            lengths=torch.full((b * s,), n, dtype=torch.long),
            has_duration=torch.full((b * s,), self.duration_ms is not None, dtype=torch.bool),
            meta=metas,
            fixation_extra=fixation_extra,
        )


class RandomBaseline(BaselineModel):
    """Fixations drawn uniformly over the image."""

    display_name = "Random"

    def sample_xy(self, batch: dict[str, Any], sizes: torch.Tensor, n: int) -> torch.Tensor:
        u = torch.stack([torch.rand(n, 2, generator=g, dtype=torch.float64) for g in self.generators(batch)])
        u = u.view(len(sizes), self.samples_per_stimulus, n, 2)
        return u * sizes[:, None, None, :]


class CenterBias(BaselineModel):
    """Centre-bias baseline; optionally trained (learned centre bias). See the module docstring."""

    display_name = "Center bias"
    trainable = True

    def __init__(
        self,
        mode: str = "gaussian",
        sigma_frac: float = 0.2,
        optimizer: Any = None,
        scheduler: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in ("gaussian", "point"):
            raise ValueError(f"mode must be 'gaussian' or 'point', got {mode!r}")
        if not sigma_frac > 0:
            raise ValueError(f"sigma_frac must be > 0, got {sigma_frac}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.mode = mode
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        # mean and log-σ of the fixation distribution in image-normalised coordinates (x/W, y/H)
        self.mu = torch.nn.Parameter(torch.tensor([0.5, 0.5], dtype=torch.float64))
        self.log_sigma = torch.nn.Parameter(torch.full((2,), math.log(sigma_frac), dtype=torch.float64))

    def sample_xy(self, batch: dict[str, Any], sizes: torch.Tensor, n: int) -> torch.Tensor:
        mu = self.mu.detach().cpu()
        if self.mode == "point":
            u = mu.expand(len(sizes), self.samples_per_stimulus, n, 2)
        else:
            z = torch.stack([torch.randn(n, 2, generator=g, dtype=torch.float64) for g in self.generators(batch)])
            u = mu + self.log_sigma.detach().cpu().exp() * z.view(len(sizes), self.samples_per_stimulus, n, 2)
        return u.clamp(0, 1) * sizes[:, None, None, :]

    # ------------------------------------------------------------------------ training (learned CB)
    def nll(self, batch: dict[str, Any]) -> torch.Tensor:
        """Mean negative log-likelihood (nats) of the human fixations under the normalised Gaussian."""
        sp: ScanpathBatch = batch["scanpaths"]
        sizes = self.image_sizes(batch).to(self.mu.device)
        u = sp.xy.to(self.mu) / sizes[:, None, :]
        mask = sp.mask.to(self.mu.device)
        if not mask.any():
            return self.mu.sum() * 0.0
        sigma = self.log_sigma.exp()
        z = (u[mask] - self.mu) / sigma
        return (0.5 * (z**2).sum(-1) + self.log_sigma.sum() + math.log(2 * math.pi)).mean()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.nll(batch)
        self.log("train/loss", loss.float(), prog_bar=True, batch_size=len(batch["scanpaths"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.nll(batch)
        self.log("val/loss", loss.float(), prog_bar=True, batch_size=len(batch["scanpaths"]), sync_dist=True)
        return loss

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.nll(batch)
        self.log("test/loss", loss.float(), batch_size=len(batch["scanpaths"]), sync_dist=True)
        return loss

    def configure_optimizers(self) -> Any:
        factory = self.optimizer_factory or (lambda params: torch.optim.Adam(params, lr=0.01))
        opt = factory(self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt), "interval": "epoch"}}


class _MapBaseline(BaselineModel):
    """WTA + disc IOR over a per-image priority map (subclasses build the map)."""

    needs: tuple[str, ...] = ("image",)

    @property
    def required_sample_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*BaselineModel.required_sample_keys, *self.needs)

    def __init__(self, map_width: int = 64, ior_radius_frac: float = 0.1, noise: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.map_width = int(map_width)
        self.ior_radius_frac = float(ior_radius_frac)
        self.noise = float(noise)

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        missing = [k for k in self.needs if sample.get(k) is None]
        if missing:
            return (
                f"{self.display_name} needs {missing} in the data samples; this datamodule does not provide "
                "them (e.g. layout-only mode without stimulus images)"
            )
        return None

    def priority_maps(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        raise NotImplementedError

    def sample_xy(self, batch: dict[str, Any], sizes: torch.Tensor, n: int) -> torch.Tensor:
        reason = self.skip_reason({k: batch.get(k) for k in self.needs})
        if reason:
            raise ValueError(reason)
        maps = self.priority_maps(batch)
        gens = self.generators(batch)
        s = self.samples_per_stimulus
        out = []
        for i, m in enumerate(maps):
            h, w = m.shape
            radius = self.ior_radius_frac * max(h, w)
            rep = m[None].expand(s, h, w)
            xy = wta_ior(rep, n, radius, self.noise, gens[i * s : (i + 1) * s])
            scale = torch.tensor([sizes[i, 0] / w, sizes[i, 1] / h], dtype=torch.float64)
            out.append(xy.cpu() * scale)
        return torch.stack(out)

    @staticmethod
    def images(batch: dict[str, Any]) -> list[torch.Tensor]:
        imgs = batch["image"]
        return list(imgs) if isinstance(imgs, torch.Tensor) else [torch.as_tensor(i) for i in imgs]


class SaliencyIOR(_MapBaseline):
    """Spectral-residual saliency + winner-take-all + disc inhibition of return."""

    display_name = "Saliency+IOR"

    def __init__(self, avg_size: int = 3, blur_sigma: float = 2.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.avg_size = int(avg_size)
        self.blur_sigma = float(blur_sigma)

    def priority_maps(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        imgs = batch["image"]
        if isinstance(imgs, torch.Tensor):  # equal sizes: one batched FFT
            return list(spectral_residual_saliency(imgs, self.map_width, self.avg_size, self.blur_sigma))
        return [
            spectral_residual_saliency(img[None], self.map_width, self.avg_size, self.blur_sigma)[0]
            for img in self.images(batch)
        ]


class TargetSimilarity(_MapBaseline):
    """Colour similarity to the target crop + winner-take-all + disc IOR.

    Map: the image is resized to ``map_width`` (aspect kept), locally averaged over a
    ``window`` × ``window`` box, and compared with the mean RGB of ``target_crop``:
    sim = exp(−mean_c |I_c − μ_c| / τ), τ = ``tau`` (colours in [0, 1]).
    """

    display_name = "Target similarity"
    needs = ("image", "target_crop")

    def __init__(self, tau: float = 0.1, window: int = 3, map_width: int = 128, **kwargs: Any) -> None:
        super().__init__(map_width=map_width, **kwargs)
        self.tau = float(tau)
        self.window = int(window)

    def priority_maps(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        crops = batch["target_crop"]
        crops = list(crops) if isinstance(crops, torch.Tensor) else [torch.as_tensor(c) for c in crops]
        maps = []
        for img, crop in zip(self.images(batch), crops):
            small = _resize_width(img[None].to(torch.float64), self.map_width)
            r = self.window // 2
            local = F.avg_pool2d(F.pad(small, (r, r, r, r), mode="replicate"), self.window, stride=1)[0]
            mu = crop.to(torch.float64).flatten(1).mean(1)
            maps.append(torch.exp(-(local - mu[:, None, None]).abs().mean(0) / self.tau))
        return maps
