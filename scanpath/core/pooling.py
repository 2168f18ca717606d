"""TF-"same" pooling and eccNET's eccentricity-dependent average pooling (EccPool).

Spec: docs/eccnet.md §2.2-2.3.

* TF-"same" geometry (stride s, kernel k, side n): ``out = ceil(n/s)``, ``P = max((out-1)s + k - n, 0)``,
  ``pb = P // 2``; output ``i`` covers ``[s*i - pb, s*i - pb + k) ∩ [0, n)``. Average divides by the
  valid count, max ignores padding. For k = s = 2 this is torch pooling with ``ceil_mode=True``.
* EccPool zero-pads the input to a square of side ``n = max(h, w)`` (``floor(diff/2)`` before; those
  zeros count as data), builds a per-output-pixel kernel-size map from concentric rings around the
  centre (fovea of radius ``round(fovea_size*g/2)`` output px gets ``rf_min``, then 1-degree rings whose
  kernel grows with ``slope``) and averages with a TF-"same" window of that size at every output pixel.

``impl="sat"`` (default) does it in ONE pass: a float64 summed-area table and one gather of four
corners per output pixel, O(1) per pixel whatever the kernel size. ``impl="reference"`` pools once per
distinct kernel size and masks each ring (what upstream eccNET does); it exists for tests and benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "tf_same_geometry",
    "tf_same_max_pool2d",
    "tf_same_avg_pool2d",
    "EccPoolGeometry",
    "ecc_kernel_map",
    "ecc_avg_pool",
    "pad_to_square",
]


def tf_same_geometry(n: int, k: int, stride: int = 2) -> tuple[int, int, int]:
    """Return ``(out, P, pb)`` of TF-"same" pooling along one axis of length ``n``."""
    if n < 1 or k < 1 or stride < 1:
        raise ValueError(f"tf_same_geometry: need n, k, stride >= 1, got n={n}, k={k}, stride={stride}")
    out = -(-n // stride)
    pad = max((out - 1) * stride + k - n, 0)
    return out, pad, pad // 2


def _check4d(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a [B,C,H,W] tensor, got {shape}")


def tf_same_max_pool2d(x: torch.Tensor, kernel_size: int = 2, stride: int = 2) -> torch.Tensor:
    """TF-"same" max pooling of ``x [B,C,H,W]`` (padding never wins)."""
    _check4d(x, "tf_same_max_pool2d")
    h, w = x.shape[-2:]
    if kernel_size == 2 and stride == 2:
        return F.max_pool2d(x, 2, 2, ceil_mode=True)
    _, ph, pbh = tf_same_geometry(h, kernel_size, stride)
    _, pw, pbw = tf_same_geometry(w, kernel_size, stride)
    xp = F.pad(x, (pbw, pw - pbw, pbh, ph - pbh), value=float("-inf"))
    return F.max_pool2d(xp, kernel_size, stride)


def tf_same_avg_pool2d(x: torch.Tensor, kernel_size: int = 2, stride: int = 2) -> torch.Tensor:
    """TF-"same" average pooling of ``x [B,C,H,W]`` dividing by the number of valid inputs."""
    _check4d(x, "tf_same_avg_pool2d")
    h, w = x.shape[-2:]
    if kernel_size == 2 and stride == 2:
        return F.avg_pool2d(x, 2, 2, ceil_mode=True)
    _, ph, pbh = tf_same_geometry(h, kernel_size, stride)
    _, pw, pbw = tf_same_geometry(w, kernel_size, stride)
    pad = (pbw, pw - pbw, pbh, ph - pbh)
    s = F.avg_pool2d(F.pad(x, pad), kernel_size, stride, divisor_override=1)
    ones = torch.ones((1, 1, h, w), dtype=x.dtype, device=x.device)
    cnt = F.avg_pool2d(F.pad(ones, pad), kernel_size, stride, divisor_override=1)
    return s / cnt


def pad_to_square(x: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``[..., h, w]`` to a square of side ``max(h, w)`` with ``floor(diff/2)`` before."""
    h, w = x.shape[-2:]
    n = max(h, w)
    if h == w:
        return x
    dh, dw = n - h, n - w
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


