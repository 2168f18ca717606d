"""Fixation-map, conditional and search-efficiency metrics vs straightforward numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from scanpath.metrics import conditional, maps, search
from scanpath.metrics.classes import ConditionalSaliency


@pytest.fixture()
def rnd():
    rng = np.random.default_rng(0)
    sal = rng.random((30, 40))
    fix = np.column_stack([rng.uniform(0, 40, 25), rng.uniform(0, 30, 25)])
    return rng, sal, fix


def test_nss_reference(rnd):
    _, sal, fix = rnd
    z = (sal - sal.mean()) / sal.std(ddof=1)
    ref = np.mean([z[int(y), int(x)] for x, y in fix])
    assert maps.nss(sal, fix) == pytest.approx(ref, abs=1e-12)
    z0 = (sal - sal.mean()) / sal.std()
    assert maps.nss(sal, fix, ddof=0) == pytest.approx(np.mean([z0[int(y), int(x)] for x, y in fix]), abs=1e-12)
    assert maps.nss(np.ones((5, 5)), np.array([[1.0, 1.0]])) == 0.0  # σ = 0 -> 1


def test_auc_judd_reference(rnd):
    _, sal, fix = rnd
    s = np.array([sal[int(y), int(x)] for x, y in fix])
    thr = np.sort(s)[::-1]
    nf, npix = len(s), sal.size
    tp = [0.0] + [(i + 1) / nf for i in range(nf)] + [1.0]
    fp = [0.0] + [((sal >= t).sum() - (i + 1)) / (npix - nf) for i, t in enumerate(thr)] + [1.0]
    ref = sum((fp[k + 1] - fp[k]) * (tp[k + 1] + tp[k]) / 2 for k in range(len(tp) - 1))
    assert maps.auc_judd(sal, fix) == pytest.approx(ref, abs=1e-12)
    # a map peaked exactly at the fixations is near-perfect; its negation is near 0
    peaked = np.zeros_like(sal)
    for x, y in fix:
        peaked[int(y), int(x)] = 1.0
    assert maps.auc_judd(peaked, fix) > 0.98


def test_cc_kld_sim_ig_reference(rnd):
    rng, sal, fix = rnd
    q = rng.random(sal.shape)
    assert maps.cc(sal, q) == pytest.approx(np.corrcoef(sal.ravel(), q.ravel())[0, 1], abs=1e-12)
    P, Q = sal / sal.sum(), q / q.sum()
    eps = 2.2204e-16
    assert maps.kld(sal, q) == pytest.approx(np.sum(Q * np.log(eps + Q / (P + eps))), abs=1e-12)
    mm = lambda a: (a - a.min()) / (a.max() - a.min())  # noqa: E731
    ps, qs = mm(sal) / mm(sal).sum(), mm(q) / mm(q).sum()
    assert maps.sim(sal, q) == pytest.approx(np.minimum(ps, qs).sum(), abs=1e-12)
    assert maps.sim(sal, sal) == pytest.approx(1.0)
    ig_ref = np.mean([np.log2(eps + P[int(y), int(x)]) - np.log2(eps + Q[int(y), int(x)]) for x, y in fix])
    assert maps.info_gain(sal, q, fix) == pytest.approx(ig_ref, abs=1e-12)
    assert maps.info_gain(sal, sal, fix) == 0.0


def test_auc_borji_and_shuffled_behave(rnd):
    rng, sal, fix = rnd
    peaked = np.zeros_like(sal)
    for x, y in fix:
        peaked[int(y), int(x)] = 1.0
    assert maps.auc_borji(peaked, fix, n_splits=20) > 0.9
    assert maps.auc_borji(peaked, fix, n_splits=20, seed=1) == maps.auc_borji(peaked, fix, n_splits=20, seed=1)
    # shuffled AUC with negatives = the same fixations is chance
    assert maps.auc_shuffled(peaked, fix, fix, n_splits=20) == pytest.approx(0.5, abs=0.1)


def test_density_map_matches_gaussian_filter():
    fix = np.array([[10.2, 5.7], [10.9, 5.1], [30.0, 20.0]])
    d = maps.density_map(fix, (40, 50), sigma=4)
    c = np.zeros((40, 50))
    c[5, 10] += 2
    c[20, 30] += 1
    ref = gaussian_filter(c, 4, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(d, ref / ref.sum(), atol=1e-15)
    assert d.sum() == pytest.approx(1.0)


# ------------------------------------------------------------------------------ conditional
def test_conditional_checklist():
    h, w = 32, 48
    xy = np.array([[10.0, 7.0], [40.0, 30.0]])
    uniform = np.full((2, h, w), 1.0 / (h * w))
    assert np.allclose(conditional.cnss(uniform, xy), 0.0)
    # uniform: fp = (HW − 1)/(HW − 1) = 1 -> cAUC = 0.5
    np.testing.assert_allclose(conditional.cauc(uniform, xy), 0.5)
    onehot = np.zeros((2, h, w))
    onehot[0, 7, 10] = 1
    onehot[1, 30, 40] = 1
    np.testing.assert_allclose(conditional.cauc(onehot, xy), 1.0)
    prior = np.random.default_rng(0).random((h, w))
    prior /= prior.sum()
    np.testing.assert_allclose(conditional.cig(np.stack([prior, prior]), xy, prior), 0.0)
    m = ConditionalSaliency()
    m.update(uniform, xy, prior)
    m.update(onehot, xy, prior)
    r = m.compute()
    assert r["n"] == 4 and r["values"]["cauc"] == pytest.approx(0.75)


def test_task_prior_is_sigma24_gaussian():
    h, w = 320, 512
    prior = conditional.task_prior([np.array([[0.0, 0.0], [256.0, 160.0]])], (h, w), sigma=24)  # first dropped
    c = np.zeros((h, w))
    c[160, 256] = 1
    ref = gaussian_filter(c, 24, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(prior, ref / ref.sum(), atol=1e-10, rtol=0)


# ------------------------------------------------------------------------------ search
def test_search_efficiency_checklist():
    box = [100, 100, 50, 50]
    on = np.array([[125.0, 125.0], [0.0, 0.0]])
    steps = [search.steps_to_target(on, box) for _ in range(10)]
    curve = search.tfp_curve(steps, ["a"] * 5 + ["b"] * 5, max_steps=6)
    assert search.tfp_auc(curve) == 7.0 and len(curve) == 7
    assert search.probability_mismatch(curve, curve) == 0.0
    straight = np.array([[0.0, 125.0], [60.0, 125.0], [125.0, 125.0]])
    assert search.scanpath_ratio(straight, box) == pytest.approx(1.0)
    assert search.steps_to_target(np.array([[100.0, 120.0]]), box) == np.inf  # edge is not on target
    zigzag = np.array([[0.0, 125.0], [60.0, 0.0], [125.0, 125.0]])
    assert 0 < search.scanpath_ratio(zigzag, box) < 1
    assert np.isnan(search.scanpath_ratio(on, box))  # s = 1 is excluded


def test_search_efficiency_registry():
    from scanpath.metrics import human_consistency, score_scanpaths
    from scanpath.types import Scanpath

    def sp(xy, subj, task):
        xy = np.asarray(xy, dtype=float)
        return Scanpath(xy[:, 0], xy[:, 1], stimulus=f"img-{task}", subject=subj, task=task, condition="present",
                        image_size=(512, 320), extra={"bbox": [100, 100, 50, 50]})
    humans = [sp([[0, 0], [125, 125]], 0, "cup"), sp([[125, 125]], 1, "cup"), sp([[0, 0], [1, 1], [125, 125]], 0, "tv")]
    preds = [sp([[125, 125]], 1, "cup"), sp([[0, 0]], 1, "tv")]
    r = score_scanpaths(preds, humans, {"search_efficiency": {}})["search_efficiency"]
    # cup: found at 1 -> TFP all 1 (7); tv: never -> 0; mean over categories = 3.5
    assert r["value"] == pytest.approx(3.5)
    h = human_consistency(humans, {"search_efficiency": {}})["search_efficiency"]
    # cup: s = 2, 1 -> TFP(1)=.5, then 1 (6 more) = 6.5; tv: s = 3 -> 5; mean 5.75
    assert h["value"] == pytest.approx(5.75) and h["values"]["prob_mismatch"] == 0.0
