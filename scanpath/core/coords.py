"""Coordinate mapping between NeVA's normalised positions and original-image pixels (docs/nevaclip.md §2.4).

NeVA positions are ``u = (u_row, u_col)`` in [−1, 1] over the ``S×S`` model input (upstream 'ij'
convention: component 0 is the row). Grid pixel ``i`` sits at ``−1 + 2i/(S−1)``. The model input is
made from the original ``W×H`` image by open_clip's preprocessing:

* ``shortest`` (crop, upstream default): bicubic resize of the shorter side to S
  (``W′ = S, H′ = ⌊S·H/W⌋`` when ``W ≤ H``, else ``H′ = S, W′ = ⌊S·W/H⌋``), then a centre crop at
  offset ``(o_x, o_y) = (round((W′−S)/2), round((H′−S)/2))`` (Python round, as torchvision).
* ``longest`` (letterbox): ``r = max(W, H)/S``, ``W′ = round(W/r)``, ``H′ = round(H/r)``, padded
  with 0 to S×S, so ``(o_x, o_y) = (−⌊(S−W′)/2⌋, −⌊(S−H′)/2⌋)``; every image pixel can be fixated.

Mapping (continuous pixels, top-left origin, pixel (c, r) covers [c, c+1)×[r, r+1)):
``x_in = (u_col+1)(S−1)/2 + 0.5``, ``y_in = (u_row+1)(S−1)/2 + 0.5``,
``X = (x_in + o_x)·W/W′``, ``Y = (y_in + o_y)·H/H′``. The inverse is algebraic.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import numpy as np
import torch

RESIZE_MODES = ("shortest", "longest")


@dataclass(frozen=True)
class Geometry:
    """The transform from an original W×H image to the S×S model input."""

    W: int
    H: int
    Wp: int  # W′: resized width before crop/pad
    Hp: int  # H′
    ox: int  # crop offset (negative = padding) in resized pixels
    oy: int
    S: int

    def as_tensor(self) -> torch.Tensor:
        """``[7]`` float64 (W, H, W′, H′, o_x, o_y, S); collates into ``[B, 7]``."""
        return torch.tensor(astuple(self), dtype=torch.float64)


def compute_geometry(
    width: int, height: int, size: int = 224, mode: str = "shortest", resize: int | None = None
) -> Geometry:
    """Resize/crop (or letterbox) parameters exactly as open_clip's preprocessing computes them.

    ``resize`` (default ``size``) is the side the image is resized to before the S×S crop/pad, e.g.
    256 for torchvision's ImageNet "resize 256, centre-crop 224" (NeVA-OPT preset).
    """
    w, h, s = int(width), int(height), int(size)
    rs = s if resize is None else int(resize)
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    if mode == "shortest":
        if w <= h:
            wp, hp = rs, int(rs * h / w)
        else:
            wp, hp = int(rs * w / h), rs
        ox, oy = int(round((wp - s) / 2.0)), int(round((hp - s) / 2.0))
    elif mode == "longest":
        r = max(w / rs, h / rs)
        wp, hp = round(w / r), round(h / r)
        ox = -((s - wp) // 2) if s > wp else int(round((wp - s) / 2.0))
        oy = -((s - hp) // 2) if s > hp else int(round((hp - s) / 2.0))
    else:
        raise ValueError(f"unknown resize_mode {mode!r}; use one of {RESIZE_MODES}")
    return Geometry(w, h, wp, hp, ox, oy, s)


def _geom_cols(geom: torch.Tensor | Geometry | Any, like: torch.Tensor) -> torch.Tensor:
    g = geom.as_tensor() if isinstance(geom, Geometry) else torch.as_tensor(geom)
    return g.to(device=like.device, dtype=torch.float64)


def _bcast(col: torch.Tensor, ndim: int) -> torch.Tensor:
    # col: [B] or scalar → broadcast against [B, ..., ] coordinates of rank ndim (without the last axis)
    while col.ndim < ndim:
        col = col.unsqueeze(-1)
    return col


def norm_to_pixels(
    u: torch.Tensor, geom: torch.Tensor | Geometry, clamp: bool = True
) -> torch.Tensor:
    """Map positions ``u [..., 2]`` (row, col) to original-image pixels ``[..., 2]`` (x, y), float64.

    ``geom`` is a :class:`Geometry` or a ``[B, 7]`` tensor (rows of :meth:`Geometry.as_tensor`)
    whose leading dim matches ``u``'s. ``clamp`` clips to [0, W]×[0, H] (``fix_px``); ``False``
    gives ``fix_px_raw``.
    """
    g = _geom_cols(geom, u)
    u = u.to(torch.float64)
    nd = u.ndim - 1
    W, H, Wp, Hp, ox, oy, S = (_bcast(g[..., i], nd) for i in range(7))
    x_in = (u[..., 1] + 1) * (S - 1) / 2 + 0.5
    y_in = (u[..., 0] + 1) * (S - 1) / 2 + 0.5
    X = (x_in + ox) * W / Wp
    Y = (y_in + oy) * H / Hp
    if clamp:
        X = torch.minimum(torch.clamp(X, min=0.0), W.expand_as(X))
        Y = torch.minimum(torch.clamp(Y, min=0.0), H.expand_as(Y))
    return torch.stack([X, Y], dim=-1)


def pixels_to_norm(xy: torch.Tensor, geom: torch.Tensor | Geometry) -> torch.Tensor:
    """Inverse of :func:`norm_to_pixels` (unclamped): original (x, y) → (row, col) positions."""
    g = _geom_cols(geom, xy)
    xy = xy.to(torch.float64)
    nd = xy.ndim - 1
    W, H, Wp, Hp, ox, oy, S = (_bcast(g[..., i], nd) for i in range(7))
    x_in = xy[..., 0] * Wp / W - ox
    y_in = xy[..., 1] * Hp / H - oy
    col = (x_in - 0.5) * 2 / (S - 1) - 1
    row = (y_in - 0.5) * 2 / (S - 1) - 1
    return torch.stack([row, col], dim=-1)


def fixable_region(geom: Geometry) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of original pixels reachable with u ∈ [−1, 1]² (Q3: crop hides the sides)."""
    lo = norm_to_pixels(torch.tensor([-1.0, -1.0]), geom, clamp=False)
    hi = norm_to_pixels(torch.tensor([1.0, 1.0]), geom, clamp=False)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def preprocess_pil(
    img: Any, size: int = 224, mode: str = "shortest", resize: int | None = None
) -> tuple[torch.Tensor, Geometry]:
    """open_clip's preprocessing of a PIL image WITHOUT normalisation: ``[3, S, S]`` in [0, 1].

    Same ops as ``open_clip.image_transform`` (bicubic resize with antialias, centre crop, or
    keep-ratio resize + zero pad), so ``Normalize(mean, std)`` of the result equals open_clip's
    preprocess output; normalisation comes after foveation (docs/nevaclip.md §2.1).
    """
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    img = img.convert("RGB")
    geom = compute_geometry(img.size[0], img.size[1], size, mode, resize)
    img = TF.resize(img, [geom.Hp, geom.Wp], interpolation=InterpolationMode.BICUBIC, antialias=True)
    x = TF.pil_to_tensor(img).to(torch.float32) / 255.0
    return _crop_or_pad(x, geom), geom


