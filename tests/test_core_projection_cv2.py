"""OpenCV CPU renderer (scanpath.core.projection_cv2): same maps and conventions as the torch path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.core import EquirectRenderer, equirect_to_perspective, pad_equirect, pad_equirect_hwc
from scanpath.core.projection_cv2 import pad_equirect_planes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
P41 = DATA / "salient360" / "stimuli" / "P41_2000x1000.jpg"
POSES = [(0.0, 0.0), (179.5, 30.0), (300.0, -85.0), (90.0, 89.0), (359.999, 10.0), (180.0, -90.0)]


def _smooth(H=64, W=128, C=3, seed=0) -> np.ndarray:
    """A smooth periodic panorama (low-frequency cosines), uint8 [H, W, C]."""
    rng = np.random.default_rng(seed)
    lon = (np.arange(W) + 0.5) / W * 2 * np.pi
    lat = (np.arange(H) + 0.5) / H * np.pi
    out = np.empty((H, W, C))
    for c in range(C):
        a, b = rng.integers(1, 4, 2)
        out[..., c] = 127.5 + 100 * np.cos(a * lon + c)[None, :] * np.sin(b * lat)[:, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("grid", ["hstar", "py360"])
@pytest.mark.parametrize("pole", ["flip", "wrap"])
def test_cv2_matches_torch_on_smooth_panorama(grid, pole):
    pano = _smooth()
    t = torch.from_numpy(pano).permute(2, 0, 1)[None].contiguous()
    yaw, pitch = zip(*POSES)
    ref = equirect_to_perspective(t.double(), yaw, pitch, 100.0, (36, 64), grid=grid, pole=pole)
    ours = equirect_to_perspective(t, yaw, pitch, 100.0, (36, 64), grid=grid, pole=pole, impl="cv2")
    assert ours.shape == ref.shape and ours.dtype == torch.uint8
    d = (ours.double() - ref).abs()
    # cv2: coordinates on a 1/32-px grid, 15-bit weights, integer rounding
    assert float(d.max()) <= 2.0 and float(d.mean()) < 0.3, (float(d.max()), float(d.mean()))
    f32 = equirect_to_perspective(t.float(), yaw, pitch, 100.0, (36, 64), grid=grid, pole=pole, impl="cv2")
    assert f32.dtype == torch.float32 and float((f32.double() - ref).abs().max()) < 1.0


def test_yaw_wraps_and_shift_is_exact_on_pixel_multiples():
    pano = _smooth(32, 96)
    r = EquirectRenderer(pano)
    base = r.render([0.0], [20.0], 90.0, (16, 24))
    for y in (360.0, -360.0, 720.0, 1e-9, -1e-9):
        assert np.array_equal(r.render([y], [20.0], 90.0, (16, 24)), base), y
    # a yaw that moves by whole source columns equals rolling the panorama the other way
    step = 360.0 / 96 * 7
    rolled = EquirectRenderer(np.roll(pano, -7, axis=1)).render([0.0], [20.0], 90.0, (16, 24))
    assert np.array_equal(r.render([step], [20.0], 90.0, (16, 24)), rolled)


def test_fixed_point_maps_agree_with_float_maps_and_cache_is_bounded():
    pano = _smooth(48, 96)
    yaw = np.linspace(0, 360, 11) + 0.37
    pitch = np.linspace(-80, 80, 11)
    fixed = EquirectRenderer(pano, cache_bytes=1 << 14)
    flt = EquirectRenderer(pano, fixed_point=False)
    a = fixed.render(yaw, pitch, 100.0, (20, 30))
    b = flt.render(yaw, pitch, 100.0, (20, 30))
    d = np.abs(a.astype(int) - b)  # cv2 rounds float maps a little differently from convertMaps
    assert d.max() <= 2 and d.mean() < 0.1, (d.max(), d.mean())
    assert fixed.cache.bytes <= 1 << 14 or len(fixed.cache) == 1
    assert fixed.cache is not flt.cache and flt.cache is EquirectRenderer(pano).cache  # the shared one
    assert np.array_equal(fixed.render(yaw, pitch, 100.0, (20, 30)), a)  # cache hits change nothing


def test_padded_tensor_batches_and_channels():
    pano = _smooth(32, 64, C=4)
    t = torch.from_numpy(pano).permute(2, 0, 1)[None].contiguous()
    direct = equirect_to_perspective(t, [33.0, 200.0], [-60.0, 5.0], 90.0, (8, 12), pole="wrap", impl="cv2")
    pre = equirect_to_perspective(pad_equirect(t, "wrap"), [33.0, 200.0], [-60.0, 5.0], 90.0, (8, 12),
                                  padded=True, impl="cv2")
    assert torch.equal(direct, pre) and direct.shape == (2, 4, 8, 12)
    two = torch.cat([t, t.flip(-1)])
    both = equirect_to_perspective(two, [33.0, 200.0], [-60.0, 5.0], 90.0, (8, 12), impl="cv2")
    one = equirect_to_perspective(two[1:], [200.0], [5.0], 90.0, (8, 12), impl="cv2")
    assert torch.equal(both[1:], one)
    grey = EquirectRenderer(pano[..., 0]).render([10.0], [0.0], 90.0, (8, 12))
    assert grey.shape == (1, 8, 12, 1)
    assert np.array_equal(grey[..., 0], EquirectRenderer(pano).render([10.0], [0.0], 90.0, (8, 12))[..., 0])


def test_pad_equirect_hwc_matches_tensor_padding():
    pano = _smooth(8, 10)
    t = torch.from_numpy(pano).permute(2, 0, 1)[None]
    for pole in ("flip", "wrap"):
        a = pad_equirect_hwc(pano, pole)
        b = pad_equirect(t, pole)[0].permute(1, 2, 0).numpy()
        assert a.shape == (10, 23, 3) and np.array_equal(a[:, :12], b)
        assert np.array_equal(a[:, 11:], a[:, 1:13])  # columns repeat with period W
        for c in (1, 3, 4, 5):
            planes = np.ascontiguousarray(np.resize(pano, (8, 10, c)).transpose(2, 0, 1))
            assert np.array_equal(pad_equirect_planes(planes, pole), pad_equirect_hwc(planes.transpose(1, 2, 0), pole))


def test_cv2_bad_input():
    with pytest.raises(ValueError, match="impl"):
        equirect_to_perspective(torch.zeros(1, 3, 8, 16, dtype=torch.uint8), [0.0], [0.0], impl="numba")
    with pytest.raises(ValueError, match="grad"):
        equirect_to_perspective(torch.zeros(1, 3, 8, 16, requires_grad=True), [0.0], [0.0], impl="cv2")
    with pytest.raises(ValueError, match="uint8/float32"):
        EquirectRenderer(np.zeros((8, 16, 3), np.int16))
    with pytest.raises(ValueError, match="grid"):
        EquirectRenderer(np.zeros((8, 16, 3), np.uint8)).render([0.0], [0.0], grid="cube")
    with pytest.raises(ValueError, match="differ"):
        EquirectRenderer(np.zeros((8, 16, 3), np.uint8)).render([0.0, 1.0], [0.0])


def _p41() -> np.ndarray:
    if not P41.exists():
        pytest.skip(f"Salient360 stimulus not available at {P41}")
    import cv2

    img = cv2.imread(str(P41))
    if img is None:
        pytest.skip(f"cannot decode {P41}")
    return np.ascontiguousarray(img[:, :, ::-1])


def test_cv2_py360_parity_on_photograph():
    """Same thresholds as the torch path's py360convert parity test (tests/test_core_projection.py)."""
    py360convert = pytest.importorskip("py360convert")
    img = _p41()
    r = EquirectRenderer(img)
    cases = [(180, 10), (315, -85), (45, 85), (0, 0), (271, 33)]
    views = r.render([c[0] for c in cases], [c[1] for c in cases], 100.0, (720, 1280), "py360", 67.673)
    for (yaw, pitch), ours in zip(cases, views):
        ref = py360convert.e2p(img, fov_deg=(100, 67.673), u_deg=((yaw + 180) % 360) - 180, v_deg=pitch,
                               out_hw=(720, 1280))
        d = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
        assert d.mean() <= 0.5 and np.percentile(d, 99) <= 2 and d.max() <= 8, (yaw, pitch, d.mean(), d.max())
        assert d.mean() <= 0.1  # same sampler as py360convert (measured 0.000-0.05; the torch path: 0.05-0.14)


def test_thread_pool_for_small_views_gives_the_same_views():
    import cv2

    pano = _smooth(64, 128)
    yaw, pitch = np.linspace(0, 350, 9), np.linspace(-70, 70, 9)
    old = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        seq = EquirectRenderer(pano).render(yaw, pitch, 90.0, (12, 20))
        cv2.setNumThreads(2)  # small views: spread over a pool of cv2.getNumThreads() workers
        par = EquirectRenderer(pano).render(yaw, pitch, 90.0, (12, 20))
    finally:
        cv2.setNumThreads(old)
    assert np.array_equal(seq, par)
