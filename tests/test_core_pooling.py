"""EccPool geometry (docs/eccnet.md §2.3 ring tables) and SAT vs ring-by-ring parity; TF-same pools."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scanpath.core import ecc_avg_pool, ecc_kernel_map, tf_same_avg_pool2d, tf_same_geometry, tf_same_max_pool2d

SLOPES = {1: 0.0, 2: 0.0, 3: 0.07, 4: 0.16, 5: 0.32}


def g_of(layer: int) -> int:
    return round(30 / 2 ** (layer - 1))


def layer_input(crop: int, layer: int) -> int:
    n = crop
    for _ in range(layer - 1):
        n = -(-n // 2)
    return n


TABLE = {
    (806, 3): (202, 101, [2, 3, 3, 4, 4, 5, 5, 6, 6, 7]),
    (806, 4): (101, 51, [2, 3, 3, 4, 5, 5, 6, 6, 7, 8]),
    (806, 5): (51, 26, [2, 3, 3, 4, 5, 5, 6, 6, 7, 8]),
    (524, 3): (131, 66, [2, 3, 3, 4, 4, 5]),
    (524, 4): (66, 33, [2, 3, 3, 4, 5, 5]),
    (524, 5): (33, 17, [2, 3, 3, 4, 5, 5]),
}


@pytest.mark.parametrize("crop,layer", sorted(TABLE))
def test_ring_table_806_524(crop, layer):
    n, out, ks = TABLE[(crop, layer)]
    assert layer_input(crop, layer) == n
    geo = ecc_kernel_map(n, SLOPES[layer], g_of(layer))
    assert geo.out == out
    assert geo.kernel_sizes == ks


@pytest.mark.parametrize("layer,n,out,kmax", [(3, 340, 170, 12), (4, 170, 85, 14), (5, 85, 43, 14)])
def test_ring_table_1358(layer, n, out, kmax):
    assert layer_input(1358, layer) == n
    geo = ecc_kernel_map(n, SLOPES[layer], g_of(layer))
    assert geo.out == out and len(geo.rings) == 19
    assert min(geo.kernel_sizes) == 2 and max(geo.kernel_sizes) == kmax
    assert geo.kernel_sizes == sorted(geo.kernel_sizes)


def test_806_cfq():
    got = [(ecc_kernel_map(layer_input(806, l), SLOPES[l], g_of(l)).center[0],
            ecc_kernel_map(layer_input(806, l), SLOPES[l], g_of(l)).F,
            ecc_kernel_map(layer_input(806, l), SLOPES[l], g_of(l)).q) for l in (3, 4, 5)]
    assert got == [(50, 16, 4), (25, 8, 2), (13, 4, 1)]


@pytest.mark.parametrize("crop", [806, 524, 1358, 200])
def test_pools_1_2_are_k2(crop):
    for layer in (1, 2):
        geo = ecc_kernel_map(layer_input(crop, layer), SLOPES[layer], g_of(layer))
        assert geo.uniform and int(geo.kernel[0, 0]) == 2


def test_small_target_pools_uniformly():
    # 31-px target: pool3 input 8 -> out 4, F = 16 > 2
    geo = ecc_kernel_map(layer_input(31, 3), 0.07, 8)
    assert geo.uniform and len(geo.rings) == 1


def _brute_kernel(n, slope, g, fovea=4.0, rf_min=2, quant=1.0):
    out = (n + 1) // 2
    c = out // 2
    Fr, q = round(fovea * g / 2), round(quant * g / 2)
    k = [[0] * out for _ in range(out)]
    for i in range(out):
        for j in range(out):
            D = (i - c) ** 2 + (j - c) ** 2
            if Fr > out / 2 or D < Fr * Fr:
                k[i][j] = rf_min
                continue
            e = Fr + q
            while e < out / 2 and not (D < e * e):
                e += q
            k[i][j] = rf_min + round(slope * (2 * e - fovea * g))
    return torch.tensor(k)


@pytest.mark.parametrize("n,layer", [(51, 5), (101, 4), (202, 3), (33, 5)])
def test_kernel_map_matches_per_pixel_rule_and_regions_partition(n, layer):
    geo = ecc_kernel_map(n, SLOPES[layer], g_of(layer))
    assert torch.equal(geo.kernel, _brute_kernel(n, SLOPES[layer], g_of(layer)))
    ids = geo.region.unique()
    assert ids.tolist() == list(range(len(geo.rings)))  # every region non-empty, labels 0..R-1
    for r, _, k in geo.rings:
        assert (geo.kernel[geo.region == r] == k).all()
    # rings are concentric annuli: region index never decreases with distance to the centre
    ii = torch.arange(geo.out)
    D = (ii[:, None] - geo.center[0]) ** 2 + (ii[None, :] - geo.center[1]) ** 2
    order = torch.argsort(D.flatten(), stable=True)
    reg = geo.region.flatten()[order]
    assert (reg[1:] >= reg[:-1]).all()


def _tol(x, dtype):
    return (1e-5 if dtype == torch.float32 else 1e-9) * max(1.0, float(x.abs().max()))


@pytest.mark.parametrize("n,layer", [(202, 3), (101, 4), (51, 5), (340, 3), (85, 5), (403, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sat_equals_reference(n, layer, dtype):
    gen = torch.Generator().manual_seed(n * 10 + layer)
    x = torch.randn(2, 3, n, n, generator=gen, dtype=dtype) * 7 + 3
    a = ecc_avg_pool(x, slope=SLOPES[layer], deg2px=g_of(layer), impl="sat")
    b = ecc_avg_pool(x, slope=SLOPES[layer], deg2px=g_of(layer), impl="reference")
    assert a.shape == b.shape == (2, 3, (n + 1) // 2, (n + 1) // 2)
    assert a.dtype == dtype
    assert float((a - b).abs().max()) <= _tol(x, dtype)


def test_sat_equals_direct_window_average():
    """Independent check: average of each TF-same window computed by explicit slicing."""
    n, layer = 51, 5
    x = torch.rand(1, 2, n, n, dtype=torch.float64)
    geo = ecc_kernel_map(n, SLOPES[layer], g_of(layer))
    out = ecc_avg_pool(x, slope=SLOPES[layer], deg2px=g_of(layer))
    for i in range(0, geo.out, 3):
        for j in range(0, geo.out, 2):
            k = int(geo.kernel[i, j])
            _, _, pb = tf_same_geometry(n, k, 2)
            r0, r1 = max(2 * i - pb, 0), min(2 * i - pb + k, n)
            c0, c1 = max(2 * j - pb, 0), min(2 * j - pb + k, n)
            ref = x[0, :, r0:r1, c0:c1].mean(dim=(-1, -2))
            assert torch.allclose(out[0, :, i, j], ref, atol=1e-12)


def test_zero_slope_equals_ceil_mode_avg_pool():
    x = torch.randn(2, 4, 77, 77)
    for impl in ("sat", "reference"):
        y = ecc_avg_pool(x, slope=0.0, deg2px=8, impl=impl)
        assert torch.allclose(y, F.avg_pool2d(x, 2, 2, ceil_mode=True), atol=1e-6)


def test_non_square_input_is_zero_padded_floor_before():
    x = torch.rand(1, 2, 60, 101, dtype=torch.float64)
    sq = torch.zeros(1, 2, 101, 101, dtype=torch.float64)
    sq[:, :, 20:80] = x  # diff 41 -> 20 before
    a = ecc_avg_pool(x, slope=0.16, deg2px=4)
    b = ecc_avg_pool(sq, slope=0.16, deg2px=4, impl="reference")
    assert a.shape == (1, 2, 51, 51)
    assert torch.allclose(a, b, atol=1e-12)


def test_custom_center_moves_fovea():
    geo = ecc_kernel_map(202, 0.07, 8, center=(10, 90))
    assert int(geo.kernel[10, 90]) == 2 and int(geo.kernel[50, 50]) > 2
    x = torch.randn(1, 2, 202, 202, dtype=torch.float64)
    a = ecc_avg_pool(x, center=(10, 90), slope=0.07, deg2px=8)
    b = ecc_avg_pool(x, center=(10, 90), slope=0.07, deg2px=8, impl="reference")
    assert float((a - b).abs().max()) < 1e-9


def _brute_pool(x, k, s, op):
    n_h, n_w = x.shape[-2:]
    oh, _, pbh = tf_same_geometry(n_h, k, s)
    ow, _, pbw = tf_same_geometry(n_w, k, s)
    out = torch.empty(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            win = x[..., max(s * i - pbh, 0):min(s * i - pbh + k, n_h), max(s * j - pbw, 0):min(s * j - pbw + k, n_w)]
            out[..., i, j] = win.amax(dim=(-1, -2)) if op == "max" else win.mean(dim=(-1, -2))
    return out


@pytest.mark.parametrize("k,h,w", [(2, 7, 9), (2, 8, 8), (3, 7, 10), (5, 11, 6)])
def test_tf_same_pools_match_brute_force(k, h, w):
    x = torch.randn(2, 3, h, w, dtype=torch.float64) - 5  # negative: padding must never win the max
    assert torch.allclose(tf_same_max_pool2d(x, k, 2), _brute_pool(x, k, 2, "max"))
    assert torch.allclose(tf_same_avg_pool2d(x, k, 2), _brute_pool(x, k, 2, "avg"))


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"\[B,C,H,W\]"):
        ecc_avg_pool(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="impl"):
        ecc_avg_pool(torch.zeros(1, 1, 40, 40), slope=0.1, deg2px=8, impl="bogus")


def test_sat_chunking_over_many_channels():
    x = torch.randn(3, 50, 33, 33)  # 150 planes: several channel chunks plus a remainder
    a = ecc_avg_pool(x, slope=0.32, deg2px=2)
    b = ecc_avg_pool(x, slope=0.32, deg2px=2, impl="reference")
    assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(x.abs().max()))
