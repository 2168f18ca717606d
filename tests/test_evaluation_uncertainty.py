"""Tables a scientist trusts: n, SEM and a seeded bootstrap CI over stimuli in every cell; rows on
other stimulus sets flagged; the length note; no duplicate rows; one score per 360° agent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config

from scanpath.evaluation import Entry, evaluate_models, validate_metrics
from scanpath.evaluation.report import EvaluationResult, length_notes, render_markdown, write_report
from scanpath.evaluation.schema import SchemaError, metric_from_units
from scanpath.metrics import human_consistency, score_scanpaths
from scanpath.metrics.uncertainty import column_stats
from scanpath.types import Scanpath, ScanpathBatch


# ------------------------------------------------------------------------------ the estimates
def test_sem_is_cluster_robust_and_reduces_to_the_textbook_sem():
    rng = np.random.default_rng(3)
    # balanced: 12 stimuli x 4 units -> SD of the per-stimulus means / sqrt(12)
    v = rng.normal(size=48)
    keys = [f"s{i // 4}" for i in range(48)]
    st = column_stats(v, keys)[0]
    means = v.reshape(12, 4).mean(axis=1)
    assert st["sem"] == pytest.approx(means.std(ddof=1) / math.sqrt(12), rel=1e-12)
    assert st["n_stimuli"] == 12 and st["per_stimulus"]["s3"] == pytest.approx(means[3])
    # unbalanced, with NaN units: the cluster-robust formula, written out
    sizes = [1, 2, 3, 6] * 3
    keys = np.repeat([f"s{k}" for k in range(12)], sizes)
    u = rng.normal(size=len(keys))
    u[[0, 5, 6]] = np.nan  # s0 loses its only unit
    st = column_stats(u, list(keys))[0]
    s = np.array([np.nansum(u[keys == f"s{k}"]) for k in range(12)])
    n = np.array([np.isfinite(u[keys == f"s{k}"]).sum() for k in range(12)])
    s, n = s[n > 0], n[n > 0]
    mean = s.sum() / n.sum()
    k = len(s)
    assert k == 11
    assert st["sem"] == pytest.approx(math.sqrt(k / (k - 1) * ((s - n * mean) ** 2).sum()) / n.sum(), rel=1e-12)
    assert st["n_stimuli"] == k
    assert column_stats([1.0, 2.0], ["a", "a"])[0]["sem"] is None  # one stimulus: not estimable


def test_bootstrap_ci_is_seeded_and_close_to_the_normal_interval():
    rng = np.random.default_rng(0)
    v = rng.normal(1.0, 2.0, size=400)
    keys = [f"s{i}" for i in range(400)]
    a, b = column_stats(v, keys)[0], column_stats(v, keys)[0]
    assert a["ci95"] == b["ci95"]  # seeded: the same interval every run
    lo, hi = a["ci95"]
    assert lo < v.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(1.96 * a["sem"], rel=0.15)
    # per_task: the mean over tasks of per-task means; SEM combines the per-task SEMs
    tasks = ["a"] * 100 + ["b"] * 300
    st = column_stats(v, keys, tasks)[0]
    sa, sb = (column_stats(v[m], [k for k, x in zip(keys, m) if x])[0]["sem"]
              for m in (np.arange(400) < 100, np.arange(400) >= 100))
    assert st["sem"] == pytest.approx(math.sqrt(sa ** 2 + sb ** 2) / 2)


def test_key_reduce_key_and_trial_use_their_weights():
    humans, preds = _humans_and_preds()
    preds = preds + preds[:3]  # unbalanced: some keys get more predictions
    by_key = score_scanpaths(preds, humans, {"ss": {"key_reduce": "key"}})["ss"]
    means = np.array(list(by_key["per_stimulus"].values()))
    assert by_key["value"] == pytest.approx(means.mean())  # every key weighs the same ...
    assert by_key["sem"] == pytest.approx(means.std(ddof=1) / math.sqrt(len(means)))  # ... in the SEM too
    humans = humans + humans[:2]  # s0 gets more human trials
    by_trial = score_scanpaths(preds, humans, {"ss": {"key_reduce": "trial"}})["ss"]
    w = np.array([sum(h.stimulus == k for h in humans) for k in by_trial["per_stimulus"]], dtype=float)
    m = np.array(list(by_trial["per_stimulus"].values()))
    mean = (w * m).sum() / w.sum()
    assert by_trial["value"] == pytest.approx(mean)
    k = len(m)
    assert by_trial["sem"] == pytest.approx(math.sqrt(k / (k - 1) * ((w * (m - mean)) ** 2).sum()) / w.sum())


def _humans_and_preds(n_keys=6, n_subjects=3, seed=0):
    rng = np.random.default_rng(seed)
    humans = [Scanpath(rng.uniform(0, 100, 6), rng.uniform(0, 80, 6), stimulus=f"s{k}", subject=j, task="t",
                       image_size=(100, 80)) for k in range(n_keys) for j in range(n_subjects)]
    preds = [Scanpath(rng.uniform(0, 100, 4), rng.uniform(0, 80, 4), stimulus=f"s{k}", subject=0, task="t",
                      image_size=(100, 80)) for k in range(n_keys) for _ in range(2)]
    return humans, preds


def test_per_stimulus_values_equal_scoring_each_stimulus_alone():
    humans, preds = _humans_and_preds()
    metrics = {"ss": {}, "sed": {}, "multimatch": {}}
    res = score_scanpaths(preds, humans, metrics)
    for entry in metrics:
        r = res[entry]
        assert r["n_stimuli"] == 6 and r["sem"] > 0 and r["ci95"][0] <= r["value"] <= r["ci95"][1], entry
        for key, v in r["per_stimulus"].items():  # no recomputation needed, and none would differ
            alone = score_scanpaths([p for p in preds if p.stimulus == key], [h for h in humans if h.stimulus == key],
                                    {entry: {}})[entry]["value"]
            assert v == pytest.approx(alone), (entry, key)
    assert set(res["multimatch"]["values_sem"]) == set(res["multimatch"]["values"])
    # the human row (leave one subject out) has them too, over the same stimuli
    h = human_consistency(humans, {"ss": {}})["ss"]
    assert h["n_stimuli"] == 6 and h["sem"] > 0 and set(h["per_stimulus"]) == set(res["ss"]["per_stimulus"])


def test_set_metrics_carry_sem_or_say_why_not():
    humans, preds = _humans_and_preds()
    res = score_scanpaths(preds, humans, {"saliency": {"n_splits": 2}, "dss": {}})
    assert res["saliency"]["n_stimuli"] == 6 and res["saliency"]["values_sem"]["nss"] is not None
    humans_bbox = [Scanpath(h.x, h.y, stimulus=h.stimulus, subject=h.subject, task="t", condition="present",
                            image_size=(100, 80), extra={"bbox": [10, 10, 20, 20]}) for h in humans]
    preds_bbox = [Scanpath(p.x, p.y, stimulus=p.stimulus, subject=0, task="t", condition="present",
                           image_size=(100, 80), extra={"bbox": [10, 10, 20, 20]}) for p in preds]
    se = score_scanpaths(preds_bbox, humans_bbox, {"search_efficiency": {}})["search_efficiency"]
    assert se["sem"] is None and "TFP" in se["uncertainty_note"]


def test_schema_v2_fields_and_v1_files_still_read():
    humans, preds = _humans_and_preds()
    row = {"role": "model", "n_predictions": len(preds), "metrics": score_scanpaths(preds, humans, {"ss": {}})}
    payload = EvaluationResult(settings={"dataset": "x"}, rows={"m": row}).payload()
    assert payload["schema_version"] == 2 and "per_stimulus" not in payload["rows"]["m"]["metrics"]["ss"]
    validate_metrics(payload)
    old = json.loads(json.dumps(payload))
    old["schema_version"] = 1
    for k in ("sem", "ci95", "n_stimuli"):
        old["rows"]["m"]["metrics"]["ss"].pop(k)
    validate_metrics(old)  # a version-1 file (no uncertainty fields) still validates
    bad = json.loads(json.dumps(payload))
    bad["rows"]["m"]["metrics"]["ss"]["ci95"] = [0.1]
    with pytest.raises(SchemaError, match="ci95"):
        validate_metrics(bad)


def test_metric_from_units_levels_and_percent():
    ok = np.array([1, 0, 1, 1, 0, 1, 1, 1], dtype=float)
    level = np.array(["easy"] * 4 + ["hard"] * 4)
    m = metric_from_units(ok, scale=100.0, higher_is_better=True,
                          values={lv: np.where(level == lv, ok, np.nan) for lv in ("easy", "hard")})
    assert m["value"] == pytest.approx(75.0) and m["values"] == {"easy": 75.0, "hard": 75.0}
    assert m["sem"] == pytest.approx(100 * ok.std(ddof=1) / math.sqrt(8)) and m["values_n_stimuli"]["hard"] == 4


# ------------------------------------------------------------------------------ the tables
def _row(role, keys, value, sem=0.01, length=None, entry="ss", hib=True, **extra):
    res = {"value": value, "higher_is_better": hib, "n": len(keys), "n_nan": 0, "params": {}, "sem": sem,
           "ci95": [value - 2 * sem, value + 2 * sem], "n_stimuli": len(keys),
           "per_stimulus": {k: value for k in keys}}
    if length is not None:
        res.update(mean_length=length, length_dependent=True)
    return {"role": role, "n_predictions": len(keys), "metrics": {entry: res}, **extra}


def test_rows_on_other_stimulus_sets_are_flagged_everywhere(tmp_path):
    full = [f"s{i}" for i in range(10)]
    rows = {"Model": _row("model", full[:4], 0.2), "Random": _row("baseline", full, 0.1),
            "Human": _row("human", full, 0.3)}
    result = EvaluationResult(settings={"dataset": "x", "protocol": "plain"}, rows=rows)
    write_report(result, tmp_path, console=False)
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert payload["rows"]["Model"]["stimuli_differ"] is True and payload["rows"]["Model"]["n_stimuli"] == 4
    assert payload["rows"]["Human"]["stimuli_differ"] is False
    assert payload["settings"]["uncertainty"]["seed"] == 0
    md = (tmp_path / "metrics.md").read_text()
    assert "| Model (model) † | 0.200 ± 0.010 | 4 |" in md
    assert "† Model: scored on 4 of the 10 stimuli" in md
    per = json.loads((tmp_path / "per_stimulus.json").read_text())
    assert set(per["rows"]["Model"]["ss"]) == set(full[:4])
    from test_report import _page_data

    page = _page_data((tmp_path / "report.html").read_text())
    assert "Model (model) †" in {r["label"] for r in page["rows"]}
    assert any("scored on 4 of the 10 stimuli" in line for line in page["notes"])


def test_length_note_names_the_metric_and_the_lengths():
    keys = ["a", "b"]
    rows = {"Random": _row("baseline", keys, 10.0, length=8.0, entry="sed", hib=False),
            "Long": _row("model", keys, 13.0, length=14.0, entry="sed", hib=False),
            "Human": _row("human", keys, 12.0, length=11.5, entry="sed", hib=False)}
    notes = length_notes(rows)
    assert len(notes) == 1 and notes[0].startswith("- sed: Human ranks below Random")
    assert "11.5" in notes[0] and "8.0" in notes[0] and "Long" not in notes[0]
    rows["Human"]["metrics"]["sed"]["mean_length"] = 7.0  # shorter humans: their loss is not length
    assert length_notes(rows) == []
    rows["Human"]["metrics"]["sed"].pop("length_dependent")  # a normalised metric: never noted
    rows["Human"]["metrics"]["sed"]["mean_length"] = 11.5
    assert length_notes(rows) == []
    # end to end: the scorer marks raw SED and DTW, not SS or the SED similarity column
    humans, preds = _humans_and_preds()
    res = score_scanpaths(preds, humans, {"sed": {}, "dtw": {}, "ss": {}})
    assert res["sed"]["length_dependent"] and res["dtw"]["length_dependent"] and "length_dependent" not in res["ss"]
    assert res["sed"]["mean_length"] == 4.0
    hum = human_consistency(humans, {"sed": {}})
    md = render_markdown(EvaluationResult(settings={"dataset": "x"}, rows={
        "Short": {"role": "baseline", "n_predictions": 12, "metrics": {"sed": res["sed"]}},
        "Human": {"role": "human", "n_predictions": 18, "metrics": hum}}))
    if hum["sed"]["value"] > res["sed"]["value"]:
        assert "- sed: Human ranks below Short" in md and "(mean 6.0 fixations vs 4.0)" in md


# ------------------------------------------------------------------------------ the pipeline
class _DropHalf:
    """A model that predicts only every other stimulus (a model that skipped some)."""

    display_name = "Half"

    def __init__(self, inner):
        self.inner, self.seen = inner, 0

    def predict_scanpaths(self, batch):
        out = self.inner.predict_scanpaths(batch).to_list()
        keep = [s for i, s in enumerate(out) if (self.seen + i) % 2 == 0]
        self.seen += len(out)
        return ScanpathBatch.from_list(keep)


@pytest.fixture(scope="module")
def search_arrays(tmp_path_factory):
    from hydra.utils import instantiate

    cfg = compose_config("evaluate", ["data.num_layouts=20"], tmp_path_factory.mktemp("sa"))
    return instantiate(cfg.data)


def test_pipeline_flags_a_model_that_skipped_stimuli_and_never_repeats_a_row(search_arrays, tmp_path):
    from scanpath.models.baselines import RandomBaseline

    entries = [Entry("Half", _DropHalf(RandomBaseline(seed=1)), "model"),
               Entry("Random", RandomBaseline(seed=0), "baseline"),
               Entry("Random (T=10)", RandomBaseline(n_fixations=10, seed=0, name="Random (T=10)"), "baseline"),
               Entry("Random copy", RandomBaseline(seed=0), "baseline")]
    result = evaluate_models(search_arrays, entries, {"ss": {}}, tmp_path, n_figures=0, n_stimuli=0,
                             write_files=False, progress=False)
    # the default Random fits the median human length, so it is not the T=10 row ...
    median = int(round(float(np.median([len(h) for h in search_arrays.human_scanpaths("train")]))))
    assert median != 10 and {"Random", "Random (T=10)"} <= set(result.rows)
    assert result.rows["Random"]["metrics"]["ss"]["mean_length"] == median
    # ... and an identical row is listed under skipped, not shown twice
    assert "Random copy" not in result.rows and "identical predictions" in result.skipped["Random copy"]
    write_report(result, tmp_path, console=False)
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert rows["Half"]["stimuli_differ"] and not rows["Random"]["stimuli_differ"]
    assert rows["Half"]["n_stimuli"] < rows["Random"]["n_stimuli"] == rows["Human"]["n_stimuli"]
    with pytest.raises(ValueError, match="two evaluation entries are named 'Random'"):
        evaluate_models(search_arrays, [Entry("Random", RandomBaseline(), "model"),
                                        Entry("Random", RandomBaseline(seed=3), "baseline")],
                        {"ss": {}}, tmp_path, n_figures=0, n_stimuli=0, write_files=False, progress=False)


@pytest.mark.parametrize("preset", sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "experiment")
                                          .glob("nevaclip*.yaml")))
def test_nevaclip_presets_name_every_baseline_once(preset, tmp_path):
    from scanpath.utils.instantiators import instantiate_baselines

    overrides = [f"experiment={preset}"] + (["model.classifier.checkpoint=null"] if "neva_opt" in preset else [])
    cfg = compose_config("evaluate", overrides, tmp_path)
    entries, _ = instantiate_baselines(cfg, "NevaClip")
    names = [e.name for e in entries]
    assert len(names) == len(set(names)), names


def test_success360_scores_each_agent_once(tmp_path):
    from scanpath.evaluation.protocols.success360 import run_success
    from scanpath.models.humanoid360.agents import TurnInPlaceAgent
    from scanpath.stimuli.panoramas import generate_scene, scene_episodes

    episodes = scene_episodes(generate_scene(0, preset="toy", size=(512, 256)))
    out = run_success(TurnInPlaceAgent(seed=1), tmp_path, episodes=episodes, resolution=36, progress=False,
                      renderer="none")
    assert set(out["summary"]) == {"turn in place", "random submit"}  # not "turn in place (model)" + a twin
    assert out["model_row"] == "turn in place" and "one score per agent" in out["skipped"]["turn in place"]
    from scanpath.evaluation.protocols.success360 import success_rows

    rows = success_rows(out["summary"], out["model_row"], out["per_episode"])
    cell = rows["turn in place"]["metrics"]["success.HOS"]
    assert cell["n_stimuli"] == len([e for e in episodes if e.task == "HOS"]) and "sem" in cell
    assert "± " in out["table"] or cell["sem"] is None
