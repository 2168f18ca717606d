"""Metrics are registered where they are defined (``@metric`` in each math module)."""

from __future__ import annotations

import numpy as np
import pytest

from scanpath.metrics import metric, registry, score_scanpaths
from scanpath.types import Scanpath

HOME = {
    "ss": "sequence", "ss_time": "sequence", "semss": "sequence", "fed": "sequence", "semfed": "sequence",
    "sed": "sequence", "sed_similarity": "sequence", "sbtde": "sequence", "scanmatch": "sequence", "dss": "sequence",
    "dtw": "geometric", "frechet": "geometric", "stde": "geometric", "tde": "geometric", "recurrence": "geometric",
    "oat_delta": "behavioural", "multimatch": "multimatch_scoring", "multimatch_mm": "multimatch_scoring",
    "search_efficiency": "search", "saliency": "maps", "multimatch_360": "spherical",
}


def test_every_metric_is_registered_in_its_math_module():
    assert set(registry) == set(HOME)
    for name, module in HOME.items():
        assert registry[name].fn.__module__ == f"scanpath.metrics.{module}", name


def test_metric_decorator_registers_a_new_pair_metric_for_the_pipeline():
    @metric("_test_length_gap", "pair", {"scale": 1.0}, higher_is_better=False)
    def _gap(left, right, li, ri, params):
        return np.array([abs(len(left[i]) - len(right[j])) * params["scale"] for i, j in zip(li, ri)], dtype=float)

    try:
        p = Scanpath([1, 2, 3], [1, 2, 3], stimulus="a", subject=0)
        h = Scanpath([1, 2], [1, 2], stimulus="a", subject=1)
        r = score_scanpaths([p], [h], {"_test_length_gap": {"scale": 2.0}})
        assert r["_test_length_gap"]["value"] == 2.0
        with pytest.raises(ValueError, match="registered twice"):
            metric("_test_length_gap", "pair")(_gap)
    finally:
        registry.pop("_test_length_gap", None)
