"""OAT learns (slow, CPU): a short layout-only training run on the shared Amazon data beats the random
and center object baselines on Δ and SS on the held-out test split.

    pytest -q -m slow tests/test_oat_learning.py -s
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, compose_config
from omegaconf import OmegaConf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_covers" / "Amazon.json"
EPOCHS = 20


@pytest.mark.slow
def test_short_training_beats_random_and_center_on_delta_and_ss(tmp_path):
    if not DATA.is_file():
        pytest.skip("shared Amazon data not available (../shared/data/amazon_covers/Amazon.json)")
    sys.path.insert(0, str(REPO_ROOT))
    import train as train_script

    from scanpath.evaluation.protocols import OATProtocol

    cfg = compose_config("train", ["experiment=oat_amazon", f"data.root={DATA.parent}", f"trainer.max_epochs={EPOCHS}",
                                   "callbacks.rich_progress_bar=null", "test=false", "evaluate=false"], tmp_path)
    _, objs = train_script.train(cfg)
    # evaluate the final in-memory weights: after so few epochs greedy val/delta (the upstream
    # selection rule) still favours the near-untrained first epoch, whose greedy rollouts do not loop
    assert objs["trainer"].current_epoch == EPOCHS
    metrics = OmegaConf.load(REPO_ROOT / "conf" / "metrics" / "oat.yaml")
    result = OATProtocol(metrics=metrics, samples=100, baseline_rollouts=100).run(
        model=objs["model"], datamodule=objs["datamodule"], out_dir=tmp_path / "eval", seed=cfg.seed)
    rows = result.rows
    delta = {k: r["metrics"]["oat_delta"]["value"] for k, r in rows.items()}
    ss = {k: r["metrics"]["ss"]["value"] for k, r in rows.items()}
    oat = "OAT (sampled ×100)"
    for base in ("random (objects)", "center (objects)"):
        assert delta[oat] < delta[base], (delta, ss)
        assert ss[oat] > ss[base], (delta, ss)
