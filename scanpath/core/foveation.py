"""Foveation: blend a sharp and blurred image(s) by a mask around fixations (NeVA / NevaClip).

See docs/nevaclip.md §2.1.

* Positions ``u = (row, col)`` in [-1, 1] (upstream 'ij' order); grid pixel i sits at ``-1 + 2i/(S-1)``.
* Gaussian mask ``g(p) = exp(-||q - p||^2 / sigma_f)`` — ``sigma_f`` is a divisor, not a std. It is
  separable, so it is built as an outer product of a row and a column profile.
* Blur: separable Gaussian, ``k`` taps, std ``sigma_b`` px, normalised to sum 1, reflection padding
  ``k // 2``, depthwise. Computed once per image, never per candidate.
* Visibility ``A = clip(M + g, 0, 1)`` with memory ``M`` (``M_t = f M_{t-1} + g(p*_t)``, detached);
  output ``A x + (1 - A) blur(x)``, computed as upstream's ``x + (blur - x) clip(1 - M - g, 0, 1)``.
* Pyramid (``levels=L``): ``B_0 = x``, ``B_l`` = blur with ``sigma_l = sigma_b 2^(l-1)``,
  ``k_l = 2 ceil(2 sigma_l) + 1`` (level 1 uses the given ``blur_k`` so that L = 1 IS the blend; with
  the NevaClip defaults 41/10 both agree). ``lambda = L (1 - A)``; each pixel interpolates linearly
  between ``B_floor(lambda)`` and ``B_floor(lambda)+1``, written as the telescoping sum
  ``B_0 + sum_l clamp(lambda - l + 1, 0, 1) (B_l - B_{l-1})`` so it stays differentiable.
* Eccentricity mask (``mask="ecc"``, needs ``ppd`` pixels per degree): the visibility falls linearly
  from 1 at ``fovea_deg`` to 0 at ``fovea_deg + levels * deg_per_level`` degrees, so in pyramid mode
  the blur level grows by one every ``deg_per_level`` degrees of eccentricity.
* Noise option (old NeVA): the blurred images are ``clip(blur(x + noise N(0,1)), 0, 1)``.

Batching: ``x``, the blur levels and ``M`` are per image; the mask is per (image, candidate). The
output ``[B, K, C, H, W]`` is written in one broadcast ``addcmul`` per level, no K copies of the blurred
image are made. Differentiable w.r.t. the fixation positions on the torch backend (and on the Triton
backend, whose backward is torch).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "grid_coords",
    "gaussian_kernel1d",
    "gaussian_blur",
    "gaussian_mask",
    "eccentricity_mask",
    "visibility",
    "update_memory",
    "blur_levels",
    "foveate",
    "foveate_reference",
    "pyramid_taps",
]


def grid_coords(size: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Normalised pixel positions ``-1 + 2 i / (size - 1)``, ``i = 0..size-1``."""
    if size < 2:
        raise ValueError(f"grid_coords: size must be >= 2, got {size}")
    return torch.linspace(-1.0, 1.0, size, dtype=dtype, device=device)


