"""View rendering for the 360° environments: a thin batching layer over the core projection.

All projection maths lives in :func:`scanpath.core.equirect_to_perspective` (owned by the core
package); this module only groups episodes by panorama (so a stack of P panoramas serves B ≫ P
episodes without copying), converts to uint8 and draws the upstream green crosshair. On the CPU, uint8
panoramas are prepared once as :class:`scanpath.core.EquirectRenderer` objects (uint8 HWC, padded
with wrapped columns, cv2.remap with cached fixed-point maps); elsewhere, or with ``impl="torch"``, the
stack is padded once as a float tensor for the torch path (CUDA ``grid_sample``).
:func:`render_py360` is the per-view CPU reference (``py360convert.e2p``) used by benchmarks.
"""

from __future__ import annotations

import math

import numpy as np
import torch

HFOV_DEG = 100.0


def view_size(resolution: int) -> tuple[int, int]:
    """Upstream output size (h, w) = (res, res // 9 · 16): 720 → 1280×720, 1080 → 1920×1080."""
    return int(resolution), int(resolution) // 9 * 16


def vertical_fov(out_hw: tuple[int, int], hfov_deg: float = HFOV_DEG) -> float:
    """Vertical FoV of the pinhole camera with horizontal FoV ``hfov_deg`` (67.673° at 16:9)."""
    h, w = out_hw
    return math.degrees(2 * math.atan(math.tan(math.radians(hfov_deg) / 2) * h / w))


def draw_crosshair(views: torch.Tensor) -> torch.Tensor:
    """Green ±10 px, 1 px wide cross at (w//2, h//2) on uint8 ``[B, 3, h, w]`` views (in place)."""
    h, w = views.shape[-2:]
    cy, cx = h // 2, w // 2
    green = torch.tensor([0, 255, 0], dtype=views.dtype, device=views.device)[:, None]
    views[:, :, cy, max(cx - 10, 0) : cx + 11] = green
    views[:, :, max(cy - 10, 0) : cy + 11, cx] = green
    return views


def render_views(
    panoramas: "torch.Tensor | list",
    pano_index: torch.Tensor,
    yaw: torch.Tensor,
    pitch: torch.Tensor,
    out_hw: tuple[int, int],
    *,
    hfov_deg: float = HFOV_DEG,
    grid: str = "hstar",
    pole: str = "flip",
    crosshair: bool = False,
    as_uint8: bool = True,
    padded: bool = False,
) -> torch.Tensor:
    """Render ``[B, 3, h, w]`` views of ``panoramas[pano_index[b]]`` at (yaw[b], pitch[b]).

    ``panoramas`` is ``[P, 3, H, W]`` (uint8 or float in [0, 255]); one core call per distinct
    panorama (the core renders V views of one panorama without copies). ``padded=True``: the stack
    already went through :func:`pad_panoramas` (pad once, render many); a list of
    :class:`~scanpath.core.EquirectRenderer` (from ``pad_panoramas`` on the CPU) renders with OpenCV.
    """
    from scanpath.core import equirect_to_perspective

    if isinstance(panoramas, list):
        return _render_cv2(panoramas, pano_index, yaw, pitch, out_hw, hfov_deg, grid, crosshair, as_uint8)
    b = int(yaw.shape[0])
    out = torch.empty((b, 3, *out_hw), dtype=torch.float32, device=panoramas.device)
    idx = pano_index.to(panoramas.device)
    for p in torch.unique(idx).tolist():
        sel = (idx == p).nonzero(as_tuple=True)[0]
        src = panoramas[p : p + 1]
        if not as_uint8 and not src.is_floating_point():
            src = src.float()  # uint8 in → the core rounds to uint8; keep fractional values when asked
        views = equirect_to_perspective(
            src,
            yaw[sel].to(panoramas.device, torch.float64),
            pitch[sel].to(panoramas.device, torch.float64),
            hfov_deg,
            out_hw,
            grid=grid,
            pole=pole,
            padded=padded,
        )
        out[sel] = views.to(torch.float32)
    if not as_uint8:
        return out
    views8 = out.round_().clamp_(0, 255).to(torch.uint8)
    return draw_crosshair(views8) if crosshair else views8


def _render_cv2(renderers, pano_index, yaw, pitch, out_hw, hfov_deg, grid, crosshair, as_uint8) -> torch.Tensor:
    b = int(yaw.shape[0])
    out = np.empty((b, *out_hw, 3), dtype=np.uint8)
    idx = pano_index.cpu().numpy()
    yaw_np, pitch_np = yaw.detach().cpu().double().numpy(), pitch.detach().cpu().double().numpy()
    for p in np.unique(idx).tolist():
        sel = np.flatnonzero(idx == p)
        if len(sel) == b:
            renderers[p].render(yaw_np, pitch_np, hfov_deg, out_hw, grid, out=out)
        else:
            out[sel] = renderers[p].render(yaw_np[sel], pitch_np[sel], hfov_deg, out_hw, grid)
    views = torch.from_numpy(out).permute(0, 3, 1, 2)  # channels_last memory, [B, 3, h, w] shape
    if not as_uint8:
        return views.float()
    return draw_crosshair(views) if crosshair else views


def pad_panoramas(panoramas: torch.Tensor, pole: str = "flip", impl: str = "torch"):
    """Prepare a ``[P, 3, H, W]`` stack once for repeated rendering.

    ``impl="torch"``: the core ``pad_equirect`` tensor (float input stays float). ``impl="cv2"``: one
    :class:`~scanpath.core.EquirectRenderer` per panorama (CPU, uint8 HWC). ``impl="auto"``: cv2 for a
    CPU uint8 stack, torch otherwise.
    """
    from scanpath.core.projection import pad_equirect

    if impl not in ("auto", "torch", "cv2"):
        raise ValueError(f"render impl must be 'auto', 'torch' or 'cv2', got {impl!r}")
    if impl == "auto":
        impl = "cv2" if panoramas.device.type == "cpu" and panoramas.dtype == torch.uint8 else "torch"
    if impl == "cv2":
        from scanpath.core import EquirectRenderer
        from scanpath.core.projection_cv2 import pad_equirect_planes

        if panoramas.device.type != "cpu" or panoramas.dtype != torch.uint8:
            raise ValueError(f"render impl 'cv2' needs a CPU uint8 stack, got {panoramas.dtype} on {panoramas.device}")
        return [EquirectRenderer(pad_equirect_planes(p.contiguous().numpy(), pole), padded=True) for p in panoramas]
    return pad_equirect(panoramas, pole)


def render_py360(
    panorama: np.ndarray, yaw: float, pitch: float, out_hw: tuple[int, int], hfov_deg: float = HFOV_DEG
) -> np.ndarray:
    """Reference single view with ``py360convert.e2p`` (HWC uint8 in, HWC uint8 out)."""
    import py360convert

    u = ((float(yaw) + 180.0) % 360.0) - 180.0
    fov = (hfov_deg, vertical_fov(out_hw, hfov_deg))
    return py360convert.e2p(panorama, fov_deg=fov, u_deg=u, v_deg=float(pitch), out_hw=tuple(out_hw))
