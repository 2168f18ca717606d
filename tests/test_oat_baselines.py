"""OAT object-level baselines and evaluation helpers (fast, synthetic tensors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scanpath.models.oat.baselines import ObjectBaseline, box_means, center_distribution, sample_rollouts
from scanpath.evaluation.protocols.oat import nss_object, nss_pixel
from scanpath.types import Scanpath, ScanpathBatch


def _batch(n_trials=2, grid=(3, 5), crops=False, image=False):
    r, c = grid
    cw, ch = 20, 30
    boxes = torch.tensor([[cw * (i % c), ch * (i // c), cw * (i % c) + cw, ch * (i // c) + ch]
                          for i in range(r * c)], dtype=torch.float32)
    sps = [Scanpath([10.0], [15.0], stimulus=f"L{t}", subject="1", task="T", image_size=(cw * c, ch * r),
                    fixation_extra={"object": np.array([0])}) for t in range(n_trials)]
    batch = {"scanpaths": ScanpathBatch.from_list(sps), "grid": [grid] * n_trials, "target_index": [4, 7][:n_trials],
             "boxes": boxes.expand(n_trials, -1, -1).clone(), "trial_id": [f"L{t}#1" for t in range(n_trials)],
             "image_size": torch.tensor([[cw * c, ch * r]] * n_trials)}
    if crops:
        batch["crops"] = torch.rand(n_trials, r * c, 3, 150, 93)
    if image:
        batch["image"] = torch.rand(n_trials, 3, ch * r, cw * c)
    return batch


@pytest.mark.parametrize("kind", ["random", "center", "saliency", "rgb_similarity"])
def test_baseline_rollouts_caps_and_target_stop(kind):
    bm = ObjectBaseline(kind=kind, rollouts=100, lengths=[3, 5, 8])
    batch = _batch(crops=True, image=True)
    roll = bm.rollouts(batch)
    assert roll.tokens.shape[:2] == (2, 100)
    assert (roll.lengths >= 1).all() and (roll.lengths <= 8).all()
    for b, tgt in enumerate(batch["target_index"]):
        for k in range(100):
            seq = roll.tokens[b, k, : roll.lengths[b, k]].tolist()
            assert all(0 <= o < 15 for o in seq)
            if tgt in seq:  # found → the target is the last fixation
                assert seq.index(tgt) == len(seq) - 1 and roll.eos[b, k]
    pred = bm.predict_scanpaths(batch)
    assert len(pred) == 200 and pred.meta[0]["subject"] == 1 and pred.meta[99]["subject"] == 100
    # deterministic per trial id
    assert torch.equal(bm.rollouts(batch).tokens, roll.tokens)


def test_center_distribution_peaks_at_the_centre():
    p = center_distribution((3, 5)).reshape(3, 5)
    assert torch.isclose(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert p.argmax() == 7 and p[1, 2] > p[0, 2] > p[0, 0]
    p = center_distribution((6, 14)).reshape(6, 14)  # even sizes: four central cells tie
    top = p.max()
    assert torch.isclose(p[2, 6], top) and torch.isclose(p[3, 7], top)


def test_rgb_similarity_prefers_the_target_look():
    batch = _batch(n_trials=1, crops=True)
    batch["crops"][0, 9] = batch["crops"][0, 4]  # a lookalike of the target (object 4)
    p = ObjectBaseline(kind="rgb_similarity").distribution(batch)[0]
    assert p[4] == p.max() and torch.isclose(p[9], p[4]) and p[9] > 5 * p[0]


def test_saliency_box_means_and_skip_reasons():
    maps = torch.zeros(1, 10, 10)
    maps[0, :5, :5] = 1.0
    boxes = torch.tensor([[[0, 0, 50, 50], [50, 50, 100, 100]]], dtype=torch.float32)
    m = box_means(maps, boxes, torch.tensor([[100.0, 100.0]]))
    assert m[0].tolist() == [1.0, 0.0]
    assert ObjectBaseline(kind="saliency").skip_reason({"crops": None}) is not None
    assert ObjectBaseline(kind="rgb_similarity").skip_reason({"image": None}) is not None
    assert ObjectBaseline(kind="center").skip_reason({}) is None


def test_sample_rollouts_frequencies_follow_distribution():
    probs = torch.tensor([[0.7, 0.2, 0.1]], dtype=torch.float64)
    g = [torch.Generator().manual_seed(0)]
    roll = sample_rollouts(probs, torch.tensor([5]), torch.full((1, 2000), 4), g)  # target never sampled
    counts = np.bincount(roll.tokens[0].reshape(-1).numpy(), minlength=3)
    assert (roll.lengths == 4).all()
    assert np.allclose(counts / counts.sum(), [0.7, 0.2, 0.1], atol=0.02)


def test_nss_object_and_pixel():
    def sp(objs, xs, subj):
        return Scanpath(np.asarray(xs, float), np.zeros(len(xs)), stimulus="A", task="t", subject=subj,
                        image_size=(100, 10), fixation_extra={"object": np.asarray(objs)})

    preds = [sp([0, 0, 1], [5, 5, 15], 1), sp([0], [5], 2)]
    good = [sp([0], [5], "h")]
    bad = [sp([3], [35], "h")]
    assert nss_object(preds, good, 4, "task") > 0 > nss_object(preds, bad, 4, "task")
    assert nss_pixel(preds, good, "task") > 0 > nss_pixel(preds, bad, "task")


def test_saliency_distribution_is_computed_once_per_layout_and_equals_the_direct_map():
    """Issue 18 item 3: the saliency baseline's per-layout distribution is remembered (queries and
    trials of a layout share image and boxes) and equals the map computed for each trial directly."""
    import torch

    from scanpath.batch import collate_samples
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.models.baselines import spectral_residual_saliency
    from scanpath.models.oat.baselines import ObjectBaseline, box_means

    dm = SearchArraysDataModule(num_layouts=10, crop_hw=[40, 30], batch_size=6)
    dm.setup("test")
    batch = collate_samples([dict(s) for s in dm.samples("test")])
    base = ObjectBaseline(kind="saliency")
    got = base.distribution(batch)
    b = len(batch["target_index"])
    maps = torch.stack([spectral_residual_saliency(im[None].float(), width=base.saliency_width)[0] for im in batch["image"]])
    sizes = torch.as_tensor(batch["image_size"], dtype=torch.float64).reshape(b, 2)
    want = box_means(maps, batch["boxes"], sizes).clamp_min(0) + 1e-12
    want = want / want.sum(1, keepdim=True)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert len(base._saliency_memo) == len(set(batch["layout_id"])) < b  # once per layout


def test_prepared_saliency_layouts_need_no_image_and_give_the_same_distribution():
    """Issue 18 item 3: ``prepare_layouts`` reads one image per layout, sample by sample; batches
    without ``image`` then give exactly the distribution computed from batches with it."""
    import pytest
    import torch

    from scanpath.batch import collate_samples
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.models.oat.baselines import ObjectBaseline

    dm = SearchArraysDataModule(num_layouts=10, crop_hw=[40, 30], batch_size=6)
    dm.setup("test")
    samples = dm.samples("test")
    with_image = collate_samples([dict(s) for s in samples])
    without = collate_samples([{k: s[k] for k in s if k != "image"} for s in samples])
    want = ObjectBaseline(kind="saliency").distribution(with_image)
    fresh = ObjectBaseline(kind="saliency")
    with pytest.raises(ValueError, match="needs 'image'"):
        fresh.distribution(without)  # not prepared: the image must come in the batch
    assert fresh.prepare_layouts(samples) is True
    assert len(fresh._saliency_memo) == len({s["layout_id"] for s in samples})
    assert torch.equal(fresh.distribution(without), want)
    assert ObjectBaseline(kind="random").prepare_layouts([{"no": "layout id"}]) is True  # nothing to prepare
    assert ObjectBaseline(kind="saliency").prepare_layouts([{"image": None}]) is False  # no layout id


def test_baselines_declare_the_heavy_keys_they_read():
    from scanpath.models.oat.baselines import ObjectBaseline

    heavy = {"image", "crops", "target_crop"}
    reads = {k: heavy & set(ObjectBaseline(kind=k).required_sample_keys)
             for k in ("random", "center", "saliency", "rgb_similarity")}
    assert reads == {"random": set(), "center": set(), "saliency": {"image"}, "rgb_similarity": {"crops"}}
