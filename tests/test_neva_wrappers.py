"""NeVA / NevaClip Lightning wrappers are thin: settings once (params), math in plain torch, safe loads.

Random-init models, SYNTHETIC data, no network.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from scanpath.batch import collate_samples
from scanpath.errors import ScanpathDataError
from scanpath.models.neva.batching import model_inputs
from scanpath.models.neva.module import NevaClipModule, NevaModule, NevaOptModule
from scanpath.models.neva.optimised import NevaClip, NevaOpt
from scanpath.models.neva.params import NevaParams, SearchParams
from scanpath.models.neva.torch_model import NevaOptimizer, SmallClassifier, build_classifier
from scanpath.models.neva.trained import NevaNet
from test_checkpoint_io import _WritesAFile
from test_neva_module import BrightSquares

TINY = {"model_name": "NevaTiny-ViT", "pretrained": None}


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "written_by_unpickling.txt"
    path = tmp_path / "evil_classifier.pt"
    torch.save(_WritesAFile(str(marker)), path)
    return path, marker


# ----------------------------------------------------------------------------- issue 16 item 1
def test_crafted_classifier_ckpt_writes_nothing_and_names_the_file(crafted, tmp_path):
    """A crafted pickle given as ``model.classifier_ckpt`` (it wrote a file before: weights_only=False)."""
    path, marker = crafted
    with pytest.raises(ScanpathDataError, match="could run code") as e:
        NevaModule(downstream="classifier", num_classes=4, classifier_ckpt=str(path))
    assert str(path) in str(e.value) and "model.classifier_ckpt" in str(e.value)
    assert not marker.exists()


def test_crafted_classifier_ckpt_through_the_config(crafted, tmp_path):
    from conftest import compose_config
    from hydra.utils import instantiate

    path, marker = crafted
    cfg = compose_config("train", ["model=neva", "model.downstream=classifier", "model.num_classes=4",
                                   f"model.classifier_ckpt={path}"], tmp_path)
    with pytest.raises(Exception) as e:
        instantiate(cfg.model)
    assert str(path) in str(e.value) and "could run code" in str(e.value)
    assert not marker.exists()


def test_neva_opt_classifier_checkpoint_is_a_state_dict(crafted, tmp_path):
    path, marker = crafted
    with pytest.raises(ScanpathDataError, match="could run code"):
        build_classifier("resnet18", None, checkpoint=str(path))
    assert not marker.exists()
    with pytest.raises(TypeError, match="not unpickled"):
        NevaOptModule(str(path))  # the old "path of a pickled module" form is refused before any load
    assert not marker.exists()
    torch.manual_seed(0)
    ref = build_classifier("resnet18", None, num_classes=10)
    sd_path = tmp_path / "r18.pt"
    torch.save(ref.state_dict(), sd_path)
    got = build_classifier("resnet18", None, checkpoint=str(sd_path), num_classes=10)
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), got.state_dict().values()))
    assert not any(p.requires_grad for p in got.parameters())
    with pytest.raises(ScanpathDataError, match="does not fit") as e:
        build_classifier("resnet18", None, checkpoint=str(sd_path))  # 1000-class head ≠ 10-class file
    assert str(sd_path) in str(e.value)


def test_classifier_ckpt_state_dict_and_neva_checkpoint(tmp_path):
    torch.manual_seed(0)
    clf = SmallClassifier(4)
    bare = tmp_path / "clf.pt"
    torch.save(clf.state_dict(), bare)
    m = NevaModule(downstream="classifier", num_classes=4, classifier_ckpt=str(bare), input_size=32)
    assert m.net.classifier_fit_steps == 0 and not any(p.requires_grad for p in m.classifier.parameters())
    assert all(torch.equal(a, b) for a, b in zip(clf.state_dict().values(), m.classifier.state_dict().values()))
    # a whole NeVA Lightning checkpoint works as classifier_ckpt too (its net.classifier.* part)
    ckpt = tmp_path / "neva.ckpt"
    torch.save({"state_dict": m.state_dict(), "epoch": 0}, ckpt)
    m2 = NevaModule(downstream="classifier", num_classes=4, classifier_ckpt=str(ckpt), input_size=32)
    assert all(torch.equal(a, b) for a, b in zip(clf.state_dict().values(), m2.classifier.state_dict().values()))


# ----------------------------------------------------------------------------- params once
def test_unknown_keys_are_named():
    with pytest.raises(TypeError, match="NevaClipModule: unknown setting.*'n_fixation'.*n_fixations"):
        NevaClipModule(clip=TINY, n_fixation=3)
    with pytest.raises(TypeError, match="NevaOptModule: unknown setting.*'sigma'"):
        NevaOptModule(SmallClassifier(2), sigma=0.1)
    with pytest.raises(TypeError, match="NevaModule: unknown setting.*'n_glimpse'.*n_glimpses"):
        NevaModule(n_glimpse=3)
    with pytest.raises(TypeError, match="unknown setting"):
        NevaOptimizer(torch.nn.Identity(), n_iters=3)
    with pytest.raises(ValueError, match="restart"):
        SearchParams(restart="sometimes")
    with pytest.raises(ValueError, match="downstream"):
        NevaParams(downstream="segmentation")


def test_one_params_object_shared_by_wrapper_and_torch_model():
    m = NevaClipModule(clip=TINY, n_fixations=3, n_iter=2, faithful=True, blur_k=9)
    assert m.net.search.params is m.params and m.params.upstream_quirks and m.params.n_fixations == 3
    o = NevaOptModule(SmallClassifier(2), lr=0.2)
    assert o.net.search.params is o.params and (o.params.restart, o.params.clip_value) == ("jitter", 2.5)
    n = NevaModule(n_glimpses=3, upstream_quirks=True)
    assert n.net.params is n.params and n.params.train_blur_sigma == 5.0  # Q9
    # torch-level aliases give the same settings as the config names
    a = NevaOptimizer(torch.nn.Identity(), clip=2.0, upstream_clip=2.5, autocast_dtype=torch.bfloat16)
    assert a.params == SearchParams(position_clip=2.0, upstream_position_clip=2.5, precision="amp_bf16")


def test_documented_config_keys_still_compose_and_instantiate(tmp_path):
    from conftest import compose_config
    from hydra.utils import instantiate

    cfg = compose_config("evaluate", ["model=nevaclip", "model.clip.model_name=NevaTiny-ViT",
                                      "model.clip.pretrained=null", "model.n_fixations=3", "model.n_iter=2",
                                      "model.upstream_quirks=true"], tmp_path)
    m = instantiate(cfg.model)
    assert isinstance(m, NevaClipModule) and m.params.n_fixations == 3 and m.params.n_iter == 2
    assert m.optimizer.clip_value is None and m.bundle.name == "NevaTiny-ViT"
    cfg = compose_config("evaluate", ["model=neva_opt", "model.classifier.name=resnet18",
                                      "model.classifier.pretrained_weights=null", "model.lr=0.3"], tmp_path)
    o = instantiate(cfg.model)
    assert isinstance(o, NevaOptModule) and o.params.lr == 0.3 and o.params.upstream_position_clip == 2.5


# ----------------------------------------------------------------------------- wrappers add no math
@pytest.fixture(scope="module")
def cap_batch(tmp_path_factory):
    from scanpath.datamodules.capmit1003 import CapMIT1003DataModule
    from scanpath.io.capmit1003 import write_synthetic_capmit1003

    root = write_synthetic_capmit1003(tmp_path_factory.mktemp("cap"), n_images=2, captions_per_image=2, seed=3)
    return next(iter(CapMIT1003DataModule(root=str(root), clip_size=64, batch_size=4).predict_dataloader()))


@pytest.mark.parametrize("target", ["caption", "schedule"])
def test_nevaclip_wrapper_equals_the_plain_model(cap_batch, target):
    from scanpath.models.neva.clip_factory import build_clip

    torch.manual_seed(0)
    m = NevaClipModule(clip=TINY, target=target, n_fixations=3, n_iter=2, n_candidates=2, blur_k=9, blur_sigma=3.0)
    out = m.predict_scanpaths(cap_batch)
    torch.manual_seed(0)  # same random init of the CLIP
    plain = NevaClip(build_clip(**TINY), SearchParams(n_fixations=3, n_iter=2, n_candidates=2, blur_k=9,
                                                       blur_sigma=3.0), target)
    x, _ = model_inputs(cap_batch, 64, "shortest")
    res = plain(x.clone(), list(cap_batch["caption"]), [str(u) for u in cap_batch["obs_uid"]])
    assert torch.equal(out.fixation_extra["u_row"], res.fix_norm[..., 0].double())
    assert torch.equal(out.fixation_extra["u_col"], res.fix_norm[..., 1].double())
    assert torch.equal(out.fixation_extra["loss"].to(res.loss.dtype), res.loss)


def test_neva_opt_and_trained_wrappers_equal_the_plain_models():
    batch = collate_samples(BrightSquares(n=8, size=32, split_fractions=(0.0, 0.0, 1.0)).query_samples("test")[:3])
    torch.manual_seed(1)
    clf = SmallClassifier(4)
    kw = dict(n_fixations=3, n_iter=3, sigma_f=0.15, blur_k=5, blur_sigma=5.0)
    out = NevaOptModule(clf, image_size=32, mean=None, std=None, **kw).predict_scanpaths(batch)
    x, _ = model_inputs(batch, 32, "shortest")
    ids = [f"{m['stimulus']}|{m.get('task')}|{m.get('condition')}" for m in batch["scanpaths"].meta]
    res = NevaOpt(clf, SearchParams(restart="jitter", position_clip=2.5, upstream_position_clip=2.5, **kw))(x, ids)
    assert torch.equal(out.fixation_extra["u_row"], res.fix_norm[..., 0].double())
    torch.manual_seed(2)
    m = NevaModule(input_size=32, n_glimpses_eval=4, blur_k=9, blur_sigma=3.0).eval()
    xn, _ = model_inputs(batch, 32, "longest")
    fix = m.net.rollout(xn)
    out = m.predict_scanpaths(batch)
    assert torch.equal(out.fixation_extra["u_row"], fix[..., 0]) and torch.equal(out.fixation_extra["u_col"], fix[..., 1])
    net = NevaNet(NevaParams(input_size=32, n_glimpses_eval=4, blur_k=9, blur_sigma=3.0), m.attention).eval()
    assert torch.equal(net.rollout(xn), fix)


def test_neva_checkpoints_round_trip_and_legacy_keys(tmp_path):
    dm = BrightSquares(n=16, size=32, batch_size=4)
    torch.manual_seed(0)
    m = NevaModule(input_size=32, blur_k=9, blur_sigma=3.0, n_glimpses=2, n_glimpses_eval=3,
                   optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    tr = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    tr.fit(m, datamodule=dm)
    batch = collate_samples(dm.query_samples("test"))
    ref = m.eval().predict_scanpaths(batch).data[..., :2]
    assert torch.isfinite(ref).all()
    path = tmp_path / "neva.ckpt"
    tr.save_checkpoint(path)
    again = NevaModule.load_from_checkpoint(path, weights_only=True).eval()
    assert again.params == m.params and torch.equal(again.predict_scanpaths(batch).data[..., :2], ref)
    # a checkpoint written before the torch model moved into `net` (keys attention.*) still loads
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"] = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items()}
    legacy = tmp_path / "legacy.ckpt"
    torch.save(ckpt, legacy)
    old = NevaModule.load_from_checkpoint(legacy, weights_only=True).eval()
    assert torch.equal(old.predict_scanpaths(batch).data[..., :2], ref)
    # ... and through the project's loader (evaluate.py / train.py)
    from scanpath.evaluation.checkpoints import load_weights

    fresh = NevaModule(input_size=32, blur_k=9, blur_sigma=3.0, n_glimpses=2, n_glimpses_eval=3)
    load_weights(fresh, legacy)
    assert torch.equal(fresh.eval().predict_scanpaths(batch).data[..., :2], ref)
