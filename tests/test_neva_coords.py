"""NeVA coordinate mapping (docs/nevaclip.md §2.4, checklist items 4, 5, 9 geometry part)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from scanpath.core.coords import (
    compute_geometry,
    fixable_region,
    norm_to_pixels,
    pixels_to_norm,
    preprocess_pil,
    preprocess_tensor,
)


def test_crop_mode_reference_values():
    g = compute_geometry(1024, 768, 224, "shortest")
    assert (g.Wp, g.Hp, g.ox, g.oy) == (298, 224, 37, 0)
    cases = {(0.0, 0.0): (512.0, 384.0), (-1.0, -1.0): (128.86, 1.71), (1.0, 1.0): (895.14, 766.29)}
    for u, want in cases.items():
        got = norm_to_pixels(torch.tensor(u, dtype=torch.float64), g)
        assert got.tolist() == pytest.approx(list(want), abs=0.005)
    x0, _, x1, _ = fixable_region(g)
    assert (x0, x1) == pytest.approx((128.86, 895.14), abs=0.005)  # example in docs/nevaclip.md §2.4 (Q3)


def test_letterbox_centre_and_full_reach():
    g = compute_geometry(1024, 768, 224, "longest")
    assert norm_to_pixels(torch.zeros(2, dtype=torch.float64), g).tolist() == pytest.approx([512.0, 384.0])
    # letterbox: the corners of the padded square lie outside the image, so the whole image is reachable
    x0, y0, x1, y1 = fixable_region(g)
    assert x0 < 0 + 3 and y0 < 0 and x1 > 1024 - 3 and y1 > 768


@pytest.mark.parametrize("mode", ["shortest", "longest"])
@pytest.mark.parametrize("size", [(1024, 768), (405, 1024), (333, 257), (640, 640)])
def test_round_trip_batched(mode, size):
    gen = torch.Generator().manual_seed(0)
    g = compute_geometry(*size, 224, mode)
    geo = torch.stack([g.as_tensor(), compute_geometry(500, 300, 224, mode).as_tensor()])
    u = torch.rand(2, 10, 2, generator=gen, dtype=torch.float64) * 2 - 1
    px = norm_to_pixels(u, geo, clamp=False)
    back = pixels_to_norm(px, geo)
    assert torch.allclose(back, u, atol=1e-12)
    # the other way: original pixels → u → pixels, < 1e-4 px
    xy = torch.rand(2, 10, 2, generator=gen, dtype=torch.float64) * torch.tensor([300.0, 200.0])
    assert (norm_to_pixels(pixels_to_norm(xy, geo), geo, clamp=False) - xy).abs().max() < 1e-4


def test_clamped_output_stays_in_image():
    g = compute_geometry(1024, 768, 224, "longest")
    u = torch.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=torch.float64)
    px = norm_to_pixels(u, g)
    raw = norm_to_pixels(u, g, clamp=False)
    assert px.min() >= 0 and px[:, 0].max() <= 1024 and px[:, 1].max() <= 768
    assert raw.min() < 0 and raw[:, 0].max() > 1024


@pytest.mark.parametrize("mode", ["shortest", "longest"])
@pytest.mark.parametrize("size", [(1024, 768), (405, 1024), (333, 257)])
def test_preprocess_matches_open_clip(mode, size):
    from open_clip.transform import image_transform

    arr = (np.random.default_rng(1).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    im = Image.fromarray(arr)
    ref = image_transform(224, False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize_mode=mode)(im)
    ours, geom = preprocess_pil(im, 224, mode)
    assert ours.shape == (3, 224, 224)
    assert torch.equal(ours, ref)
    assert geom == compute_geometry(*size, 224, mode)


@pytest.mark.parametrize("mode", ["shortest", "longest"])
def test_bright_square_argmax_maps_back(mode):
    """docs/nevaclip.md §7 item 5: a bright 9×9 square at (700, 200) maps back within 4 px after preprocessing."""
    arr = np.zeros((768, 1024, 3), dtype=np.uint8)
    arr[200 - 4 : 200 + 5, 700 - 4 : 700 + 5] = 255
    x, geom = preprocess_pil(Image.fromarray(arr), 224, mode)
    m = x.sum(0)
    r, c = divmod(int(m.argmax()), m.shape[1])
    u = torch.tensor([-1 + 2 * r / 223, -1 + 2 * c / 223], dtype=torch.float64)
    X, Y = norm_to_pixels(u, geom).tolist()
    assert abs(X - 700.5) <= 4 and abs(Y - 200.5) <= 4


def test_known_point_round_trip_through_crop_frame_within_1px():
    """Issue evidence: a known original point → crop frame pixel (rounded) → back, within 1 px."""
    g = compute_geometry(1024, 768, 224, "shortest")
    xy = torch.tensor([[600.0, 300.0], [300.3, 700.9]], dtype=torch.float64)
    u = pixels_to_norm(xy, g)
    pix = torch.round((u + 1) * 223 / 2)  # nearest model-input pixel (row, col)
    back = norm_to_pixels(-1 + 2 * pix / 223, g)
    assert (back - xy).abs().max() <= 1.0 * 1024 / 298 / 2 + 1e-9  # half a resized pixel, in original px
    assert (back - xy).abs().max() < 2.0


def test_preprocess_tensor_close_to_pil():
    arr = (np.random.default_rng(2).random((300, 500, 3)) * 255).astype(np.uint8)
    ref, g1 = preprocess_pil(Image.fromarray(arr), 64, "longest")
    ours, g2 = preprocess_tensor(torch.from_numpy(arr).permute(2, 0, 1).float() / 255, 64, "longest")
    assert g1 == g2 and ours.shape == ref.shape
    assert (ours - ref).abs().mean() < 0.02


def test_bad_mode_raises():
    with pytest.raises(ValueError, match="resize_mode"):
        compute_geometry(10, 10, 224, "stretch")
