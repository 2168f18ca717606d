"""NeVA / NevaClip as plain torch modules (no Lightning): docs/nevaclip.md §2.

* :class:`NevaOptimizer` — optimised mode (NevaClip, NeVA-OPT): every next fixation is found by
  signed-gradient descent on the 2-D position of a Gaussian fovea, minimising a downstream loss on
  the foveated image. Batched: B images × K candidate start points are optimised together; the
  foveation itself is :func:`scanpath.core.foveate`. Its settings are one
  :class:`~scanpath.models.neva.params.SearchParams`; the targets of each mode are built in
  :mod:`scanpath.models.neva.optimised`.
* Attention networks for the trained mode (§2.3): :class:`SimpleAttentionNet` (CPU default),
  :class:`WideResNetAttention` (WRN-28-10, upstream), :func:`timm_attention_net`.
* :func:`glimpse_losses` — the trained-mode glimpse loop; :func:`foveated_accuracy` — its validation
  metric (upstream ``run_accuracy``); both driven by :class:`scanpath.models.neva.trained.NevaNet`.

Positions are ``(row, col)`` in [−1, 1] over the ``S×S`` model input (upstream 'ij' order).

Upstream quirks (``upstream_quirks=True``; docs/nevaclip.md §6, all fixed by default):
* Q1: the best position is stored *after* the sign step (one lr-step away from the measured point)
  and after the position clamp where upstream clamps (NeVA-OPT ±2.5); fixed mode stores the pre-step
  (measured) position.
* Q2: no position clipping (positions drift to ±2); fixed mode clamps to [−1, 1] (``position_clip``).
* Q7 (schedule target): ``l = (s/T)²`` with ``s = 0…T−1`` never reaches e₁; fixed uses ``s = 1…T``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scanpath.core import blur_levels, foveate, gaussian_mask, update_memory
from scanpath.models.neva.params import AUTOCAST, SearchParams
from scanpath.utils.checkpoint_io import load_weights_into

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- losses
def cosine_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 − cos(out, target)`` per row (NevaClip)."""
    return 1.0 - F.cosine_similarity(out.flatten(1), target.flatten(1).to(out.dtype), dim=1)


def cross_entropy_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per row against integer labels (NeVA-OPT / classifier downstream)."""
    return F.cross_entropy(out, target.long(), reduction="none")


def mse_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per row (reconstruction downstream)."""
    return (out.flatten(1) - target.flatten(1).to(out.dtype)).pow(2).mean(1)


LOSSES: dict[str, LossFn] = {"cosine": cosine_loss, "cross_entropy": cross_entropy_loss, "mse": mse_loss}


