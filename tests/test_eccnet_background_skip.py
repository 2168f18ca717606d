"""Background skipping in the eccNET search stream equals the dense trunk (docs/eccnet.md §2.1-2.4:
same function, fewer FLOPs) and leaves every search decision unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.vgg import make_layers

from scanpath.models.eccnet.natural import NaturalSearchParams, natural_search
from scanpath.models.eccnet.search import SearchParams, eccnet_search
from scanpath.models.eccnet.torch_model import EccNet, EccNetConfig
from scanpath.stimuli.asymmetry import EXPERIMENTS, make_trial

THIN = [4, 4, "M", 6, 6, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"]
CONFIGS = {"eccnet": EccNetConfig(), "ivsn": EccNetConfig(pool="max", eccentric=False),
           "noecc_avg": EccNetConfig(pool="avg", eccentric=False)}


def _net(config: EccNetConfig, thin: bool = True, seed: int = 0) -> EccNet:
    torch.manual_seed(seed)
    return EccNet(config, features=make_layers(THIN) if thin else None, weights=None)


def _crops(S: int, boxes, bg: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.full((len(boxes), S, S, 3), bg, np.uint8)
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        rr0, cc0 = max(r0, 0), max(c0, 0)
        out[i, rr0:min(r1, S), cc0:min(c1, S)] = rng.integers(0, 256, (min(r1, S) - rr0, min(c1, S) - cc0, 3))
    return out


def _assert_same(dense, skip, tol: float = 1e-5):
    for a, b in zip(dense, skip):
        assert a.shape == b.shape
        scale = max(1.0, float(a.abs().max()))
        assert float((a - b).abs().max()) <= tol * scale


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("S,boxes", [
    (806, [(234, 573, 234, 573), (64, 403, 300, 639), (403, 742, 64, 403)]),   # exp1 crops, three gazes
    (524, [(64, 262, 64, 262)]),                                                # exp2, gaze at a corner
    (1358, [(372, 987, 372, 987), (64, 679, 500, 1115)]),                      # exp3/4 crops
    (400, [(10, 200, -150, 380)]),                                              # wider than the crop (natural)
])
def test_skip_equals_dense_thin(name, S, boxes):
    net = _net(CONFIGS[name])
    x = net.preprocess(_crops(S, boxes, bg=27))
    with torch.inference_mode():
        _assert_same(net.search_taps(x), net.search_taps(x, boxes, 27))


def test_skip_equals_dense_full_vgg16():
    net = _net(CONFIGS["eccnet"], thin=False)
    boxes = [(64, 124, 64, 124), (90, 150, 70, 130)]
    x = net.preprocess(_crops(248, boxes, bg=255, seed=1))
    with torch.inference_mode():
        _assert_same(net.search_taps(x), net.search_taps(x, boxes, 255))


def test_skip_needs_the_background_value():
    net = _net(CONFIGS["ivsn"])
    with pytest.raises(ValueError, match="background"):
        net.search_taps(torch.zeros(1, 3, 64, 64), [(0, 8, 0, 8)])


def test_search_decisions_unchanged():
    spec = EXPERIMENTS["exp2"]
    trials = [make_trial("top_down", i) for i in (40, 70, 85)]
    params = SearchParams(num_fix=6, bg=spec.bg, dog=spec.dog)
    net = _net(CONFIGS["eccnet"], seed=3)
    dense = eccnet_search(net, trials, params, batch_size=2, skip_background=False)
    skip = eccnet_search(net, trials, params, batch_size=2, skip_background=True)
    for a, b in zip(dense, skip):
        np.testing.assert_array_equal(a.fixations, b.fixations)
        assert a.found == b.found
    rng = np.random.default_rng(0)
    displays = [rng.integers(0, 256, (48, 80, 3)).astype(np.uint8) for _ in range(2)]
    targets = [d[5:17, 5:17].copy() for d in displays]
    gts = [np.zeros((48, 80), bool) for _ in displays]
    p = NaturalSearchParams(num_fix=5, ior_size=12, oracle_size=6)
    dense = natural_search(net, displays, targets, gts, p, skip_background=False)
    skip = natural_search(net, displays, targets, gts, p, skip_background=True)
    for a, b in zip(dense, skip):
        np.testing.assert_array_equal(a.fixations, b.fixations)
