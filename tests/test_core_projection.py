"""Equirect → perspective (docs/humanoid360.md §2.1, §7 items 1-3) and the inverse pixel/direction maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.core import (
    default_vfov,
    direction_to_equirect_pixel,
    direction_to_view_pixel,
    equirect_pixel_to_direction,
    equirect_to_perspective,
    equirect_to_perspective_cv2,
    pad_equirect,
    view_maps,
    view_pixel_to_direction,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
P41 = DATA / "salient360" / "stimuli" / "P41_2000x1000.jpg"


def _p41() -> np.ndarray:
    if not P41.exists():
        pytest.skip(f"Salient360 stimulus not available at {P41}")
    import cv2

    img = cv2.imread(str(P41))
    if img is None:
        pytest.skip(f"cannot decode {P41}")
    return np.ascontiguousarray(img[:, :, ::-1])


def test_default_vfov_16_9():
    assert default_vfov(100, (720, 1280)) == pytest.approx(67.673, abs=1e-3)


def test_centre_pixel_hstar():
    # P41 is 2000x1000; only its size matters for the map
    mx, my = view_maps([30.0], [10.0], (720, 1280), (1000, 2000))
    assert abs(float(mx[0, 360, 640]) - 1166.6666667) < 1e-4
    assert abs(float(my[0, 360, 640]) - 444.4444444) < 1e-4


def test_conventions_yaw_right_pitch_up():
    H, W = 64, 128
    mx0, my0 = view_maps([0.0], [0.0], (9, 16), (H, W))
    mxr, _ = view_maps([90.0], [0.0], (9, 16), (H, W))
    _, myu = view_maps([0.0], [30.0], (9, 16), (H, W))
    assert float(mx0[0, 4, 8]) == pytest.approx(W / 2)  # yaw 0 = centre column
    assert float(mxr[0, 4, 8]) == pytest.approx(W * 3 / 4)  # +yaw turns right
    assert float(myu[0, 4, 8]) < float(my0[0, 4, 8])  # +pitch looks up (smaller row)
    # yaw is taken mod 360
    a = view_maps([370.0], [5.0], (9, 16), (H, W))[0]
    b = view_maps([10.0], [5.0], (9, 16), (H, W))[0]
    assert torch.allclose(a, b, atol=1e-9)


def test_constant_panorama_and_batching():
    pano = torch.full((1, 3, 32, 64), 0.25)
    out = equirect_to_perspective(pano, torch.tensor([0.0, 100.0, 200.0]), torch.tensor([0.0, 89.0, -90.0]),
                                  90.0, (12, 20))
    assert out.shape == (3, 3, 12, 20) and torch.allclose(out, torch.full_like(out, 0.25))
    # B == V: one view per panorama equals rendering each separately
    panos = torch.rand(2, 3, 32, 64)
    both = equirect_to_perspective(panos, [10.0, 250.0], [5.0, -20.0], 90.0, (12, 20))
    one = equirect_to_perspective(panos[1:], [250.0], [-20.0], 90.0, (12, 20))
    assert torch.allclose(both[1:], one, atol=1e-6)
    shared = equirect_to_perspective(panos[:1], [10.0, 250.0], [5.0, -20.0], 90.0, (12, 20))
    sep = equirect_to_perspective(panos[:1], [250.0], [-20.0], 90.0, (12, 20))
    assert torch.allclose(shared[1:], sep, atol=1e-6)


def test_seam_is_continuous():
    """A horizontal ramp that is periodic across the seam: the view at yaw 180 is smooth."""
    W, H = 256, 128
    lon = (torch.arange(W) + 0.5) / W * 2 * np.pi
    pano = (torch.cos(lon)[None, None, None, :].expand(1, 1, H, W) + 1).contiguous().double()
    out = equirect_to_perspective(pano, [180.0], [0.0], 60.0, (20, 40))[0, 0]
    assert float(out.diff(dim=-1).abs().max()) < 0.05
    assert float(out[10, 20]) == pytest.approx(2.0, abs=2e-3)  # the seam: cos(0) + 1


@pytest.mark.parametrize("pole", ["flip", "wrap"])
@pytest.mark.parametrize("cl", [False, True])
def test_pad_equirect(pole, cl):
    p = torch.arange(2 * 3 * 4 * 6, dtype=torch.int16).reshape(2, 3, 4, 6)
    q = pad_equirect(p, pole, dtype=torch.float32, channels_last=cl)
    assert q.dtype == torch.float32
    p = p.float()
    assert q.shape == (2, 3, 6, 8)
    assert torch.equal(q[..., 1:-1, 1:-1], p)
    assert torch.equal(q[..., :, 0], q[..., :, -2]) and torch.equal(q[..., :, -1], q[..., :, 1])
    if pole == "flip":
        assert torch.equal(q[..., 0, 1:-1], torch.roll(p[..., 0, :], 3, dims=-1))
    else:
        assert torch.equal(q[..., 0, 1:-1], p[..., -1, :])


def test_uint8_roundtrip_dtype_and_prepadded():
    pano = (torch.rand(1, 3, 32, 64) * 255).to(torch.uint8)
    out = equirect_to_perspective(pano, [0.0, 33.0], [0.0, -60.0], 90.0, (8, 8))
    ref = equirect_to_perspective(pano.float(), [0.0, 33.0], [0.0, -60.0], 90.0, (8, 8)).round()
    assert out.dtype == torch.uint8 and torch.equal(out.float(), ref)
    pre = equirect_to_perspective(pad_equirect(pano, "wrap"), [33.0], [-60.0], 90.0, (8, 8), padded=True)
    direct = equirect_to_perspective(pano, [33.0], [-60.0], 90.0, (8, 8), pole="wrap")
    assert torch.equal(pre, direct)


@pytest.mark.parametrize("grid", ["hstar", "py360"])
def test_torch_matches_cv2_remap_reference(grid):
    rng = np.random.default_rng(0)
    pano = rng.random((100, 200, 3), dtype=np.float32)
    for yaw, pitch in [(0, 0), (179, 30), (300, -85), (90, 89)]:
        ref = equirect_to_perspective_cv2(pano, yaw, pitch, 100.0, (45, 80), grid=grid)
        t = torch.from_numpy(pano).permute(2, 0, 1)[None]
        ours = equirect_to_perspective(t, [yaw], [pitch], 100.0, (45, 80), grid=grid)[0].permute(1, 2, 0).numpy()
        # cv2 quantises interpolation weights to 1/32 px
        assert np.abs(ours - ref).max() < 0.04 and np.abs(ours - ref).mean() < 4e-3


def _py360_case(img, yaw, pitch):
    import py360convert

    ref = py360convert.e2p(img, fov_deg=(100, 67.673), u_deg=((yaw + 180) % 360) - 180, v_deg=pitch,
                           out_hw=(720, 1280))
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = equirect_to_perspective(t, [yaw], [pitch], 100.0, (720, 1280), grid="py360", pole="flip",
                                   vfov_deg=67.673)[0].permute(1, 2, 0).numpy()
    d = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
    return float(d.mean()), float(np.percentile(d, 99)), int(d.max())


def _check_py360(img, cases):
    pytest.importorskip("py360convert")
    for yaw, pitch in cases:
        mean, p99, mx = _py360_case(img, yaw, pitch)
        assert mean <= 0.5 and p99 <= 2 and mx <= 8, (yaw, pitch, mean, p99, mx)


def test_py360_parity_fast():
    img = _p41()
    _check_py360(img, [(180, 10), (315, -85), (45, 85)])  # seam at 180, both poles


@pytest.mark.slow
def test_py360_parity_full_sweep():
    img = _p41()
    _check_py360(img, [(y, p) for y in range(0, 360, 45) for p in (85, 45, 10, 0, -10, -45, -85)])


def test_py360_sampling_coordinates():
    """py360convert's own utils chain agrees with our py360-grid maps within 0.01 px (mod W)."""
    pytest.importorskip("py360convert")
    from py360convert import utils

    H, W = 1000, 2000
    for yaw, pitch in [(0, 0), (200, 45), (315, -85)]:
        u = -np.deg2rad(((yaw + 180) % 360) - 180)
        xyz = utils.xyzpers(np.deg2rad(100), np.deg2rad(67.673), u, np.deg2rad(pitch), (72, 128), 0)
        uu, vv = utils.xyz2uv(xyz)
        cx, cy = utils.uv2coor(uu, vv, H, W)
        mx, my = view_maps([yaw], [pitch], (72, 128), (H, W), 100.0, 67.673, grid="py360")
        dx = np.abs(((mx[0].numpy() - cx[..., 0]) + W / 2) % W - W / 2)
        assert dx.max() < 0.01 and np.abs(my[0].numpy() - cy[..., 0]).max() < 0.01


