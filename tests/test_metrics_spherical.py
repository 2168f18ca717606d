"""360° metrics: great-circle distance, orthodromic DTW, equirectangular LEV with seam wrap, REC/DET."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scanpath.metrics import human_consistency
from scanpath.metrics.geometric import haversine_deg
from scanpath.metrics.spherical import sphere_dtw, sphere_levenshtein, sphere_recurrence
from scanpath.types import Scanpath

SAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "salient360" / "test" / "test_lat.csv"


def test_haversine_known_angles():
    assert haversine_deg(0.0, 0.0, 90.0, 0.0) == pytest.approx(90.0)
    assert haversine_deg(0.0, 90.0, 123.0, -90.0) == pytest.approx(180.0)
    assert haversine_deg(179.0, 0.0, -179.0, 0.0) == pytest.approx(2.0)  # across the seam
    assert haversine_deg(10.0, 60.0, 10.0, 60.0) == 0.0


def test_orthodromic_dtw_wraps_the_seam():
    a = [np.array([[179.0, 0.0], [178.0, 0.0]])]
    b = [np.array([[-179.0, 0.0], [-178.0, 0.0]])]
    # planar DTW would see ~357° gaps; on the sphere the paths are 2° and 4° apart
    # ∠ = 2 (a0,b0), 3, 3, 4 (a1,b1): DTW = 2 + 4 = 6
    assert sphere_dtw(a, b)[0] == pytest.approx(6.0, abs=1e-9)


def test_orthodromic_dtw_equals_loop():
    rng = np.random.default_rng(0)
    A = [np.column_stack([rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)]) for n in rng.integers(1, 12, 40)]
    B = [np.column_stack([rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)]) for n in rng.integers(1, 12, 40)]
    ours = sphere_dtw(A, B)
    for x, y, v in zip(A, B, ours):
        n, m = len(x), len(y)
        D = np.full((n + 1, m + 1), np.inf)
        D[0, 0] = 0
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                c = haversine_deg(x[i - 1, 0], x[i - 1, 1], y[j - 1, 0], y[j - 1, 1])
                D[i, j] = c + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
        assert v == pytest.approx(D[n, m], abs=1e-9)


def test_lev_seam_and_rec():
    a = np.array([[-179.5, 0.0], [0.0, 0.0]])
    b = np.array([[179.5, 0.0], [0.0, 0.0]])
    # −179.5 and 179.5 are 1° apart but in different 30° cells (first and last column)
    assert sphere_levenshtein([a], [b])[0] == 1.0
    # ±180° is one meridian: the same cell
    assert sphere_levenshtein([np.array([[-180.0, 0.0]])], [np.array([[180.0, 0.0]])])[0] == 0.0
    assert sphere_levenshtein([a], [a])[0] == 0.0
    x = np.column_stack([np.arange(5) * 10.0, np.zeros(5)])  # 10° steps
    r = sphere_recurrence(x, x)
    # c_ij = [∠ < 16.875°] for i < j: neighbours only -> R = 4 of 10 upper pairs
    assert r["rec"] == pytest.approx(100 * 2 * 4 / 20)
    assert r["det"] == pytest.approx(100.0)


def test_h360_config_on_salient360_toy():
    if not SAL.exists():
        pytest.skip("../shared/data/salient360 not available")
    import yaml

    raw = np.loadtxt(SAL, delimiter=",", comments="#")  # Idx, longitude, latitude (both in [0, 1]), t
    lon = raw[:, 1] * 360.0 - 180.0
    lat = 90.0 - raw[:, 2] * 180.0
    k = len(lon) // 3
    humans = [Scanpath(lon[i * k:(i + 1) * k], lat[i * k:(i + 1) * k], stimulus="pano", subject=i) for i in range(3)]
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/metrics/h360.yaml").read_text())
    res = human_consistency(humans, cfg)
    for name in cfg:
        assert np.isfinite(res[name]["value"]) or name == "rec", name


def test_sphere_multimatch_invariances():
    from scanpath.metrics.spherical import sphere_multimatch

    rng = np.random.default_rng(1)
    a = np.column_stack([rng.uniform(-180, 180, 8), rng.uniform(-60, 60, 8), rng.uniform(0.1, 0.5, 8)])
    b = np.column_stack([rng.uniform(-180, 180, 6), rng.uniform(-60, 60, 6), rng.uniform(0.1, 0.5, 6)])
    np.testing.assert_allclose(sphere_multimatch(a, a), 1.0)
    rot = a.copy()
    rot[:, 0] = np.mod(rot[:, 0] + 100 + 180, 360) - 180  # yaw rotation (crosses the seam)
    s = sphere_multimatch(a, rot)
    np.testing.assert_allclose(s[1:], 1.0, atol=1e-9)  # duration, length, shape, direction invariant
    assert s[0] < 1.0  # position is not
    ab = sphere_multimatch(a, b)
    assert np.all((ab >= 0) & (ab <= 1))


def test_multimatch_360_registry():
    rng = np.random.default_rng(2)
    hs = [Scanpath(rng.uniform(-180, 180, 7), rng.uniform(-60, 60, 7), rng.uniform(100, 400, 7), stimulus="p",
                   subject=i) for i in range(3)]
    r = human_consistency(hs, {"multimatch_360": {}})["multimatch_360"]
    assert 0 < r["value"] < 1 and set(r["values"]) == {"position", "duration", "length", "shape", "direction"}
