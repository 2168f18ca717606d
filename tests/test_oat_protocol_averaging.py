"""OAT protocol averaging (issue 15 items 1–3): every statistic over test trials (upstream), per-trial
teacher-forced SIM, nss_pixel counting each GT pixel once; the per-key / pooled / per-fixation
variants behind their flags (docs/oat.md §4)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.evaluation.protocols.oat import nss_pixel
from scanpath.metrics import score_scanpaths
from scanpath.types import Scanpath

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_covers" / "Amazon.json"
SMALL = dict(d_model=64, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, dim_feedforward=64, pe_steps=300)


def _sp(objs, stim="L", subject=1, target=3, xy=None, size=None):
    objs = list(objs)
    x, y = (np.zeros(len(objs)), np.zeros(len(objs))) if xy is None else map(np.asarray, zip(*xy))
    return Scanpath(x=np.asarray(x, float), y=np.asarray(y, float), stimulus=stim, subject=subject,
                    task=str(target), image_size=size, fixation_extra={"object": np.asarray(objs, dtype=int)},
                    extra={"target_index": target})


# ----------------------------------------------------------------------------------- the rule
def test_average_by_key_weighs_keys_by_their_human_trials():
    from scanpath.metrics.averaging import average_by_key

    vals = np.array([1.0, 3.0, 10.0, np.nan])  # key A: mean 2 (two predictions); key B: 10 (NaN left out)
    keys = ["A", "A", "B", "B"]
    humans = ["A", "A", "A", "B"]
    assert average_by_key(vals, keys, humans, "trial") == pytest.approx((3 * 2 + 10) / 4)
    assert average_by_key(vals, keys, humans, "key") == pytest.approx((2 + 10) / 2)
    with pytest.raises(ValueError, match="trial"):
        average_by_key(vals, keys, humans, "pooled")


def _two_keys():
    # key A: three human trials, key B: one; one prediction per key
    humans = [_sp([1, 2, 3], stim="A", subject=i) for i in range(3)] + [_sp([5, 5, 5, 5, 3], stim="B")]
    preds = [_sp([3], stim="A"), _sp([1, 2, 3], stim="B")]
    return preds, humans


def test_oat_delta_and_pair_metrics_average_over_trials_by_default():
    preds, humans = _two_keys()
    cfg = {"oat_delta": {"delta_oat_compat": True}, "ss": {"labeler": "object", "key_reduce": "trial"}}
    res = score_scanpaths(preds, humans, cfg, key="stimulus")
    v = res["oat_delta"]["values"]
    assert v["length"] == pytest.approx((3 * 1 + 3) / 4)  # A's prediction weighs three times
    assert v["human_length"] == pytest.approx((3 * 3 + 5) / 4)  # mean over the four trials
    # SS(A: [3] vs [1,2,3]) = 1/3; SS(B: [1,2,3] vs [5,5,5,5,3]) = 1/5
    assert res["ss"]["value"] == pytest.approx((3 * (1 / 3) + 1 / 5) / 4)
    key = score_scanpaths(preds, humans, {"oat_delta": {"average": "key"}, "ss": {"labeler": "object",
                                                                                "key_reduce": "key"}}, key="stimulus")
    assert key["oat_delta"]["values"]["length"] == pytest.approx((1 + 3) / 2)
    assert key["oat_delta"]["values"]["human_length"] == pytest.approx((3 + 5) / 2)
    assert key["ss"]["value"] == pytest.approx((1 / 3 + 1 / 5) / 2)
    with pytest.raises(ValueError, match="key_reduce"):
        score_scanpaths(preds, humans, {"ss": {"labeler": "object", "key_reduce": "pooled"}}, key="stimulus")


def test_protocol_applies_its_average_to_every_metric():
    from scanpath.evaluation.protocols.oat import with_average

    cfg = with_average({"oat_delta": {"delta_oat_compat": True}, "ss": {"labeler": "object"},
                        "mm": {"metric": "multimatch", "key_reduce": "mean"}}, "trial")
    assert cfg["oat_delta"] == {"delta_oat_compat": True, "average": "trial"}
    assert cfg["ss"]["key_reduce"] == "trial" and cfg["mm"]["key_reduce"] == "trial"
    assert with_average({"ss": {}}, "key")["ss"]["key_reduce"] == "key"


# ----------------------------------------------------------------------------------- nss_pixel
def test_nss_pixel_counts_each_gt_pixel_once():
    size = (100, 50)
    pred = _sp([0], stim="A", xy=[(10.2, 20.4)], size=size)  # visits the pixel (10, 20)
    human = _sp([0, 0, 1], stim="A", xy=[(10.0, 20.0), (9.6, 19.8), (70.0, 30.0)], size=size)  # (10, 20) twice
    p = 1 / (size[0] * size[1])
    sd = math.sqrt(p * (1 - p))
    on, off = (1 - p) / sd, -p / sd
    assert nss_pixel([pred], [human], "stimulus") == pytest.approx((on + off) / 2)  # upstream s_map[gt == 1]
    assert nss_pixel([pred], [human], "stimulus", unique_pixels=False) == pytest.approx((2 * on + off) / 3)


# ----------------------------------------------------------------------------------- Amazon protocol
def _amazon(tmp_path):
    if not DATA.is_file():
        pytest.skip("shared Amazon data not available (../shared/data/amazon_covers/Amazon.json)")
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule
    from scanpath.models.oat.module import OATModule

    dm = AmazonCoversDataModule(root=str(DATA.parent), annotations=str(DATA), split="trial", split_seed=1234)
    model = OATModule(pe_cache_dir=str(tmp_path / "pe"), max_len=12, **SMALL)
    return dm, model


def _run(tmp_path, dm, model, **kw):
    from scanpath.evaluation.protocols import OATProtocol

    metrics = {"oat_delta": {"delta_oat_compat": True}, "ss": {"labeler": "object"}}
    return OATProtocol(metrics=metrics, samples=0, baseline_rollouts=100, baselines=["random", "center"],
                       **kw).run(model=model, datamodule=dm, out_dir=tmp_path / "out", seed=0).rows


def test_amazon_protocol_reproduces_the_per_trial_reference_numbers(tmp_path):
    """Shared Amazon test split (trial split, seed 1234: 47 trials in 37 keys), baselines with seed 0:
    the per-trial numbers of issue 15 (random Δ 0.5028, center 0.5379, center SS 0.0657) and, with
    average=key, the per-key ones (0.4909, 0.5303, 0.0644); the human mean length moves by 0.588."""
    dm, model = _amazon(tmp_path)
    trial = _run(tmp_path, dm, model)
    delta = {n: r["metrics"]["oat_delta"]["value"] for n, r in trial.items()}
    assert delta["random (objects)"] == pytest.approx(0.5028, abs=5e-5)
    assert delta["center (objects)"] == pytest.approx(0.5379, abs=5e-5)
    assert trial["center (objects)"]["metrics"]["ss"]["value"] == pytest.approx(0.0657, abs=5e-5)
    lengths = [len(h) for h in dm.human_scanpaths("test")]
    h_trial = trial["Human"]["metrics"]["oat_delta"]["values"]["length"]
    assert len(lengths) == 47 and h_trial == pytest.approx(np.mean(lengths))
    key = _run(tmp_path, dm, model, average="key")  # per key, behind the flag
    delta = {n: r["metrics"]["oat_delta"]["value"] for n, r in key.items()}
    assert delta["random (objects)"] == pytest.approx(0.4909, abs=5e-5)
    assert delta["center (objects)"] == pytest.approx(0.5303, abs=5e-5)
    assert key["center (objects)"]["metrics"]["ss"]["value"] == pytest.approx(0.0644, abs=5e-5)
    assert h_trial - key["Human"]["metrics"]["oat_delta"]["values"]["length"] == pytest.approx(0.588, abs=5e-4)


def test_sim_is_averaged_per_trial_then_over_trials(tmp_path):
    from scanpath.batch import collate_samples
    from scanpath.evaluation.protocols.oat import prepare_module
    from scanpath.models.oat.baselines import center_distribution
    from scanpath.models.oat.module import batch_inputs

    dm, model = _amazon(tmp_path)
    rows = _run(tmp_path, dm, model)
    dm.setup("test")
    samples = dm.samples("test")
    # center baseline: p_center of the fixated objects, mean per trial, then over the 47 trials
    p = center_distribution(tuple(dm.grid)).numpy()
    per_trial = [p[np.asarray(s["scanpath"].fixation_extra["object"], dtype=int)].mean() for s in samples]
    all_steps = np.concatenate([p[np.asarray(s["scanpath"].fixation_extra["object"], dtype=int)] for s in samples])
    assert abs(np.mean(per_trial) - all_steps.mean()) > 1e-4
    assert rows["center (objects)"]["metrics"]["sim"]["value"] == pytest.approx(np.mean(per_trial), rel=1e-9)
    pooled = _run(tmp_path, dm, model, sim_average="step")  # the old pooling, behind the flag
    assert pooled["center (objects)"]["metrics"]["sim"]["value"] == pytest.approx(all_steps.mean(), rel=1e-9)
    # the model: teacher-forced probability of each true next object, one trial at a time
    module = prepare_module(model, dm)
    vals = []
    with torch.no_grad():
        for s in samples:
            batch = collate_samples([{k: s[k] for k in s if k != "image"}])
            logits, targets = module(batch)
            probs = torch.softmax(logits[..., :-1], -1)[:, 0]
            t = targets[:, 0]
            real = t < batch_inputs(batch).n_objects
            vals.append(probs[real].gather(1, t[real][:, None]).mean().item())
    assert rows["OAT (greedy)"]["metrics"]["sim"]["value"] == pytest.approx(np.mean(vals), rel=1e-5)
