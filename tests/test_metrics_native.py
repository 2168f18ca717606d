"""CPU backends of the DP metrics (rapidfuzz for strings, numba kernels for NW / DTW / Fréchet /
MultiMatch path / SBTDE) give the values of the torch anti-diagonal kernel (the CUDA path)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scanpath.metrics import geometric, sequence
from scanpath.metrics._packing import pack, strings
from scanpath.metrics.multimatch_scoring import multimatch_batch


def _labels(rng, n, k, lo=0, hi=17):
    return [rng.integers(0, k, rng.integers(lo, hi)) for _ in range(n)]


def _osa_ref(a, b):
    n, m = len(a), len(b)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[n][m]


@pytest.mark.parametrize("fn", [sequence.lcs_length, sequence.levenshtein, sequence.sequence_score,
                                sequence.edit_distance])
def test_string_metrics_rapidfuzz_equal_torch_kernel(fn):
    rng = np.random.default_rng(0)
    a, b = _labels(rng, 800, 6, lo=0), _labels(rng, 600, 6, lo=0)
    li, ri = rng.integers(0, 800, 1500), rng.integers(0, 600, 1500)
    native = fn(a, b, li, ri, backend="native")
    np.testing.assert_array_equal(native, fn(a, b, li, ri, backend="torch"))
    assert fn(a, b, li, ri).dtype == np.float64  # auto on CPU = native


def test_labels_beyond_latin1_negative_and_surrogate_range():
    # labels used as code points directly, remapped when negative or ≥ U+D800 (surrogates)
    for a, b in [([np.array([300, 7, 300])], [np.array([7, 300])]),
                 ([np.array([-1, 0x10000, 5, -1])], [np.array([5, -1, 0xD900])]),
                 ([np.array([0xD800, 0xDFFF, 1])], [np.array([0xDFFF, 0xD800])])]:
        for fn in (sequence.levenshtein, sequence.lcs_length):
            assert fn(a, b)[0] == fn(a, b, backend="torch")[0]
    sa, sb = strings(pack([[1, 2], []]), pack([[2]]))
    assert [list(map(ord, s)) for s in sa + sb] == [[1, 2], [], [2]]


def test_osa_and_damerau_differ_as_defined():
    rng = np.random.default_rng(3)
    a, b = _labels(rng, 400, 4), _labels(rng, 400, 4)
    osa = sequence.optimal_string_alignment(a, b)
    ref = np.array([_osa_ref(list(x), list(y)) if len(x) or len(y) else np.nan for x, y in zip(a, b)])
    np.testing.assert_array_equal(osa, ref)
    dl = sequence.damerau_levenshtein(a, b)
    np.testing.assert_array_equal(dl, sequence.damerau_levenshtein_numpy(a, b))
    assert (dl[~np.isnan(dl)] <= osa[~np.isnan(osa)]).all()
    assert sequence.optimal_string_alignment([[2, 0]], [[0, 1, 2]])[0] == 3  # "ca" vs "abc"
    assert sequence.damerau_levenshtein([[2, 0]], [[0, 1, 2]])[0] == 2


def test_scanmatch_numba_equals_torch_kernel_with_gap_and_clamped_labels():
    rng = np.random.default_rng(1)
    S = sequence.scanmatch_substitution(4, 3, 3.5)
    a, b = _labels(rng, 500, 14), _labels(rng, 500, 14)  # labels 12, 13 lie outside the 12-bin matrix
    for gap in (0.0, -0.5, 0.3):
        got = sequence.scanmatch_score(a, b, S, 3.5, gap, backend="native")
        np.testing.assert_array_equal(got, sequence.scanmatch_score(a, b, S, 3.5, gap, backend="torch"))


def _dtw_math(x, y, frechet=False):
    n, m = len(x), len(y)
    D = [[math.inf] * (m + 1) for _ in range(n + 1)]
    D[0][0] = -math.inf if frechet else 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dx, dy = x[i - 1][0] - y[j - 1][0], x[i - 1][1] - y[j - 1][1]
            c = math.sqrt(dx * dx + dy * dy)
            best = min(D[i - 1][j], D[i][j - 1], D[i - 1][j - 1])
            D[i][j] = max(c, best) if frechet else c + best
    return D[n][m]


@pytest.mark.parametrize("frechet", [False, True])
def test_dtw_frechet_numba_equal_ieee_loop_and_torch_kernel(frechet):
    rng = np.random.default_rng(2)
    A = [rng.uniform(0, 500, (rng.integers(0, 15), 2)) for _ in range(300)]
    B = [rng.uniform(0, 500, (rng.integers(1, 15), 2)) for _ in range(300)]
    fn = geometric.frechet if frechet else geometric.dtw
    got = fn(A, B)
    ref = np.array([_dtw_math(x.tolist(), y.tolist(), frechet) if len(x) else np.nan for x, y in zip(A, B)])
    np.testing.assert_array_equal(got, ref)  # IEEE sqrt: bit-identical to the plain loop
    # torch's CPU sqrt is one ulp off on ~1 % of inputs: the kernel agrees to rounding
    np.testing.assert_allclose(got, fn(A, B, backend="torch"), rtol=1e-13, atol=0)
    # any other local distance: torch's costs, the compiled recurrence — identical to the torch kernel
    Y = [np.column_stack([rng.uniform(-180, 180, len(x)), rng.uniform(-89, 89, len(x))]) for x in A]
    Z = [np.column_stack([rng.uniform(-180, 180, len(y)), rng.uniform(-89, 89, len(y))]) for y in B]
    np.testing.assert_array_equal(fn(Y, Z, "orthodromic"), fn(Y, Z, "orthodromic", backend="torch"))


def _window_ref(a, b, k, transpositions):
    if len(a) < k or len(b) < k:
        return np.nan
    dist = sequence.damerau_levenshtein_numpy if transpositions else sequence.levenshtein
    wa = [a[i:i + k] for i in range(len(a) - k + 1)]
    wb = [b[i:i + k] for i in range(len(b) - k + 1)]
    d = dist([x for x in wa for _ in wb], [y for _ in wa for y in wb]).reshape(len(wa), len(wb))
    return d.min(axis=1).mean() / k


@pytest.mark.parametrize("transpositions", [True, False])
def test_window_edit_distance_kernel_matches_windowed_reference(transpositions):
    rng = np.random.default_rng(4)
    a, b = _labels(rng, 120, 4, lo=0, hi=10), _labels(rng, 120, 4, lo=0, hi=10)
    got = sequence.window_edit_distance(a, b, k=3, transpositions=transpositions)
    ref = [_window_ref(x, y, 3, transpositions) for x, y in zip(a, b)]
    np.testing.assert_array_equal(got, ref)


def test_multimatch_numba_path_equals_torch_kernel_including_ties():
    rng = np.random.default_rng(5)
    # integer grid coordinates make tied alignment paths common (the re-solve path runs too)
    fx = [np.column_stack([rng.integers(0, 4, n) * 100.0, rng.integers(0, 3, n) * 100.0, rng.uniform(0.1, 0.5, n)])
          for n in rng.integers(3, 12, 300)]
    li, ri = rng.integers(0, 300, 600), rng.integers(0, 300, 600)
    for tie_break in ("reference", "fixed"):
        got = multimatch_batch(fx, fx, li, ri, screen_size=(400, 300), tie_break=tie_break)
        want = multimatch_batch(fx, fx, li, ri, screen_size=(400, 300), tie_break=tie_break, backend="torch")
        np.testing.assert_array_equal(got, want)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        sequence.levenshtein([[1]], [[1]], backend="gpu")
    with pytest.raises(ValueError, match="backend"):
        multimatch_batch([np.ones((3, 3))], [np.ones((3, 3))], backend="gpu")


@pytest.mark.slow
def test_parallel_pair_loops_equal_serial(monkeypatch):
    """The prange kernels (used for big batches with >1 numba thread) give the serial values."""
    import numba

    from scanpath.metrics import _dp

    rng = np.random.default_rng(6)
    a, b = _labels(rng, 3000, 12), _labels(rng, 3000, 12)
    A = [rng.uniform(0, 500, (rng.integers(1, 15), 2)) for _ in range(3000)]
    S = sequence.scanmatch_substitution(4, 3, 3.5)
    serial = (sequence.scanmatch_score(a, b, S), geometric.dtw(A, A[::-1]), sequence.window_edit_distance(a, b))
    monkeypatch.setattr(_dp, "PARALLEL_MIN_PAIRS", 1)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() < 2:
        pytest.skip("needs 2 numba threads")
    par = (sequence.scanmatch_score(a, b, S), geometric.dtw(A, A[::-1]), sequence.window_edit_distance(a, b))
    for x, y in zip(serial, par):
        np.testing.assert_array_equal(x, y)
