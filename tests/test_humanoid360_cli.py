"""Entry points: `evaluate.py … data=hstar` through the runner hook; `train.py model=humanoid360_grpo` (slow)."""

from __future__ import annotations

import json

import pytest

from scanpath.stimuli.panoramas import generate_scene, write_hstar


def test_evaluate_runner_on_tiny_hstar_folder(tmp_path, compose):
    import evaluate

    root = write_hstar([generate_scene(s, size=(256, 128)) for s in range(2)], tmp_path / "hos_bench")
    out = tmp_path / "run"
    cfg = compose("evaluate", ["model=humanoid360_baseline", "data=hstar", f"data.root={root}",
                               "runner.resolution=36", "runner.progress=false"], out)
    result = evaluate.evaluate(cfg)
    hos = result["summary"]["random submit"]["HOS"]
    assert result["n_episodes"] == 8 and hos["n"] == 8 and hos["mean_steps"] == 1.0
    saved = json.loads((out / "success.json").read_text())
    assert set(saved["summary"]) == {"turn in place (model)", "random submit", "turn in place"}
    assert (out / "steps_to_success.png").exists() and "| random submit | HOS |" in (out / "success.md").read_text()


@pytest.mark.slow
def test_train_grpo_entry_point_runs_offline(tmp_path, compose):
    import train

    cfg = compose("train", ["model=humanoid360_grpo", "data.n_scenes=6", "data.size=[256,128]", "logger=csv",
                            "model.train_budget.max_epochs=1", "trainer.accelerator=cpu"], tmp_path)
    metrics, objects = train.train(cfg)
    assert "train/success" in metrics and "val/success" in metrics
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
