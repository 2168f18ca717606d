"""Great-circle (orthodromic) distances on the viewing sphere, in degrees."""

from __future__ import annotations

import torch

__all__ = ["great_circle"]


def great_circle(a, b) -> torch.Tensor:
    """Angle in degrees between directions ``a [..., 2]`` and ``b [..., 2]`` = (yaw/lon, pitch/lat) in
    degrees, broadcast. Vincenty's atan2 form, stable for tiny and antipodal separations; computed in
    float64 and returned in the promoted floating dtype of the inputs (float64 for non-tensors).
    ``great_circle([179, 0], [-179, 0]) == 2``."""
    at, bt = torch.as_tensor(a), torch.as_tensor(b)
    if at.shape[-1] != 2 or bt.shape[-1] != 2:
        raise ValueError(f"great_circle: inputs must end in a dimension of 2 (yaw, pitch), got {tuple(at.shape)} and {tuple(bt.shape)}")
    out_dtype = torch.promote_types(at.dtype, bt.dtype)
    if not out_dtype.is_floating_point:
        out_dtype = torch.float64
    if not (isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)):
        out_dtype = torch.float64
    at, bt = torch.deg2rad(at.to(torch.float64)), torch.deg2rad(bt.to(torch.float64))
    l1, p1 = at[..., 0], at[..., 1]
    l2, p2 = bt[..., 0], bt[..., 1]
    dl = l2 - l1
    s1, c1, s2, c2 = p1.sin(), p1.cos(), p2.sin(), p2.cos()
    num = torch.hypot(c2 * dl.sin(), c1 * s2 - s1 * c2 * dl.cos())
    den = s1 * s2 + c1 * c2 * dl.cos()
    return torch.rad2deg(torch.atan2(num, den)).to(out_dtype)
