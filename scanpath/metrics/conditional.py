"""Conditional next-fixation metrics (HAT ``hat/evaluation.py``; docs/metrics.md §2.6).

Teacher-forced on the human history, a model outputs a probability map P (H×W, sum 1) for every
next human fixation x_t. Per step:

* cIG  = log₂(P(x_t) + ε) − log₂(B(x_t) + ε), B = task prior;
* cNSS = (P(x_t) − mean P) / std P (unbiased; std 0 → 1);
* cAUC = 1 − fp/2, fp = (#{P ≥ P(x_t)} − 1)/(HW − 1).

Functions take a batch of maps ``[S, H, W]`` and fixations ``[S, 2]`` (x, y) and return ``[S]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

EPS = 2.2204e-16


def _at(maps: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    s, h, w = maps.shape
    x = xy[:, 0].to(torch.float64).trunc().long().clamp(0, w - 1)
    y = xy[:, 1].to(torch.float64).trunc().long().clamp(0, h - 1)
    return maps[torch.arange(s), y, x]


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a, dtype=torch.float64)


def cig(maps, xy, prior) -> torch.Tensor:
    """Conditional information gain per step (bits); ``prior`` ``[H, W]`` or ``[S, H, W]``."""
    maps, xy, prior = _t(maps), _t(xy), _t(prior)
    if prior.ndim == 2:
        prior = prior.expand_as(maps)
    return torch.log2(_at(maps, xy) + EPS) - torch.log2(_at(prior, xy) + EPS)


def cnss(maps, xy) -> torch.Tensor:
    maps, xy = _t(maps), _t(xy)
    flat = maps.flatten(1)
    sd = flat.std(dim=1, unbiased=True)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return (_at(maps, xy) - flat.mean(dim=1)) / sd


def cauc(maps, xy) -> torch.Tensor:
    maps, xy = _t(maps), _t(xy)
    flat = maps.flatten(1)
    v = _at(maps, xy)
    fp = ((flat >= v[:, None]).sum(dim=1) - 1).to(torch.float64) / (flat.shape[1] - 1)
    return 1 - fp / 2


def task_prior(fixations: Sequence[np.ndarray], shape: tuple[int, int] = (320, 512), sigma: float = 24.0,
               drop_first: bool = True) -> np.ndarray:
    """Histogram of training fixations (first fixations dropped), Gaussian σ = 24 px, sum 1.

    ``fixations``: one ``(L, 2)`` (x, y) array per training scanpath of the task/condition.
    """
    h, w = shape
    counts = np.zeros(shape, dtype=np.float64)
    for f in fixations:
        f = np.asarray(f, dtype=np.float64).reshape(-1, 2)
        if drop_first:
            f = f[1:]
        if len(f) == 0:
            continue
        xi = np.clip(np.trunc(f[:, 0]).astype(np.int64), 0, w - 1)
        yi = np.clip(np.trunc(f[:, 1]).astype(np.int64), 0, h - 1)
        np.add.at(counts, (yi, xi), 1.0)
    m = gaussian_filter(counts, sigma=sigma, mode="reflect", truncate=4.0)
    s = m.sum()
    return m / s if s > 0 else np.full(shape, 1.0 / (h * w))
