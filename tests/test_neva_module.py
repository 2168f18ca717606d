"""NeVA / NevaClip Lightning modules and entry points, offline (random-init models, SYNTHETIC data)."""

from __future__ import annotations

import json

import pytest
import pytorch_lightning as pl
import torch

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.batch import collate_samples
from scanpath.datamodules.capmit1003 import CapMIT1003DataModule
from scanpath.io.capmit1003 import write_synthetic_capmit1003
from scanpath.models.neva.module import NevaClipModule, NevaModule
from scanpath.models.neva.torch_model import SimpleAttentionNet
from scanpath.types import Scanpath

TINY = {"model_name": "NevaTiny-ViT", "pretrained": None}


@pytest.fixture(scope="module")
def cap_root(tmp_path_factory):
    return write_synthetic_capmit1003(tmp_path_factory.mktemp("cap"), n_images=2, captions_per_image=2, seed=3)


def test_nevaclip_predict_under_inference_mode(cap_root):
    """trainer.predict with inference_mode=True still works (the module leaves inference mode itself)."""
    dm = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=4)
    model = NevaClipModule(clip=TINY, n_fixations=10, n_iter=2, n_candidates=2, blur_k=9, blur_sigma=3.0)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, inference_mode=True)
    out = trainer.predict(model, datamodule=dm)
    preds = [s for b in out for s in b.to_list()]
    assert len(preds) == 4  # one per obs_uid
    for p, q in zip(preds, dm.query_samples("test")):
        assert len(p) == 10 and p.stimulus == q["stimulus"] and p.image_size == q["image_size"]
        w, h = p.image_size
        assert (p.x >= 0).all() and (p.x <= w).all() and (p.y >= 0).all() and (p.y <= h).all()
        assert p.extra["obs_uid"] == q["obs_uid"] and p.condition == "caption:correct"
        assert set(p.fixation_extra) >= {"loss", "u_row", "u_col", "x_raw", "y_raw"}


@pytest.mark.parametrize("target", ["image", "schedule"])
def test_nevaclip_other_targets(cap_root, target):
    dm = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=2)
    b = next(iter(dm.predict_dataloader()))
    m = NevaClipModule(clip=TINY, target=target, n_fixations=3, n_iter=2, blur_k=9, blur_sigma=3.0)
    out = m.predict_scanpaths(b)
    assert out.data.shape == (2, 3, 3) and out.meta[0]["condition"] == f"{target}:correct"
    assert torch.isfinite(out.fixation_extra["loss"]).all()


def test_nevaclip_controls_change_only_caption_targets(cap_root):
    kw = dict(clip=TINY, n_fixations=3, n_iter=3, blur_k=9, blur_sigma=3.0)
    base = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=4)
    other = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=4, caption_mode="caption_other_image")
    b1 = next(iter(base.predict_dataloader()))
    b2 = next(iter(other.predict_dataloader()))
    m = NevaClipModule(target="caption", **kw)
    p1, p2 = m.predict_scanpaths(b1), m.predict_scanpaths(b2)
    assert not torch.allclose(p1.data[..., :2], p2.data[..., :2])
    assert p2.meta[0]["condition"] == "caption:caption_other_image"
    mi = NevaClipModule(target="image", **kw)  # the image target ignores captions entirely
    assert torch.equal(mi.predict_scanpaths(b1).data[..., :2], mi.predict_scanpaths(b2).data[..., :2])


def test_caption_target_needs_captions():
    m = NevaClipModule(clip=TINY, n_fixations=1, n_iter=1)
    assert "caption" in m.skip_reason({"image": torch.rand(3, 8, 8)})
    assert m.skip_reason({"clip_image": torch.rand(3, 64, 64), "caption": "a"}) is None
    assert NevaClipModule(clip=TINY, target="image").skip_reason({"image": torch.rand(3, 8, 8)}) is None