def test_hstar_differs_from_py360_by_a_few_levels():
    img = _p41()
    pytest.importorskip("py360convert")
    import py360convert

    ref = py360convert.e2p(img, fov_deg=(100, 67.673), u_deg=30, v_deg=10, out_hw=(720, 1280))
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = equirect_to_perspective(t, [30.0], [10.0], 100.0, (720, 1280))[0].permute(1, 2, 0).numpy()
    d = np.abs(ours.astype(np.int32) - ref.astype(np.int32)).mean()
    assert 0.5 < d < 8.0


@pytest.mark.parametrize("grid", ["hstar", "py360"])
def test_view_pixel_direction_roundtrip(grid):
    g = torch.Generator().manual_seed(0)
    uv = torch.rand(50, 2, generator=g, dtype=torch.float64) * torch.tensor([1279.0, 719.0])
    yaw, pitch = 123.0, -35.0
    d = view_pixel_to_direction(uv, yaw, pitch, grid=grid)
    back, inside = direction_to_view_pixel(d, yaw, pitch, grid=grid)
    assert inside.all() and torch.allclose(back, uv, atol=1e-8)
    # consistent with the sampling maps: the direction of a view pixel hits the same panorama pixel
    H, W = 1000, 2000
    mx, my = view_maps([yaw], [pitch], (720, 1280), (H, W), grid=grid)
    px = direction_to_equirect_pixel(d, (H, W), grid=grid)
    iu, iv = uv[:5].round().long().T
    d5 = view_pixel_to_direction(torch.stack([iu, iv], -1).double(), yaw, pitch, grid=grid)
    p5 = direction_to_equirect_pixel(d5, (H, W), grid=grid)
    assert torch.allclose(p5[:, 0] % W, mx[0, iv, iu] % W, atol=1e-6)
    assert torch.allclose(p5[:, 1], my[0, iv, iu], atol=1e-6)
    assert torch.allclose(equirect_pixel_to_direction(px, (H, W), grid=grid), d, atol=1e-9)


