"""Success windows of H* (object search HOS, path search HPS), vectorised in torch.

Rules (docs/humanoid360.md §2.2): a yaw window [lo, hi] with lo > hi wraps (hi += 360); a window
narrower than 2τ becomes centre ± τ; yaw is then wrapped to [0, 360) and pitch clamped to ±90.
HOS uses τ_yaw = 30, τ_pitch = 20; HPS has no pitch key, so its pitch window is [−90, 90] and
τ_yaw = 10. A submit succeeds when its yaw (mod 360) lies in [lo, hi] (wrapped window: yaw ≥ lo or
yaw ≤ hi) **and** its pitch, not clamped, lies in the pitch window.

Upstream quirk Q1 (a wrapping yaw window skips the pitch check) is reproduced with
``quirk_wrap_skips_pitch=True``; Q2 (HPS tolerance leaking into later HOS episodes) cannot happen
here because the tolerance is a per-episode input.
"""

from __future__ import annotations

import math

import torch

HOS, HPS = 0, 1
TAU = {HOS: (30.0, 20.0), HPS: (10.0, 0.0)}


def tolerances(task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-episode (τ_yaw, τ_pitch) from the task code tensor (0 = HOS, 1 = HPS)."""
    task = torch.as_tensor(task)
    tau_yaw = torch.where(task == HPS, TAU[HPS][0], TAU[HOS][0]).to(torch.float64)
    tau_pitch = torch.where(task == HPS, TAU[HPS][1], TAU[HOS][1]).to(torch.float64)
    return tau_yaw, tau_pitch


def widen_windows(
    yaw_lo: torch.Tensor,
    yaw_hi: torch.Tensor,
    pitch_lo: torch.Tensor,
    pitch_hi: torch.Tensor,
    task: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Effective windows (lo, hi in [0, 360), plo, phi in [−90, 90]); HPS pitch is ignored."""
    f = torch.float64
    lo, hi = torch.as_tensor(yaw_lo, dtype=f), torch.as_tensor(yaw_hi, dtype=f)
    plo, phi = torch.as_tensor(pitch_lo, dtype=f), torch.as_tensor(pitch_hi, dtype=f)
    task = torch.as_tensor(task)
    tau_y, tau_p = tolerances(task)
    hi = torch.where(lo > hi, hi + 360.0, hi)
    narrow = (hi - lo) < 2 * tau_y
    c = (lo + hi) / 2
    lo = torch.where(narrow, c - tau_y, lo)
    hi = torch.where(narrow, c + tau_y, hi)
    lo, hi = torch.remainder(lo, 360.0), torch.remainder(hi, 360.0)
    pnarrow = (phi - plo) < 2 * tau_p
    pc = (plo + phi) / 2
    plo = torch.where(pnarrow, pc - tau_p, plo).clamp(-90.0, 90.0)
    phi = torch.where(pnarrow, pc + tau_p, phi).clamp(-90.0, 90.0)
    hps = task == HPS
    plo = torch.where(hps, torch.full_like(plo, -90.0), plo)
    phi = torch.where(hps, torch.full_like(phi, 90.0), phi)
    return lo, hi, plo, phi


def judge(
    yaw: torch.Tensor,
    pitch: torch.Tensor,
    windows: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    quirk_wrap_skips_pitch: bool = False,
) -> torch.Tensor:
    """Bool success of submitted headings against effective windows (from :func:`widen_windows`)."""
    lo, hi, plo, phi = windows
    y = torch.remainder(torch.as_tensor(yaw, dtype=torch.float64), 360.0)
    p = torch.as_tensor(pitch, dtype=torch.float64)
    wrapped = lo > hi
    in_yaw = torch.where(wrapped, (y >= lo) | (y <= hi), (y >= lo) & (y <= hi))
    in_pitch = (p >= plo) & (p <= phi)
    if quirk_wrap_skips_pitch:
        in_pitch = in_pitch | wrapped
    return in_yaw & in_pitch


def distance_reward(
    yaw: torch.Tensor,
    pitch: torch.Tensor,
    windows: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """HPS-ablation shaping r_dist = [(π − d_yaw) + (π − d_pitch)] / 2π.

    d is the summed radian distance from the final heading to both window edges (circular for yaw).
    This reading of the paper comes from secondary summaries (docs/humanoid360.md §2.2); weight 0 by default.
    """
    lo, hi, plo, phi = windows
    y = torch.remainder(torch.as_tensor(yaw, dtype=torch.float64), 360.0)
    p = torch.as_tensor(pitch, dtype=torch.float64)

    def circ(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d = torch.remainder(a - b, 360.0)
        return torch.minimum(d, 360.0 - d)

    d_yaw = torch.deg2rad(circ(y, lo) + circ(y, hi))
    d_pitch = torch.deg2rad((p - plo).abs() + (p - phi).abs())
    return ((math.pi - d_yaw) + (math.pi - d_pitch)) / (2 * math.pi)


def rotate_heading(
    yaw: torch.Tensor, pitch: torch.Tensor, dyaw: torch.Tensor, dpitch: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative rotation: yaw wraps mod 360, pitch is clamped to [−90, 90] (integers in, out)."""
    return torch.remainder(yaw + dyaw, 360), (pitch + dpitch).clamp(-90, 90)
