"""ScanMatch short-scanpath policy (NaN by default, the upstream (1, 1) px padding, keep) and the
GazeParser-port integer-millisecond TempBin option (docs/metrics.md §2.4, §6)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from scanpath.metrics import score_scanpaths
from scanpath.metrics import sequence
from scanpath.metrics.registry import resolve
from scanpath.types import Scanpath

GRID = {"grid": [2, 2], "frame": [100, 100]}  # 2×2 bins on 100×100: (10,10)->0, (60,10)->1, (60,60)->3


def _sp(xs, ys, dur=None, subject=0):
    return Scanpath(xs, ys, dur, stimulus="a", subject=subject, image_size=(100, 100))


def test_registry_accepts_the_new_params_with_documented_defaults():
    _, params = resolve("scanmatch", {"short_policy": "pad_ones", "temp_bin_truncate_ms": True})
    assert params["short_policy"] == "pad_ones" and params["temp_bin_truncate_ms"] is True
    _, defaults = resolve("scanmatch", {})
    assert defaults["short_policy"] == "nan" and defaults["temp_bin_truncate_ms"] is False


def test_short_scanpath_is_nan_by_default_and_counted(caplog):
    p = _sp([60], [10])  # 1 fixation
    h = _sp([10, 60], [10, 60], subject=1)  # 2 fixations
    h3 = _sp([10, 60, 60], [10, 10, 60], subject=2)
    with caplog.at_level("INFO", logger="scanpath.metrics.evaluation"):  # counted and logged, not warned
        r = score_scanpaths([p], [h], {"scanmatch": dict(GRID)})
    assert any("1 of 1 pairs are NaN" in rec.getMessage() for rec in caplog.records)
    assert math.isnan(r["scanmatch"]["value"]) and r["scanmatch"]["n_nan"] == 1
    # a long-enough pair is still scored
    p3 = _sp([60, 10, 10], [10, 10, 60])
    r = score_scanpaths([p3], [h3], {"scanmatch": dict(GRID)})
    assert np.isfinite(r["scanmatch"]["value"])


def test_pad_ones_appends_fake_fixations_at_one_one():
    p = _sp([60], [10])  # bin 1, padded with (1, 1) -> bin 0 twice: [1, 0, 0]
    h = _sp([10, 60], [10, 60], subject=1)  # bins [0, 3], padded: [0, 3, 0]
    r = score_scanpaths([p], [h], {"scanmatch": {**GRID, "short_policy": "pad_ones"}})
    # best alignment is position-wise: S(1,0) = 2.5 (adjacent bins), S(0,3) = 3.5 − √2 (diagonal), S(0,0) = 3.5
    want = (2.5 + (3.5 - math.sqrt(2)) + 3.5) / (3.5 * 3)
    assert r["scanmatch"]["value"] == pytest.approx(want, abs=1e-12)
    S = sequence.scanmatch_substitution(2, 2, 3.5)
    assert sequence.scanmatch_score([[1]], [[0, 3]], S, short_policy="pad_ones")[0] == pytest.approx(want, abs=1e-12)


def test_keep_scores_the_strings_as_given():
    p = _sp([60], [10])
    h = _sp([10, 60], [10, 60], subject=1)
    r = score_scanpaths([p], [h], {"scanmatch": {**GRID, "short_policy": "keep"}})
    assert r["scanmatch"]["value"] == pytest.approx(2.5 / (3.5 * 2))


def test_functional_default_is_nan_with_a_warning_and_bad_policy_rejected():
    S = sequence.scanmatch_substitution(2, 2, 3.5)
    with pytest.warns(UserWarning, match="1 pair"):
        out = sequence.scanmatch_score([[0, 1], [0, 1, 3]], [[0, 3], [0, 3, 3]], S)
    assert math.isnan(out[0]) and np.isfinite(out[1])
    with pytest.raises(ValueError, match="short_policy"):
        sequence.scanmatch_score([[0]], [[0]], S, short_policy="pad")
    with pytest.raises(ValueError, match="short_policy"):
        score_scanpaths([_sp([1, 2, 3], [1, 2, 3])], [_sp([1, 2, 3], [1, 2, 3], subject=1)],
                        {"scanmatch": {**GRID, "short_policy": "zeros"}})


def test_pad_ones_fake_fixations_vanish_under_tempbin():
    # the fake fixations last 1 ms: round(1/50) = 0 repeats, so only the real fixations remain
    p = _sp([60], [10], [100])
    h = _sp([10, 60], [10, 60], [50, 50], subject=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = score_scanpaths([p], [h], {"scanmatch": {**GRID, "temp_bin": 50.0, "short_policy": "pad_ones"}})
    S = sequence.scanmatch_substitution(2, 2, 3.5)
    want = sequence.scanmatch_score([[1, 1]], [[0, 3]], S, short_policy="keep")[0]
    assert r["scanmatch"]["value"] == pytest.approx(want, abs=1e-12)


def test_tempbin_truncates_to_integer_ms_only_when_asked():
    lab = [0, 1]
    dur = [25.7, 125.9]  # /50: 0.514, 2.518 -> round 1, 3; truncated 25, 125 -> 0.5, 2.5 -> half-even 0, 2
    assert sequence.repeat_by_duration(lab, dur, 50, mode="round").tolist() == [0, 1, 1, 1]
    assert sequence.repeat_by_duration(lab, dur, 50, mode="round", truncate_ms=True).tolist() == [1, 1]
    p = _sp([10, 60, 60], [10, 10, 60], [25.7, 125.9, 50.0])  # bins 0, 1, 3
    h = _sp([10, 60, 60], [10, 10, 60], [50.0, 100.0, 50.0], subject=1)
    S = sequence.scanmatch_substitution(2, 2, 3.5)
    hs = [0, 1, 1, 3]
    default = score_scanpaths([p], [h], {"scanmatch": {**GRID, "temp_bin": 50.0}})["scanmatch"]["value"]
    trunc = score_scanpaths([p], [h], {"scanmatch": {**GRID, "temp_bin": 50.0,
                                                     "temp_bin_truncate_ms": True}})["scanmatch"]["value"]
    assert default == pytest.approx(sequence.scanmatch_score([[0, 1, 1, 1, 3]], [hs], S, short_policy="keep")[0])
    assert trunc == pytest.approx(sequence.scanmatch_score([[1, 1, 3]], [hs], S, short_policy="keep")[0])
    assert default != pytest.approx(trunc)
