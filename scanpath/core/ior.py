"""Inhibition-of-return masks, batched: discs or squares around past fixations, objects (boxes), cells.

Pixel (c, r) covers [c, c+1) x [r, r+1) (top-left origin, the framework's convention); a pixel is
inhibited when its centre (c + 0.5, r + 0.5) is inside a shape. Masks are bool ``[B, H, W]``,
True = inhibited. ``valid [B, N]`` (default all True) drops padded entries (e.g. NaN-padded
fixations of a ScanpathBatch; NaN centres are ignored automatically).
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["ior_mask", "cell_index"]


def _pixel_centres(hw, dtype, device):
    H, W = hw
    return (torch.arange(H, dtype=dtype, device=device) + 0.5), (torch.arange(W, dtype=dtype, device=device) + 0.5)


def _any_outer(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``any_n rows[b,n,h] & cols[b,n,w]`` as one batched matmul → bool ``[B,H,W]``."""
    return torch.bmm(rows.transpose(1, 2).float(), cols.float()) > 0


def cell_index(xy: torch.Tensor, hw: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """Row-major cell index of points ``xy [..., 2]`` (x, y px) on an ``grid = (R, C)`` partition of an
    ``hw = (H, W)`` image into equal cells (clamped to the image)."""
    H, W = hw
    R, C = grid
    col = (xy[..., 0] * C / W).floor().clamp(0, C - 1).long()
    row = (xy[..., 1] * R / H).floor().clamp(0, R - 1).long()
    return row * C + col


def ior_mask(
    hw: tuple[int, int],
    mode: Literal["disc", "square", "box", "cell"] = "disc",
    *,
    centers: torch.Tensor | None = None,
    radius: float | torch.Tensor | None = None,
    boxes: torch.Tensor | None = None,
    visited: torch.Tensor | None = None,
    grid: tuple[int, int] | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Inhibition-of-return mask ``[B, H, W]`` (bool, True = inhibited) for an ``hw = (H, W)`` image.

    * ``disc``: union of discs of ``radius`` px around ``centers [B, N, 2]`` (x, y px).
    * ``square``: union of axis-aligned squares of half-side ``radius`` px around ``centers``.
    * ``box``: union of the ``boxes [B, N, 4]`` (x0, y0, x1, y1 px, x1/y1 exclusive) where
      ``visited [B, N]`` (default: all boxes).
    * ``cell``: union of the cells of an equal ``grid = (R, C)`` partition that are visited:
      ``visited [B, R*C]`` bool, or, when ``centers`` is given, the cells containing them.

    ``radius`` may be a float or a ``[B]``/``[B, N]`` tensor.
    """
    H, W = hw
    if mode in ("disc", "square", "cell") and centers is not None:
        if centers.dim() == 2:
            centers = centers[:, None]
        if centers.dim() != 3 or centers.shape[-1] != 2:
            raise ValueError(f"ior_mask: centers must be [B,N,2] (x, y), got {tuple(centers.shape)}")
        ok = torch.isfinite(centers).all(-1)
        valid = ok if valid is None else (valid.bool() & ok)
        centers = torch.nan_to_num(centers.double(), nan=-1e9)
    if mode in ("disc", "square"):
        if centers is None or radius is None:
            raise ValueError(f"ior_mask: mode {mode!r} needs centers and radius")
        B, N, _ = centers.shape
        r = torch.as_tensor(radius, dtype=torch.float64, device=centers.device)
        r = r.expand(B, N) if r.dim() < 2 and r.numel() == 1 else (r[:, None].expand(B, N) if r.dim() == 1 else r)
        ys, xs = _pixel_centres(hw, torch.float64, centers.device)
        dx = xs[None, None, :] - centers[..., 0:1]  # [B,N,W]
        dy = ys[None, None, :] - centers[..., 1:2]  # [B,N,H]
        v = valid[..., None]
        if mode == "square":
            return _any_outer((dy.abs() <= r[..., None]) & v, (dx.abs() <= r[..., None]) & v)
        out = torch.zeros(B, H, W, dtype=torch.bool, device=centers.device)
        for n in range(N):
            d2 = dy[:, n, :, None] ** 2 + dx[:, n, None, :] ** 2
            out |= (d2 <= r[:, n, None, None] ** 2) & valid[:, n, None, None]
        return out
    if mode == "box":
        if boxes is None or boxes.dim() != 3 or boxes.shape[-1] != 4:
            raise ValueError(f"ior_mask: mode 'box' needs boxes [B,N,4], got {None if boxes is None else tuple(boxes.shape)}")
        bx = boxes.double()
        sel = torch.ones(bx.shape[:2], dtype=torch.bool, device=bx.device) if visited is None else visited.bool()
        if valid is not None:
            sel = sel & valid.bool()
        ys, xs = _pixel_centres(hw, torch.float64, bx.device)
        rows = (ys >= bx[..., 1:2]) & (ys < bx[..., 3:4]) & sel[..., None]
        cols = (xs >= bx[..., 0:1]) & (xs < bx[..., 2:3]) & sel[..., None]
        return _any_outer(rows, cols)
    if mode == "cell":
        if grid is None:
            raise ValueError("ior_mask: mode 'cell' needs grid=(R, C)")
        R, C = grid
        if centers is not None:
            idx = cell_index(centers, hw, grid)
            B = centers.shape[0]
            vis = torch.zeros(B, R * C, dtype=torch.float32, device=centers.device)
            vis.scatter_add_(1, idx, valid.float())
            vis = vis > 0
        elif visited is not None:
            vis = visited.bool()
            if vis.dim() != 2 or vis.shape[1] != R * C:
                raise ValueError(f"ior_mask: visited must be [B, R*C={R * C}], got {tuple(vis.shape)}")
        else:
            raise ValueError("ior_mask: mode 'cell' needs visited [B, R*C] or centers")
        ys, xs = _pixel_centres(hw, torch.float64, vis.device)
        rcell = (ys * R / H).floor().clamp(0, R - 1).long()
        ccell = (xs * C / W).floor().clamp(0, C - 1).long()
        cellmap = rcell[:, None] * C + ccell[None, :]  # [H,W]
        return vis[:, cellmap]
    raise ValueError(f"ior_mask: mode must be 'disc', 'square', 'box' or 'cell', got {mode!r}")
