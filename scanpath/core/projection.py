"""Batched gnomonic (perspective) views of equirectangular panoramas, H* conventions.

See docs/humanoid360.md §2.1. Angles in degrees.

* Yaw 0 is the panorama's centre column, positive yaw turns right (yaw taken mod 360); positive pitch
  looks up (clamped to [-90, 90]). ``fov_deg`` is the HORIZONTAL field of view (100° default).
* ``grid="hstar"`` (default, upstream ``HstarEnv._e2p``): f = w / (2 tan(hfov/2)); pixel (i, j)
  (column i, row j) has the ray ((i - w/2)/f, (j - h/2)/f, 1), x right, y down; rotated by
  Ry(yaw) Rx(pitch) on column vectors; sampled at mx = (atan2(x', z')/pi + 1)/2 W,
  my = (asin(y')/pi + 0.5) H in pixel-index coordinates (pixel centre at its integer index).
* ``grid="py360"`` (py360convert.e2p's grid): ray x = linspace(-tan(hfov/2), tan(hfov/2), w), y likewise
  with the vertical FoV, mx = (lon/2pi + 0.5) W - 0.5, my = (lat/pi + 0.5) H - 0.5.
* Padding: one circular column each side; pole rows either ``pole="flip"`` (the edge row rolled by
  W/2, the neighbour across the pole; py360convert) or ``pole="wrap"`` (upstream cv2 BORDER_WRAP: the
  opposite edge row).
* Rays and trigonometry in float64 (TF32 matmuls would shift pixels); only the final normalised
  ``grid_sample`` coordinates are cast to the image dtype. ``grid_sample`` runs with
  ``align_corners=False``, bilinear. The CPU reference :func:`equirect_to_perspective_cv2` uses
  ``cv2.remap`` (INTER_LINEAR) on the same maps.

Yaw only shifts longitude, so the per-pixel (lon, lat) maps depend on pitch alone; they are cached
per (pitch, fov, size, grid) and yaw is added afterwards (views that share a pitch, as in the H*
environment's discrete head rotations, pay the trigonometry once).

On CPU (uint8/float32/float64 input) :func:`equirect_to_perspective` does not call ``grid_sample``:
it evaluates the same bilinear border-clamped sampling of the padded panorama directly in source
pixels (``_render_cpu``): element-wise float32 trigonometry on half the columns (mirror symmetry),
one flat-index ``index_select`` per corner and channel straight from the uint8 planes, ``lerp`` in
float32, rounding into a preallocated uint8 output. It is several times faster than ``grid_sample``
on the float32 channels-last copy (profile in benchmarks/RESULTS.md ``## Core``). :func:`view_maps`
stays float64 (it is the 0.01 px parity reference). Other devices keep ``grid_sample``.

``impl="cv2"`` (CPU, uint8/float32) renders with OpenCV instead (:mod:`scanpath.core.projection_cv2`:
uint8 HWC panorama padded once with wrapped columns, cached per-pitch fixed-point maps, yaw as a
column offset; 12-26x looping py360convert at 1280x720, benchmarks/RESULTS.md ``## Core``). It is not
the default because cv2 puts coordinates on a 1/32-px grid and rounds half up, so its uint8 output is
not bit-identical to rounding the float path; the 360° environments use it for uint8 panoramas.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "default_vfov",
    "pad_equirect",
    "view_maps",
    "equirect_to_perspective",
    "equirect_to_perspective_cv2",
    "view_pixel_to_direction",
    "direction_to_view_pixel",
    "direction_to_equirect_pixel",
    "equirect_pixel_to_direction",
]

Grid = Literal["hstar", "py360"]
Impl = Literal["auto", "torch", "cv2"]
Pole = Literal["flip", "wrap"]


def default_vfov(fov_deg: float, out_hw: tuple[int, int]) -> float:
    """Vertical FoV of a pinhole view with horizontal FoV ``fov_deg`` and size ``out_hw = (h, w)``
    (67.673° for 100° at 16:9)."""
    h, w = out_hw
    return math.degrees(2 * math.atan(math.tan(math.radians(fov_deg) / 2) * h / w))


def _camera_axes(out_hw: tuple[int, int], fov_deg: float, vfov_deg: float | None, grid: str):
    """Unrotated camera ray components: ``x [w]`` (right) and ``y [h]`` (down), z = 1, float64.

    Built from integers, so mirrored columns have exactly negated x."""
    h, w = out_hw
    if grid == "hstar":
        f = w / (2 * math.tan(math.radians(fov_deg) / 2))
        x = (torch.arange(w, dtype=torch.float64) - w / 2) / f
        y = (torch.arange(h, dtype=torch.float64) - h / 2) / f
    elif grid == "py360":
        vf = default_vfov(fov_deg, out_hw) if vfov_deg is None else vfov_deg
        tx, ty = math.tan(math.radians(fov_deg) / 2), math.tan(math.radians(vf) / 2)
        x = (2 * torch.arange(w, dtype=torch.float64) - (w - 1)) * (tx / max(w - 1, 1))
        y = (2 * torch.arange(h, dtype=torch.float64) - (h - 1)) * (ty / max(h - 1, 1))
    else:
        raise ValueError(f"equirect_to_perspective: grid must be 'hstar' or 'py360', got {grid!r}")
    return x, y


_MAP_CACHE: "OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]]" = OrderedDict()
_MAP_CACHE_SIZE = 16


def _lonlat_for_pitch(
    pitch: float, out_hw, fov_deg, vfov_deg, grid, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(lon, lat) in radians, float64 ``[h, w]``, of the view at yaw 0 and ``pitch`` (lat > 0 = down)."""
    key = (float(pitch), tuple(out_hw), float(fov_deg), vfov_deg, grid, str(device))
    hit = _MAP_CACHE.get(key)
    if hit is not None:
        _MAP_CACHE.move_to_end(key)
        return hit
    x, y = _camera_axes(tuple(out_hw), fov_deg, vfov_deg, grid)
    x, y = x.to(device)[None, :], y.to(device)
    p = math.radians(pitch)
    c, s = math.cos(p), math.sin(p)
    y1 = (c * y - s)[:, None]  # rotate (x, y, 1) by Rx(pitch); x is unchanged
    z1 = (s * y + c)[:, None]
    lon = torch.atan2(x, z1)
    lat = torch.atan2(y1, torch.hypot(x, z1))
    _MAP_CACHE[key] = (lon, lat)
    if len(_MAP_CACHE) > _MAP_CACHE_SIZE:
        _MAP_CACHE.popitem(last=False)
    return lon, lat


