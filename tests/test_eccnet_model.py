"""eccNET / IVSN network: shapes, pool layout, one-pass vs ring-by-ring pooling, attention, DoG (§7)."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from scanpath.core import ecc_kernel_map
from scanpath.models.eccnet.module import VARIANTS, EccNetSearchModel
from scanpath.models.eccnet.search import combine_layers, dog_sharpen
from scanpath.models.eccnet.torch_model import EccNet, EccNetConfig, EccPool, SamePool, vgg16_features_random


@pytest.fixture(scope="module")
def vgg_features() -> nn.Sequential:
    torch.manual_seed(0)
    return vgg16_features_random()


def tiny_features(seed: int = 0) -> nn.Sequential:
    """VGG16-shaped stack (same layer indices and geometry) with few channels: fast CPU tests."""
    from torchvision.models.vgg import make_layers

    torch.manual_seed(seed)
    return make_layers([4, 4, "M", 6, 6, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"])


def test_search_and_target_shapes(vgg_features):
    net = EccNet(features=vgg_features)
    sizes: dict[int, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: sizes.__setitem__(k, tuple(i[0].shape[-2:])))
             for k, m in enumerate(net.features) if isinstance(m, EccPool)]
    meta = EccNet(features=copy.deepcopy(vgg_features)).to("meta")  # shape inference only: no 806-px compute in tests
    with torch.inference_mode():
        taps = meta.search_taps(torch.empty(1, 3, 806, 806, device="meta"))
    assert [tuple(t.shape) for t in taps] == [(1, 256, 51, 51), (1, 512, 51, 51), (1, 512, 51, 51)]
    with torch.inference_mode():
        for side, out in ((48, 2), (31, 1), (69, 3), (177, 6)):
            x = net.preprocess(torch.randint(0, 256, (2, side, side), dtype=torch.uint8))
            tt = net.target_taps(x)
            assert [tuple(t.shape) for t in tt] == [(2, 256, out, out), (2, 512, out, out), (2, 512, out, out)]
            assert all(torch.isfinite(t).all() for t in tt)
    for h in hooks:
        h.remove()
    assert sizes  # pools 1-3 at least ran on real inputs


def test_pool_layout_per_variant(vgg_features):
    ecc = EccNet(features=vgg_features)
    pools = [ecc.features[i] for i in (4, 9, 16, 23, 30)]
    assert all(isinstance(p, EccPool) for p in pools)
    assert [p.slope for p in pools] == pytest.approx([0, 0, 0.07, 0.16, 0.32])
    assert [p.deg2px for p in pools] == [30, 15, 8, 4, 2]
    ivsn = EccNet(EccNetConfig(pool="max", eccentric=False), features=vgg_features)
    assert not any(isinstance(m, EccPool) for m in ivsn.features)
    assert all(isinstance(ivsn.features[i], SamePool) and ivsn.features[i].kind == "max" for i in (4, 9, 16, 23, 30))
    assert ivsn.q.kind == "max"
    assert VARIANTS["ivsn"]["layer_mask"] == (0, 0, 1) and VARIANTS["eccnet_top_only"]["layer_mask"] == (0, 0, 1)
    assert VARIANTS["eccnet_noecc"]["pool"] == "max" and VARIANTS["eccnet_noecc_avg"]["pool"] == "avg"
    # the shared features stack is never mutated by building another variant (upstream quirk 6)
    assert isinstance(vgg_features[4], nn.MaxPool2d)
    with pytest.raises(ValueError):
        EccNetConfig(pool="max", eccentric=True)


def test_ring_table_at_806_crop():
    # search stream of an 806-px crop: pool3 sees 202 px, pool4 101 px; pool5 (target stream) 51 px
    g3 = ecc_kernel_map(202, 0.07, 8)
    g4 = ecc_kernel_map(101, 0.16, 4)
    g5 = ecc_kernel_map(51, 0.32, 2)
    assert g3.kernel_sizes == [2, 3, 3, 4, 4, 5, 5, 6, 6, 7]
    assert g4.kernel_sizes == [2, 3, 3, 4, 5, 5, 6, 6, 7, 8] == g5.kernel_sizes
    assert (g3.center[0], g3.F, g3.q) == (50, 16, 4) and (g4.center[0], g4.F, g4.q) == (25, 8, 2)
    assert (g5.center[0], g5.F, g5.q) == (13, 4, 1)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def test_one_pass_network_equals_ring_by_ring_network(vgg_features):
    # 256-px crop: pool3 (64 -> 32 px) and pool4 (32 -> 16 px) have real rings, so the paths differ
    assert not ecc_kernel_map(64, 0.07, 8).uniform and not ecc_kernel_map(32, 0.16, 4).uniform
    assert not ecc_kernel_map(16, 0.32, 2).uniform
    torch.manual_seed(1)
    sat = EccNet(features=vgg_features)
    ref = sat.with_pool_impl("reference")
    assert all(m.impl == "reference" for m in ref.features if isinstance(m, EccPool))
    x = sat.preprocess(torch.randint(0, 256, (1, 256, 256), dtype=torch.uint8))
    with torch.inference_mode():
        for a, b in zip(sat.search_taps(x), ref.search_taps(x)):
            assert _rel(a, b) <= 1e-5
    # both streams (pool5 too) in float32 and float64 through a VGG16-shaped thin stack
    sat32 = EccNet(features=tiny_features())
    ref32 = sat32.with_pool_impl("reference")
    x32 = torch.randn(3, 3, 256, 256)
    with torch.inference_mode():
        for a, b in zip(sat32.search_taps(x32) + sat32.target_taps(x32), ref32.search_taps(x32) + ref32.target_taps(x32)):
            assert _rel(a, b) <= 1e-5
    sat64 = EccNet(features=tiny_features()).double()
    ref64 = sat64.with_pool_impl("reference").double()
    x64 = torch.randn(3, 3, 256, 256, dtype=torch.float64)
    with torch.inference_mode():
        for a, b in zip(sat64.search_taps(x64) + sat64.target_taps(x64), ref64.search_taps(x64) + ref64.target_taps(x64)):
            assert _rel(a, b) <= 1e-9


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_attention_batched_equals_per_trial_conv():
    net = EccNet(features=tiny_features())
    s = [torch.rand(3, 8, 13, 13) for _ in range(3)]
    t = [torch.rand(3, 8, k, k) for k in (2, 2, 2)]
    a = net.attention(s, t)
    assert a.shape == (3, 3, 13, 13)
    for b in range(3):
        for layer in range(3):
            want = torch.nn.functional.conv2d(s[layer][b:b + 1], t[layer][b:b + 1], padding="same")[0, 0]
            torch.testing.assert_close(a[b, layer], want)


def test_dog_uses_opencv_fixed_kernel_and_combine_rules():
    imp = np.zeros((9, 9), np.float32)
    imp[4, 4] = 1.0
    k3 = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])
    g3 = cv2.GaussianBlur(imp, (3, 3), 0)
    np.testing.assert_allclose(g3[3:6, 3:6], k3, atol=1e-7)
    k5 = cv2.getGaussianKernel(5, 1.0)
    want = imp + g3 - cv2.filter2D(imp, -1, (k5 @ k5.T).astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(dog_sharpen(imp, ((3, 0.0), (5, 1.0)), times=1), want, atol=1e-6)
    maps = np.stack([np.zeros((5, 5), np.float32), np.arange(25, dtype=np.float32).reshape(5, 5),
                     np.full((5, 5), 3.0, np.float32)])
    out = combine_layers(maps, (1, 1, 1), "nl")  # w = (0, 24, 3)/27; constant map normalises to 0
    np.testing.assert_allclose(out, (24 / 27) * np.arange(25).reshape(5, 5) / 24, atol=1e-6)
    zero = combine_layers(np.zeros((3, 4, 4), np.float32), (0, 0, 1), "nl")  # sum 0: uniform fallback, no NaN
    assert np.isfinite(zero).all()
    only_top = combine_layers(maps, (0, 0, 1), "l")
    assert np.all(only_top == 0)  # the top map is constant


def test_module_is_lazy_and_flags():
    m = EccNetSearchModel("eccnet", weights="IMAGENET1K_V1")  # nothing is downloaded at construction
    assert m._net is None and m.display_name == "eccnet"
    u = EccNetSearchModel("chance", upstream=True)
    assert u.last_fix_as_miss and u.baseline_bugs and u.lighting_gt_jitter and u.jpeg_quality == 95
    assert EccNetSearchModel("ivsn").layer_mask == (0, 0, 1)
    with pytest.raises(ValueError, match="unknown eccNET variant"):
        EccNetSearchModel("nope")