@dataclass(frozen=True)
class EccPoolGeometry:
    """Kernel/region maps of one EccPool layer for a padded square input of side ``n``.

    ``kernel`` and ``region`` are int64 ``[out, out]`` (CPU); ``rings`` lists per region index
    ``(region, e_outer_or_None, k)`` in order fovea, rings, outer region (``e`` is the ring's outer
    radius in output px; ``None`` for the fovea). ``center`` is ``(row, col)`` in output px and
    ``F``/``q`` the fovea radius and ring width in output px.
    """

    n: int
    out: int
    center: tuple[int, int]
    F: int
    q: int
    kernel: torch.Tensor
    region: torch.Tensor
    rings: tuple[tuple[int, int | None, int], ...]

    @property
    def kernel_sizes(self) -> list[int]:
        """Kernel size per region, fovea first (the §2.3 ring-table rows)."""
        return [k for _, _, k in self.rings]

    @property
    def uniform(self) -> bool:
        return bool((self.kernel == self.kernel.flatten()[0]).all())


def ecc_kernel_map(
    n: int,
    slope: float,
    deg2px: float,
    fovea_size: float = 4.0,
    rf_min: int = 2,
    stride: int = 2,
    rf_quant: float = 1.0,
    center: tuple[int, int] | None = None,
) -> EccPoolGeometry:
    """Kernel-size and region maps of EccPool (eccnet.md §2.3) for a square input of side ``n``.

    ``deg2px`` is g, pixels per degree at the layer input; ``fovea_size`` acts as a radius in degrees
    (upstream quirk 7, kept); ``center`` defaults to ``(floor(out/2), floor(out/2))``. Rounding is
    Python's (half to even). The integer disc test ``D < R**2`` equals upstream's skimage float test.
    """
    return _ecc_kernel_map_cached(
        int(n), float(slope), float(deg2px), float(fovea_size), int(rf_min), int(stride),
        float(rf_quant), None if center is None else (int(center[0]), int(center[1])),
    )


