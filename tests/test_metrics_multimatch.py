"""MultiMatch parity with multimatch-gaze 0.1.3 (test oracle only) — docs/metrics.md §2.3 and §7 items 1–4."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from scanpath.metrics import multimatch, multimatch_batch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multimatch"
mg = pytest.importorskip("multimatch_gaze")


def _read(name: str) -> np.ndarray:
    sep = "," if name.endswith(".csv") else "\t"
    r = np.genfromtxt(DATA / name, delimiter=sep, names=True)
    return np.column_stack([r["start_x"], r["start_y"], r["duration"]])


def _rec(a: np.ndarray):
    return np.rec.fromarrays([a[:, 0], a[:, 1], a[:, 2]], names="start_x,start_y,duration")


def _ref(a, b, size, grouping=False, tdir=0.0, tdur=0.0, tamp=0.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(mg.docomparison(_rec(a), _rec(b), list(size), grouping, tdir, tdur, tamp), dtype=float)


@pytest.fixture(scope="module")
def fixtures():
    if not DATA.exists():
        pytest.skip("../shared/data/multimatch not available")
    exp = json.loads((DATA / "expected_multimatch_gaze_0.1.x_outputs.json").read_text())
    return exp, _read("segment_10_sub-19.tsv"), _read("segment_10_sub-01.tsv"), _read("segment_5_sub-19.tsv")


def test_fixture_cases(fixtures):
    exp, s19, s01, s5 = fixtures
    size = (1280, 720)
    np.testing.assert_allclose(multimatch(s19, s01, size), exp["seg10_sub19_vs_sub01_nogroup_1280x720"], atol=1e-6)
    np.testing.assert_allclose(multimatch(s01, s19, size), exp["seg10_sub19_vs_sub01_nogroup_1280x720"], atol=1e-6)
    np.testing.assert_allclose(multimatch(s19, s01, size, True, 45.0, 0.3, 147.0),
                               exp["seg10_sub19_vs_sub01_group_TDir45_TDur0.3_TAmp147_1280x720"], atol=1e-6)
    np.testing.assert_allclose(multimatch(s19, s01, size, True, 45.0, 0.3, 146.8),
                               exp["seg10_sub19_vs_sub01_group_TDir45_TDur0.3_TAmp147_1280x720"], atol=1e-6)
    np.testing.assert_allclose(multimatch(s19, s01, size, True, 45.0, 0.05, 150.0),
                               exp["seg10_sub19_vs_sub01_group_TDir45_TDur0.05_TAmp150_1280x720"], atol=1e-6)
    np.testing.assert_allclose(multimatch(s5, s5, size), exp["seg5_sub19_vs_itself"], atol=1e-6)


def test_sp46_grouping_terminates_and_matches(fixtures):
    _, _, _, s5 = fixtures
    sp = _read("sp-46.csv")
    t = time.perf_counter()
    ours = multimatch(sp, s5, (1280, 720), True, 30.0, 0.1, 100.1)
    assert time.perf_counter() - t < 1.0
    np.testing.assert_allclose(ours, _ref(sp, s5, (1280, 720), True, 30.0, 0.1, 100.1), atol=1e-6)
    np.testing.assert_allclose(multimatch(sp, sp, (1280, 720), True, 30.0, 0.1, 100.1),
                               _ref(sp, sp, (1280, 720), True, 30.0, 0.1, 100.1), atol=1e-6)


def _gen(rng, n, grid=None, size=(512, 320)):
    if grid is None:
        xy = rng.uniform([0, 0], size, (n, 2))
        d = rng.uniform(0.05, 0.6, n)
    else:
        c, r = grid
        xy = np.column_stack([(rng.integers(0, c, n) + 0.5) * size[0] / c, (rng.integers(0, r, n) + 0.5) * size[1] / r])
        d = rng.choice([0.05, 0.1, 0.2, 0.3], n)
    return np.column_stack([xy, d])


def _parity(pairs, size, grouping, td):
    ref, keep, errors = [], [], 0
    for a, b in pairs:
        try:
            ref.append(_ref(a, b, size, grouping, *td))
            keep.append((a, b))
        except (ValueError, IndexError, ZeroDivisionError):
            errors += 1  # the reference raises (math domain error / IndexError): excluded, counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = multimatch_batch([a for a, _ in keep], [b for _, b in keep], screen_size=size, grouping=grouping,
                                tdir=td[0], tdur=td[1], tamp=td[2])
    ref = np.array(ref).reshape(-1, 5)
    assert np.array_equal(np.isnan(ref), np.isnan(ours))
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
    return len(keep), errors


@pytest.mark.parametrize("grouping,td", [(False, (0.0, 0.0, 0.0)), (True, (45.0, 0.3, 147.0)), (True, (30.0, 0.1, 50.0))])
def test_random_parity(grouping, td):
    rng = np.random.default_rng(7 + int(grouping) + int(td[0]))
    n_pairs = 70 if grouping else 120
    pairs = [(_gen(rng, int(rng.integers(3, 41))), _gen(rng, int(rng.integers(3, 41)))) for _ in range(n_pairs)]
    n, errors = _parity(pairs, (512, 320), grouping, td)
    assert n >= 0.8 * n_pairs


@pytest.mark.parametrize("grid", [(4, 3), (11, 2)])
def test_tie_heavy_object_grids(grid):
    rng = np.random.default_rng(sum(grid))
    pairs = [(_gen(rng, int(rng.integers(3, 16)), grid), _gen(rng, int(rng.integers(3, 16)), grid)) for _ in range(150)]
    n, _ = _parity(pairs, (512, 320), False, (0.0, 0.0, 0.0))
    assert n == 150
    # ties really occur here: a fixed priority disagrees with the reference on some pairs
    fixed = multimatch_batch([a for a, _ in pairs], [b for _, b in pairs], screen_size=(512, 320), tie_break="fixed")
    ref = multimatch_batch([a for a, _ in pairs], [b for _, b in pairs], screen_size=(512, 320))
    assert (np.abs(fixed - ref) > 1e-9).any(axis=1).sum() >= 1


@pytest.mark.slow
def test_random_parity_full_acceptance():
    """docs/metrics.md §7.3: 2,000 random pairs (lengths 1–40) with/without grouping + 1,500 tie-heavy pairs."""
    rng = np.random.default_rng(2024)
    total = errors = 0
    combos = [(False, (0.0, 0.0, 0.0))] + [(True, (d, t, a)) for d in (30.0, 45.0) for t in (0.1, 0.3) for a in (50.0, 147.0)]
    for k, (grouping, td) in enumerate(combos):
        n_pairs = 1000 if k == 0 else 125
        pairs = [(_gen(rng, int(rng.integers(1, 41))), _gen(rng, int(rng.integers(1, 41)))) for _ in range(n_pairs)]
        n, e = _parity(pairs, (512, 320), grouping, td)
        total, errors = total + n, errors + e
    for grid in ((4, 3), (11, 2)):
        pairs = [(_gen(rng, int(rng.integers(1, 20)), grid), _gen(rng, int(rng.integers(1, 20)), grid)) for _ in range(750)]
        n, e = _parity(pairs, (512, 320), False, (0.0, 0.0, 0.0))
        total, errors = total + n, errors + e
    assert total + errors == 3500


def test_short_scanpaths_nan_or_padded():
    rng = np.random.default_rng(3)
    a, b = _gen(rng, 2), _gen(rng, 6)
    with pytest.warns(UserWarning, match="< 3 fixations"):
        assert np.isnan(multimatch(a, b, (512, 320))).all()
    padded = multimatch(a, b, (512, 320), short_policy="pad_ones")
    a_pad = np.vstack([a, np.ones((1, 3))])
    np.testing.assert_allclose(padded, _ref(a_pad, b, (512, 320)), atol=1e-6)
    with pytest.warns(UserWarning):
        assert np.isnan(multimatch(np.zeros((0, 3)), b, (512, 320))).all()


def test_batch_equals_single_and_pair_indices():
    rng = np.random.default_rng(4)
    L = [_gen(rng, int(rng.integers(3, 12))) for _ in range(6)]
    R = [_gen(rng, int(rng.integers(3, 12))) for _ in range(5)]
    li = np.repeat(np.arange(6), 5)
    ri = np.tile(np.arange(5), 6)
    batch = multimatch_batch(L, R, li, ri, screen_size=(512, 320))
    single = np.array([multimatch(L[i], R[j], (512, 320)) for i, j in zip(li, ri)])
    np.testing.assert_allclose(batch, single, atol=1e-12)


def test_legacy_port_tie_break_runs_and_agrees_without_ties():
    rng = np.random.default_rng(5)
    a, b = _gen(rng, 9), _gen(rng, 7)
    np.testing.assert_allclose(multimatch(a, b, (512, 320), tie_break="legacy_port"), multimatch(a, b, (512, 320)), atol=1e-12)
    grid_a, grid_b = _gen(rng, 8, (4, 3)), _gen(rng, 8, (4, 3))
    assert np.isfinite(multimatch(grid_a, grid_b, (512, 320), tie_break="legacy_port")).all()


def test_collinear_grouping_defined_where_reference_crashes():
    # three collinear saccades: the reference can hit acos(1 + ε) -> math domain error
    a = np.array([[0, 0, 0.05], [10, 10, 0.05], [20, 20, 0.05], [30, 30, 0.05], [200, 40, 0.2]], dtype=float)
    b = np.array([[5, 0, 0.1], [50, 60, 0.2], [100, 100, 0.3], [300, 30, 0.2]], dtype=float)
    out = multimatch(a, b, (512, 320), True, 30.0, 0.1, 20.0)
    assert np.isfinite(out).all()


def test_batch_ignores_a_non_cpu_default_device():
    """MultiMatch's numba path is CPU-only: a caller's ``torch.set_default_device`` (the GPU suite sets
    CUDA) must not move its index tensors elsewhere. ``meta`` stands in for CUDA on a CPU machine."""
    import torch

    rng = np.random.default_rng(3)
    left = [np.column_stack([rng.uniform(0, 800, n), rng.uniform(0, 600, n), rng.uniform(0.1, 0.4, n)])
            for n in (4, 6, 9)]
    right = [np.column_stack([rng.uniform(0, 800, n), rng.uniform(0, 600, n), rng.uniform(0.1, 0.4, n)])
             for n in (5, 7, 3)]
    li, ri = np.array([0, 1, 2, 2]), np.array([1, 0, 2, 1])
    expected = multimatch_batch(left, right, li, ri, screen_size=(800, 600))
    torch.set_default_device("meta")
    try:
        got = multimatch_batch(left, right, li, ri, screen_size=(800, 600))
    finally:
        torch.set_default_device("cpu")
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_chunking_by_cells_changes_no_value(backend):
    """Issue 18 item 3: pairs are scored in chunks bounded by the padded [P, N, M] size (memory); the
    values must not depend on how the pairs are chunked (tie-heavy grid pairs and random pairs)."""
    from scanpath.metrics.multimatch_scoring import _chunks, multimatch_pairs, padded_representations

    rng = np.random.default_rng(11)
    L = [_gen(rng, int(rng.integers(3, 31)), (4, 3) if i % 2 else None) for i in range(40)]
    R = [_gen(rng, int(rng.integers(3, 31)), (4, 3) if i % 3 else None) for i in range(25)]
    li, ri = np.repeat(np.arange(40), 25), np.tile(np.arange(25), 40)
    Lr, Rr = padded_representations(L), padded_representations(R)
    one = multimatch_pairs(Lr, Rr, li, ri, (512, 320), backend=backend, chunk=10**6, max_cells=10**12)
    for chunk, cells in ((7, 10**12), (4096, 5000), (4096, 1)):
        got = multimatch_pairs(Lr, Rr, li, ri, (512, 320), backend=backend, chunk=chunk, max_cells=cells)
        assert np.array_equal(got, one, equal_nan=True)
    n, m = np.sort(rng.integers(1, 30, 500)), rng.integers(1, 30, 500)
    spans = _chunks(n, m, 64, 20_000)
    assert spans[0][0] == 0 and spans[-1][1] == 500 and all(a < b for a, b in spans)
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))
    assert all(b - a == 1 or (b - a) * n[a:b].max() * m[a:b].max() <= 20_000 for a, b in spans)
    assert all(b - a <= 64 for a, b in spans)
