"""Issue 16 item 7: a metric's ``n_nan`` counts every NaN it excluded; infinite durations are an error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError
from scanpath.metrics.evaluation import human_consistency, score_scanpaths
from scanpath.types import Scanpath


def _sp(subject, dur, seed):
    rng = np.random.default_rng(seed)
    return Scanpath(rng.uniform(0, 200, 5), rng.uniform(0, 100, 5), np.asarray(dur, float), stimulus="a",
                    subject=subject, image_size=(200, 100))


def test_multimatch_nan_duration_dimension_is_counted():
    pred = [_sp(1, [0.0] * 5, 0)]
    humans = [_sp(2, [0.0] * 5, 1), _sp(3, [0.0] * 5, 2)]  # 0 vs 0 ms: the duration similarity is 0/0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = score_scanpaths(pred, humans, {"multimatch": None})["multimatch"]
    assert np.isnan(res["values"]["duration"])
    assert res["n_nan"] == 2 and res["n_pairs"] == 2
    assert res["n_nan_values"]["duration"] == 2 and res["n_nan_values"]["vector"] == 0


def test_infinite_duration_is_an_error_not_a_nan():
    pred = [_sp(1, [100, np.inf, 100, 100, 100], 0)]
    humans = [_sp(2, [100] * 5, 1), _sp(3, [100] * 5, 2)]
    with pytest.raises(ScanpathDataError) as e:
        score_scanpaths(pred, humans, {"multimatch": None})
    assert e.value.field == "duration" and e.value.record == "a/subject=1"
    with pytest.raises(ScanpathDataError):
        human_consistency(humans + pred, {"multimatch": None})


def test_short_scanpaths_are_counted_not_warned_in_scoring(caplog):
    """Issue 18 item 5: scoring through the pipeline reports short-scanpath NaNs as n_nan and one log
    line per metric, not a UserWarning per model (the direct functional call still warns)."""
    def short(subject, seed):
        rng = np.random.default_rng(seed)
        return Scanpath(rng.uniform(0, 200, 2), rng.uniform(0, 100, 2), np.full(2, 100.0), stimulus="a",
                        subject=subject, image_size=(200, 100))

    pred = [short(1, 0)]
    humans = [_sp(2, [100] * 5, 1), _sp(3, [100] * 5, 2)]
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO", logger="scanpath.metrics.evaluation"):
        warnings.simplefilter("always")
        res = score_scanpaths(pred, humans, {"multimatch": None})["multimatch"]
    assert res["n_nan"] == 2
    assert not [w for w in caught if issubclass(w.category, UserWarning)]
    assert any("2 of 2 pairs are NaN" in r.getMessage() for r in caplog.records)