def preprocess_tensor(
    img: torch.Tensor, size: int = 224, mode: str = "shortest", resize: int | None = None
) -> tuple[torch.Tensor, Geometry]:
    """:func:`preprocess_pil` for an image tensor ``[3, H, W]`` in [0, 1] (bicubic + antialias resize
    with torch; close to, not bit-identical with, PIL's resampling). Returns ``[3, S, S]``."""
    if img.dim() != 3:
        raise ValueError(f"expected an image [3, H, W], got {tuple(img.shape)}")
    geom = compute_geometry(img.shape[2], img.shape[1], size, mode, resize)
    x = torch.nn.functional.interpolate(
        img[None].float(), size=(geom.Hp, geom.Wp), mode="bicubic", antialias=True, align_corners=False
    )[0].clamp(0.0, 1.0)
    return _crop_or_pad(x, geom), geom


def _crop_or_pad(x: torch.Tensor, geom: Geometry) -> torch.Tensor:
    s = geom.S
    pad_l, pad_t = max(-geom.ox, 0), max(-geom.oy, 0)
    pad_r, pad_b = max(s - geom.Wp - pad_l, 0), max(s - geom.Hp - pad_t, 0)
    if pad_l or pad_t or pad_r or pad_b:
        x = torch.nn.functional.pad(x, (pad_l, pad_r, pad_t, pad_b), value=0.0)
    top, left = max(geom.oy, 0), max(geom.ox, 0)
    return x[:, top : top + s, left : left + s].contiguous()


def geometry_array(geoms: list[Geometry]) -> np.ndarray:
    """``[B, 7]`` float64 array of geometries (for numpy callers)."""
    return np.asarray([astuple(g) for g in geoms], dtype=np.float64)
