"""Triton kernels for the core ops.

Selection (:mod:`scanpath.core.backend`): ``SCANPATH_BACKEND=triton`` forces them (CUDA tensors);
under ``auto`` a kernel runs on a CUDA device only after its entry in :data:`SELF_CHECKS` passed
there once in the process. Validation: Triton's CPU interpreter (``TRITON_INTERPRET=1``,
tests/test_core_triton.py) and ``pytest -m gpu`` on CUDA (``benchmarks/gpu_suite.sh``); no GPU run
has been recorded yet (benchmarks/RESULTS.md, ``## GPU``).

* ``foveate_blend_triton``: fused NeVA blend ``out[b,k,c] = x[b,c] + clamp(1 - M[b] - gr[b,k,:,None]
  gc[b,k,None,:], 0, 1) (blur - x)[b,c]``: the Gaussian mask is rebuilt in registers from its separable
  row/column profiles, so neither the [B,K,H,W] mask nor K copies of the image are read; one read of
  x and d per (candidate, pixel block), one write of the output. Backward is torch (recomputes the
  weights; gradient w.r.t. the profiles, hence the fixation positions).
* ``ecc_sat_triton``: the EccPool corner gather + difference + division of the float64 summed-area
  table in one kernel (the table itself is built with torch ``cumsum``).

This module imports ``triton`` at import time; it is only imported when the Triton backend is chosen.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .foveation import blend_backward

__all__ = ["foveate_blend_triton", "ecc_sat_triton", "SELF_CHECKS"]


@triton.jit
def _foveate_fwd_kernel(
    x_ptr, d_ptr, gr_ptr, gc_ptr, m_ptr, out_ptr,
    K, C, H, W,
    HAS_M: tl.constexpr, BLOCK: tl.constexpr,
):
    pid_bk = tl.program_id(0)
    pid_p = tl.program_id(1)
    b = pid_bk // K
    offs = pid_p * BLOCK + tl.arange(0, BLOCK)
    HW = H * W
    valid = offs < HW
    row = offs // W
    col = offs % W
    gr = tl.load(gr_ptr + pid_bk * H + row, mask=valid, other=0.0)
    gc = tl.load(gc_ptr + pid_bk * W + col, mask=valid, other=0.0)
    vis = gr * gc
    if HAS_M:
        vis += tl.load(m_ptr + b * HW + offs, mask=valid, other=0.0)
    w = tl.minimum(tl.maximum(1.0 - vis, 0.0), 1.0)
    for c in range(0, C):
        base = (b * C + c) * HW
        xv = tl.load(x_ptr + base + offs, mask=valid, other=0.0)
        dv = tl.load(d_ptr + base + offs, mask=valid, other=0.0)
        tl.store(out_ptr + (pid_bk * C + c) * HW + offs, xv + w * dv, mask=valid)


def _foveate_fwd(x, d, gr, gc, m) -> torch.Tensor:
    n, C, H, W = x.shape
    K = gr.shape[1]
    out = torch.empty((n, K, C, H, W), dtype=x.dtype, device=x.device)
    BLOCK = 256
    grid = (n * K, triton.cdiv(H * W, BLOCK))
    _foveate_fwd_kernel[grid](
        x, d, gr, gc, m if m is not None else x, out, K, C, H, W,
        HAS_M=m is not None, BLOCK=BLOCK,
    )
    return out


class _FoveateBlend(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, d, gr, gc, m):
        x, d, gr, gc = (t.contiguous() for t in (x, d, gr, gc))
        m = None if m is None else m.contiguous()
        ctx.save_for_backward(x, d, gr, gc, m)
        return _foveate_fwd(x, d, gr, gc, m)

    backward = staticmethod(blend_backward)


def foveate_blend_triton(x, d, gr, gc, m=None) -> torch.Tensor:
    """``x, d [n,C,H,W]``, profiles ``gr [n,K,H]``, ``gc [n,K,W]``, memory ``m [n,H,W]`` → ``[n,K,C,H,W]``."""
    return _FoveateBlend.apply(x, d, gr.to(x.dtype), gc.to(x.dtype), None if m is None else m.to(x.dtype))


@triton.jit
def _ecc_sat_kernel(i_ptr, idx_ptr, area_ptr, out_ptr, NN, P, BLOCK: tl.constexpr):
    pid_bc = tl.program_id(0)
    pid_p = tl.program_id(1)
    offs = pid_p * BLOCK + tl.arange(0, BLOCK)
    valid = offs < P
    base = i_ptr + pid_bc * NN
    i11 = tl.load(idx_ptr + offs, mask=valid, other=0)
    i01 = tl.load(idx_ptr + P + offs, mask=valid, other=0)
    i10 = tl.load(idx_ptr + 2 * P + offs, mask=valid, other=0)
    i00 = tl.load(idx_ptr + 3 * P + offs, mask=valid, other=0)
    s = tl.load(base + i11, mask=valid, other=0.0) - tl.load(base + i01, mask=valid, other=0.0) \
        - tl.load(base + i10, mask=valid, other=0.0) + tl.load(base + i00, mask=valid, other=0.0)
    a = tl.load(area_ptr + offs, mask=valid, other=1.0)
    tl.store(out_ptr + pid_bc * P + offs, s / a, mask=valid)


def ecc_sat_triton(integral: torch.Tensor, idx: torch.Tensor, area: torch.Tensor, out_side: int) -> torch.Tensor:
    """``integral [B,C,n+1,n+1]`` float64, corner indices ``[4,P]``, ``area [P]`` → float64 ``[B,C,out,out]``."""
    B, C = integral.shape[:2]
    P = idx.shape[1]
    I = integral.contiguous()
    out = torch.empty((B, C, P), dtype=torch.float64, device=I.device)
    BLOCK = 256
    grid = (B * C, triton.cdiv(P, BLOCK))
    _ecc_sat_kernel[grid](I, idx.contiguous(), area.contiguous(), out, I.shape[-1] * I.shape[-2], P, BLOCK=BLOCK)
    return out.reshape(B, C, out_side, out_side)


def _check_foveate(device) -> tuple[float, float]:
    """Max relative difference of the Triton vs torch foveate on a small input (with memory)."""
    from .foveation import foveate

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 56, generator=gen).to(device)
    fix = (torch.rand(2, 5, 2, generator=gen) * 2 - 1).to(device)
    mem = (torch.rand(2, 40, 56, generator=gen) * 0.5).to(device)
    a = foveate(x, fix, blur_k=9, blur_sigma=3.0, memory=mem, backend="triton")
    b = foveate(x, fix, blur_k=9, blur_sigma=3.0, memory=mem, backend="torch")
    return float(((a - b).abs() / b.abs().clamp_min(1)).max()), 1e-5


def _check_ecc(device) -> tuple[float, float]:
    """Max difference (relative to max |x|) of the Triton vs ring-by-ring EccPool on a small input."""
    from .pooling import ecc_avg_pool

    x = (torch.randn(1, 4, 51, 51, generator=torch.Generator().manual_seed(1)) * 5).to(device)
    a = ecc_avg_pool(x, slope=0.32, deg2px=2, impl="triton")
    b = ecc_avg_pool(x, slope=0.32, deg2px=2, impl="reference")
    return float((a - b).abs().max()) / max(1.0, float(x.abs().max())), 1e-5


#: op name -> self-check(device) returning (error, tolerance); run once per device by ``auto``
SELF_CHECKS = {"foveate": _check_foveate, "ecc_avg_pool": _check_ecc}