def test_faithful_flag_outputs_upstream_frame(cap_root):
    dm = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=2)
    b = next(iter(dm.predict_dataloader()))
    m = NevaClipModule(clip=TINY, faithful=True, n_fixations=2, n_iter=2, blur_k=9, blur_sigma=3.0)
    assert m.upstream_quirks and m.optimizer.clip_value is None
    sp = m.predict_scanpaths(b).to_list()[0]
    # upstream frame: crop-relative (row, col) model-input pixels, row first
    assert sp.fixation_extra["upstream_row"] == pytest.approx((sp.fixation_extra["u_row"] + 1) * 63 / 2)


class BrightSquares(ScanpathDataModule):
    """SYNTHETIC: flat images with one bright square; label = image quadrant of the square."""

    name = "bright_squares"
    synthetic = True

    def __init__(self, n: int = 48, size: int = 32, **kw):
        kw.setdefault("split_fractions", (0.5, 0.25, 0.25))
        super().__init__(**kw)
        self.n, self.size = n, size

    def load_samples(self):
        g = torch.Generator().manual_seed(0)
        out = []
        for i in range(self.n):
            x = torch.full((3, self.size, self.size), 0.2)
            r, c = torch.randint(0, self.size - 6, (2,), generator=g).tolist()
            x[:, r : r + 6, c : c + 6] = 1.0
            label = int(r + 3 >= self.size // 2) * 2 + int(c + 3 >= self.size // 2)
            sp = Scanpath(x=[c + 3.0], y=[r + 3.0], stimulus=f"img{i}", subject=1, image_size=(self.size, self.size))
            out.append({"scanpath": sp, "stimulus": f"img{i}", "image": x, "image_size": (self.size, self.size),
                        "label": label})
        return out


def test_neva_trained_mode_classifier_fit_and_foveated_accuracy(tmp_path):
    dm = BrightSquares(batch_size=8)
    model = NevaModule(attention=SimpleAttentionNet(), downstream="classifier", num_classes=4, input_size=32,
                       blur_k=9, blur_sigma=3.0, val_blur_k=9, val_blur_sigma=6.0, classifier_fit_steps=15,
                       optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))
    before = [p.clone() for p in model.attention.parameters()]
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    assert all(not p.requires_grad for p in model.classifier.parameters())  # frozen downstream
    assert any(not torch.equal(a, b) for a, b in zip(before, model.attention.parameters()))
    m = trainer.callback_metrics
    assert 0.0 <= float(m["val/foveated_acc"]) <= 1.0 and torch.isfinite(m["val/loss"])
    out = model.predict_scanpaths(collate_samples(dm.query_samples("test")))
    assert out.data.shape[1] == 10 and (out.data[..., :2] >= 0).all() and (out.data[..., :2] <= 32).all()


def test_neva_summed_vs_per_glimpse_steps():
    dm = BrightSquares(n=16, batch_size=8)
    batch = collate_samples(dm.samples("all")[:8])
    counts = {}
    for per_glimpse in (True, False):
        model = NevaModule(input_size=32, blur_k=9, blur_sigma=3.0, n_glimpses=4, step_per_glimpse=per_glimpse)
        opt = torch.optim.SGD(model.attention.parameters(), lr=0.0)
        n = {"steps": 0}
        orig = opt.step

        def counting_step(*a, _orig=orig, _n=n, **k):
            _n["steps"] += 1
            return _orig(*a, **k)

        opt.step = counting_step
        model.optimizers = lambda opt=opt: opt
        model.manual_backward = lambda loss: loss.backward()
        model.lr_schedulers = lambda: None
        model.log = lambda *a, **k: None
        model.training_step(batch, 0)
        counts[per_glimpse] = n["steps"]
    assert counts == {True: 4, False: 1}


def test_train_py_neva_fast_dev_run(tmp_path):
    from conftest import compose_config

    import train

    cfg = compose_config("train", ["model=neva", "debug=fdr", "data.num_layouts=12", "logger=csv"], tmp_path)
    train.train(cfg)