@lru_cache(maxsize=256)
def _ecc_kernel_map_cached(n, slope, g, fovea_size, rf_min, stride, rf_quant, center) -> EccPoolGeometry:
    if n < 1:
        raise ValueError(f"ecc_kernel_map: input side n must be >= 1, got {n}")
    if rf_min < 1:
        raise ValueError(f"ecc_kernel_map: rf_min must be >= 1, got {rf_min}")
    out = -(-n // stride)  # == floor((n+1)/2) for stride 2
    c = (out // 2, out // 2) if center is None else center
    Fr = round(fovea_size * g / 2)
    q = round(rf_quant * g / 2)
    ii = torch.arange(out, dtype=torch.int64)
    D = (ii[:, None] - c[0]) ** 2 + (ii[None, :] - c[1]) ** 2
    kernel = torch.full((out, out), rf_min, dtype=torch.int64)
    region = torch.zeros((out, out), dtype=torch.int64)
    rings: list[tuple[int, int | None, int]] = [(0, None, rf_min)]
    if Fr > out / 2:
        return EccPoolGeometry(n, out, c, Fr, q, kernel, region, tuple(rings))
    if q < 1:
        raise ValueError(
            f"ecc_kernel_map: ring width round(rf_quant*deg2px/2) = {q} < 1 (rf_quant={rf_quant}, deg2px={g})"
        )

    def k_of(e: int) -> int:
        return rf_min + round(slope * (2 * e - fovea_size * g))

    e = Fr + q
    r = 1
    while e < out / 2:
        m = (D >= (e - q) ** 2) & (D < e * e)
        kernel[m] = k_of(e)
        region[m] = r
        rings.append((r, e, k_of(e)))
        e += q
        r += 1
    m = D >= (e - q) ** 2
    kernel[m] = k_of(e)
    region[m] = r
    rings.append((r, e, k_of(e)))
    if int(kernel.min()) < 1:
        raise ValueError(f"ecc_kernel_map: negative slope {slope} gives kernel sizes < 1")
    return EccPoolGeometry(n, out, c, Fr, q, kernel, region, tuple(rings))


@lru_cache(maxsize=256)
def _sat_index_cpu(geo: EccPoolGeometry, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat corner indices ``[4, out*out]`` into the ``(n+1)^2`` integral image and the window area."""
    n, out = geo.n, geo.out
    k = geo.kernel
    pad = ((out - 1) * stride + k - n).clamp_min(0)
    pb = pad // 2
    i = torch.arange(out, dtype=torch.int64)
    r0 = (stride * i[:, None] - pb).clamp(0, n)
    r1 = (stride * i[:, None] - pb + k).clamp(0, n)
    c0 = (stride * i[None, :] - pb).clamp(0, n)
    c1 = (stride * i[None, :] - pb + k).clamp(0, n)
    area = ((r1 - r0) * (c1 - c0)).to(torch.float64).reshape(-1)
    w = n + 1
    idx = torch.stack([r1 * w + c1, r0 * w + c1, r1 * w + c0, r0 * w + c0]).reshape(4, -1)
    return idx, area


_DEVICE_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _sat_index(geo: EccPoolGeometry, stride: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (geo, stride, str(device))
    hit = _DEVICE_CACHE.get(key)
    if hit is None:
        idx, area = _sat_index_cpu(geo, stride)
        hit = (idx.to(device), area.to(device))
        if len(_DEVICE_CACHE) > 256:
            _DEVICE_CACHE.clear()
        _DEVICE_CACHE[key] = hit
    return hit


def integral_image(x: torch.Tensor) -> torch.Tensor:
    """float64 summed-area table ``[..., n+1, m+1]`` with a zero first row and column."""
    s = x.to(torch.float64).cumsum(-1).cumsum(-2)
    return F.pad(s, (1, 0, 1, 0))


def _ecc_sat_torch(xs: torch.Tensor, geo: EccPoolGeometry, stride: int, chunk: int | None = None) -> torch.Tensor:
    """SAT EccPool. On CPU the float64 table is built NCHW in chunks of ``chunk`` planes (default: as
    many as fit in ~4 MB, so the table stays cache-resident), with in-place ``cumsum_`` along columns
    then rows into a zero-bordered scratch table reused across chunks (no per-chunk allocations, no
    transposes); the four corners of every window are gathered with one ``gather`` of the cached
    flat indices (expanded over planes, no copy) into a reused buffer and combined in place. Other devices: one NCHW
    ``cumsum`` table and one gather."""
    B, C, n, _ = xs.shape
    idx, area = _sat_index(geo, stride, xs.device)
    P = idx.shape[1]
    if xs.device.type != "cpu":
        I = integral_image(xs).reshape(B, C, (n + 1) * (n + 1))
        g = I.index_select(-1, idx.reshape(-1)).reshape(B, C, 4, -1)
        s = g[:, :, 0] - g[:, :, 1] - g[:, :, 2] + g[:, :, 3]
        return (s / area).reshape(B, C, geo.out, geo.out).to(xs.dtype)
    BC = B * C
    xf = xs.reshape(BC, n, n)
    idxf = idx.reshape(-1)
    if chunk is None:
        chunk = max(8, (4 << 20) // (8 * (n + 1) * (n + 1)))
    out = torch.empty((BC, P), dtype=xs.dtype)
    bufs: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for c0 in range(0, BC, chunk):
        m = min(chunk, BC - c0)
        if m not in bufs:  # scratch reused across chunks: fresh multi-MB tensors cost page faults
            bufs[m] = (torch.zeros((m, n + 1, n + 1), dtype=torch.float64),
                       torch.empty((m, 4 * P), dtype=torch.float64), torch.empty((m, P), dtype=torch.float64))
        I, G, S = bufs[m]
        Iv = I[:, 1:, 1:]  # first row and column stay zero
        Iv.copy_(xf[c0:c0 + m])
        Iv.cumsum_(-1)
        Iv.cumsum_(-2)
        # gather with a stride-0 expanded index: ~5x faster than index_select along dim 1 on CPU
        torch.gather(I.reshape(m, -1), 1, idxf.expand(m, -1), out=G)
        g = G.reshape(m, 4, P)
        torch.sub(g[:, 0], g[:, 1], out=S)
        S.sub_(g[:, 2]).add_(g[:, 3]).div_(area)
        out[c0:c0 + m].copy_(S)
    return out.reshape(B, C, geo.out, geo.out)


def _ecc_reference(xs: torch.Tensor, geo: EccPoolGeometry, stride: int) -> torch.Tensor:
    """Ring-by-ring pooling as upstream: one TF-same average pool per distinct k, masked and summed."""
    B, C, n, _ = xs.shape
    out = torch.zeros((B, C, geo.out, geo.out), dtype=xs.dtype, device=xs.device)
    kernel = geo.kernel.to(xs.device)
    ones = torch.ones((1, 1, n, n), dtype=xs.dtype, device=xs.device)
    for k in sorted({kk for _, _, kk in geo.rings}):
        o, P, pb = tf_same_geometry(n, k, stride)
        pad = (pb, P - pb, pb, P - pb)
        s = F.avg_pool2d(F.pad(xs, pad), k, stride, divisor_override=1)
        cnt = F.avg_pool2d(F.pad(ones, pad), k, stride, divisor_override=1)
        mask = (kernel == k).to(xs.dtype)
        out = out + (s / cnt) * mask
    return out


def ecc_avg_pool(
    x: torch.Tensor,
    center: tuple[int, int] | None = None,
    slope: float = 0.0,
    deg2px: float = 30.0,
    fovea_size: float = 4.0,
    rf_min: int = 2,
    stride: int = 2,
    rf_quant: float = 1.0,
    impl: Literal["sat", "reference", "triton", "auto"] = "auto",
) -> torch.Tensor:
    """Eccentricity-dependent average pooling (eccNET EccPool) of ``x [B,C,H,W]`` → ``[B,C,out,out]``.

    ``center`` is (row, col) in OUTPUT pixels (default the centre ``floor(out/2)``), ``slope`` the
    layer's s_l, ``deg2px`` its g_l (px/deg at the layer input). ``impl``: ``"sat"`` float64
    summed-area table in one pass (default on the torch backend), ``"reference"`` ring-by-ring
    masked pools (upstream), ``"triton"`` the fused kernel (CUDA only), ``"auto"`` per
    ``SCANPATH_BACKEND``. When every kernel is 2 (and stride 2) all impls but ``reference`` call
    ``avg_pool2d(2, 2, ceil_mode=True)``.
    """
    _check4d(x, "ecc_avg_pool")
    if not x.is_floating_point():
        raise ValueError(f"ecc_avg_pool: x must be a floating tensor, got {x.dtype}")
    xs = pad_to_square(x)
    n = xs.shape[-1]
    geo = ecc_kernel_map(n, slope, deg2px, fovea_size, rf_min, stride, rf_quant, center)
    if impl == "reference":
        return _ecc_reference(xs, geo, stride)
    if impl not in ("sat", "triton", "auto"):
        raise ValueError(f"ecc_avg_pool: impl must be 'sat', 'reference', 'triton' or 'auto', got {impl!r}")
    if stride == 2 and geo.uniform and int(geo.kernel[0, 0]) == 2:
        return F.avg_pool2d(xs, 2, 2, ceil_mode=True)
    from .backend import resolve_backend

    if resolve_backend("ecc_avg_pool", xs, explicit=None if impl in ("auto", "sat") else impl,
                       force_torch=impl == "sat") == "triton":
        from .triton_kernels import ecc_sat_triton

        idx, area = _sat_index(geo, stride, xs.device)
        return ecc_sat_triton(integral_image(xs), idx, area, geo.out).to(xs.dtype)
    return _ecc_sat_torch(xs, geo, stride)