def test_centre_pixel_direction_and_behind_camera():
    d = view_pixel_to_direction(torch.tensor([640.0, 360.0]), 30.0, 10.0)
    assert torch.allclose(d, torch.tensor([30.0, 10.0], dtype=torch.float64), atol=1e-9)
    _, inside = direction_to_view_pixel(torch.tensor([[210.0, 0.0], [30.0, 10.0]]), 30.0, 10.0)
    assert inside.tolist() == [False, True]


def test_bad_input():
    with pytest.raises(ValueError, match="grid"):
        equirect_to_perspective(torch.rand(1, 3, 8, 16), [0.0], [0.0], grid="cube")
    with pytest.raises(ValueError, match="views"):
        equirect_to_perspective(torch.rand(2, 3, 8, 16), [0.0, 1.0, 2.0], [0.0, 0.0, 0.0], out_hw=(4, 4))


@pytest.mark.gpu
def test_gpu_matches_cpu_float64():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pano = torch.rand(1, 3, 512, 1024)
    cpu = equirect_to_perspective(pano.double(), [30.0, 300.0], [10.0, -80.0], 100.0, (180, 320))
    gpu = equirect_to_perspective(pano.cuda(), [30.0, 300.0], [10.0, -80.0], 100.0, (180, 320)).cpu()
    assert float((gpu.double() - cpu).abs().max()) < 2e-3
