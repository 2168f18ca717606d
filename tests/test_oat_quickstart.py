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


@pytest.mark.slow
def test_quick_start_seed1_beats_random_and_center_on_delta_and_ss(tmp_path):
    sys.path.insert(0, str(REPO_ROOT))
    import train as train_script

    cfg = compose_config("train", ["model=oat", "seed=1", "test=false"], tmp_path)
    _, objs = train_script.train(cfg)  # fit, then the end-of-run OAT protocol on the test layouts
    assert objs["trainer"].checkpoint_callback.best_model_path, "the quick start must write a best checkpoint"
    payload = objs["evaluation"]
    assert payload["settings"]["checkpoint"], "the evaluation must score the best checkpoint"
    rows = payload["rows"]
    delta = {k: r["metrics"]["oat_delta"]["value"] for k, r in rows.items()}
    ss = {k: r["metrics"]["ss"]["value"] for k, r in rows.items()}
    print(delta, ss)
    oat = "OAT (sampled ×100)"
    for base in ("random (objects)", "center (objects)"):
        assert delta[oat] < delta[base], (delta, ss)
        assert ss[oat] > ss[base], (delta, ss)
