"""OAT generalises to unseen real collages (slow, CPU): ``python train.py experiment=oat_amazon_layout`` — the
shared Amazon collages 1–80 without images, split by collage — ends with an evaluation of its best
checkpoint on the 8 held-out test collages whose sampled (×100) rollouts beat the random and center
object baselines on Δ (lower) and SS (higher) and find the target far more often than they do.

    pytest -q -m slow tests/test_oat_amazon_layout.py -s

The preset's full budget (30 epochs) runs here; measured numbers, timings and the learning curve are in
benchmarks/RESULTS.md. The test asserts the numbers only, never a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, compose_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_covers" / "Amazon.json"


@pytest.mark.slow
def test_layout_preset_beats_random_and_center_on_unseen_collages(tmp_path):
    if not DATA.is_file():
        pytest.skip("shared Amazon data not available (../shared/data/amazon_covers/Amazon.json)")
    sys.path.insert(0, str(REPO_ROOT))
    import train as train_script

    cfg = compose_config("train", ["experiment=oat_amazon_layout", f"data.root={DATA.parent}",
                                   "callbacks.rich_progress_bar=null", "test=false"], tmp_path)
    _, objs = train_script.train(cfg)  # fit, then the end-of-run OAT protocol on the test collages
    dm = objs["datamodule"]
    train_layouts = {s["layout_id"] for s in dm.samples("train")}
    assert train_layouts.isdisjoint(s["layout_id"] for s in dm.samples("test"))
    assert objs["model"].net.target_cue == "flag"
    payload = objs["evaluation"]
    assert payload["settings"]["checkpoint"], "the evaluation must score the best checkpoint"
    rows = payload["rows"]
    delta = {k: r["metrics"]["oat_delta"]["value"] for k, r in rows.items()}
    ss = {k: r["metrics"]["ss"]["value"] for k, r in rows.items()}
    found = {k: r["metrics"]["oat_delta"]["values"]["found"] for k, r in rows.items()}
    print(delta, ss, found)
    oat = "OAT (sampled ×100)"
    for base in ("random (objects)", "center (objects)"):
        assert delta[oat] < delta[base], (delta, ss)
        assert ss[oat] > ss[base], (delta, ss)
        assert found[oat] > 3 * found[base], found
