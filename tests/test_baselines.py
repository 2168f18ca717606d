"""Baselines: seeding, shapes, bounds, fixation counts, spectral residual, WTA + IOR, skips, learned CB."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from scanpath.models.baselines import (
    CenterBias,
    RandomBaseline,
    SaliencyIOR,
    TargetSimilarity,
    label_objects,
    spectral_residual_saliency,
    wta_ior,
)
from scanpath.types import Scanpath, ScanpathBatch


def _batch(stimuli, size=(200, 100), image=None, **extra):
    q = [Scanpath(x=[1.0], y=[1.0], stimulus=s, task="t", image_size=size) for s in stimuli]
    b = {"scanpaths": ScanpathBatch.from_list(q), "image_size": torch.tensor([list(size)] * len(stimuli)),
         "stimulus": list(stimuli)}
    if image is not None:
        b["image"] = image
    b.update(extra)
    return b


@pytest.mark.parametrize("cls", [RandomBaseline, CenterBias])
def test_seeded_per_stimulus_independent_of_batching(cls):
    m = cls(samples=3, seed=7, n_fixations=6)
    full = m.predict_scanpaths(_batch(["a", "b", "c"])).to_list()
    alone = m.predict_scanpaths(_batch(["b"])).to_list()
    assert [s.subject for s in full] == [1, 2, 3] * 3
    assert [s.stimulus for s in full] == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    for s, t in zip(full[3:6], alone):
        assert s.equals(t)
    assert not np.allclose(full[0].xy, full[1].xy)  # samples differ
    other_seed = cls(samples=3, seed=8, n_fixations=6).predict_scanpaths(_batch(["a"])).to_list()
    assert not np.allclose(full[0].xy, other_seed[0].xy)


@pytest.mark.parametrize("cls", [RandomBaseline, CenterBias, SaliencyIOR])
def test_inside_image_count_and_no_durations(cls):
    img = torch.rand(2, 3, 100, 200, generator=torch.Generator().manual_seed(0))
    out = cls(n_fixations=5).predict_scanpaths(_batch(["a", "b"], image=img))
    assert out.lengths.tolist() == [5, 5]
    xy = out.xy
    assert (xy[..., 0] >= 0).all() and (xy[..., 0] <= 200).all() and (xy[..., 1] >= 0).all() and (xy[..., 1] <= 100).all()
    assert not out.has_duration.any() and torch.isnan(out.duration).all()
    with_d = cls(n_fixations=2, duration_ms=250.0).predict_scanpaths(_batch(["a"], image=img[:1]))
    assert with_d.to_list()[0].duration.tolist() == [250.0, 250.0]


def test_random_is_uniform():
    out = RandomBaseline(n_fixations=500, samples=4).predict_scanpaths(_batch(["a"], size=(400, 100))).to_list()
    xy = np.concatenate([s.xy for s in out])
    assert abs(xy[:, 0].mean() - 200) < 10 and abs(xy[:, 1].mean() - 50) < 2.5
    hist = np.histogram(xy[:, 0], bins=4, range=(0, 400))[0]
    assert hist.min() > 0.8 * len(xy) / 4


def test_center_bias_modes():
    pt = CenterBias(mode="point", n_fixations=3).predict_scanpaths(_batch(["a"], size=(300, 120))).to_list()[0]
    assert pt.xy.tolist() == [[150.0, 60.0]] * 3
    g = CenterBias(sigma_frac=0.1, n_fixations=2000).predict_scanpaths(_batch(["a"], size=(300, 120))).to_list()[0]
    assert abs(g.x.mean() - 150) < 3 and abs(g.x.std() - 30) < 3 and abs(g.y.std() - 12) < 1.5
    with pytest.raises(ValueError, match="mode"):
        CenterBias(mode="ring")


def test_fixation_count_from_median_human_length():
    m = RandomBaseline()
    assert m.num_fixations == 10  # default without data
    humans = [Scanpath(x=np.zeros(n), y=np.zeros(n)) for n in (3, 4, 9, 12, 20)]
    assert m.fit_length(humans) == 9
    fixed = RandomBaseline(n_fixations=4)
    assert fixed.fit_length(humans) == 4  # config wins


def _np_spectral_residual(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Independent numpy/scipy version of Hou & Zhang's steps on an image already 64 px wide."""
    f = np.fft.fft2(gray)
    log_amp = np.log(np.abs(f))
    res = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="nearest")
    sal = np.abs(np.fft.ifft2(np.exp(res + 1j * np.angle(f)))) ** 2
    radius = int(4 * sigma + 0.5)
    sal = ndimage.gaussian_filter(sal, sigma, mode="nearest", truncate=radius / sigma)
    return (sal - sal.min()) / (sal.max() - sal.min())


def test_spectral_residual_matches_numpy_reference():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (3, 48, 64))
    ours = spectral_residual_saliency(torch.from_numpy(img)[None], width=64, blur_sigma=2.5)[0].numpy()
    gray = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    np.testing.assert_allclose(ours, _np_spectral_residual(gray, 2.5), atol=1e-8)