def _angles(yaw, pitch) -> tuple[torch.Tensor, torch.Tensor]:
    yaw = torch.as_tensor(yaw, dtype=torch.float64).reshape(-1).cpu()
    pitch = torch.as_tensor(pitch, dtype=torch.float64).reshape(-1).cpu()
    if yaw.numel() != pitch.numel():
        raise ValueError(f"equirect_to_perspective: yaw ({yaw.numel()}) and pitch ({pitch.numel()}) differ in length")
    return torch.remainder(yaw, 360.0), pitch.clamp(-90.0, 90.0)


def _view_map(yaw: float, pitch: float, out_hw, pano_hw, fov_deg, vfov_deg, grid, device):
    """(mx, my) float64 ``[h, w]`` of one view; mx taken mod W."""
    H, W = pano_hw
    lon, lat = _lonlat_for_pitch(pitch, out_hw, fov_deg, vfov_deg, grid, device)
    if grid == "hstar":
        mx = lon * (W / (2 * math.pi)) + (W / 2 + yaw / 360.0 * W)
        my = lat * (H / math.pi) + 0.5 * H
    else:
        mx = lon * (W / (2 * math.pi)) + (0.5 * W - 0.5 + yaw / 360.0 * W)
        my = lat * (H / math.pi) + (0.5 * H - 0.5)
    return torch.remainder(mx, W), my


