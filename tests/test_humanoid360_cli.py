"""Entry points: `evaluate.py … data=hstar` through the success protocol; `train.py experiment=humanoid360_grpo` (slow)."""

from __future__ import annotations

import json

import pytest

from scanpath.stimuli.panoramas import generate_scene, write_hstar


def test_evaluate_protocol_on_tiny_hstar_folder(tmp_path, compose):
    import evaluate

    from scanpath.evaluation import validate_metrics

    root = write_hstar([generate_scene(s, size=(256, 128)) for s in range(2)], tmp_path / "hos_bench")
    out = tmp_path / "run"
    cfg = compose("evaluate", ["model=humanoid360_baseline", "data=hstar", f"data.root={root}",
                               "protocol.resolution=36", "protocol.progress=false"], out)
    payload = evaluate.evaluate(cfg)
    validate_metrics(json.loads((out / "metrics.json").read_text()))
    # the model IS the turn-in-place agent: one score per agent, the twin baseline listed as skipped
    assert set(payload["rows"]) == {"random submit", "turn in place"}
    assert "one score per agent" in payload["skipped"]["turn in place"]
    hos = payload["rows"]["random submit"]["metrics"]
    assert hos["success.HOS"]["n"] == 8 and hos["mean_steps.HOS"]["value"] == 1.0
    assert hos["success.HOS"]["n_stimuli"] == 8 and "sem" in hos["success.HOS"]  # over episodes
    assert payload["rows"]["turn in place"]["role"] == "model"
    saved = json.loads((out / "success.json").read_text())
    assert saved["n_episodes"] == 8 and set(saved["summary"]) == set(payload["rows"])
    assert "figures/steps_to_success.png" in payload["figures"] and (out / "figures" / "steps_to_success.png").exists()
    assert "| random submit | HOS |" in (out / "success.md").read_text()


@pytest.mark.slow
def test_train_grpo_entry_point_runs_offline(tmp_path, compose):
    import train

    cfg = compose("train", ["experiment=humanoid360_grpo", "data.n_scenes=6", "data.size=[256,128]", "logger=csv",
                            "model.train_budget.max_epochs=1", "trainer.accelerator=cpu"], tmp_path)
    metrics, objects = train.train(cfg)
    assert "train/success" in metrics and "val/success" in metrics
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