def test_saliency_finds_the_odd_blob_first():
    # textured background (a perfectly flat one is degenerate for the log spectrum: exact zeros)
    img = torch.rand(1, 3, 120, 240, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4
    img[..., 30:50, 170:190] = 1.0
    out = SaliencyIOR(n_fixations=3).predict_scanpaths(_batch(["a"], size=(240, 120), image=img)).to_list()[0]
    assert 160 <= out.x[0] <= 200 and 20 <= out.y[0] <= 60


def test_wta_ior_respects_the_inhibition_disc():
    maps = torch.rand(2, 30, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xy = wta_ior(maps, n=8, radius=4.0)
    first = maps[0].flatten().argmax()
    assert xy[0, 0].tolist() == [float(first % 40) + 0.5, float(first // 40) + 0.5]
    for b in range(2):
        d = torch.cdist(xy[b], xy[b])
        assert (d[~torch.eye(8, dtype=torch.bool)] > 4.0).all()
    tiny = wta_ior(torch.rand(1, 2, 2, dtype=torch.float64), n=6, radius=5.0)  # exhausts and restarts
    assert tiny.shape == (1, 6, 2) and torch.isfinite(tiny).all()


def test_target_similarity_goes_to_the_target_colour():
    img = torch.zeros(1, 3, 100, 200)
    img[:, 0] = 0.8  # red background
    img[:, 2, 60:80, 20:40] = 1.0  # one blue-ish patch
    img[:, 0, 60:80, 20:40] = 0.0
    crop = torch.zeros(1, 3, 10, 10)
    crop[:, 2] = 1.0
    m = TargetSimilarity(n_fixations=2)
    out = m.predict_scanpaths(_batch(["a"], image=img, target_crop=crop)).to_list()[0]
    assert 15 <= out.x[0] <= 45 and 55 <= out.y[0] <= 85


def test_skip_reasons():
    assert SaliencyIOR().skip_reason({"image_size": (10, 10)}) is not None
    assert "target_crop" in TargetSimilarity().skip_reason({"image": torch.zeros(3, 4, 4)})
    assert TargetSimilarity().skip_reason({"image": torch.zeros(3, 4, 4), "target_crop": torch.zeros(3, 2, 2)}) is None
    assert RandomBaseline().skip_reason({}) is None
    with pytest.raises(ValueError, match="needs"):
        SaliencyIOR().predict_scanpaths(_batch(["a"]))


def test_object_labels_from_boxes():
    boxes = torch.tensor([[0, 0, 10, 10], [10, 0, 20, 10], [50, 50, 60, 60]], dtype=torch.float32)
    xy = torch.tensor([[5.0, 5.0], [15.0, 2.0], [40.0, 40.0], [58.0, 70.0]], dtype=torch.float64)
    assert label_objects(xy, boxes).tolist() == [0, 1, 2, 2]
    out = RandomBaseline(n_fixations=4).predict_scanpaths(_batch(["a"], size=(20, 10), boxes=boxes[None, :2]))
    assert set(out.fixation_extra["object"][0].tolist()) <= {0, 1}


def test_learned_center_bias_fits_the_human_distribution():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    hum = [Scanpath(x=rng.normal(60, 10, 20).clip(0, 200), y=rng.normal(70, 5, 20).clip(0, 100),
                    stimulus=f"s{i}", image_size=(200, 100)) for i in range(16)]
    batch = {"scanpaths": ScanpathBatch.from_list(hum), "image_size": torch.tensor([[200, 100]] * 16)}
    m = CenterBias(optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    opt = m.configure_optimizers()
    before = m.nll(batch).item()
    for _ in range(300):
        opt.zero_grad()
        loss = m.nll(batch)
        loss.backward()
        opt.step()
    assert loss.item() < before
    np.testing.assert_allclose(m.mu.detach().numpy(), [0.3, 0.7], atol=0.03)
    np.testing.assert_allclose(m.log_sigma.exp().detach().numpy(), [0.05, 0.05], atol=0.015)


def test_predictions_carry_stimulus_fields_but_not_observer_fields():
    q = Scanpath(x=[1.0], y=[1.0], stimulus="7.jpg", subject=4, task="target_1.jpg", image_size=(20, 10),
                 extra={"trial_id": "7.jpg#4", "true_length": 19, "RT": 900})
    batch = {"scanpaths": ScanpathBatch.from_list([q]), "image_size": torch.tensor([[20, 10]]), "target_index": [5]}
    out = RandomBaseline(n_fixations=2, samples=2).predict_scanpaths(batch).to_list()
    for k, s in enumerate(out, start=1):
        assert s.subject == k and s.task == "target_1.jpg" and s.stimulus == "7.jpg"
        assert s.extra == {"trial_id": "7.jpg#4", "target_index": 5}