def view_maps(
    yaw, pitch, out_hw: tuple[int, int], pano_hw: tuple[int, int], fov_deg: float = 100.0,
    vfov_deg: float | None = None, grid: Grid = "hstar", device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling maps ``(mx, my)``, float64 ``[V, h, w]``, in panorama pixel-index coordinates (pixel
    centre at its index, ``mx`` taken mod W) for V views (``yaw``, ``pitch`` in degrees)."""
    yaw, pitch = _angles(yaw, pitch)
    maps = [_view_map(yw, pt, out_hw, pano_hw, fov_deg, vfov_deg, grid, device or "cpu")
            for yw, pt in zip(yaw.tolist(), pitch.tolist())]
    return torch.stack([m[0] for m in maps]), torch.stack([m[1] for m in maps])


def pad_equirect(
    pano: torch.Tensor, pole: Pole = "flip", dtype: torch.dtype | None = None, channels_last: bool = False
) -> torch.Tensor:
    """Pad ``[B,C,H,W]`` to ``[B,C,H+2,W+2]``: pole rows (``flip``: edge row rolled by W//2;
    ``wrap``: opposite edge row), then one circular column each side. ``dtype`` converts in the same
    pass; ``channels_last`` returns NCHW-shaped memory in NHWC order (faster ``grid_sample`` on CPU)."""
    if pole not in ("flip", "wrap"):
        raise ValueError(f"equirect_to_perspective: pole must be 'flip' or 'wrap', got {pole!r}")
    B, C, H, W = pano.shape
    dt = dtype or pano.dtype
    if channels_last:
        out = torch.empty((B, H + 2, W + 2, C), dtype=dt, device=pano.device).permute(0, 3, 1, 2)
    else:
        out = torch.empty((B, C, H + 2, W + 2), dtype=dt, device=pano.device)
    out[..., 1:-1, 1:-1] = pano
    if pole == "flip":
        out[..., 0, 1:-1] = torch.roll(pano[..., 0, :], W // 2, dims=-1)
        out[..., -1, 1:-1] = torch.roll(pano[..., -1, :], W // 2, dims=-1)
    else:
        out[..., 0, 1:-1] = pano[..., -1, :]
        out[..., -1, 1:-1] = pano[..., 0, :]
    out[..., :, 0] = out[..., :, -2]
    out[..., :, -1] = out[..., :, 1]
    return out


def equirect_to_perspective(
    pano: torch.Tensor,
    yaw,
    pitch,
    fov_deg: float = 100.0,
    out_hw: tuple[int, int] = (720, 1280),
    grid: Grid = "hstar",
    pole: Pole = "flip",
    vfov_deg: float | None = None,
    padded: bool = False,
    impl: Impl = "auto",
) -> torch.Tensor:
    """Perspective views ``[V,C,h,w]`` of equirectangular ``pano [B,C,H,W]`` at ``yaw [V]``, ``pitch [V]``.

    ``B == V`` (one view per panorama) or ``B == 1`` (V views of one panorama, no copies). ``fov_deg``
    is horizontal; ``vfov_deg`` (py360 grid only) defaults to the pinhole value for ``out_hw``.
    ``padded=True`` means ``pano`` already went through :func:`pad_equirect` (pad once, render many).
    uint8 input is rendered in float32 and rounded back to uint8.

    ``impl``: ``"torch"`` = exact bilinear sampling (CPU gather, ``grid_sample`` elsewhere; autograd);
    ``"cv2"`` = OpenCV ``cv2.remap`` on the CPU (uint8/float32, no autograd; coordinates on cv2's 1/32-px
    grid like py360convert; output in channels_last memory; see :mod:`scanpath.core.projection_cv2`,
    whose :class:`~scanpath.core.projection_cv2.EquirectRenderer` also pads a panorama once for many
    calls); ``"auto"`` = ``"torch"`` (uint8 and float input then agree bit for bit after rounding).
    """
    if pano.dim() != 4:
        raise ValueError(f"equirect_to_perspective: pano must be [B,C,H,W], got {tuple(pano.shape)}")
    if impl not in ("auto", "torch", "cv2"):
        raise ValueError(f"equirect_to_perspective: impl must be 'auto', 'torch' or 'cv2', got {impl!r}")
    if impl == "cv2":
        return _render_cv2(pano, yaw, pitch, fov_deg, out_hw, grid, pole, vfov_deg, padded)
    work_dtype = torch.float32 if pano.dtype == torch.uint8 else pano.dtype
    if not work_dtype.is_floating_point:
        raise ValueError(f"equirect_to_perspective: pano must be float or uint8, got {pano.dtype}")
    if (pano.device.type == "cpu" and pano.dtype in (torch.uint8, torch.float32, torch.float64)
            and not pano.requires_grad):  # the fast CPU sampler writes into out= buffers (no autograd)
        return _render_cpu(pano, yaw, pitch, fov_deg, out_hw, grid, pole, vfov_deg, padded)
    if padded:
        src = pano.to(work_dtype)
    else:
        src = pad_equirect(pano, pole, dtype=work_dtype, channels_last=pano.device.type == "cpu")
    B, C = src.shape[:2]
    H, W = src.shape[-2] - 2, src.shape[-1] - 2
    yaw_t, pitch_t = _angles(yaw, pitch)
    V = yaw_t.numel()
    if B not in (1, V):
        raise ValueError(f"equirect_to_perspective: {V} views for a batch of {B} panoramas (need B == V or B == 1)")
    h, w = out_hw
    is_u8 = pano.dtype == torch.uint8
    img = src
    # grid_sample coordinates of the padded image (align_corners=False), computed in float64 per view
    g = torch.empty((V, h, w, 2), dtype=img.dtype, device=src.device)
    for v, (yw, pt) in enumerate(zip(yaw_t.tolist(), pitch_t.tolist())):
        mx, my = _view_map(yw, pt, out_hw, (H, W), fov_deg, vfov_deg, grid, src.device)
        g[v, ..., 0] = mx.mul_(2.0 / (W + 2)).add_(3.0 / (W + 2) - 1.0)
        g[v, ..., 1] = my.mul(2.0 / (H + 2)).add_(3.0 / (H + 2) - 1.0)
    if B == 1 and V > 1:
        out = F.grid_sample(img, g.reshape(1, V * h, w, 2), mode="bilinear", padding_mode="border",
                            align_corners=False)
        out = out.reshape(C, V, h, w).transpose(0, 1)
    else:
        out = F.grid_sample(img, g, mode="bilinear", padding_mode="border", align_corners=False)
    if is_u8:
        out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out


_GATHER_GROUP_PIXELS = 1 << 20
_SAMPLE_CACHE: "OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]" = OrderedDict()


def _lonlat_f32(pitch: float, out_hw, fov_deg, vfov_deg, grid, dtype=torch.float32):
    """(lon, lat) radians ``[h, w]`` (new tensors, lat > 0 = down) of the view at yaw 0 and ``pitch``,
    for the CPU samplers: the ray rotation in float64, the trigonometry element-wise in ``dtype`` on
    the left half of the columns plus the centre only (mirror symmetry: x(j) = -x(j') exactly, since
    the axes are built from integers, so lon(j) = -lon(j') and lat(j) = lat(j'))."""
    x, y = _camera_axes(tuple(out_hw), fov_deg, vfov_deg, grid)
    p = math.radians(pitch)
    c, s = math.cos(p), math.sin(p)
    y1 = (c * y - s).to(dtype)[:, None]
    z1 = (s * y + c).to(dtype)[:, None]
    h, w = out_hw
    half, a = ((w + 1) // 2, 0) if grid == "py360" else (w // 2 + 1, 1)
    r = w - half
    xl = x[:half].to(dtype)[None, :]
    lonl = torch.atan2(xl, z1)
    latl = torch.atan2(y1, torch.hypot(xl, z1))
    lon = torch.cat([lonl, lonl[:, a:a + r].flip(-1).neg_()], dim=1)
    lat = torch.cat([latl, latl[:, a:a + r].flip(-1)], dim=1)
    return lon, lat


def _pitch_sampling(pitch: float, out_hw, pano_hw, fov_deg, vfov_deg, grid, dtype, idx_dtype):
    """Per-pitch, yaw-free part of the CPU sampler, cached like the (lon, lat) maps.

    Returns flat ``[h*w]`` tensors: ``lonpix`` (padded column coordinate at yaw 0, before the mod,
    in ``dtype``), ``rowbase`` (``idx_dtype`` flat offset of the upper source row in the padded
    panorama) and ``fy`` (row weight, ``dtype``). Trigonometry runs element-wise in
    ``dtype`` (float32 for uint8/float32 input: 1 ulp of atan2 is 1.6e-4 px at W = 4096, the same
    resolution the old float32 ``grid_sample`` coordinates had); the ray rotation is float64.
    """
    H, W = pano_hw
    key = (float(pitch), tuple(out_hw), tuple(pano_hw), float(fov_deg), vfov_deg, grid, dtype, idx_dtype)
    hit = _SAMPLE_CACHE.get(key)
    if hit is not None:
        _SAMPLE_CACHE.move_to_end(key)
        return hit
    lon, lat = _lonlat_f32(pitch, out_hw, fov_deg, vfov_deg, grid, dtype)
    if grid == "hstar":
        lonpix = lon.mul_(W / (2 * math.pi)).add_(W / 2)
        py = lat.mul_(H / math.pi).add_(0.5 * H + 1.0)  # +1: padded row coordinates
    else:
        lonpix = lon.mul_(W / (2 * math.pi)).add_(0.5 * W - 0.5)
        py = lat.mul_(H / math.pi).add_(0.5 * H + 0.5)
    py.clamp_(0.0, H + 1.0)  # grid_sample's border clamp on the padded image
    y0f = py.floor().clamp_(max=H)
    fy = py.sub_(y0f)
    rowbase = y0f.to(idx_dtype).mul_(W + 2)  # float -> int32 converts fast, float -> int64 does not
    lonpix.add_(1.0)  # +1: padded column coordinates
    hit = (lonpix.reshape(-1), rowbase.reshape(-1), fy.reshape(-1))
    _SAMPLE_CACHE[key] = hit
    if len(_SAMPLE_CACHE) > _MAP_CACHE_SIZE:
        _SAMPLE_CACHE.popitem(last=False)
    return hit


def _render_cpu(pano, yaw, pitch, fov_deg, out_hw, grid, pole, vfov_deg, padded) -> torch.Tensor:
    """CPU renderer: bilinear gather straight from the (uint8) padded panorama, one view at a time.

    Same sampling as ``grid_sample(bilinear, border, align_corners=False)`` on the padded image, but
    computed in source pixels: per view only the longitude shift, floor, integer mod W and the column
    weight are new; the four corners are gathered per channel with flat indices (``index_select`` on
    the 1-D plane and on the plane shifted by 1, Wp, Wp+1) from the panorama in its own dtype (uint8
    stays uint8) and blended with ``lerp`` in the work dtype. No float copy of the panorama, no
    ``[V,h,w,2]`` grid and no ``[V,C,h,w]`` float output are materialised. Output is contiguous
    ``[V,C,h,w]``; uint8 is rounded half-to-even like ``round_()``.
    """
    if grid not in ("hstar", "py360"):
        raise ValueError(f"equirect_to_perspective: grid must be 'hstar' or 'py360', got {grid!r}")
    work = torch.float64 if pano.dtype == torch.float64 else torch.float32
    src = pano if padded else pad_equirect(pano, pole)
    B, C = src.shape[:2]
    Hp, Wp = src.shape[-2:]
    H, W = Hp - 2, Wp - 2
    yaw_t, pitch_t = _angles(yaw, pitch)
    V = yaw_t.numel()
    if B not in (1, V):
        raise ValueError(f"equirect_to_perspective: {V} views for a batch of {B} panoramas (need B == V or B == 1)")
    planes = src.contiguous().reshape(B, C, Hp * Wp)
    h, w = out_hw
    N = h * w
    idx_dtype = torch.int32 if Hp * Wp < 2**31 - Wp - 2 else torch.int64
    out = torch.empty((V, C, N), dtype=pano.dtype)
    is_u8 = pano.dtype == torch.uint8
    # floor(padded column) lies in [0, 2W] (lon in [-pi, pi], yaw shift in [0, W)); this small table
    # maps it to the padded column of (column - 1) mod W, + 1: a cache-resident gather instead of an
    # integer division per pixel (3 entries of slack for rounding at yaw -> 360)
    wrap = torch.remainder(torch.arange(-1, 2 * W + 3, dtype=idx_dtype), W).add_(1)
    # views of one panorama are gathered in groups of ~1M pixels: one index_select per corner and
    # channel serves the whole group (small RL-sized views would otherwise be dominated by per-call
    # overhead); scratch is allocated once for the largest group and reused
    group = max(1, min(V, _GATHER_GROUP_PIXELS // max(N, 1))) if B == 1 else 1
    GN = group * N
    fx = torch.empty(GN, dtype=work)
    fy = torch.empty(GN, dtype=work)
    x0f = torch.empty(GN, dtype=work)
    x0 = torch.empty(GN, dtype=idx_dtype)
    i00 = torch.empty(GN, dtype=idx_dtype)
    raw = torch.empty((4, GN), dtype=pano.dtype)
    cf = raw if raw.dtype == work else torch.empty((4, GN), dtype=work)
    yaws, pitches = yaw_t.tolist(), pitch_t.tolist()
    out_flat = out.view(V, C, N)
    for g0 in range(0, V, group):
        g1 = min(V, g0 + group)
        n = (g1 - g0) * N
        for j, v in enumerate(range(g0, g1)):
            lonpix, rowbase, fyv = _pitch_sampling(pitches[v], out_hw, (H, W), fov_deg, vfov_deg, grid, work, idx_dtype)
            sl = slice(j * N, (j + 1) * N)
            torch.add(lonpix, yaws[v] / 360.0 * W, out=fx[sl])
            fy[sl].copy_(fyv)
            torch.floor(fx[sl], out=x0f[sl])
            fx[sl].sub_(x0f[sl])
            x0[sl].copy_(x0f[sl])
            torch.index_select(wrap, 0, x0[sl], out=i00[sl])
            i00[sl].add_(rowbase)
        img = planes[0 if B == 1 else g0]
        idx, wx, wy = i00[:n], fx[:n], fy[:n]
        for ch in range(C):
            pl = img[ch]
            for k, o in enumerate((0, 1, Wp, Wp + 1)):  # the plane shifted by o gives the other corners
                torch.index_select(pl[o:], 0, idx, out=raw[k, :n])
            c4 = cf[:, :n]
            if cf is not raw:
                c4.copy_(raw[:, :n])
            top = c4[0].lerp_(c4[1], wx)
            top.lerp_(c4[2].lerp_(c4[3], wx), wy)
            res = (top.round_().clamp_(0, 255) if is_u8 else top).view(g1 - g0, N)
            out_flat[g0:g1, ch].copy_(res)
    return out.reshape(V, C, h, w)


def _render_cv2(pano, yaw, pitch, fov_deg, out_hw, grid, pole, vfov_deg, padded) -> torch.Tensor:
    """``impl="cv2"``: one :class:`EquirectRenderer` per distinct panorama of the batch."""
    from .projection_cv2 import EquirectRenderer, pad_equirect_planes, wrap_columns

    if pano.device.type != "cpu" or pano.requires_grad or pano.dtype not in (torch.uint8, torch.float32):
        raise ValueError("equirect_to_perspective: impl='cv2' needs a CPU uint8/float32 tensor without grad, got "
                         f"{pano.dtype} on {pano.device}" + (" (requires_grad)" if pano.requires_grad else ""))
    if grid not in ("hstar", "py360"):
        raise ValueError(f"equirect_to_perspective: grid must be 'hstar' or 'py360', got {grid!r}")
    yaw_t, pitch_t = _angles(yaw, pitch)
    V, B, C = yaw_t.numel(), pano.shape[0], pano.shape[1]
    if B not in (1, V):
        raise ValueError(f"equirect_to_perspective: {V} views for a batch of {B} panoramas (need B == V or B == 1)")
    h, w = out_hw
    out = np.empty((V, h, w, C), dtype=pano.numpy().dtype if pano.dtype == torch.uint8 else np.float32)
    yaws, pitches = yaw_t.numpy(), pitch_t.numpy()
    for b in range(B):
        if padded:  # [H+2, W+2]: pole rows and one wrapped column each side are already there
            rend = EquirectRenderer(wrap_columns(pano[b].permute(1, 2, 0).numpy()[:, 1:-1]), padded=True)
        else:
            rend = EquirectRenderer(pad_equirect_planes(pano[b].numpy(), pole), padded=True)
        sl = slice(None) if B == 1 else slice(b, b + 1)
        rend.render(yaws[sl], pitches[sl], fov_deg, out_hw, grid, vfov_deg, out=out[sl])
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def equirect_to_perspective_cv2(
    pano_hwc: np.ndarray, yaw: float, pitch: float, fov_deg: float = 100.0, out_hw=(720, 1280),
    grid: Grid = "hstar", pole: Pole = "flip", vfov_deg: float | None = None,
) -> np.ndarray:
    """CPU reference: one view of an ``[H, W, C]`` numpy panorama with ``cv2.remap`` (INTER_LINEAR)."""
    import cv2

    H, W = pano_hwc.shape[:2]
    mx, my = view_maps([yaw], [pitch], out_hw, (H, W), fov_deg, vfov_deg, grid)
    t = torch.from_numpy(np.ascontiguousarray(pano_hwc)).permute(2, 0, 1)[None]
    padded = pad_equirect(t, pole)[0].permute(1, 2, 0).contiguous().numpy()
    return cv2.remap(padded, (mx[0] + 1).numpy().astype(np.float32), (my[0] + 1).numpy().astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rot(yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """Ry(yaw) Rx(pitch) ``[..., 3, 3]`` (column vectors), angles in degrees, float64."""
    a, b = torch.deg2rad(yaw), torch.deg2rad(pitch)
    ca, sa, cb, sb = a.cos(), a.sin(), b.cos(), b.sin()
    z, o = torch.zeros_like(a), torch.ones_like(a)
    Ry = torch.stack([ca, z, sa, z, o, z, -sa, z, ca], -1).reshape(*a.shape, 3, 3)
    Rx = torch.stack([o, z, z, z, cb, -sb, z, sb, cb], -1).reshape(*a.shape, 3, 3)
    return Ry @ Rx


def _pixel_scale(fov_deg, out_hw, vfov_deg, grid):
    """(fx, fy, cx, cy): ray = ((u - cx)/fx, (v - cy)/fy, 1) for view pixel (u, v) = (col, row)."""
    h, w = out_hw
    if grid == "hstar":
        f = w / (2 * math.tan(math.radians(fov_deg) / 2))
        return f, f, w / 2, h / 2
    vf = default_vfov(fov_deg, out_hw) if vfov_deg is None else vfov_deg
    tx, ty = math.tan(math.radians(fov_deg) / 2), math.tan(math.radians(vf) / 2)
    return (w - 1) / (2 * tx), (h - 1) / (2 * ty), (w - 1) / 2, (h - 1) / 2


def view_pixel_to_direction(
    uv: torch.Tensor, yaw, pitch, fov_deg: float = 100.0, out_hw=(720, 1280), grid: Grid = "hstar",
    vfov_deg: float | None = None,
) -> torch.Tensor:
    """World direction ``[..., 2]`` = (yaw in [-180, 180), pitch, up positive), degrees, of view pixel
    ``uv [..., 2]`` = (column, row) in the grid's pixel-index coordinates, for a view at (yaw, pitch)
    (broadcast against ``uv[..., 0]``). Inverse of :func:`direction_to_view_pixel`."""
    uv = torch.as_tensor(uv, dtype=torch.float64)
    fx, fy, cx, cy = _pixel_scale(fov_deg, out_hw, vfov_deg, grid)
    ray = torch.stack([(uv[..., 0] - cx) / fx, (uv[..., 1] - cy) / fy, torch.ones_like(uv[..., 0])], -1)
    yaw_t = torch.as_tensor(yaw, dtype=torch.float64).expand(uv.shape[:-1])
    pitch_t = torch.as_tensor(pitch, dtype=torch.float64).expand(uv.shape[:-1])
    r = (_rot(yaw_t, pitch_t) @ ray[..., None])[..., 0]
    lon = torch.rad2deg(torch.atan2(r[..., 0], r[..., 2]))
    lat = torch.rad2deg(torch.atan2(-r[..., 1], torch.hypot(r[..., 0], r[..., 2])))
    return torch.stack([torch.remainder(lon + 180.0, 360.0) - 180.0, lat], -1)


def direction_to_view_pixel(
    d: torch.Tensor, yaw, pitch, fov_deg: float = 100.0, out_hw=(720, 1280), grid: Grid = "hstar",
    vfov_deg: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """View pixel ``(column, row) [..., 2]`` where world direction ``d [..., 2]`` (yaw, pitch deg) appears
    in the view at (yaw, pitch), and a bool ``[...]`` that it lies in front of the camera and inside
    the image."""
    d = torch.as_tensor(d, dtype=torch.float64)
    lon, lat = torch.deg2rad(d[..., 0]), torch.deg2rad(d[..., 1])
    world = torch.stack([lat.cos() * lon.sin(), -lat.sin(), lat.cos() * lon.cos()], -1)
    yaw_t = torch.as_tensor(yaw, dtype=torch.float64).expand(d.shape[:-1])
    pitch_t = torch.as_tensor(pitch, dtype=torch.float64).expand(d.shape[:-1])
    cam = (_rot(yaw_t, pitch_t).transpose(-1, -2) @ world[..., None])[..., 0]
    fx, fy, cx, cy = _pixel_scale(fov_deg, out_hw, vfov_deg, grid)
    front = cam[..., 2] > 1e-12
    zz = torch.where(front, cam[..., 2], torch.ones_like(cam[..., 2]))
    u = cam[..., 0] / zz * fx + cx
    v = cam[..., 1] / zz * fy + cy
    h, w = out_hw
    lo = -0.5
    inside = front & (u >= lo) & (u <= w - 1 - lo) & (v >= lo) & (v <= h - 1 - lo)
    return torch.stack([u, v], -1), inside


def direction_to_equirect_pixel(d: torch.Tensor, pano_hw: tuple[int, int], grid: Grid = "hstar") -> torch.Tensor:
    """Panorama pixel-index coordinates (x, y) of direction (yaw, pitch) degrees, per grid convention."""
    d = torch.as_tensor(d, dtype=torch.float64)
    H, W = pano_hw
    x = (torch.remainder(d[..., 0] + 180.0, 360.0) / 360.0) * W
    y = (0.5 - d[..., 1] / 180.0) * H
    if grid == "py360":
        x, y = x - 0.5, y - 0.5
    return torch.stack([x, y], -1)


def equirect_pixel_to_direction(xy: torch.Tensor, pano_hw: tuple[int, int], grid: Grid = "hstar") -> torch.Tensor:
    """Inverse of :func:`direction_to_equirect_pixel`: (yaw in [-180, 180), pitch) degrees."""
    xy = torch.as_tensor(xy, dtype=torch.float64)
    H, W = pano_hw
    x, y = xy[..., 0], xy[..., 1]
    if grid == "py360":
        x, y = x + 0.5, y + 0.5
    lon = torch.remainder(x / W * 360.0, 360.0) - 180.0
    return torch.stack([lon, (0.5 - y / H) * 180.0], -1)