def get_loss(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or a callable")
    return LOSSES[loss]


@contextlib.contextmanager
def grad_enabled() -> Iterator[None]:
    """Leave inference mode and enable autograd (the optimised modes descend on positions)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


# ----------------------------------------------------------------------------- seeding
def stable_id(value: Any) -> int:
    """A process-independent 63-bit integer for an id (int stays itself; str → blake2b hash)."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return int(value) & ((1 << 63) - 1)
    h = hashlib.blake2b(str(value).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def candidate_seed(seed: int, sample_id: int, k: int) -> int:
    """Seed of the generator of (sample, candidate): a hash of (seed, sample_id, k)."""
    h = hashlib.blake2b(f"{int(seed)}/{int(sample_id)}/{int(k)}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


class CandidateRNG:
    """One ``torch.Generator`` per (sample, candidate) (docs/nevaclip.md §2.2, Q5 fixed).

    Every step draws ``2 + 2·I`` values per generator (2 for the start, 2 per iteration for the
    restart) whether used or not, so a candidate's trajectory does not depend on batch composition
    or on K. Draws are float64 on CPU, then cast, so fp32 and fp64 runs consume identical streams.
    """

    def __init__(self, seed: int, sample_ids: Sequence[int], n_candidates: int) -> None:
        self.gens = [
            [torch.Generator().manual_seed(candidate_seed(seed, sid, k)) for k in range(n_candidates)]
            for sid in sample_ids
        ]

    def draw(self, n_iter: int) -> torch.Tensor:
        """``[B, K, 1 + n_iter, 2]`` uniforms in [0, 1) for one step."""
        return torch.stack(
            [
                torch.stack([torch.rand(1 + n_iter, 2, generator=g, dtype=torch.float64) for g in row])
                for row in self.gens
            ]
        )


# ----------------------------------------------------------------------------- optimised mode
@dataclass
class NevaResult:
    """Output of :class:`NevaOptimizer` for a batch."""

    fix_norm: torch.Tensor  # [B, T, 2] (row, col) in model-input normalised units
    loss: torch.Tensor  # [B, T] downstream loss at the committed fixation (best candidate)
    candidate_loss: torch.Tensor  # [B, T, K] best loss of each candidate
    first_loss: torch.Tensor  # [B, T, K] loss of each candidate at iteration 1 (before any step)


def schedule_weights(n_steps: int, upstream: bool = False) -> torch.Tensor:
    """Weights ``l_s`` of e₁ in the schedule target ``l·e₁ + (1−l)·e₂`` (upstream ``output2``).

    ``l = (s/T)²`` with ``s = 1…T`` (reaches e₁ at the last step), or ``s = 0…T−1`` with
    ``upstream=True`` (Q7: l_max = ((T−1)/T)²).
    """
    s = torch.arange(n_steps, dtype=torch.float64) + (0 if upstream else 1)
    return (s / n_steps) ** 2


class NevaOptimizer(nn.Module):
    """Gradient-driven fixation search through a frozen downstream model (optimised NeVA mode).

    ``forward(images [B,3,S,S] in [0,1], targets, sample_ids)`` returns a :class:`NevaResult`.
    ``targets`` is ``[B, ...]`` (one target for all steps) or ``[T, B, ...]`` (``per_step=True``;
    e.g. the schedule target). Normalisation (``mean``/``std``) is applied *after* foveation.

    Defaults are NevaClip's (upstream ``main.py``): T 10, I 20, lr 0.1, σ_f 0.2, blur 41/10,
    f 0, uniform restarts, K = 1.
    """

    #: torch-level names of :class:`SearchParams` fields (kept for direct callers of this class)
    ALIASES = {"clip": "position_clip", "upstream_clip": "upstream_position_clip"}

    def __init__(
        self,
        downstream: nn.Module | Callable[[torch.Tensor], torch.Tensor],
        params: SearchParams | None = None,
        *,
        loss: str | LossFn = "cosine",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        **overrides: Any,
    ) -> None:
        """``params`` (default :class:`SearchParams`) with ``overrides`` applied: any field name, or
        ``clip`` / ``upstream_clip`` for ``position_clip`` / ``upstream_position_clip``, or
        ``autocast_dtype`` (``None`` | ``torch.bfloat16`` | ``torch.float16``) for ``precision``."""
        super().__init__()
        self.params = self.resolve_params(params, overrides)
        self.downstream = downstream
        self.loss_fn = get_loss(loss)
        self.register_buffer("mean", None if mean is None else torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", None if std is None else torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    @classmethod
    def resolve_params(cls, params: SearchParams | None, overrides: dict[str, Any]) -> SearchParams:
        base = params if params is not None else SearchParams()
        changes = {cls.ALIASES.get(k, k): v for k, v in overrides.items() if k != "autocast_dtype"}
        if "autocast_dtype" in overrides:
            by_dtype = {v: k for k, v in AUTOCAST.items()}
            if overrides["autocast_dtype"] not in by_dtype:
                raise ValueError(f"autocast_dtype must be one of {list(by_dtype)}, got {overrides['autocast_dtype']!r}")
            changes["precision"] = by_dtype[overrides["autocast_dtype"]]
        unknown = sorted(set(changes) - set(SearchParams.keys()))
        if unknown:
            raise TypeError(f"NevaOptimizer: unknown setting(s) {unknown}; valid keys are "
                            f"{SearchParams.keys() + sorted(cls.ALIASES) + ['autocast_dtype']}")
        return base.replace(**changes) if changes else base

    # the settings the callers read
    @property
    def n_fixations(self) -> int:
        return self.params.n_fixations

    @property
    def restart(self) -> str:
        return self.params.restart

    @property
    def upstream_quirks(self) -> bool:
        return self.params.upstream_quirks

    # ------------------------------------------------------------------ pieces
    @property
    def clip_value(self) -> float | None:
        """Position clamp in effect (:attr:`SearchParams.clip_value`; NevaClip with quirks: None, Q2)."""
        return self.params.clip_value

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            return x
        return (x - self.mean.to(x)) / self.std.to(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Downstream output of (already foveated) images in [0, 1]."""
        xn = self.normalize(x)
        dtype = self.params.autocast_dtype
        if dtype is not None:
            with torch.autocast(device_type=x.device.type, dtype=dtype):
                return self.downstream(xn).float()
        return self.downstream(xn)

    @torch.no_grad()
    def image_target(self, images: torch.Tensor) -> torch.Tensor:
        """Downstream output of the sharp image (free-viewing / NeVA-OPT target), no grad."""
        return self.embed(images)

    def candidate_losses(
        self,
        images: torch.Tensor,
        blurred: list[torch.Tensor],
        memory: torch.Tensor | None,
        pos: torch.Tensor,
        target: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss ``[B, K]`` of every candidate and its gradient w.r.t. ``pos [B, K, 2]``.

        Each (image, candidate) loss depends on its own position only, so the gradient of the sum
        is the per-candidate gradient; ``chunk_size`` caps B·K per forward/backward.
        """
        B, K = pos.shape[:2]
        n = B * K
        flat = pos.reshape(n, 2)
        tgt = target.repeat_interleave(K, dim=0)
        chunk = self.params.chunk_size or n
        losses, grads = [], []
        for s in range(0, n, chunk):
            idx = torch.arange(s, min(s + chunk, n), device=images.device)
            p = flat[idx].detach().clone().requires_grad_(True)
            if chunk >= n:  # whole batch: no copies of the images
                fov = foveate(
                    images, p.view(B, K, 2), sigma_f=self.params.sigma_f, memory=memory,
                    blurred=blurred, levels=self.params.levels,
                ).reshape(n, *images.shape[1:])
            else:
                bi = idx // K
                fov = foveate(
                    images[bi], p[:, None], sigma_f=self.params.sigma_f,
                    memory=None if memory is None else memory[bi],
                    blurred=[b[bi] for b in blurred], levels=self.params.levels,
                )[:, 0]
            ell = self.loss_fn(self.embed(fov), tgt[idx])
            (g,) = torch.autograd.grad(ell.sum(), p)
            losses.append(ell.detach())
            grads.append(g)
        return torch.cat(losses).view(B, K), torch.cat(grads).view(B, K, 2)

    # ------------------------------------------------------------------ main loop
    def forward(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        sample_ids: Sequence[int] | None = None,
        per_step: bool = False,
    ) -> NevaResult:
        if images.dim() != 4:
            raise ValueError(f"images must be [B,3,S,S], got {tuple(images.shape)}")
        B, _, H, W = images.shape
        prm = self.params
        T, I, K = prm.n_fixations, prm.n_iter, prm.n_candidates
        dev, dt = images.device, images.dtype
        if per_step and targets.shape[0] != T:
            raise ValueError(f"per-step targets must be [T={T}, B, ...], got {tuple(targets.shape)}")
        ids = list(range(B)) if sample_ids is None else [stable_id(s) for s in sample_ids]
        if len(ids) != B:
            raise ValueError(f"got {len(ids)} sample ids for a batch of {B}")
        rng = CandidateRNG(prm.seed, ids, K)
        clip = prm.clip_value
        quirks = prm.upstream_quirks
        blurred = blur_levels(images, prm.levels, prm.blur_k, prm.blur_sigma, prm.noise,
                              generator=torch.Generator(device=dev).manual_seed(prm.seed) if prm.noise else None)
        memory: torch.Tensor | None = None
        fix = torch.zeros(B, T, 2, dtype=dt, device=dev)
        loss_out = torch.zeros(B, T, dtype=dt, device=dev)
        cand_out = torch.zeros(B, T, K, dtype=dt, device=dev)
        first_out = torch.zeros(B, T, K, dtype=dt, device=dev)
        with torch.enable_grad():
            for t in range(T):
                target = targets[t] if per_step else targets
                draws = rng.draw(I).to(device=dev, dtype=dt)  # [B, K, 1+I, 2]
                pos = draws[:, :, 0] * 2 - 1
                pos[:, 0] = 0.0  # candidate 0 starts at the centre, as upstream
                best_loss = torch.full((B, K), math.inf, dtype=dt, device=dev)
                best_pos = pos.clone()
                for i in range(I):
                    ell, grad = self.candidate_losses(images, blurred, memory, pos, target)
                    if i == 0:
                        first_out[:, t] = ell
                    improved = ell < best_loss
                    stepped = pos - prm.lr * torch.sign(grad)
                    if clip is not None:
                        stepped = stepped.clamp(-clip, clip)
                    # Q1: upstream stores the position after the step (and after its clamp: NeVA-OPT ±2.5)
                    stored = stepped if quirks else pos
                    best_pos = torch.where(improved[..., None], stored, best_pos)
                    best_loss = torch.where(improved, ell, best_loss)
                    r = draws[:, :, 1 + i]
                    if prm.restart == "uniform":
                        new = r * 2 - 1
                    elif prm.restart == "jitter":
                        new = stepped + (r - 0.5) * prm.lr
                        if clip is not None:
                            new = new.clamp(-clip, clip)
                    else:
                        new = stepped
                    pos = torch.where(improved[..., None], stepped, new).detach()
                kbest = best_loss.argmin(dim=1)
                ar = torch.arange(B, device=dev)
                p_star = best_pos[ar, kbest]
                fix[:, t] = p_star
                loss_out[:, t] = best_loss[ar, kbest]
                cand_out[:, t] = best_loss
                memory = update_memory(memory, p_star, (H, W), prm.forgetting, prm.sigma_f)
        return NevaResult(fix, loss_out, cand_out, first_out)


# ----------------------------------------------------------------------------- attention nets
class SimpleAttentionNet(nn.Module):
    """Three 4×4 stride-2 convs (32/64/128, BN, ReLU) → Linear(2) → clamp ±``clip`` (docs/nevaclip.md §2.3).

    An adaptive average pool to 4×4 before the linear layer makes it size-agnostic (a framework
    choice; the published description does not fix the flatten size). Output ``[B, 2]`` = (row, col).
    """

    def __init__(self, in_channels: int = 3, clip: float | None = 2.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in (32, 64, 128):
            layers += [nn.Conv2d(c, w, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Linear(128 * 16, 2)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=1e-3)
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.head(self.features(x))
        return p if self.clip is None else p.clamp(-self.clip, self.clip)


class _WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, drop: float = 0.0) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.short = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.drop:
            y = F.dropout(y, self.drop, self.training)
        y = self.conv2(y)
        return y + (x if self.short is None else self.short(o))


class WideResNetAttention(nn.Module):
    """CIFAR-style WideResNet-``depth``-``widen`` with 2 outputs (upstream attention network).

    Q10: upstream's ``Clip(2.5)`` acts on the pooled features, not the output; ``upstream_quirks``
    reproduces that, otherwise the (row, col) output is clamped to ±``clip``.
    """

    def __init__(self, depth: int = 28, widen: int = 10, clip: float = 2.5, upstream_quirks: bool = False) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for g, stride in zip(widths[1:], (1, 2, 2)):
            for j in range(n):
                blocks.append(_WideBlock(cin, g, stride if j == 0 else 1))
                cin = g
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, 2)
        self.clip = clip
        self.upstream_quirks = upstream_quirks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.blocks(self.conv(x))))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        if self.upstream_quirks:
            return self.fc(h.clamp(-self.clip, self.clip))
        return self.fc(h).clamp(-self.clip, self.clip)


def timm_attention_net(name: str = "resnet18", clip: float = 2.5, **kwargs: Any) -> nn.Module:
    """Any timm model with ``num_classes=2`` (random init unless ``pretrained=True`` is passed)."""
    import timm

    net = timm.create_model(name, num_classes=2, **kwargs)
    return nn.Sequential(net, _Clamp(clip))


class _Clamp(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-self.value, self.value)


# ----------------------------------------------------------------------------- trained mode
def blend(images: torch.Tensor, blurred: torch.Tensor, bm: torch.Tensor) -> torch.Tensor:
    """``x + (blur − x)·bm`` with a blur mask ``bm [B, H, W]`` (1 = fully blurred)."""
    return images + (blurred - images) * bm[:, None]


def glimpse_losses(
    attention: nn.Module,
    downstream: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    blurred: torch.Tensor,
    target: torch.Tensor,
    loss_fn: LossFn,
    n_glimpses: int = 8,
    sigma_f: float = 0.15,
    forgetting: float = 0.9,
    step: Callable[[torch.Tensor], None] | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Trained-mode glimpse loop (docs/nevaclip.md §2.3). Returns (per-glimpse mean losses, positions [B,T,2]).

    Per glimpse: detach M, bm; M ← f·M; p = net(x + (blur−x)·bm); M ← M + g(p);
    bm ← clip(1−M, 0, 1); loss on downstream(x + (blur−x)·bm). With ``step`` (one optimiser step
    per glimpse) ``step(loss)`` is called after each glimpse; without it the caller sums the losses.
    """
    B, _, H, W = images.shape
    memory = torch.zeros(B, H, W, dtype=images.dtype, device=images.device)
    bm = torch.ones_like(memory)
    losses, positions = [], []
    for _ in range(n_glimpses):
        memory, bm = memory.detach(), bm.detach()
        memory = forgetting * memory
        p = attention(blend(images, blurred, bm))
        memory = memory + gaussian_mask(p.to(images.dtype), (H, W), sigma_f)
        bm = (1.0 - memory).clamp(0.0, 1.0)
        loss = loss_fn(downstream(blend(images, blurred, bm)), target).mean()
        if step is not None:
            step(loss)
            loss = loss.detach()
        losses.append(loss)
        positions.append(p.detach())
    return losses, torch.stack(positions, dim=1)


@torch.no_grad()
def foveated_accuracy(
    attention: nn.Module,
    classifier: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    n_glimpses: int = 10,
    sigma_f: float = 0.15,
    blur_k: int = 41,
    blur_sigma: float = 35.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream ``run_accuracy``: top-1 accuracy on x + (blur−x)·clip(1 − Σ_{s≤t} g_s, 0, 1).

    Returns (accuracy per glimpse ``[T]``, positions ``[B, T, 2]``); the validation metric is the
    mean over t = 1…T. The blur (k 41, σ_b 35) is clamped to the valid reflection size for small
    images.
    """
    B, _, H, W = images.shape
    k = blur_k if blur_k // 2 < min(H, W) else 2 * (min(H, W) - 1) - 1
    (blurred,) = blur_levels(images, 1, k, blur_sigma)
    total = torch.zeros(B, H, W, dtype=images.dtype, device=images.device)
    accs, positions = [], []
    for _ in range(n_glimpses):
        p = attention(blend(images, blurred, (1.0 - total).clamp(0.0, 1.0)))
        total = total + gaussian_mask(p.to(images.dtype), (H, W), sigma_f)
        logits = classifier(blend(images, blurred, (1.0 - total).clamp(0.0, 1.0)))
        accs.append((logits.argmax(1) == labels).to(torch.float64).mean())
        positions.append(p)
    return torch.stack(accs), torch.stack(positions, dim=1)


class SmallClassifier(nn.Module):
    """A small CNN classifier: the offline stand-in for a pretrained downstream model.

    Used by ``model=neva`` on procedural data, where no pretrained classifier exists offline: it is
    fitted for a few hundred steps on the training images (sharp and blurred) and then frozen.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.BatchNorm2d(4 * width), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode, no gradients: a frozen downstream model."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def build_classifier(
    name: str = "resnet50",
    pretrained_weights: str | None = "IMAGENET1K_V1",
    checkpoint: str | Path | None = None,
    num_classes: int | None = None,
) -> nn.Module:
    """A frozen downstream classifier ``torchvision.models.<name>``.

    ``checkpoint``: a local state dict (or Lightning checkpoint) of that architecture, read with
    ``weights_only=True`` (a pickled module is refused: unpickling it could run code); the
    architecture is then built without weights. Else ``pretrained_weights`` (a torchvision weights
    name; ``None`` = random init, offline). ``num_classes`` changes the head (e.g. 10 for CIFAR-10).
    """
    import torchvision

    factory = getattr(torchvision.models, name, None)
    if factory is None or not callable(factory):
        raise ValueError(f"unknown torchvision classifier {name!r}")
    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": int(num_classes)}
    if checkpoint is not None:
        net = load_weights_into(factory(weights=None, **kwargs), checkpoint, what="model.classifier.checkpoint")
        return freeze(net)
    return freeze(factory(weights=pretrained_weights, **kwargs))
