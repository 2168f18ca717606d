"""Foveation core (docs/nevaclip.md §2.1 and §7 items 1-3): mask, blur, blend, pyramid, batching, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from scanpath.core import (
    blur_levels,
    eccentricity_mask,
    foveate,
    foveate_reference,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_mask,
    grid_coords,
    update_memory,
)

S = 224
PX = (S - 1) / 2  # px per normalised unit (111.5)


def test_grid_convention():
    g = grid_coords(S, torch.float64)
    assert float(g[0]) == -1.0 and float(g[-1]) == 1.0
    assert abs(float(g[10]) - (-1 + 20 / 223)) < 1e-15


@pytest.mark.parametrize("sigma_f,half_px", [(0.2, 41.5), (0.15, 36.0)])
def test_mask_half_width(sigma_f, half_px):
    i = 100
    u = -1 + 2 * i / (S - 1)
    m = gaussian_mask(torch.tensor([u, u], dtype=torch.float64), S, sigma_f)
    assert abs(float(m[i, i]) - 1.0) < 1e-12
    # value at half_px along an axis: evaluate the mask at a fixation shifted by half_px
    m2 = gaussian_mask(torch.tensor([u, u + half_px / PX], dtype=torch.float64), S, sigma_f)
    assert abs(float(m2[i, i]) - 0.5) <= 0.01
    # row/col order: moving the row coordinate moves the peak along dim -2
    m3 = gaussian_mask(torch.tensor([1.0, -1.0]), S, sigma_f)
    assert float(m3[-1, 0]) == pytest.approx(1.0) and float(m3[0, -1]) < 1e-6


def test_blur_kernel_and_constant_image():
    k = gaussian_kernel1d(41, 10.0, torch.float64)
    assert k.shape == (41,) and abs(float(k.sum()) - 1) < 1e-12 and int(k.argmax()) == 20
    x = torch.full((2, 3, 64, 64), 0.37, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(x, 41, 10.0), x, atol=1e-12)


def test_blur_matches_2d_conv_with_reflection():
    x = torch.rand(1, 2, 30, 25, dtype=torch.float64)
    k1 = gaussian_kernel1d(7, 2.0, torch.float64)
    k2 = (k1[:, None] * k1[None, :]).expand(2, 1, 7, 7)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (3, 3, 3, 3), mode="reflect"), k2, groups=2)
    assert torch.allclose(gaussian_blur(x, 7, 2.0), ref, atol=1e-12)


def test_blend_extremes():
    x = torch.rand(2, 3, 48, 48, dtype=torch.float64)
    fix = torch.zeros(2, 2, dtype=torch.float64)
    blur = gaussian_blur(x, 9, 3.0)
    one = foveate(x, fix, blur_k=9, blur_sigma=3.0, memory=torch.ones(2, 48, 48, dtype=torch.float64))
    zero = foveate(x, fix, blur_k=9, blur_sigma=3.0, memory=torch.full((2, 48, 48), -5.0, dtype=torch.float64))
    assert torch.allclose(one, x, atol=1e-12)
    assert torch.allclose(zero, blur, atol=1e-12)


def _loop_reference(x, fix, memory=None, **kw):
    return torch.stack([
        torch.stack([foveate_reference(x[b], fix[b, k], memory=None if memory is None else memory[b], **kw)
                     for k in range(fix.shape[1])])
        for b in range(x.shape[0])
    ])


@pytest.mark.parametrize("with_memory", [False, True])
@pytest.mark.parametrize("chunk", [None, 5])
def test_batched_equals_single_image_reference(with_memory, chunk):
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 64, 64, generator=gen)
    fix = torch.rand(3, 4, 2, generator=gen) * 2 - 1
    mem = torch.rand(3, 64, 64, generator=gen) * 0.7 if with_memory else None
    out = foveate(x, fix, sigma_f=0.2, blur_k=21, blur_sigma=5.0, memory=mem, chunk_size=chunk)
    ref = _loop_reference(x, fix, mem, sigma_f=0.2, blur_k=21, blur_sigma=5.0)
    assert out.shape == (3, 4, 3, 64, 64)
    assert float(((out - ref).abs() / ref.abs().clamp_min(1.0)).max()) < 1e-5


def test_single_fixation_shape_and_precomputed_blur():
    x = torch.rand(2, 3, 40, 40)
    fix = torch.rand(2, 2) * 2 - 1
    a = foveate(x, fix, blur_k=9, blur_sigma=2.0)
    b = foveate(x, fix, blurred=blur_levels(x, 1, 9, 2.0))
    assert a.shape == (2, 3, 40, 40) and torch.equal(a, b)


def test_pyramid_L1_equals_blend():
    x = torch.rand(2, 3, 64, 64)
    fix = torch.rand(2, 3, 2) * 2 - 1
    mem = torch.rand(2, 64, 64) * 0.3
    a = foveate(x, fix, levels=1, memory=mem, blur_k=11, blur_sigma=3.0)
    b = _loop_reference(x, fix, mem, blur_k=11, blur_sigma=3.0)
    assert float((a - b).abs().max()) < 1e-6


def test_pyramid_interpolates_between_levels():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 50, 50, generator=gen, dtype=torch.float64)
    fix = torch.tensor([[[0.3, -0.4]]], dtype=torch.float64)
    L = 3
    out = foveate(x, fix, levels=L, blur_k=5, blur_sigma=1.0, sigma_f=0.1)
    levels = [x] + blur_levels(x, L, 5, 1.0)
    assert [b.shape for b in levels] == [x.shape] * 4
    A = gaussian_mask(fix[0, 0], 50, 0.1)
    lam = L * (1 - A)
    lo = lam.floor().clamp(max=L - 1).long()
    frac = lam - lo
    st = torch.stack(levels)[:, 0]  # [L+1, C, H, W]
    b_lo = st.gather(0, lo[None, None].expand(1, 2, 50, 50))[0]
    b_hi = st.gather(0, (lo + 1)[None, None].expand(1, 2, 50, 50))[0]
    ref = b_lo + frac * (b_hi - b_lo)
    assert torch.allclose(out[0, 0], ref, atol=1e-12)


def test_pyramid_level_taps():
    from scanpath.core import pyramid_taps

    assert pyramid_taps(3, 41, 10.0) == [(41, 10.0), (81, 20.0), (161, 40.0)]
    with pytest.raises(ValueError, match="reflection padding"):
        foveate(torch.rand(1, 3, 64, 64), torch.zeros(1, 2), levels=3)


def test_foveate_commutes_with_normalisation():
    x = torch.rand(2, 3, 64, 64)
    fix = torch.rand(2, 2, 2) * 2 - 1
    mean = torch.tensor([0.48, 0.46, 0.41]).view(1, 3, 1, 1)
    std = torch.tensor([0.27, 0.26, 0.28]).view(1, 3, 1, 1)
    a = (foveate(x, fix, blur_k=21, blur_sigma=5.0) - mean.unsqueeze(1)) / std.unsqueeze(1)
    b = foveate((x - mean) / std, fix, blur_k=21, blur_sigma=5.0)
    assert float((a - b).abs().max()) < 1e-5


def test_memory_update_and_forgetting():
    p1 = torch.tensor([[0.5, 0.5]], requires_grad=True)
    m1 = update_memory(None, p1, 32, 0.8, 0.2)
    m2 = update_memory(m1, torch.tensor([[-0.5, 0.0]]), 32, 0.8, 0.2)
    assert not m2.requires_grad
    expect = 0.8 * gaussian_mask(torch.tensor([0.5, 0.5]), 32, 0.2) + gaussian_mask(torch.tensor([-0.5, 0.0]), 32, 0.2)
    assert torch.allclose(m2[0], expect)


def test_noise_option():
    x = torch.rand(2, 3, 32, 32)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = blur_levels(x, 1, 5, 2.0, noise=0.15, generator=g1)[0]
    b = blur_levels(x, 1, 5, 2.0, noise=0.15, generator=g2)[0]
    assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.allclose(a, blur_levels(x, 1, 5, 2.0)[0])


def test_eccentricity_mask_and_mode():
    fix = torch.tensor([0.0, 0.0], dtype=torch.float64)
    m = eccentricity_mask(fix, 101, ppd=10.0, fovea_deg=1.0, falloff_deg=2.0)
    c = 50
    assert float(m[c, c]) == 1.0 and float(m[c, c + 10]) == 1.0  # 1 deg
    assert float(m[c, c + 20]) == pytest.approx(0.5)  # 2 deg
    assert float(m[c, c + 30]) == 0.0  # 3 deg
    x = torch.rand(1, 3, 101, 101, dtype=torch.float64)
    out = foveate(x, fix[None], mask="ecc", ppd=10.0, fovea_deg=1.0, deg_per_level=1.0, levels=2,
                  blur_k=5, blur_sigma=1.0)
    lv = blur_levels(x, 2, 5, 1.0)
    assert torch.allclose(out[0, :, c, c], x[0, :, c, c])
    assert torch.allclose(out[0, :, c, c + 20], lv[0][0, :, c, c + 20])  # 2 deg -> level 1
    assert torch.allclose(out[0, :, c, c + 40], lv[1][0, :, c, c + 40])  # beyond -> level 2
    with pytest.raises(ValueError, match="ppd"):
        foveate(x, fix[None], mask="ecc")


@pytest.mark.parametrize("levels,mask", [(1, "gaussian"), (2, "gaussian"), (2, "ecc")])
def test_gradcheck_wrt_fixations(levels, mask):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 2, 12, 12, generator=gen, dtype=torch.float64)
    mem = torch.rand(2, 12, 12, generator=gen, dtype=torch.float64) * 0.3
    fix = (torch.rand(2, 2, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    kw = dict(levels=levels, mask=mask, blur_k=3, blur_sigma=1.0, sigma_f=0.3, memory=mem)
    if mask == "ecc":
        kw.update(ppd=2.0, fovea_deg=0.5, deg_per_level=1.5)
    assert torch.autograd.gradcheck(lambda f: foveate(x, f, **kw), (fix,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradcheck_full_jacobian_small():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(1, 1, 6, 7, generator=gen, dtype=torch.float64)
    mem = torch.rand(1, 6, 7, generator=gen, dtype=torch.float64) * 0.3
    fix = (torch.rand(1, 2, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    f = lambda p: foveate(x, p, blur_k=3, blur_sigma=1.0, sigma_f=0.3, memory=mem)  # noqa: E731
    assert torch.autograd.gradcheck(f, (fix,), eps=1e-6, atol=1e-5)


def test_gradient_moves_towards_informative_patch():
    x = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    x[..., 20:28, 20:28] = torch.rand(8, 8, dtype=torch.float64)
    fix = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
    loss = ((foveate(x, fix, blur_k=5, blur_sigma=2.0, sigma_f=0.3) - x) ** 2).sum()
    loss.backward()
    assert (fix.grad < 0).all()  # descending moves down-right, towards the patch


def test_bad_shapes():
    with pytest.raises(ValueError, match="fixations"):
        foveate(torch.rand(2, 3, 16, 16), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="memory"):
        foveate(torch.rand(2, 3, 16, 16), torch.zeros(2, 2), blur_k=3, memory=torch.zeros(2, 8, 8))


def test_gradcheck_wrt_images_and_memory_free_path():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, 10, 11, generator=gen, dtype=torch.float64).requires_grad_(True)
    fix = torch.rand(2, 2, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    assert torch.autograd.gradcheck(lambda im: foveate(im, fix, blur_k=3, blur_sigma=1.0, sigma_f=0.3), (x,),
                                    eps=1e-6, atol=1e-5, fast_mode=True)
    # the fused Gaussian path and the generic autograd path (pyramid code, L=1 weights) agree on gradients
    p1 = fix.clone().requires_grad_(True)
    p2 = fix.clone().requires_grad_(True)
    w = torch.rand(2, 2, 2, 10, 11, generator=gen, dtype=torch.float64)
    (foveate(x.detach(), p1, blur_k=3, blur_sigma=1.0, sigma_f=0.3) * w).sum().backward()
    from scanpath.core.foveation import _foveate_torch, _profiles

    gr, gc = _profiles(p2, 10, 11, 0.3)
    A = (gr[..., :, None] * gc[..., None, :]).clamp(0, 1)
    xd = x.detach()
    out2 = _foveate_torch(xd, [gaussian_blur(xd, 3, 1.0) - xd], A)
    (out2 * w).sum().backward()
    assert torch.allclose(p1.grad, p2.grad, atol=1e-12)
