"""score_scanpaths / human_consistency / registry / OAT behavioural statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from scanpath.errors import ScanpathDataError
from scanpath.metrics import (
    human_consistency,
    mean_stats,
    oat_delta,
    oat_stats,
    pair_indices,
    registry,
    score_scanpaths,
)
from scanpath.types import Scanpath

REPO = Path(__file__).resolve().parents[1]


def _sp(rng, n, stim, subj, size=(200, 100), dur=True):
    return Scanpath(
        rng.uniform(0, size[0], n), rng.uniform(0, size[1], n),
        duration=rng.uniform(100, 400, n) if dur else None,
        stimulus=stim, subject=subj, image_size=size,
    )


@pytest.fixture()
def data():
    rng = np.random.default_rng(0)
    humans = [_sp(rng, int(rng.integers(3, 10)), f"s{k}", subj) for k in range(4) for subj in range(5)]
    preds = [_sp(rng, int(rng.integers(3, 10)), f"s{k}", 1) for k in range(4) for _ in range(2)]
    return preds, humans


def test_default_config_scores_every_metric(data):
    preds, humans = data
    cfg = yaml.safe_load((REPO / "conf/metrics/default.yaml").read_text())
    res = score_scanpaths(preds, humans, cfg)
    assert set(res) == set(cfg)
    for name, r in res.items():
        assert np.isfinite(r["value"]), name
        assert r["n"] == len(preds) and r["n_nan"] == 0
        assert r["n_pairs"] == len(preds) * 5
        for k, v in cfg[name].items():
            assert r["params"][k] == v
    assert set(res["multimatch"]["values"]) == {"vector", "direction", "length", "position", "duration"}
    mm = res["multimatch"]["values"]
    assert res["multimatch"]["value"] == pytest.approx(np.mean([mm[k] for k in ("vector", "direction", "length", "position")]))


def test_pair_reduce_mean_then_mean_matches_manual(data):
    from scanpath.metrics.sequence import sequence_score
    from scanpath.metrics.labelers import GridLabeler

    preds, humans = data
    res = score_scanpaths(preds, humans, {"ss": {}})["ss"]
    lab = GridLabeler((5, 5))
    manual = []
    for p in preds:
        hs = [h for h in humans if h.stimulus == p.stimulus]
        manual.append(np.mean(sequence_score([lab(p)] * len(hs), [lab(h) for h in hs])))
    assert res["value"] == pytest.approx(np.mean(manual), abs=1e-12)
    mn = score_scanpaths(preds, humans, {"sed_min": {"metric": "sed", "pair_reduce": "min"},
                                         "sed": {"pair_reduce": "mean"}})
    assert mn["sed_min"]["value"] <= mn["sed"]["value"]


def test_identical_prediction_is_perfect():
    rng = np.random.default_rng(1)
    h = [_sp(rng, 6, "a", 0)]
    p = [Scanpath(h[0].x.copy(), h[0].y.copy(), h[0].duration.copy(), stimulus="a", subject=9, image_size=(200, 100))]
    res = score_scanpaths(p, h, {"ss": {}, "sed": {}, "dtw": {}, "multimatch": {}, "frechet": {}})
    assert res["ss"]["value"] == 1.0
    assert res["sed"]["value"] == 0.0
    assert res["dtw"]["value"] == 0.0
    assert res["frechet"]["value"] == 0.0
    assert all(v == pytest.approx(1.0) for v in res["multimatch"]["values"].values())


def test_human_consistency_is_leave_one_subject_out(data):
    _, humans = data
    li, ri = pair_indices(humans, humans, loso=True)
    assert len(li) == 4 * 5 * 4
    assert not np.any(li == ri)
    assert all(humans[i].subject != humans[j].subject for i, j in zip(li, ri))
    li2, ri2 = pair_indices(humans, humans, loso=True, include_self=True)
    assert np.sum(li2 == ri2) == len(humans)
    res = human_consistency(humans, {"ss": {}, "ss_self": {"metric": "ss", "include_self": True}})
    assert res["ss"]["n_pairs"] == len(li) and res["ss"]["loso"]
    assert res["ss_self"]["value"] > res["ss"]["value"]  # self pairs score 1


def test_same_subject_twice_is_never_compared():
    rng = np.random.default_rng(2)
    humans = [_sp(rng, 5, "a", 0), _sp(rng, 5, "a", 0), _sp(rng, 5, "a", 1)]
    li, ri = pair_indices(humans, humans, loso=True)
    assert sorted(zip(li.tolist(), ri.tolist())) == [(0, 2), (1, 2), (2, 0), (2, 1)]


def test_nan_coordinates_raise_named_error(data):
    preds, humans = data
    bad = Scanpath([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], stimulus="s0", subject="x", image_size=(200, 100))
    with pytest.raises(ScanpathDataError, match="non-finite x"):
        score_scanpaths(preds + [bad], humans, {"ss": {}})
    with pytest.raises(ScanpathDataError, match="s0"):
        human_consistency(humans + [bad], {"dtw": {}})


def test_unknown_metric_and_param_are_rejected(data):
    preds, humans = data
    with pytest.raises(KeyError, match="unknown metric"):
        score_scanpaths(preds, humans, {"nope": {}})
    with pytest.raises(ValueError, match="no parameter"):
        score_scanpaths(preds, humans, {"ss": {"gird": [5, 5]}})


def test_empty_and_short_scanpaths(caplog):
    rng = np.random.default_rng(3)
    h = [_sp(rng, 5, "a", 0)]
    empty = Scanpath([], [], duration=[], stimulus="a", subject=1, image_size=(200, 100))
    one = _sp(rng, 1, "a", 2)
    two = _sp(rng, 2, "a", 3)
    with caplog.at_level("INFO", logger="scanpath.metrics.evaluation"):  # NaN pairs: counted and logged once
        res = score_scanpaths([empty, one, two], h, {"ss": {}, "sed": {}, "dtw": {}, "multimatch": {}})
    assert any("multimatch: 3 of 3 pairs are NaN" in r.getMessage() for r in caplog.records)
    assert res["ss"]["value"] == pytest.approx(np.mean([0.0, _ss1(one, h[0]), _ss1(two, h[0])]))
    assert res["multimatch"]["n_nan"] == 3 and np.isnan(res["multimatch"]["value"])
    assert res["dtw"]["n_nan"] == 1  # empty vs non-empty: DTW undefined
    padded = score_scanpaths([two], h, {"multimatch": {"short_policy": "pad_ones"}})["multimatch"]
    assert np.isfinite(padded["value"]) and padded["n_nan"] == 0
    # both empty -> SS pair NaN, excluded and counted
    r = score_scanpaths([empty], [Scanpath([], [], stimulus="a", subject=0, image_size=(200, 100))], {"ss": {}})
    assert r["ss"]["n_nan"] == 1 and np.isnan(r["ss"]["value"])


def _ss1(a, b):
    from scanpath.metrics.labelers import GridLabeler
    from scanpath.metrics.sequence import sequence_score

    lab = GridLabeler((5, 5))
    return float(sequence_score([lab(a)], [lab(b)])[0])


def test_different_image_sizes_use_own_frames():
    # the same relative path on two image sizes gives identical grid strings and MultiMatch scores
    x, y = np.array([10.0, 150.0, 60.0, 190.0]), np.array([10.0, 90.0, 40.0, 20.0])
    xs, ys = np.array([20.0, 120.0, 90.0, 180.0]), np.array([50.0, 60.0, 10.0, 80.0])
    small = [Scanpath(x, y, [200] * 4, stimulus="a", subject=0, image_size=(200, 100)),
             Scanpath(xs, ys, [300] * 4, stimulus="a", subject=1, image_size=(200, 100))]
    big = [Scanpath(x * 3, y * 5, [200] * 4, stimulus="b", subject=0, image_size=(600, 500)),
           Scanpath(xs * 3, ys * 5, [300] * 4, stimulus="b", subject=1, image_size=(600, 500))]
    r1 = human_consistency(small, {"ss": {}, "sed": {}})
    r2 = human_consistency(big, {"ss": {}, "sed": {}})
    assert r1["ss"]["value"] == r2["ss"]["value"] and r1["sed"]["value"] == r2["sed"]["value"]
    r3 = human_consistency(small + big, {"dtw": {"frame": [512, 320]}})
    assert np.isfinite(r3["dtw"]["value"])


def test_registry_entries_have_defaults():
    assert {"ss", "sed", "dtw", "multimatch", "scanmatch", "oat_delta"} <= set(registry)
    for spec in registry.values():
        assert spec.kind in ("pair", "set")
        spec.params({})


# ---------------------------------------------------------------------------------- OAT
def test_oat_stats_examples():
    assert oat_stats([5, 5, 7, 5, 9], 9) == pytest.approx(
        {"found": 1, "length": 5, "search": 0.6, "refix": 0.2, "revisit": 0.2})
    assert oat_stats([3, 3, 5, 3, 7], 7) == pytest.approx(
        {"found": 1, "length": 5, "search": 0.6, "refix": 0.2, "revisit": 0.2})
    s = oat_stats([1, 2, 3], 9)
    assert s["found"] == 0 and s["search"] == 1


def test_oat_proportions_sum_to_one():
    rng = np.random.default_rng(4)
    for _ in range(200):
        seq = rng.integers(0, 6, rng.integers(1, 30))
        s = oat_stats(seq, 3)
        assert s["search"] + s["refix"] + s["revisit"] == pytest.approx(1.0, abs=1e-9)


def test_mean_stats_samples_then_trials():
    t1 = [oat_stats([1, 2], 2), oat_stats([1, 1, 1, 2], 2)]  # lengths 2, 4 -> 3
    t2 = [oat_stats([5] * 10, 2)]  # length 10
    m = mean_stats([t1, t2])
    assert m["length"] == pytest.approx((3 + 10) / 2)
    assert m["found"] == pytest.approx((1 + 0) / 2)


def test_oat_delta_rules():
    h = {"found": 0.5, "length": 10.0, "search": 0.8, "refix": 0.2, "revisit": 0.0}
    with pytest.warns(UserWarning, match="0/0"):
        d, terms = oat_delta(h, h)
    assert d == 0.0
    m = dict(h, length=12.0)
    with pytest.warns(UserWarning, match="0/0"):
        d, terms = oat_delta(m, h)
    assert d == pytest.approx(0.2 / 5) and np.isnan(terms["revisit"])
    d2, _ = oat_delta(m, h, compat=True)
    assert d2 == d


def test_oat_delta_registry_on_object_strings():
    def sp(objs, subj, trial):
        n = len(objs)
        return Scanpath(np.zeros(n), np.zeros(n), stimulus=trial, subject=subj, task="7",
                        fixation_extra={"object": np.asarray(objs, dtype=np.int64)})
    humans = [sp([3, 3, 5, 3, 7], 0, "t1"), sp([1, 7], 1, "t1"), sp([2, 2, 7], 0, "t2")]
    res = score_scanpaths(humans, humans, {"oat_delta": {}, "ss_obj": {"metric": "ss", "labeler": "object"}})
    assert res["oat_delta"]["value"] == 0.0
    hc = human_consistency(humans, {"oat_delta": {}, "ss_obj": {"metric": "ss", "labeler": "object"}})
    assert hc["oat_delta"]["value"] == 0.0
    # t1: (3,3,5,3,7) vs (1,7): LCS 1 / max 5 in both directions; t2 has a single subject (no pair)
    assert hc["ss_obj"]["value"] == pytest.approx(1 / 5)
    assert hc["ss_obj"]["n_unmatched"] == 1


def test_semss_with_segmentation_maps(tmp_path):
    import gzip

    seg = np.zeros((320, 512), dtype=np.int64)
    seg[:, 256:] = 1
    seg[160:, :] += 2
    with gzip.open(tmp_path / "img1.npy.gz", "wb") as fh:
        np.save(fh, seg)
    # 1024×640 stimulus -> 512×320 frame; labels 0 (top-left), 1 (top-right), 3 (bottom-right)
    p = Scanpath([100, 900, 900], [100, 100, 600], stimulus="img1.jpg", subject=1, image_size=(1024, 640))
    h = Scanpath([100, 900], [100, 100], stimulus="img1.jpg", subject=0, image_size=(1024, 640))
    r = score_scanpaths([p], [h], {"semss": {"segmentation_dir": str(tmp_path)},
                                   "semfed": {"segmentation_dir": str(tmp_path)}})
    assert r["semss"]["value"] == pytest.approx(2 / 3)
    assert r["semfed"]["value"] == 1.0


def test_ss_time_and_dss_registry():
    p = Scanpath([10, 60], [10, 10], [120, 40], stimulus="a", subject=1, image_size=(100, 100))
    h = Scanpath([10, 60], [10, 10], [100, 200], stimulus="a", subject=0, image_size=(100, 100))
    r = score_scanpaths([p], [h], {"ss_time": {"grid": [2, 2]}})
    assert r["ss_time"]["value"] == pytest.approx(2 / 6)
    # DSS: one key, predictions identical to each other and to the two identical humans -> 1/(1+0)
    hs = [dataclasses_replace(h, subject=k) for k in range(2)]
    ps = [dataclasses_replace(h, subject=f"m{k}") for k in range(2)]
    assert score_scanpaths(ps, hs, {"dss": {"grid": [2, 2]}})["dss"]["value"] == pytest.approx(1.0)
    # predictions all different from the humans but identical to each other: SS_HM = 0
    q = [Scanpath([90, 90], [90, 90], stimulus="a", subject=f"m{k}", image_size=(100, 100)) for k in range(2)]
    assert score_scanpaths(q, hs, {"dss": {"grid": [2, 2]}})["dss"]["value"] == 0.0


def dataclasses_replace(s, **kw):
    import dataclasses

    return dataclasses.replace(s, **kw)


def test_saliency_set_metric_perfect_prediction():
    rng = np.random.default_rng(5)
    hs = [_sp(rng, 6, f"s{k}", j, size=(64, 48)) for k in range(2) for j in range(3)]
    ps = [dataclasses_replace(h, subject=f"m{h.subject}") for h in hs]
    r = score_scanpaths(ps, hs, {"saliency": {"n_splits": 5, "sigma": 3.0}})["saliency"]
    v = r["values"]
    assert v["cc"] == pytest.approx(1.0) and v["sim"] == pytest.approx(1.0) and v["kld"] == pytest.approx(0.0, abs=1e-9)
    assert 0.5 < v["auc_judd"] <= 1 and 0 <= v["sauc"] <= 1
    hc = human_consistency(hs, {"saliency": {"n_splits": 5, "sigma": 3.0}})["saliency"]
    assert hc["loso"] and hc["n"] == len(hs) and hc["values"]["cc"] < 1


def test_truncation_and_cut_at_target():
    box = {"bbox": [40, 40, 20, 20]}
    p = Scanpath([5, 50, 90, 95], [5, 50, 90, 95], stimulus="a", subject=1, condition="present",
                 image_size=(100, 100), extra=box)
    h = Scanpath([5, 50], [5, 50], stimulus="a", subject=0, condition="present", image_size=(100, 100), extra=box)
    r = score_scanpaths([p], [h], {"cut": {"metric": "ss", "cut_at_target": True},
                                   "trunc": {"metric": "ss", "truncate_pred": 3}, "full": {"metric": "ss"}})
    assert r["cut"]["value"] == 1.0  # cut after the on-target 2nd fixation -> identical strings
    assert r["trunc"]["value"] == pytest.approx(2 / 3) and r["full"]["value"] == pytest.approx(2 / 4)


@pytest.mark.parametrize("preset", ["irl", "gazeformer", "hat", "scandiff", "full", "coco_search18", "h360",
                                    "oat_objects"])
def test_metric_presets_resolve(preset):
    from scanpath.metrics.registry import resolve

    cfg = yaml.safe_load((REPO / f"conf/metrics/{preset}.yaml").read_text())
    for entry, params in cfg.items():
        resolve(entry, params)


def test_dss_scandiff_compat_uses_t_lists():
    hs = [Scanpath([10, 60], [10, 10], stimulus="a", subject=k, image_size=(100, 100)) for k in range(2)]
    # two different predictions without durations: labels differ (SS_MM = 0.5) but T lists are equal
    ps = [Scanpath([10, 60], [10, 10], stimulus="a", subject="m0", image_size=(100, 100)),
          Scanpath([10, 10], [10, 60], stimulus="a", subject="m1", image_size=(100, 100))]
    fixed = score_scanpaths(ps, hs, {"dss": {"grid": [2, 2]}})["dss"]["value"]
    compat = score_scanpaths(ps, hs, {"dss": {"grid": [2, 2], "dss_scandiff_compat": True}})["dss"]["value"]
    ss_hm = (1.0 + 0.5) / 2  # pred 0 equals the humans; pred 1 shares one label
    assert fixed == pytest.approx(ss_hm / (1 + abs(0.5 - 1.0)))
    assert compat == pytest.approx(ss_hm / (1 + abs(1.0 - 1.0)))


def test_reduce_pairs_equals_one_reduction_per_prediction():
    """Issue 18 item 3: the per-prediction reduction over its humans runs once per group size; it
    must stay bit-identical to reducing each prediction's pairs on its own (NaN pairs, 1 or 5
    dimensions, groups of 1–30 humans incl. > 8 where numpy's pairwise summation starts)."""
    import warnings

    from scanpath.metrics.evaluation import _reduce_pairs

    rng = np.random.default_rng(3)
    fns = {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}
    for _ in range(60):
        n_left, k = int(rng.integers(1, 60)), int(rng.choice([1, 5]))
        li = np.repeat(np.arange(n_left), rng.integers(0, 30, n_left))
        rng.shuffle(li)
        vals = rng.normal(size=(len(li), k)) * 10.0 ** rng.uniform(-3, 3, size=(len(li), k))
        vals[rng.random(vals.shape) < 0.2] = np.nan
        for how, fn in fns.items():
            want = np.full((n_left, k), np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                for i in np.unique(li):
                    want[i] = fn(vals[li == i], axis=0)
            assert np.array_equal(_reduce_pairs(vals, li, n_left, how), want, equal_nan=True)
