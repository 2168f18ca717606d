"""String metrics and the wavefront kernel against hand-worked values and plain references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanpath.metrics import geometric, sequence
from scanpath.metrics.labelers import EquirectGridLabeler, GridLabeler
from scanpath.types import Scanpath


def lcs_loop(a, b):
    n, m = len(a), len(b)
    D = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            D[i][j] = D[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(D[i - 1][j], D[i][j - 1])
    return D[n][m]


def dtw_loop(x, y):
    n, m = len(x), len(y)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = np.sqrt(((x[i - 1] - y[j - 1]) ** 2).sum())
            D[i, j] = c + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D[n, m]


def frechet_loop(x, y):
    n, m = len(x), len(y)
    C = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            d = np.sqrt(((x[i] - y[j]) ** 2).sum())
            if i == 0 and j == 0:
                C[i, j] = d
            elif i == 0:
                C[i, j] = max(d, C[i, j - 1])
            elif j == 0:
                C[i, j] = max(d, C[i - 1, j])
            else:
                C[i, j] = max(d, min(C[i - 1, j], C[i - 1, j - 1], C[i, j - 1]))
    return C[-1, -1]


def test_ss_hand_worked():
    assert sequence.sequence_score([[0, 1, 2, 3]], [[0, 2, 3, 3, 1]])[0] == pytest.approx(0.6)
    assert sequence.sequence_score([[1, 2, 3]], [[1, 3]])[0] == pytest.approx(2 / 3)
    assert sequence.edit_distance([[1, 2, 3]], [[1, 3]])[0] == 1
    assert sequence.sequence_score([[4, 4, 1]], [[4, 4, 1]])[0] == 1.0


def test_ss_time_hand_worked():
    a = sequence.repeat_by_duration([0, 1], [120, 40], 50)  # [0, 0]
    b = sequence.repeat_by_duration([0, 1], [100, 200], 50)  # [0, 0, 1, 1, 1, 1]
    assert a.tolist() == [0, 0] and b.tolist() == [0, 0, 1, 1, 1, 1]
    assert sequence.sequence_score([a], [b])[0] == pytest.approx(2 / 6)


def test_empty_string_rules():
    ss = sequence.sequence_score([[], [1, 2], []], [[1, 2, 3], [], []])
    assert ss[0] == 0 and ss[1] == 0 and np.isnan(ss[2])
    ed = sequence.edit_distance([[], [1, 2], []], [[1, 2, 3], [], []])
    assert ed[0] == 3 and ed[1] == 2 and np.isnan(ed[2])


def test_scanmatch_hand_worked():
    S = sequence.scanmatch_substitution(2, 2, 3.5)
    dmax = np.sqrt(2)
    assert S[0, 0] == pytest.approx(3.5)
    assert S[1, 3] == pytest.approx(abs(1 - dmax) - (dmax - 3.5))  # = 2.5
    assert S[0, 3] == pytest.approx(3.5 - dmax)  # diagonal neighbour
    assert np.allclose(S, S.T)
    assert sequence.scanmatch_score([[0, 1]], [[0, 3]], S, 3.5, short_policy="keep")[0] == pytest.approx(6 / 7)
    a = sequence.repeat_by_duration([0, 1], [120, 40], 50, mode="round")  # 2.4 -> 2, 0.8 -> 1
    b = sequence.repeat_by_duration([0, 3], [50, 50], 50, mode="round")
    assert a.tolist() == [0, 0, 1]
    assert sequence.scanmatch_score([a], [b], S, 3.5, short_policy="keep")[0] == pytest.approx(6 / 10.5)
    assert len(sequence.repeat_by_duration([0], [25], 50, mode="round")) == 0  # 0.5 -> 0 (half-even)
    assert len(sequence.repeat_by_duration([0], [125], 50, mode="round")) == 2  # 2.5 -> 2


def test_scanmatch_via_pipeline_bins():
    from scanpath.metrics import score_scanpaths

    # 2×2 bins on 100×100: (10,10)->0, (60,10)->1, (60,60)->3
    p = Scanpath([10, 60], [10, 10], [100, 100], stimulus="a", subject=0, image_size=(100, 100))
    h = Scanpath([10, 60], [10, 60], [100, 100], stimulus="a", subject=1, image_size=(100, 100))
    r = score_scanpaths([p], [h], {"scanmatch": {"grid": [2, 2], "frame": [100, 100], "short_policy": "keep"}})
    assert r["scanmatch"]["value"] == pytest.approx(6 / 7)


def test_levenshtein_equals_rapidfuzz():
    from rapidfuzz.distance import Levenshtein

    rng = np.random.default_rng(0)
    a = [rng.integers(0, 6, rng.integers(0, 25)) for _ in range(5000)]
    b = [rng.integers(0, 6, rng.integers(0, 25)) for _ in range(5000)]
    ours = sequence.levenshtein(a, b)
    ref = np.array([Levenshtein.distance(x.tolist(), y.tolist()) for x, y in zip(a, b)])
    assert np.array_equal(ours, ref)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), max_size=12), min_size=1, max_size=8),
       st.lists(st.lists(st.integers(0, 4), max_size=12), min_size=1, max_size=8))
def test_ss_is_lcs_over_max_hypothesis(a, b):
    k = min(len(a), len(b))
    a, b = a[:k], b[:k]
    ss = sequence.sequence_score(a, b)
    for x, y, v in zip(a, b, ss):
        if not x and not y:
            assert np.isnan(v)
        else:
            assert v == pytest.approx(lcs_loop(x, y) / max(len(x), len(y)), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=10), min_size=1, max_size=6))
def test_levenshtein_rapidfuzz_hypothesis(a):
    from rapidfuzz.distance import Levenshtein

    b = a[::-1]
    ours = sequence.levenshtein(a, b)
    assert ours.tolist() == [Levenshtein.distance(x, y) for x, y in zip(a, b)]


def test_lcs_dtw_frechet_equal_loops():
    rng = np.random.default_rng(1)
    la = [rng.integers(0, 5, rng.integers(0, 20)) for _ in range(300)]
    lb = [rng.integers(0, 5, rng.integers(0, 20)) for _ in range(300)]
    assert np.array_equal(sequence.lcs_length(la, lb), [lcs_loop(list(x), list(y)) for x, y in zip(la, lb)])
    A = [rng.uniform(0, 500, (rng.integers(1, 18), 2)) for _ in range(200)]
    B = [rng.uniform(0, 500, (rng.integers(1, 18), 2)) for _ in range(200)]
    np.testing.assert_allclose(geometric.dtw(A, B), [dtw_loop(x, y) for x, y in zip(A, B)], rtol=0, atol=1e-9)
    np.testing.assert_allclose(geometric.frechet(A, B), [frechet_loop(x, y) for x, y in zip(A, B)], rtol=0, atol=1e-9)


def test_inputs_not_mutated():
    a = [np.array([[1.0, 2.0], [3.0, 4.0]])]
    b = [np.array([[0.0, 0.0]])]
    a0, b0 = a[0].copy(), b[0].copy()
    geometric.dtw(a, b)
    geometric.stde(a[0], b[0], (10, 10))
    assert np.array_equal(a[0], a0) and np.array_equal(b[0], b0)


def test_grid_labeler_edges_and_compat():
    lab = GridLabeler((5, 5))
    s = Scanpath([0, 99.9, 100, 50], [0, 0, 100, 50], image_size=(100, 100))
    assert lab(s).tolist() == [0, 4, 24, 12]  # x = W maps to the last column (clamped)
    compat = GridLabeler((3, 3), integer_cells_compat=True)
    # FixaTons integer cells: W//3 = 33; x = 99 -> col 3 spills into the next row
    s2 = Scanpath([99.0], [0.0], image_size=(100, 100))
    assert compat(s2).tolist() == [3] and GridLabeler((3, 3))(s2).tolist() == [2]


def test_equirect_seam_wraps():
    lab = EquirectGridLabeler((12, 8))
    s = Scanpath([-180.0, 179.9, 180.0, 0.0], [0.0, 0.0, 0.0, 89.0])
    lab_v = lab(s)
    assert lab_v[0] == lab_v[2]  # −180° and +180° are the same meridian
    assert lab_v[1] % 12 == 11 and lab_v[3] < 12  # near the seam: last column; near the pole: top row


def test_stde_identical_is_one_and_recurrence():
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 100, (8, 2))
    assert geometric.stde(a, a, (100, 100)) == pytest.approx(1.0)
    r = geometric.recurrence(a, a, radius=1e-9)
    assert r["rec"] == pytest.approx(100 / 8) and r["det"] == pytest.approx(100.0) and r["corm"] == 0.0
    far = geometric.recurrence(a, a + 1000, radius=1.0)
    assert far["rec"] == 0 and np.isnan(far["det"])
    # hand-worked: points on a line, radius covers neighbours only
    x = np.column_stack([np.arange(4.0), np.zeros(4)])
    r = geometric.recurrence(x, x, radius=1.0)
    # c has the main diagonal (4) + two off-diagonals (3 each) = 10 recurrent points
    assert r["rec"] == pytest.approx(100 * 10 / 16)
    assert r["det"] == pytest.approx(100.0)
    assert r["corm"] == pytest.approx(0.0)
    rr = geometric.recurrence(x, x, radius=1.0, variant="ram1n")
    assert rr["rec"] == pytest.approx(100 * 2 * 0 / 12)  # strict '<' with distance exactly 1


@pytest.mark.gpu
def test_wavefront_cuda_matches_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from scanpath.metrics._kernel import wavefront

    C = torch.rand(64, 9, 13, dtype=torch.float64)
    cpu = wavefront(C, C, C, reduce="min", boundary=float("inf"), corner=0.0)
    gpu = wavefront(C.cuda(), C.cuda(), C.cuda(), reduce="min", boundary=float("inf"), corner=0.0)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-12)
