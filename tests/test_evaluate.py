"""evaluate.py: the four outputs, finite in-range values, LOSO human row, checkpoints, runner hook."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, compose_config, write_tiny_coco

sys.path.insert(0, str(REPO_ROOT))
import evaluate as evaluate_script  # noqa: E402

from scanpath.evaluation.report import dropped_columns, table_columns  # noqa: E402,F401
from scanpath.io.coco import read_coco_json, sidecar_path  # noqa: E402
from scanpath.types import scanpath_key  # noqa: E402

#: value ranges of the default metrics (main value and sub-dimensions)
RANGES = {"ss": (0, 1), "multimatch": (0, 1), "scanmatch": (-math.inf, 1), "sed": (0, math.inf),
          "dtw": (0, math.inf), "fed": (0, math.inf), "frechet": (0, math.inf)}
SETTINGS_KEYS = {"frame", "truncation", "padding", "pair_reduce", "human_consistency", "samples_per_image",
                 "library_version", "dataset", "synthetic", "mm_tie_break", "duration_policy", "key_reduce",
                 "cluster_source", "test_file_sha256"}


def _check_outputs(out: Path, payload: dict, expect_rows: set[str]) -> dict:
    for name in ("predictions.json", "metrics.json", "metrics.md"):
        assert (out / name).is_file(), name
    assert sidecar_path(out / "predictions.json").is_file()
    pngs = list((out / "figures").glob("scanpaths_*.png"))
    assert pngs and (out / "figures" / "metrics_table.png").is_file()
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"] == json.loads(json.dumps(payload["settings"]))
    assert SETTINGS_KEYS <= set(metrics["settings"])
    assert set(metrics["rows"]) == expect_rows
    for row_name, row in metrics["rows"].items():
        for entry, res in row["metrics"].items():
            assert "params" in res, (row_name, entry)
            v = res["value"]
            assert isinstance(v, float) and math.isfinite(v), (row_name, entry, v)
            lo, hi = RANGES.get(entry, (-math.inf, math.inf))
            assert lo <= v <= hi, (row_name, entry, v)
            for dim, dv in (res.get("values") or {}).items():
                assert dv is None or math.isnan(dv) or lo <= dv <= hi, (row_name, entry, dim, dv)
    md = (out / "metrics.md").read_text()
    for row_name in expect_rows:
        assert row_name in md
    assert "## Settings" in md and "pair_reduce" in md and "truncation" in md and "frame" in md
    return metrics


def test_evaluate_tiny_coco_with_baselines(tmp_path):
    ann = write_tiny_coco(tmp_path / "tiny.json")
    cfg = compose_config("evaluate", ["model=center_bias", "data=coco_search18", f"data.annotations={ann}",
                                      "data.frame=null", "n_figures=2"], tmp_path / "out")
    payload = evaluate_script.evaluate(cfg)
    metrics = _check_outputs(tmp_path / "out", payload, {"Center bias", "Random", "Human"})
    # image-based baselines cannot run without images: skipped with a reason, center_bias duplicates the model
    assert set(metrics["skipped"]) == {"center_bias", "Saliency+IOR", "Target similarity"}
    assert "needs ['image']" in metrics["skipped"]["Saliency+IOR"]
    preds = read_coco_json(tmp_path / "out" / "predictions.json")
    n_keys = len({scanpath_key(s, "task") for s in read_coco_json(ann) if s.extra["split"] == "test"})
    assert len(preds) == n_keys == metrics["rows"]["Center bias"]["n_predictions"]
    side = json.loads(sidecar_path(tmp_path / "out" / "predictions.json").read_text())
    assert side["model"] == "Center bias" and side["samples_per_image"] == 1 and side["durations_predicted"] is False
    assert (tmp_path / "out" / "predictions_random.json").is_file()
    assert metrics["rows"]["Human"]["loso"] is True and metrics["settings"]["human_consistency"]["include_self"] is False


def test_evaluate_with_images_runs_the_saliency_baseline(tmp_path):
    cv2 = pytest.importorskip("cv2")
    ann = write_tiny_coco(tmp_path / "tiny.json", n_stimuli=5, frame=(160, 100))
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    for s in {r.stimulus for r in read_coco_json(ann)}:
        cv2.imwrite(str(img_dir / s), (rng.uniform(0, 255, (100, 160, 3))).astype(np.uint8))
    cfg = compose_config("evaluate", ["model=random", "data=coco_search18", f"data.annotations={ann}",
                                      "data.frame=null", f"data.image_dir={img_dir}", "data.image_resize=[80,50]",
                                      "n_figures=1"], tmp_path / "out")
    payload = evaluate_script.evaluate(cfg)
    metrics = _check_outputs(tmp_path / "out", payload, {"Random", "Center bias", "Saliency+IOR", "Human"})
    assert "target_crop" in metrics["skipped"]["Target similarity"]
    # the saliency baseline's fixations are in the original 160×100 frame although images were served at 80×50
    sal = read_coco_json(tmp_path / "out" / "predictions_saliency_ior.json")
    assert all(s.image_size == (160, 100) for s in sal)
    assert max(float(s.x.max()) for s in sal) > 80


def test_evaluate_amazon_covers_human_row_is_leave_one_subject_out(tmp_path, shared_data):
    pytest.importorskip("scanpath.datamodules.amazon_covers")
    from scanpath.metrics import score_scanpaths

    ann = shared_data / "amazon_covers" / "Amazon.json"
    cfg = compose_config("evaluate", ["model=center_bias", "data=amazon_covers", f"data.annotations={ann}",
                                      "n_figures=1"], tmp_path / "out")
    payload = evaluate_script.evaluate(cfg)
    metrics = _check_outputs(tmp_path / "out", payload, {"Center bias", "Random", "Human"})
    assert metrics["settings"]["dataset"] == "amazon_covers" and metrics["settings"]["synthetic"] is False

    # recompute the human SS by hand: each human vs the OTHER subjects of its key, never itself
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    humans = dm.human_scanpaths("test")
    key = dm.eval_key
    params = metrics["rows"]["Human"]["metrics"]["ss"]["params"]
    per_human = []
    for i, h in enumerate(humans):
        others = [o for j, o in enumerate(humans)
                  if j != i and scanpath_key(o, key) == scanpath_key(h, key) and o.subject != h.subject]
        if others:
            per_human.append(score_scanpaths([h], others, {"ss": params}, key=key)["ss"]["value"])
    expected = float(np.mean(per_human))
    got = metrics["rows"]["Human"]["metrics"]["ss"]["value"]
    assert got == pytest.approx(expected, abs=1e-12)
    with_self = score_scanpaths(humans, humans, {"ss": {**params, "include_self": True}}, key=key)["ss"]["value"]
    assert with_self > got  # self pairs (SS = 1) would inflate it


def test_evaluate_from_checkpoint(tmp_path):
    import train as train_script

    ann = write_tiny_coco(tmp_path / "tiny.json")
    data = ["data=coco_search18", f"data.annotations={ann}", "data.frame=null"]
    tcfg = compose_config("train", ["model=center_bias", *data, "trainer.max_epochs=3", "test=false"], tmp_path / "tr")
    _, objs = train_script.train(tcfg)
    ckpt = tmp_path / "tr" / "checkpoints" / "last.ckpt"
    mu = objs["model"].mu.detach().clone()
    # point mode puts every fixation exactly at mu × (W, H), which exposes the loaded weights
    cfg = compose_config("evaluate", ["model=center_bias", "model.mode=point", *data, f"ckpt_path={ckpt}",
                                      "~baselines", "n_figures=0"], tmp_path / "ev")
    payload = evaluate_script.evaluate(cfg)
    assert payload["rows"]["Center bias"]["checkpoint"] == str(ckpt)
    side = json.loads(sidecar_path(tmp_path / "ev" / "predictions.json").read_text())
    assert side["checkpoint"] == str(ckpt)
    assert not np.allclose(mu.numpy(), [0.5, 0.5], atol=1e-3)  # training moved the centre
    for p in read_coco_json(tmp_path / "ev" / "predictions.json"):
        np.testing.assert_allclose(p.x / p.image_size[0], mu[0].item(), atol=1e-9)
        np.testing.assert_allclose(p.y / p.image_size[1], mu[1].item(), atol=1e-9)
    missing = compose_config("evaluate", ["model=center_bias", *data, f"ckpt_path={tmp_path}/nope.ckpt"], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        evaluate_script.evaluate(missing)


class DummyProtocol:
    """A protocol for the hook test: writes one file and returns one schema-conforming row."""

    name = "dummy"

    def run(self, *, model, datamodule, out_dir, **_):
        from scanpath.evaluation import EvaluationResult, metric_value

        (Path(out_dir) / "protocol.txt").write_text(type(model).__name__)
        row = {"role": "model", "n_predictions": 1,
               "metrics": {"slope": metric_value(1.0, higher_is_better=None, n=1)}}
        return EvaluationResult(settings={"dataset": "dummy", "protocol": self.name}, rows={"m": row})


def test_protocol_hook_replaces_predict_and_score(tmp_path, capsys):
    cfg = compose_config("evaluate", ["model=center_bias", "+protocol._target_=test_evaluate.DummyProtocol"],
                         tmp_path / "run")
    payload = evaluate_script.evaluate(cfg)
    assert payload["rows"]["m"]["metrics"]["slope"]["value"] == 1.0
    assert (tmp_path / "run" / "protocol.txt").read_text() == "CenterBias"
    assert "slope" in capsys.readouterr().out
    # the protocol's result went through the one writer: schema-valid metrics.json, metrics.md, PNG table
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["settings"]["protocol"] == "dummy" and written["figures"] == ["figures/metrics_table.png"]
    assert not (tmp_path / "run" / "predictions.json").exists()


def test_table_arrows_follow_each_sub_dimension():
    from scanpath.metrics import score_scanpaths
    from scanpath.types import Scanpath

    rng = np.random.default_rng(0)
    humans = [Scanpath(rng.uniform(0, 100, 5), rng.uniform(0, 80, 5), stimulus="a", subject=s, task="t",
                       condition="present", image_size=(100, 80), extra={"bbox": [10, 10, 20, 20]})
              for s in (1, 2)]
    preds = [Scanpath(rng.uniform(0, 100, 4), rng.uniform(0, 80, 4), stimulus="a", subject=1, task="t",
                      condition="present", image_size=(100, 80), extra={"bbox": [10, 10, 20, 20]})]
    scores = score_scanpaths(preds, humans, {"sed": {"labeler": "grid", "grid": [5, 5]},
                                             "saliency": {"frame": [100, 80], "n_splits": 2},
                                             "search_efficiency": {"max_steps": 3}}, key="task")
    titles = [c[0] for c in table_columns({"m": {"metrics": scores}})]
    for t in ("sed ↓", "sed.distance ↓", "sed.similarity ↑", "saliency.cc ↑", "saliency.kld ↓",
              "search_efficiency.prob_mismatch ↓", "search_efficiency.tfp_auc ↑", "search_efficiency.tfp_1"):
        assert t in titles, (t, titles)


def test_duplicate_and_empty_columns_are_dropped_with_a_note():
    from scanpath.evaluation.report import EvaluationResult, render_markdown

    def row(v, d):
        return {"role": "model", "n_predictions": 1, "metrics": {
            "sed": {"value": v, "values": {"distance": v, "similarity": 1 - v / 10}, "higher_is_better": False,
                    "dim_higher_is_better": {"distance": False, "similarity": True}},
            "multimatch": {"value": 0.8, "values": {"duration": float("nan"), "shape": d}, "higher_is_better": True}}}

    rows = {"a": row(3.0, 0.7), "b": row(4.0, 0.6)}
    dropped = dropped_columns(rows)
    assert set(dropped) == {"sed.distance ↓", "multimatch.duration ↑"}
    titles = [c[0] for c in table_columns(rows)]
    assert titles == ["sed ↓", "sed.similarity ↑", "multimatch ↑", "multimatch.shape ↑"]
    md = render_markdown(EvaluationResult(settings={"dataset": "x"}, rows=rows))
    assert "column multimatch.duration ↑ not shown: no finite value" in md and "equal to sed in every row" in md


def test_console_prints_the_settings_once_under_the_table(capsys):
    from scanpath.evaluation.report import EvaluationResult, print_console

    rows = {"Model (model)": {"kind": "model", "metrics": {"ss": {"value": 0.2, "higher_is_better": True}}},
            "Human (observer)": {"kind": "human", "metrics": {"ss": {"value": 0.3, "higher_is_better": True}}}}
    settings = {"frame": "original stimulus pixels", "truncation": {"pred": None, "gt": None},
                "samples_per_image": 1, "cluster_source": "not used", "test_set_sha256": "8a4bd83f429fe72fbccd3e53a5dc",
                "dataset": "toy", "protocol": "plain"}
    print_console(EvaluationResult(settings=settings, rows=rows))
    out = capsys.readouterr().out
    assert out.count("settings (all of them") == 1
    for piece in ("frame: original stimulus pixels", "samples_per_image: 1", "cluster_source: not used",
                  "test_set_sha256: 8a4bd83f429f\n", 'truncation: {"pred": null, "gt": null}'):
        assert piece in out, piece
    assert out.index("Human (observer)") < out.index("settings (all of them")