def test_evaluate_py_nevaclip_offline(tmp_path, cap_root):
    """docs/nevaclip.md §7 item 14: evaluate.py experiment=nevaclip (CapMIT1003, NevaClip metrics) with a
    random-init CLIP logs all metrics; prediction needs gradients although evaluation runs under no_grad."""
    from conftest import compose_config

    import evaluate

    cfg = compose_config("evaluate", [
        "experiment=nevaclip", f"data.root={cap_root}", "data.clip_size=64",
        "model.clip.model_name=NevaTiny-ViT", "model.clip.pretrained=null", "model.n_iter=2", "model.blur_k=9",
        "model.blur_sigma=3.0", "n_figures=1", "~baselines.saliency_ior", "~baselines.target_similarity",
    ], tmp_path)
    payload = evaluate.evaluate(cfg)
    rows = payload["rows"]
    assert {"NevaClip", "Human"} <= set(rows) and len(rows) >= 4
    for name in ("sed", "spp_sed", "ss", "scanmatch", "spp_scanmatch", "multimatch", "stde"):
        assert name in rows["NevaClip"]["metrics"], name
    assert rows["NevaClip"]["n_predictions"] == 4 and payload["settings"]["synthetic"] is True
    assert "Random (T=10)" in rows and "Center (point, T=10)" in rows
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "NevaClip" in metrics["rows"] and (tmp_path / "predictions.json").is_file()


@pytest.mark.slow
def test_neva_trained_mode_learns_to_fixate_the_object():
    """Reconstruction downstream on bright squares: after training, the first glimpse lands on the square.
    (Measured 2026-11-22: mean distance 10.30 px before → 0.36 px after 15 epochs, 32-px images.)"""
    torch.manual_seed(0)
    dm = BrightSquares(n=128, size=32, batch_size=16, split_fractions=(0.75, 0.125, 0.125))
    model = NevaModule(input_size=32, blur_k=9, blur_sigma=3.0, val_blur_k=9, val_blur_sigma=6.0, n_glimpses=4,
                       noise=0.0, optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))

    def dist() -> float:
        b = collate_samples(dm.samples("train"))
        out = model.eval().predict_scanpaths(b)
        return (out.data[:, 0, :2] - b["scanpaths"].data[:, 0, :2]).norm(dim=1).mean().item()

    before = dist()
    pl.Trainer(accelerator="cpu", max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(model, datamodule=dm)
    after = dist()
    assert after < 3.0 and after < 0.5 * before


def test_neva_opt_predicts_with_a_frozen_classifier():
    from scanpath.models.neva.module import NevaOptModule
    from scanpath.models.neva.torch_model import SmallClassifier

    dm = BrightSquares(n=8, size=40, split_fractions=(0.0, 0.0, 1.0))
    batch = collate_samples(dm.query_samples("test")[:3])
    m = NevaOptModule(SmallClassifier(4), image_size=32, resize=36, mean=None, std=None, n_fixations=3, n_iter=3,
                      sigma_f=0.15, noise=0.1, blur_k=5, blur_sigma=5.0, forgetting=0.1)
    assert m.optimizer.restart == "jitter" and m.optimizer.clip_value == 2.5
    assert all(not p.requires_grad for p in m.classifier.parameters())
    out = m.predict_scanpaths(batch)
    assert out.data.shape == (3, 3, 3)
    xy = out.data[..., :2]
    # resize 36 → centre crop 32 of a 40-px image: reachable x, y ∈ [(0.5+2)·40/36, (31.5+2)·40/36]
    assert (xy >= 2.5 * 40 / 36 - 1e-9).all() and (xy <= 33.5 * 40 / 36 + 1e-9).all()


def test_attention_networks_output_clamped_positions():
    from scanpath.models.neva.torch_model import WideResNetAttention

    x = torch.rand(2, 3, 32, 32)
    for net in (SimpleAttentionNet(), WideResNetAttention(depth=10, widen=1)):
        out = net.eval()(x * 100)
        assert out.shape == (2, 2) and out.abs().max() <= 2.5
    # Q10: upstream clamps the pooled features, not the output, so a large head can exceed ±2.5
    q = WideResNetAttention(depth=10, widen=1, upstream_quirks=True).eval()
    torch.nn.init.constant_(q.fc.weight, 10.0)
    assert q(x).abs().max() > 2.5
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNetAttention(depth=11)
