"""Metrics that cannot apply are skipped with the reason, not fatal (issue 17 item 3)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from conftest import CONF_DIR, REPO_ROOT, compose_config, write_tiny_coco
from omegaconf import OmegaConf

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402

from scanpath.errors import ScanpathDataError  # noqa: E402
from scanpath.evaluation import validate_metrics  # noqa: E402
from scanpath.metrics import human_consistency, score_scanpaths  # noqa: E402
from scanpath.metrics.registry import resolve  # noqa: E402
from scanpath.metrics.requirements import metric_needs  # noqa: E402
from scanpath.types import Scanpath  # noqa: E402


def _sp(stim, subj, n=5, dur=True, seed=0, bbox=None):
    rng = np.random.default_rng(seed)
    return Scanpath(x=rng.uniform(0, 300, n), y=rng.uniform(0, 200, n),
                    duration=rng.uniform(100, 300, n) if dur else None, stimulus=stim, subject=subj,
                    task="cup", condition="present", image_size=(320, 200),
                    extra={} if bbox is None else {"bbox": bbox})


def test_declared_needs():
    spec, p = resolve("scanmatch_t50", {"metric": "scanmatch", "temp_bin": 50.0})
    assert "durations" in metric_needs(spec, p)
    spec, p = resolve("scanmatch", {"temp_bin": 0.0})
    assert "durations" not in metric_needs(spec, p)
    spec, p = resolve("fed", {})
    assert "clusters" in metric_needs(spec, p)
    spec, p = resolve("search_efficiency", {})
    assert metric_needs(spec, p) == ("bbox",)


def test_metric_without_durations_is_skipped_with_the_reason():
    humans = [_sp("a.jpg", s, seed=s, bbox=[10, 10, 50, 50]) for s in range(1, 4)]
    preds = [_sp("a.jpg", 1, dur=False, seed=9)]
    cfg = {"ss": {}, "scanmatch_t50": {"metric": "scanmatch", "temp_bin": 50.0}, "fed": {},
           "search_efficiency": {}}
    with pytest.warns(UserWarning, match="skipped"):
        res = score_scanpaths(preds, humans, cfg)
    assert math.isfinite(res["ss"]["value"])
    assert res["scanmatch_t50"]["value"] is None
    assert "durations" in res["scanmatch_t50"]["skipped_reason"]
    assert "1 of 1 predictions" in res["scanmatch_t50"]["skipped_reason"]
    assert "clusters" in res["fed"]["skipped_reason"]
    assert "bbox" in res["search_efficiency"]["skipped_reason"]
    hc = human_consistency(humans, cfg)  # the humans have durations and boxes: scored
    assert math.isfinite(hc["scanmatch_t50"]["value"]) and "skipped_reason" not in hc["scanmatch_t50"]
    assert "clusters" in hc["fed"]["skipped_reason"]


def test_corrupt_data_is_still_fatal():
    humans = [_sp("a.jpg", s, seed=s) for s in range(1, 3)]
    bad = _sp("a.jpg", 1)
    bad.duration[0] = np.inf
    with pytest.raises(ScanpathDataError):
        score_scanpaths([bad], humans, {"ss": {}})


def test_coco_search18_preset_completes_with_baselines_without_durations(tmp_path):
    ann = write_tiny_coco(tmp_path / "tiny.json")
    cfg = compose_config("evaluate", ["model=center_bias", "data=coco_search18", f"data.annotations={ann}",
                                      "data.frame=null", "metrics=coco_search18", "n_figures=0"], tmp_path / "out")
    evaluate_script.evaluate(cfg)
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    validate_metrics(written)
    model_rows = [r for r in written["rows"].values() if r["role"] in ("model", "baseline")]
    assert model_rows
    for row in model_rows:
        entry = row["metrics"]["scanmatch_t50"]
        assert entry["value"] is None and "durations" in entry["skipped_reason"], entry
        assert math.isfinite(row["metrics"]["ss_grid"]["value"])
    human = written["rows"]["Human"]["metrics"]["scanmatch_t50"]
    assert math.isfinite(human["value"])
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "metric scanmatch_t50 skipped for" in md and "fixation durations" in md
    head = next(line for line in md.splitlines() if line.startswith("| row"))
    col = [c.strip() for c in head.split("|")].index(next(c.strip() for c in head.split("|")
                                                           if c.strip().startswith("scanmatch_t50")))
    base_line = next(line for line in md.splitlines() if line.startswith("| Center bias"))
    assert [c.strip() for c in base_line.split("|")][col] == "nan"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "metric_notes" in html or "skipped for" in html


def test_coco_search18_preset_points_at_nothing_missing():
    text = (CONF_DIR / "metrics" / "coco_search18.yaml").read_text()
    for word in text.split():
        if word.endswith(".yaml"):
            assert (CONF_DIR / "metrics" / word).is_file(), word
    OmegaConf.load(CONF_DIR / "metrics" / "coco_search18.yaml")


def test_bad_prediction_error_names_the_model():
    from scanpath.evaluation.pipeline import score_predictions

    humans = [_sp("a.jpg", s, seed=s) for s in range(1, 3)]
    bad = _sp("a.jpg", 1)
    bad.x[0] = np.nan
    with pytest.raises(ScanpathDataError, match="model 'my_model'") as info:
        score_predictions("my_model", [bad], humans, {"ss": {}}, "stimulus")
    assert info.value.file is None
