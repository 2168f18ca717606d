"""Object-level baselines for OAT evaluation (docs/oat.md §4; the framework's own reconstruction —
upstream ships only their outputs).

Each baseline has a static distribution p_b over the N objects of a trial. A rollout draws a length
cap L from the empirical training-length distribution, samples objects i.i.d. from p_b and stops
early when it samples the target (the target is then the last fixation). 100 rollouts per trial.

* ``random``         p = 1/N
* ``center``         p ∝ exp(−‖(r, c) − ((R−1)/2, (C−1)/2)‖² / (2σ²)), σ = max(R, C)/4 grid units
* ``saliency``       p ∝ mean spectral-residual saliency (Hou & Zhang 2007) inside the object box
                     (needs the layout ``image``)
* ``rgb_similarity`` p ∝ exp(−mean|crop_o − crop_target| / τ), τ = 0.1 (needs ``crops``)

Layout-only data (no images/crops) skips saliency and rgb_similarity with a logged reason
(:meth:`ObjectBaseline.skip_reason`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from scanpath.models.base import ScanpathModel
from scanpath.models.oat.decoding import Rollouts, trial_seed
from scanpath.models.oat.module import rollouts_to_batch
from scanpath.types import ScanpathBatch

log = logging.getLogger(__name__)

KINDS = ("random", "center", "saliency", "rgb_similarity")
#: the light sample keys every object baseline reads
LAYOUT_KEYS = ("scanpath", "stimulus", "task", "grid", "boxes", "target_index", "layout_id", "trial_id", "image_size")


def center_distribution(grid: tuple[int, int], sigma: float | None = None) -> Tensor:
    """``(N,)`` Gaussian over grid cells around the grid centre, σ = max(R, C)/4 by default."""
    r, c = grid
    s = float(sigma) if sigma is not None else max(r, c) / 4.0
    rr, cc = torch.meshgrid(torch.arange(r, dtype=torch.float64), torch.arange(c, dtype=torch.float64), indexing="ij")
    d2 = (rr - (r - 1) / 2) ** 2 + (cc - (c - 1) / 2) ** 2
    p = torch.exp(-d2 / (2 * s * s)).reshape(-1)
    return p / p.sum()


def box_means(maps: Tensor, boxes: Tensor, image_sizes: Tensor) -> Tensor:
    """Mean of ``maps`` ``(B, h, w)`` inside each box ``(B, N, 4)`` given in image pixels ``(B, 2)`` (W, H)."""
    b, h, w = maps.shape
    out = torch.empty(boxes.shape[:2], dtype=torch.float64)
    sx = w / image_sizes[:, 0].double()
    sy = h / image_sizes[:, 1].double()
    for i in range(b):  # N boxes per map: integral image makes each box O(1)
        ii = torch.zeros(h + 1, w + 1, dtype=torch.float64)
        ii[1:, 1:] = maps[i].double().cumsum(0).cumsum(1)
        bx = boxes[i].double()
        x0 = (bx[:, 0] * sx[i]).floor().clamp(0, w - 1).long()
        x1 = (bx[:, 2] * sx[i]).ceil().clamp(1, w).long()
        y0 = (bx[:, 1] * sy[i]).floor().clamp(0, h - 1).long()
        y1 = (bx[:, 3] * sy[i]).ceil().clamp(1, h).long()
        x1 = torch.maximum(x1, x0 + 1)
        y1 = torch.maximum(y1, y0 + 1)
        s = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
        out[i] = s / ((x1 - x0) * (y1 - y0)).double()
    return out


def sample_rollouts(
    probs: Tensor, targets: Tensor, caps: Tensor, generators: Sequence[torch.Generator]
) -> Rollouts:
    """i.i.d. object rollouts: ``probs`` ``(B, N)``, ``caps`` ``(B, K)`` → :class:`Rollouts` (stop at the
    first target sample, else at the cap)."""
    b, n = probs.shape
    k = caps.shape[1]
    lmax = int(caps.max()) if caps.numel() else 0
    draws = torch.stack([
        torch.multinomial(probs[i].double(), k * lmax, replacement=True, generator=generators[i]).view(k, lmax)
        for i in range(b)
    ]) if lmax else torch.zeros(b, k, 0, dtype=torch.long)
    t = torch.arange(lmax)
    hit = draws == targets[:, None, None]
    first_hit = torch.where(hit.any(-1), hit.float().argmax(-1), torch.full((b, k), lmax))
    lengths = torch.minimum(caps, first_hit + 1)
    valid = t[None, None] < lengths[..., None]
    tokens = torch.where(valid, draws, torch.full_like(draws, -1))
    return Rollouts(tokens, lengths, first_hit < caps)


class ObjectBaseline(ScanpathModel):
    """One object-level baseline (``kind`` in :data:`KINDS`); ``rollouts`` scanpaths per trial."""

    trainable = False

    def __init__(
        self,
        kind: str = "random",
        rollouts: int = 100,
        seed: int = 0,
        tau: float = 0.1,
        center_sigma: float | None = None,
        saliency_width: int = 64,
        lengths: Sequence[int] | None = None,
        default_length: int = 10,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.samples_per_stimulus = int(rollouts)
        self.seed = int(seed)
        self.tau = float(tau)
        self.center_sigma = center_sigma
        self.saliency_width = int(saliency_width)
        self.lengths = None if lengths is None else np.asarray(list(lengths), dtype=np.int64)
        self.default_length = int(default_length)
        self.display_name = name or f"{kind} (objects)"
        self.sampling = f"iid object rollouts ×{self.samples_per_stimulus}"

    # ------------------------------------------------------------------ configuration
    def setup(self, stage: str | None = None) -> None:
        dm = getattr(getattr(self, "_trainer", None), "datamodule", None)
        if self.lengths is None and dm is not None and hasattr(dm, "human_scanpaths"):
            self.fit_lengths(dm.human_scanpaths("train"))

    def fit_lengths(self, humans: Sequence[Any]) -> None:
        """Empirical training-length distribution (the length caps of the rollouts)."""
        lengths = [len(h) for h in humans if len(h) > 0]
        if lengths:
            self.lengths = np.asarray(lengths, dtype=np.int64)

    @property
    def required_sample_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        """The sample keys this kind reads: the layout fields, plus ``image`` (saliency) or ``crops``
        (rgb_similarity; the target's crop is taken from them)."""
        heavy = {"saliency": ("image",), "rgb_similarity": ("crops",)}.get(self.kind, ())
        return (*LAYOUT_KEYS, *heavy)

    @property
    def needs_image(self) -> bool:
        """Only the saliency baseline reads the rendered layout image."""
        return self.kind == "saliency"

    def skip_reason(self, sample: Mapping[str, Any]) -> str | None:
        if self.kind == "saliency" and sample.get("image") is None:
            return "saliency baseline needs the layout image (layout-only data has none)"
        if self.kind == "rgb_similarity" and sample.get("crops") is None:
            return "rgb-similarity baseline needs object crops (layout-only data has none)"
        return None

    # ------------------------------------------------------------------ distributions
    def distribution(self, batch: Mapping[str, Any]) -> Tensor:
        """``(B, N)`` object probabilities p_b for every trial of the batch."""
        grids = [tuple(int(v) for v in g) for g in batch["grid"]]
        b = len(grids)
        n = grids[0][0] * grids[0][1]
        if any(g != grids[0] for g in grids):
            raise ValueError("an object baseline batch must hold one grid size")
        if self.kind == "random":
            return torch.full((b, n), 1.0 / n, dtype=torch.float64)
        if self.kind == "center":
            return center_distribution(grids[0], self.center_sigma).expand(b, n).clone()
        if self.kind == "saliency":
            return self._saliency_distribution(batch, b)
        crops = batch.get("crops")
        if crops is None:
            raise ValueError("rgb-similarity baseline needs 'crops' in the batch")
        crops = crops.double().cpu()
        tgt = batch.get("target_crop")
        idx = torch.as_tensor(batch["target_index"], dtype=torch.long)
        tcrop = tgt.double().cpu() if isinstance(tgt, Tensor) else crops[torch.arange(b), idx]
        d = (crops - tcrop[:, None]).abs().mean(dim=(2, 3, 4))
        return torch.softmax(-d / self.tau, dim=1)

    def _saliency_of(self, image: Tensor, boxes: Tensor, size: Any) -> Tensor:
        """``(N,)`` saliency distribution of one layout: ``image`` ``(3, H, W)``, ``boxes`` ``(N, 4)``."""
        from scanpath.models.baselines import spectral_residual_saliency

        sal_map = spectral_residual_saliency(image[None].float().cpu(), width=self.saliency_width)
        sizes = torch.as_tensor(size, dtype=torch.float64).reshape(1, 2)
        sal = box_means(sal_map, torch.as_tensor(boxes)[None], sizes).clamp_min(0)[0] + 1e-12
        return sal / sal.sum()

    def prepare_layouts(self, samples: Iterable[Mapping[str, Any]]) -> bool:
        """Compute the saliency distribution of every layout in ``samples`` from the first sample of
        each layout, one rendered image at a time, and keep it (a few floats per layout), so that the
        batches this baseline then reads need no ``image``. True when every sample had a
        ``layout_id`` (its batches may then leave the image out); other kinds need nothing."""
        if self.kind != "saliency":
            return True
        known = self._saliency_known()
        for s in samples:
            lid = s.get("layout_id")
            if lid is None:
                return False
            if lid not in known:
                known[lid] = self._saliency_of(s["image"], s["boxes"], s["image_size"])
        return True

    def _saliency_known(self) -> dict[Any, Tensor]:
        """``layout_id`` → saliency distribution, filled by :meth:`prepare_layouts` and on first use (a
        few floats per layout: kept for the run, so a prepared layout never needs its image again)."""
        return self.__dict__.setdefault("_saliency_memo", {})

    def _saliency_distribution(self, batch: Mapping[str, Any], b: int) -> Tensor:
        """Spectral-residual saliency averaged in each object box, normalised; computed once per layout
        (``layout_id``: the trials and queries of a layout share image and boxes) and remembered.
        Layouts prepared by :meth:`prepare_layouts` need no ``image`` in the batch."""
        lids = batch.get("layout_id")
        lids = list(lids) if isinstance(lids, (list, tuple)) and len(lids) == b else [None] * b
        known = self._saliency_known()
        images = batch.get("image")
        if images is None and not all(lid in known for lid in lids):
            raise ValueError("saliency baseline needs 'image' in the batch")
        boxes = _boxes(batch)

        def one(i: int) -> Tensor:
            return self._saliency_of(images[i], boxes[i], batch["image_size"][i])

        rows = []
        for i, lid in enumerate(lids):
            if lid is None:
                rows.append(one(i))
            else:
                if lid not in known:
                    known[lid] = one(i)
                rows.append(known[lid])
        return torch.stack(rows)

    # ------------------------------------------------------------------ rollouts
    def rollouts(self, batch: Mapping[str, Any]) -> Rollouts:
        probs = self.distribution(batch)
        b = probs.shape[0]
        k = self.samples_per_stimulus
        ids = batch.get("trial_id") or [m.get("stimulus") for m in batch["scanpaths"].meta]
        gens = [torch.Generator().manual_seed(trial_seed(self.seed, f"{self.kind}|{t}")) for t in ids]
        lengths = self.lengths if self.lengths is not None else np.asarray([self.default_length])
        lt = torch.as_tensor(lengths, dtype=torch.long)
        caps = torch.stack([lt[torch.randint(len(lt), (k,), generator=g)] for g in gens]) if b else lt.new_zeros(0, k)
        targets = torch.as_tensor(batch["target_index"], dtype=torch.long)
        return sample_rollouts(probs, targets, caps, gens)

    def predict_scanpaths(self, batch: Mapping[str, Any]) -> ScanpathBatch:
        return rollouts_to_batch(self.rollouts(batch), batch)


def _boxes(batch: Mapping[str, Any]) -> Tensor:
    boxes = batch["boxes"]
    return boxes if isinstance(boxes, Tensor) else torch.stack([torch.as_tensor(x) for x in boxes])
