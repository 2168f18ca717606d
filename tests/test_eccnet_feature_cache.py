"""Cached features of the natural-image search (docs/eccnet.md §2.6.1): the window of the cached maps
equals the per-crop pass away from the crop edge, the cached search keeps the §2.6 invariants, object
layouts cut the target from the (resized) display, and the query limit of the leaderboard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scanpath.models.eccnet.feature_cache import TrialFeatures, window_taps
from scanpath.models.eccnet.natural import NaturalSearchParams, natural_search, window_hit
from scanpath.models.eccnet.torch_model import EccNet, EccNetConfig


def thin_net(config: EccNetConfig = EccNetConfig(), seed: int = 0) -> EccNet:
    from torchvision.models.vgg import make_layers

    torch.manual_seed(seed)
    return EccNet(config, features=make_layers([4, 4, "M", 6, 6, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"]))


def _canvas_crop(display: np.ndarray, top: int, left: int, side: int, bg: int) -> np.ndarray:
    H, W = display.shape[:2]
    pad = 2 * side
    canvas = np.full((H + 2 * pad, W + 2 * pad, 3), bg, np.uint8)
    canvas[pad:pad + H, pad:pad + W] = display
    return canvas[top + pad:top + pad + side, left + pad:left + pad + side]


@pytest.mark.parametrize("config", [EccNetConfig(), EccNetConfig(pool="max", eccentric=False)], ids=["eccnet", "ivsn"])
@pytest.mark.parametrize("gaze", [(60, 100), (30, 170)])
def test_window_equals_the_per_crop_pass_away_from_the_crop_edge(config, gaze):
    """eccNET caches relu3_3 and runs pools 3-4 / conv4-5 on the window; IVSN caches the whole stream.
    Away from the crop's edge (where the per-crop pass sees zero padding) the taps agree to float32
    rounding; near it they differ (the cached window sees the canvas)."""
    net = thin_net(config)
    rng = np.random.default_rng(1)
    H, W, bg = 120, 200, 0
    display = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    side = 2 * (H + 64)
    tf = TrialFeatures(net, display, bg)
    assert tf.eccentric == config.eccentric and tf.stride == (4 if config.eccentric else 16)
    g = tf.grid
    top, left = g.origin(g.cell(gaze[0] - side // 2)), g.origin(g.cell(gaze[1] - side // 2))
    assert abs(top - (gaze[0] - side // 2)) <= g.stride // 2 and abs(left - (gaze[1] - side // 2)) <= g.stride // 2
    crop = _canvas_crop(display, top, left, side, bg)
    with torch.inference_mode():
        ref = net.search_taps(net.preprocess(crop[None]))
        got = window_taps([tf], [(top, left)], side)
    edge = 8  # cells (stride 16) within a receptive field of the crop's edge
    differs = False
    for a, b in zip(ref, got):
        assert a.shape == b.shape
        scale = float(a.abs().max())
        np.testing.assert_allclose(b[..., edge:-edge, edge:-edge].numpy(), a[..., edge:-edge, edge:-edge].numpy(),
                                   atol=1e-5 * max(scale, 1.0), rtol=0)
        differs |= bool((a - b).abs().max() > 1e-3 * scale)
    assert differs  # the crop's edge is where the two definitions part


def test_cached_square_mode_search_keeps_the_invariants():
    """Fixations inside the display, never inside an earlier fixation's IOR square, the oracle (start
    included) stops the search; the model's threaded search gives the same for any worker count."""
    from scanpath.models.eccnet.module import parallel_natural_search

    rng = np.random.default_rng(0)
    H, W = 72, 96
    displays, targets, gts = [], [], []
    for i in range(3):
        d = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
        gt = np.zeros((H, W), bool)
        r, c = (4, 4) if i % 2 == 0 else (H - 16, W - 16)
        gt[r:r + 12, c:c + 12] = True
        displays.append(d)
        targets.append(np.ascontiguousarray(d[r:r + 12, c:c + 12]))
        gts.append(gt)
    p = NaturalSearchParams(num_fix=8, ior_size=16, oracle_size=8)
    assert p.cache_features
    for net in (thin_net(), thin_net(EccNetConfig(pool="max", eccentric=False))):
        res = parallel_natural_search(net, displays, targets, gts, p, workers=2)
        assert [r.fixations.tolist() for r in res] == \
            [r.fixations.tolist() for r in parallel_natural_search(net, displays, targets, gts, p, workers=1)]
        assert [r.fixations.tolist() for r in res] == \
            [natural_search(net, [d], [t], [g], p)[0].fixations.tolist() for d, t, g in zip(displays, targets, gts)]
        for i, r in enumerate(res):
            fx = r.fixations
            assert tuple(fx[0]) == (H // 2, W // 2) and fx.shape == (r.n_fix + 1, 2)
            assert (fx >= 0).all() and (fx[:, 0] <= H).all() and (fx[:, 1] <= W).all()
            hits = [window_hit(gts[i], *f, size=p.oracle_size) for f in fx]
            assert (r.found and hits[-1] and not any(hits[:-1])) or (not r.found and r.n_fix == p.num_fix)
            for k in range(1, len(fx)):
                for j in range(k):
                    assert not (abs(fx[k][0] - fx[j][0]) <= 7 and abs(fx[k][1] - fx[j][1]) <= 7), (i, j, k)


def test_object_layout_target_is_cut_from_the_resized_display():
    from scanpath.batch import collate_samples
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.models.eccnet.module import (EccNetSearchModel, _to_uint8_hwc, scale_image, target_box_mask,
                                               target_from_display)

    dm = SearchArraysDataModule(num_layouts=30, include_image=True)
    dm.setup()
    q = [dm.predict_dataloader().dataset[i] for i in range(2)]
    display = scale_image(_to_uint8_hwc(q[0]["image"]), 0.5)
    assert display.shape == (225, 418, 3)
    box = target_box_mask(q[0]["boxes"], int(q[0]["target_index"]), display.shape[:2], q[0]["image_size"])
    target = target_from_display(display, box)
    x0, y0, x1, y1 = q[0]["boxes"][int(q[0]["target_index"])].tolist()
    assert abs(target.shape[0] - (y1 - y0) / 2) <= 2 and abs(target.shape[1] - (x1 - x0) * 418 / 837) <= 2
    model = EccNetSearchModel("ivsn", weights="random", natural={"display_scale": 0.5, "num_fix": 3})
    out = model.predict_scanpaths(collate_samples(q)).to_list()
    for s in out:  # fixations come back in the 837 x 450 frame of the data
        assert s.image_size == (837, 450) and 1 <= len(s) <= 3
        assert (s.x >= 0).all() and (s.x <= 837 + 2).all() and (s.y <= 450 + 2).all()
    with pytest.raises(ValueError, match="display_scale"):
        EccNetSearchModel("ivsn", weights="random", natural={"display_scale": 0.5, "ior": "cells",
                                                             "cells": [[0, 0, 10, 10]]})


def test_limit_test_queries_keeps_the_first_keys_and_their_humans():
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.types import scanpath_key

    dm = SearchArraysDataModule(num_layouts=40, include_image=False)
    dm.setup()
    full = dm.query_samples("test")
    humans = dm.human_scanpaths("test")
    assert dm.limit_test_queries(2) == len(full) > 2
    keys = [scanpath_key(s["scanpath"], dm.eval_key) for s in full[:2]]
    assert [scanpath_key(s["scanpath"], dm.eval_key) for s in dm.query_samples("test")] == keys
    kept = dm.human_scanpaths("test")
    assert {scanpath_key(h, dm.eval_key) for h in kept} == set(keys)
    assert len(kept) == sum(scanpath_key(h, dm.eval_key) in keys for h in humans)
    assert len(dm.predict_dataloader().dataset) == 2 and len(dm.samples("train")) > 0
    dm.limit_test_queries(None)
    assert len(dm.query_samples("test")) == len(full)
    with pytest.raises(ValueError, match=">= 1"):
        dm.limit_test_queries(0)