def gaussian_kernel1d(k: int, sigma: float, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``k``-tap Gaussian with std ``sigma`` px centred on tap ``k // 2``, normalised to sum 1."""
    if k < 1 or sigma <= 0:
        raise ValueError(f"gaussian_kernel1d: need k >= 1 and sigma > 0, got k={k}, sigma={sigma}")
    t = torch.arange(k, dtype=torch.float64, device=device) - (k // 2)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return (w / w.sum()).to(dtype)


_BLUR_MATRIX_MAX = 1024


@lru_cache(maxsize=64)
def _blur_matrix_cpu(n: int, k: int, sigma: float) -> torch.Tensor:
    """``[n, n]`` float64 matrix of the 1-D blur with reflection padding folded in (banded)."""
    p = k // 2
    w = gaussian_kernel1d(k, sigma, torch.float64)
    i = torch.arange(n)[:, None]
    j = i + torch.arange(-p, p + 1)[None, :]
    j = torch.where(j < 0, -j, j)
    j = torch.where(j > n - 1, 2 * (n - 1) - j, j)
    A = torch.zeros(n, n, dtype=torch.float64)
    A.scatter_add_(1, j, w.expand(n, k).contiguous())
    return A


def _blur_matrix(n: int, k: int, sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    return _blur_matrix_cpu(n, k, float(sigma)).to(device=device, dtype=dtype)


def gaussian_blur(x: torch.Tensor, k: int = 41, sigma: float = 10.0) -> torch.Tensor:
    """Separable depthwise Gaussian blur of ``x [B,C,H,W]`` with reflection padding ``k // 2``.

    For sides up to 1024 px each 1-D pass is a matmul with the banded blur matrix (reflection folded
    in): BLAS-fast on CPU, where a single-channel depthwise conv is slow; larger images use conv2d.
    Both compute the same sums (up to float rounding)."""
    if x.dim() != 4:
        raise ValueError(f"gaussian_blur: expected [B,C,H,W], got {tuple(x.shape)}")
    B, C, H, W = x.shape
    p = k // 2
    if p >= H or p >= W:
        raise ValueError(f"gaussian_blur: reflection padding k//2={p} must be < image size {H}x{W} (k={k})")
    if max(H, W) <= _BLUR_MATRIX_MAX:
        AH = _blur_matrix(H, k, sigma, x.dtype, x.device)
        AW = _blur_matrix(W, k, sigma, x.dtype, x.device)
        return torch.matmul(torch.matmul(AH, x), AW.t())
    w = gaussian_kernel1d(k, sigma, x.dtype, x.device)
    y = x.reshape(B * C, 1, H, W)
    y = F.conv2d(F.pad(y, (0, 0, p, p), mode="reflect"), w.view(1, 1, k, 1))
    y = F.conv2d(F.pad(y, (p, p, 0, 0), mode="reflect"), w.view(1, 1, 1, k))
    return y.reshape(B, C, H, W)


def _as_bk2(fixations: torch.Tensor, B: int) -> tuple[torch.Tensor, bool]:
    if fixations.dim() == 2 and fixations.shape == (B, 2):
        return fixations[:, None, :], True
    if fixations.dim() == 3 and fixations.shape[0] == B and fixations.shape[2] == 2:
        return fixations, False
    raise ValueError(f"foveate: fixations must be [B,2] or [B,K,2] with B={B}, got {tuple(fixations.shape)}")


def _profiles(fix: torch.Tensor, H: int, W: int, sigma_f: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable Gaussian profiles: rows ``[..., H]`` and columns ``[..., W]``."""
    if sigma_f <= 0:
        raise ValueError(f"gaussian_mask: sigma_f must be > 0, got {sigma_f}")
    r = grid_coords(H, fix.dtype, fix.device)
    c = grid_coords(W, fix.dtype, fix.device)
    gr = torch.exp(-((r - fix[..., 0:1]) ** 2) / sigma_f)
    gc = torch.exp(-((c - fix[..., 1:2]) ** 2) / sigma_f)
    return gr, gc


def gaussian_mask(fixations: torch.Tensor, hw: tuple[int, int] | int, sigma_f: float = 0.2) -> torch.Tensor:
    """NeVA mask ``exp(-||q - p||^2 / sigma_f)`` for positions ``[..., 2]`` (row, col) → ``[..., H, W]``."""
    H, W = (hw, hw) if isinstance(hw, int) else hw
    gr, gc = _profiles(fixations, H, W, sigma_f)
    return gr[..., :, None] * gc[..., None, :]


def eccentricity_mask(
    fixations: torch.Tensor,
    hw: tuple[int, int] | int,
    ppd: float,
    fovea_deg: float = 2.0,
    falloff_deg: float = 10.0,
) -> torch.Tensor:
    """Visibility falling linearly with eccentricity (degrees, ``ppd`` px/deg): 1 inside ``fovea_deg``,
    0 beyond ``fovea_deg + falloff_deg``. Positions ``[..., 2]`` (row, col) normalised → ``[..., H, W]``."""
    H, W = (hw, hw) if isinstance(hw, int) else hw
    if ppd <= 0 or falloff_deg <= 0:
        raise ValueError(f"eccentricity_mask: need ppd > 0 and falloff_deg > 0, got {ppd}, {falloff_deg}")
    r = grid_coords(H, fixations.dtype, fixations.device)
    c = grid_coords(W, fixations.dtype, fixations.device)
    dr = (r - fixations[..., 0:1]) * ((H - 1) / 2)
    dc = (c - fixations[..., 1:2]) * ((W - 1) / 2)
    d2 = dr[..., :, None] ** 2 + dc[..., None, :] ** 2
    ecc = d2.clamp_min(1e-12).sqrt() / ppd
    return (1.0 - (ecc - fovea_deg) / falloff_deg).clamp(0.0, 1.0)


def visibility(mask: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
    """``A = clip(M + g, 0, 1)``."""
    return (mask if memory is None else memory + mask).clamp(0.0, 1.0)


def update_memory(
    memory: torch.Tensor | None, fixation: torch.Tensor, hw: tuple[int, int] | int, forgetting: float = 0.0,
    sigma_f: float = 0.2,
) -> torch.Tensor:
    """``M_t = f M_{t-1} + g(p*_t)`` (detached); ``fixation [B,2]`` → memory ``[B,H,W]``."""
    g = gaussian_mask(fixation.detach(), hw, sigma_f)
    return g if memory is None else forgetting * memory.detach() + g


def pyramid_taps(levels: int, blur_k: int, blur_sigma: float) -> list[tuple[int, float]]:
    """(taps, sigma) of blur levels 1..L: ``sigma_l = sigma_b 2^(l-1)``, ``k_l = 2 ceil(2 sigma_l) + 1``
    for l >= 2, level 1 = (blur_k, blur_sigma)."""
    if levels < 1:
        raise ValueError(f"foveate: levels must be >= 1, got {levels}")
    out = [(int(blur_k), float(blur_sigma))]
    for l in range(2, levels + 1):
        s = blur_sigma * 2 ** (l - 1)
        out.append((2 * math.ceil(2 * s) + 1, s))
    return out


def blur_levels(
    images: torch.Tensor,
    levels: int = 1,
    blur_k: int = 41,
    blur_sigma: float = 10.0,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """Blurred images ``[B_1, ..., B_L]`` (each ``[B,C,H,W]``), computed once per image.

    With ``noise > 0`` each level is ``clip(blur(x + noise N(0,1)), 0, 1)`` (one noise draw per call).
    """
    src = images
    if noise:
        eps = torch.randn(images.shape, generator=generator, dtype=images.dtype, device=images.device)
        src = images + noise * eps
    outs = []
    for k, s in pyramid_taps(levels, blur_k, blur_sigma):
        b = gaussian_blur(src, k, s)
        outs.append(b.clamp(0.0, 1.0) if noise else b)
    return outs


def _level_weights(A: torch.Tensor, L: int) -> list[torch.Tensor]:
    """Weights of the differences ``B_l - B_{l-1}``: ``clamp(L (1 - A) - l + 1, 0, 1)``."""
    if L == 1:
        return [1.0 - A]
    lam = L * (1.0 - A)
    return [(lam - (l - 1)).clamp(0.0, 1.0) for l in range(1, L + 1)]


def _foveate_torch(
    x: torch.Tensor, diffs: Sequence[torch.Tensor], A: torch.Tensor
) -> torch.Tensor:
    """``x [n,C,H,W]``, ``diffs`` L x ``[n,C,H,W]``, visibility ``A [n,K,H,W]`` → ``[n,K,C,H,W]``."""
    ws = _level_weights(A, len(diffs))
    out = torch.addcmul(x.unsqueeze(1), ws[0].unsqueeze(2), diffs[0].unsqueeze(1))
    for w, d in zip(ws[1:], diffs[1:]):
        out = torch.addcmul(out, w.unsqueeze(2), d.unsqueeze(1))
    return out


def _blend_forward_torch(x, d, gr, gc, m) -> torch.Tensor:
    """``x + clamp(1 - m - gr gc^T, 0, 1) d`` → ``[n,K,C,H,W]``, one image at a time (cache-sized
    temporaries, no [n,K,H,W] intermediates)."""
    n, C, H, W = x.shape
    K = gr.shape[1]
    out = torch.empty((n, K, C, H, W), dtype=x.dtype, device=x.device)
    for b in range(n):
        w = gr[b, :, :, None] * gc[b, :, None, :]
        if m is not None:
            w.add_(m[b])
        w.neg_().add_(1.0).clamp_(0.0, 1.0)
        torch.addcmul(x[b].unsqueeze(0), w.unsqueeze(1), d[b].unsqueeze(0), out=out[b])
    return out


def blend_backward(ctx, g_out):
    """Backward of the fused Gaussian blend (shared by the torch and Triton forwards): recomputes the
    weights per image; gradients for x, d and the separable profiles ``gr``, ``gc``."""
    x, d, gr, gc, m = ctx.saved_tensors
    need = ctx.needs_input_grad
    gx = g_out.sum(1) if need[0] else None
    gd = torch.empty_like(d) if need[1] else None
    ggr = torch.empty_like(gr) if need[2] else None
    ggc = torch.empty_like(gc) if need[3] else None
    if need[1] or need[2] or need[3]:
        for b in range(x.shape[0]):
            g = gr[b, :, :, None] * gc[b, :, None, :]
            s = 1.0 - g if m is None else (1.0 - m[b]) - g
            if need[1]:
                gd[b] = torch.einsum("kchw,khw->chw", g_out[b], s.clamp(0.0, 1.0))
            if need[2] or need[3]:
                dg = -torch.einsum("kchw,chw->khw", g_out[b], d[b]) * ((s > 0) & (s < 1)).to(g.dtype)
                if need[2]:
                    ggr[b] = (dg * gc[b, :, None, :]).sum(-1)
                if need[3]:
                    ggc[b] = (dg * gr[b, :, :, None]).sum(-2)
    return gx, gd, ggr, ggc, None


class _GaussianBlend(torch.autograd.Function):
    """NeVA blend with the Gaussian mask given by its separable profiles; saves only the inputs
    (the [n,K,H,W] weights are recomputed in backward)."""

    @staticmethod
    def forward(ctx, x, d, gr, gc, m):
        ctx.save_for_backward(x, d, gr, gc, m)
        return _blend_forward_torch(x, d, gr, gc, m)

    backward = staticmethod(blend_backward)


def foveate(
    images: torch.Tensor,
    fixations: torch.Tensor,
    *,
    sigma_f: float = 0.2,
    blur_k: int = 41,
    blur_sigma: float = 10.0,
    memory: torch.Tensor | None = None,
    levels: int = 1,
    mask: Literal["gaussian", "ecc"] = "gaussian",
    ppd: float | None = None,
    fovea_deg: float = 2.0,
    deg_per_level: float = 5.0,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    blurred: Sequence[torch.Tensor] | torch.Tensor | None = None,
    chunk_size: int | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Foveate ``images [B,C,H,W]`` around ``fixations [B,2]`` or ``[B,K,2]`` (row, col in [-1, 1]).

    Returns ``[B,C,H,W]`` for ``[B,2]`` and ``[B,K,C,H,W]`` for ``[B,K,2]``.

    ``memory`` ``[B,H,W]`` (or ``[B,1,H,W]``) is added to the mask before clipping (see
    :func:`update_memory`). ``levels`` > 1 selects the blur pyramid. ``mask="ecc"`` replaces the
    Gaussian by the eccentricity ramp (needs ``ppd``; one blur level per ``deg_per_level`` degrees past
    ``fovea_deg``). ``blurred``: precomputed :func:`blur_levels` output to reuse across calls (then
    ``blur_k``/``blur_sigma``/``noise`` are ignored). ``chunk_size`` caps the (image, candidate) pairs
    computed per internal step. ``backend``: ``None`` (``SCANPATH_BACKEND``), ``"torch"`` or
    ``"triton"`` (CUDA only; gaussian mask, one level).
    """
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"foveate: images must be a float [B,C,H,W] tensor, got {tuple(images.shape)} {images.dtype}")
    B, C, H, W = images.shape
    fix, single = _as_bk2(fixations, B)
    fix = fix.to(images.dtype)
    K = fix.shape[1]
    if memory is not None:
        if memory.dim() == 4 and memory.shape[1] == 1:
            memory = memory[:, 0]
        if memory.shape != (B, H, W):
            raise ValueError(f"foveate: memory must be [B,H,W] = {(B, H, W)}, got {tuple(memory.shape)}")
        memory = memory.detach().to(images.dtype)
    if blurred is None:
        levels_img = blur_levels(images, levels, blur_k, blur_sigma, noise, generator)
    else:
        levels_img = [blurred] if isinstance(blurred, torch.Tensor) else list(blurred)
        if len(levels_img) != levels or any(b.shape != images.shape for b in levels_img):
            raise ValueError(f"foveate: blurred must be {levels} tensor(s) shaped {tuple(images.shape)}")
    prev = [images] + levels_img[:-1]
    diffs = [b - p for b, p in zip(levels_img, prev)]
    if mask not in ("gaussian", "ecc"):
        raise ValueError(f"foveate: mask must be 'gaussian' or 'ecc', got {mask!r}")
    if mask == "ecc" and ppd is None:
        raise ValueError("foveate: mask='ecc' needs ppd (pixels per degree)")

    from .backend import resolve_backend

    use_triton = resolve_backend("foveate", images, explicit=backend,
                                 auto_eligible=mask == "gaussian" and levels == 1) == "triton"
    if use_triton and (mask != "gaussian" or levels != 1):
        raise RuntimeError("foveate: the Triton kernel supports mask='gaussian' with levels=1 only")

    def run(xi: torch.Tensor, di: list[torch.Tensor], fi: torch.Tensor, mi: torch.Tensor | None) -> torch.Tensor:
        if use_triton:
            from .triton_kernels import foveate_blend_triton

            gr, gc = _profiles(fi, H, W, sigma_f)
            return foveate_blend_triton(xi, di[0], gr, gc, mi)
        if mask == "gaussian" and len(di) == 1:
            gr, gc = _profiles(fi, H, W, sigma_f)
            return _GaussianBlend.apply(xi, di[0], gr, gc, mi)
        if mask == "gaussian":
            g = gaussian_mask(fi, (H, W), sigma_f)
        else:
            g = eccentricity_mask(fi, (H, W), ppd, fovea_deg, levels * deg_per_level)
        A = visibility(g, None if mi is None else mi[:, None])
        return _foveate_torch(xi, di, A)

    if chunk_size is None or B * K <= chunk_size:
        out = run(images, diffs, fix, memory)
    else:
        if chunk_size < 1:
            raise ValueError(f"foveate: chunk_size must be >= 1, got {chunk_size}")
        flat = fix.reshape(B * K, 1, 2)
        parts = []
        for s in range(0, B * K, chunk_size):
            ids = torch.arange(s, min(s + chunk_size, B * K), device=images.device)
            bi = ids // K
            parts.append(
                run(images[bi], [d[bi] for d in diffs], flat[ids], None if memory is None else memory[bi])[:, 0]
            )
        out = torch.cat(parts).reshape(B, K, C, H, W)
    return out[:, 0] if single else out


def foveate_reference(
    image: torch.Tensor,
    fixation: torch.Tensor,
    *,
    sigma_f: float = 0.2,
    blur_k: int = 41,
    blur_sigma: float = 10.0,
    memory: torch.Tensor | None = None,
) -> torch.Tensor:
    """Single-image, single-fixation NeVA blend written plainly (as upstream: blur inside the call,
    full 2-D mask, ``x + (blur - x) clip(1 - M - g, 0, 1)``). ``image [C,H,W]``, ``fixation [2]``."""
    C, H, W = image.shape
    r = torch.linspace(-1.0, 1.0, H, dtype=image.dtype, device=image.device)
    c = torch.linspace(-1.0, 1.0, W, dtype=image.dtype, device=image.device)
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    g = torch.exp(-((rr - fixation[0]) ** 2 + (cc - fixation[1]) ** 2) / sigma_f)
    p = blur_k // 2
    t = torch.arange(blur_k, dtype=image.dtype, device=image.device) - p
    k1 = torch.exp(-0.5 * (t / blur_sigma) ** 2)
    k1 = k1 / k1.sum()
    xp = F.pad(image[:, None], (p, p, p, p), mode="reflect")
    blur = F.conv2d(F.conv2d(xp, k1.view(1, 1, -1, 1)), k1.view(1, 1, 1, -1))[:, 0]
    m = g if memory is None else memory + g
    return image + (blur - image) * (1.0 - m).clamp(0.0, 1.0)
