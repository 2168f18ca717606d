"""SYNTHETIC search arrays and the simulated observer (docs/oat.md §3.3, §7 item 12)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from scanpath.io.object_trial import points_to_cells
from scanpath.metrics.behavioural import STATS, oat_stats
from scanpath.stimuli.search_arrays import (
    ArrayConfig,
    ObserverConfig,
    _sample_rows,
    generate_search_arrays,
    layout_tensors,
    render_layout,
    similarity,
    simulate_observer_reference,
    simulate_observers,
)


@pytest.fixture(scope="module")
def big():
    return generate_search_arrays(num_layouts=400, observers_per_layout=3, seed=7)


def test_layout_composition(big):
    for lay in big.layouts[:100]:
        assert lay.features.shape == (27, 3)
        shared = (lay.features == lay.features[lay.target]).sum(axis=1)
        assert shared[lay.target] == 3
        assert (shared == 3).sum() == 1  # exactly one target-type object
        others = np.delete(shared, lay.target)
        assert (others == 2).sum() >= 6 and (others == 1).sum() >= 8
        np.testing.assert_allclose(similarity(lay), shared / 3)
        assert np.all((lay.scale >= 0.6) & (lay.scale <= 0.9))
        assert lay.target_id == lay.type_name(lay.target)
    # the planted counts are exact before the random rest is added: check it on a grid with no rest
    small = ArrayConfig(grid=(3, 5))
    data = generate_search_arrays(30, 1, seed=1, array=small)
    for lay in data.layouts:
        shared = np.delete((lay.features == lay.features[lay.target]).sum(axis=1), lay.target)
        assert sorted(shared.tolist()) == [1] * 8 + [2] * 6
    # targets land in every position over many layouts (positions are permuted)
    assert len({lay.target for lay in big.layouts}) == 27


def test_observer_statistics_in_spec_ranges(big):
    rows = [oat_stats(t.scanpath, t.target) for t in big.trials]
    m = {k: float(np.mean([r[k] for r in rows])) for k in STATS}
    assert 0.75 <= m["found"] <= 0.95, m
    assert 9 <= m["length"] <= 18, m
    assert 0.65 <= m["search"] <= 0.85, m
    assert 0.10 <= m["refix"] <= 0.20, m
    assert 0.05 <= m["revisit"] <= 0.15, m
    assert all(1 <= len(t) <= 30 for t in big.trials)
    assert max(len(t) for t in big.trials) == 30  # the cap is reached sometimes


def test_trials_are_marked_synthetic_and_consistent(big):
    assert len(big.trials) == 1200
    for t in big.trials[:300]:
        assert t.synthetic is True and t.dataset == "synthetic_search_arrays"
        assert t.image_size == (837, 450) and t.grid == (3, 9)
        # every pixel lies in the cell of its object
        np.testing.assert_array_equal(points_to_cells(t.fix_xy, (3, 9), (93, 150)), t.scanpath)
        sp = t.to_scanpath()
        assert sp.extra["synthetic"] is True and sp.task == t.target_id
        sp.validated("error")  # inside the image


def test_bit_identical_per_seed_and_prefix_stable():
    a = generate_search_arrays(12, 3, seed=5)
    b = generate_search_arrays(12, 3, seed=5)
    c = generate_search_arrays(4, 3, seed=5)
    d = generate_search_arrays(12, 3, seed=6)
    for x, y in zip(a.trials, b.trials):
        assert x.scanpath.tobytes() == y.scanpath.tobytes() and x.fix_xy.tobytes() == y.fix_xy.tobytes()
    for x, y in zip(a.trials[:12], c.trials):  # layout i depends on (seed, i) only
        assert x.fix_xy.tobytes() == y.fix_xy.tobytes()
    assert render_layout(a.layouts[3]).tobytes() == render_layout(b.layouts[3]).tobytes()
    assert any(x.fix_xy.shape != y.fix_xy.shape or not np.array_equal(x.fix_xy, y.fix_xy) for x, y in zip(a.trials, d.trials))


def test_render_and_crops():
    data = generate_search_arrays(2, 1, seed=0)
    lay = data.layouts[0]
    img = render_layout(lay)
    assert img.shape == (450, 837, 3) and img.dtype == np.uint8
    image, crops = layout_tensors(lay)
    assert image.shape == (3, 450, 837) and crops.shape == (27, 3, 150, 93)
    assert crops.dtype == np.float32 and crops.min() == 0.0 and crops.max() == 1.0
    # crop i is cell i, min-max normalised over the crop
    r, c = divmod(5, 9)
    cell = img[r * 150 : (r + 1) * 150, c * 93 : (c + 1) * 93].transpose(2, 0, 1).astype(np.float32)
    np.testing.assert_allclose(crops[5], (cell - cell.min()) / (cell.max() - cell.min()), atol=1e-6)
    # objects of different types look different; the drawn colour matches the feature
    assert not np.array_equal(crops[0], crops[1]) or (lay.features[0] == lay.features[1]).all()
    other = ArrayConfig(cell_hw=(100, 60))
    lay2 = dataclasses.replace(generate_search_arrays(1, 1, seed=0, array=other).layouts[0])
    assert layout_tensors(lay2)[1].shape == (27, 3, 150, 93)  # resized to the CNN crop size


def test_observer_mechanics():
    rng = np.random.default_rng(0)
    n, b = 27, 200
    pos = np.stack(np.divmod(np.arange(n), 9), axis=1).astype(float)
    sim = rng.integers(0, 3, size=(b, n)) / 3.0
    target = rng.integers(0, n, size=b)
    sim[np.arange(b), target] = 1.0
    u = rng.random((b, 30, 4))
    # always detect, never refixate: stop exactly at the first target fixation, no repeats
    obs = ObserverConfig(p_detect=1.0, p_refix_after_detect=0.0, p_refix=0.0)
    objs, lens = simulate_observers(sim, pos, target, u, obs)
    for o, L, t in zip(objs, lens, target):
        seq = o[:L]
        assert np.all(o[L:] == -1)
        assert np.all(seq[1:] != seq[:-1])
        hits = np.flatnonzero(seq == t)
        if len(hits):
            assert hits[0] == L - 1
        else:
            assert L == 30
    # never detect, always refixate: the first object 30 times
    obs = ObserverConfig(p_detect=0.0, p_refix=1.0)
    objs, lens = simulate_observers(sim, pos, target, u, obs)
    assert np.all(lens == 30) and np.all(objs == objs[:, :1])
    # detection with the extra refixation always on: scanpaths end with [t, t]
    obs = ObserverConfig(p_detect=1.0, p_refix_after_detect=1.0, p_refix=0.0)
    objs, lens = simulate_observers(sim, pos, target, u, obs)
    for o, L, t in zip(objs, lens, target):
        if L < 30:
            assert o[L - 1] == t and o[L - 2] == t


def test_inverse_cdf_sampler_matches_softmax():
    logits = np.array([[0.0, 1.0, -np.inf, 2.0]])
    p = np.exp(logits[0] - logits[0].max())
    p /= p.sum()
    u = (np.arange(20000) + 0.5) / 20000
    idx = _sample_rows(np.repeat(logits, len(u), axis=0), u)
    freq = np.bincount(idx, minlength=4) / len(u)
    np.testing.assert_allclose(freq, p, atol=1e-3)
    assert freq[2] == 0.0


def test_vectorised_observer_equals_reference_loop():
    data = generate_search_arrays(60, 3, seed=2)
    rng = np.random.default_rng(9)
    pos = np.stack(np.divmod(np.arange(27), 9), axis=1).astype(float)
    sim = np.repeat(np.stack([similarity(lay) for lay in data.layouts]), 3, axis=0)
    target = np.repeat([lay.target for lay in data.layouts], 3)
    u = rng.random((len(sim), 30, 4))
    objs, lens = simulate_observers(sim, pos, target, u)
    for i in range(len(sim)):
        ref = simulate_observer_reference(sim[i], pos, int(target[i]), u[i])
        assert objs[i, : lens[i]].tolist() == ref, i
