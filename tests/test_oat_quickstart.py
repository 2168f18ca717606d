"""The README quick start learns (slow, CPU): ``python train.py model=oat seed=1`` on the default SYNTHETIC
search arrays (``split: layout`` — test layouts never seen in training) gives a checkpoint whose sampled
(×100) rollouts beat the random and center object baselines on both Δ (lower) and SS (higher).

    pytest -q -m slow tests/test_oat_quickstart.py -s

Measured numbers (seeds 1–3, timings, load) are in benchmarks/RESULTS.md; this test asserts the
numbers only, never a time.
"""

from __future__ import annotations

import sys

import pytest
from conftest import REPO_ROOT, compose_config
from omegaconf import OmegaConf


@pytest.mark.slow
def test_quick_start_seed1_beats_random_and_center_on_delta_and_ss(tmp_path):
    sys.path.insert(0, str(REPO_ROOT))
    import train as train_script

    from scanpath.models.oat.evaluation import load_module, run_oat_evaluation

    cfg = compose_config("train", ["model=oat", "seed=1", "test=false"], tmp_path)
    _, objs = train_script.train(cfg)
    best = objs["trainer"].checkpoint_callback.best_model_path
    assert best, "the quick start must write a best checkpoint (val/delta)"
    OmegaConf.set_struct(cfg, False)
    cfg.ckpt_path = best
    module = load_module(cfg, objs["datamodule"])
    metrics = OmegaConf.load(REPO_ROOT / "conf" / "metrics" / "oat.yaml")
    out = run_oat_evaluation(cfg, tmp_path / "eval", metrics=metrics, samples=100, baseline_rollouts=100,
                             baselines=("random", "center"), module=module)
    print(out["table"])
    rows = out["rows"]
    delta = {k: r["metrics"]["oat_delta"]["value"] for k, r in rows.items()}
    ss = {k: r["metrics"]["ss"]["value"] for k, r in rows.items()}
    oat = "OAT (sampled ×100)"
    for base in ("random (objects)", "center (objects)"):
        assert delta[oat] < delta[base], (delta, ss)
        assert ss[oat] > ss[base], (delta, ss)
