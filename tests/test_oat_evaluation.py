"""OAT evaluation protocol and checkpoint round trip on the shared Amazon data (small random model)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_covers" / "Amazon.json"

SMALL = dict(d_model=64, n_heads=4, n_encoder_layers=1, n_decoder_layers=1, dim_feedforward=64, pe_steps=300)


def _cfg(tmp_path: Path, ckpt: str | None = None):
    if not DATA.is_file():
        pytest.skip("shared Amazon data not available (../shared/data/amazon_covers/Amazon.json)")
    return OmegaConf.create({
        "seed": 1,
        "ckpt_path": ckpt,
        "data": {"_target_": "scanpath.datamodules.amazon_covers.AmazonCoversDataModule", "root": str(DATA.parent),
                 "annotations": str(DATA), "split": "trial", "split_seed": 1234},
        "model": {"_target_": "scanpath.models.oat.module.OATModule", "pe_cache_dir": str(tmp_path / "pe"),
                  "max_len": 12, **SMALL},
    })


def test_protocol_writes_one_table_with_all_rows(tmp_path):
    from hydra.utils import instantiate

    from scanpath.evaluation import write_report
    from scanpath.evaluation.protocols import OATProtocol

    cfg = _cfg(tmp_path)
    metrics = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "metrics" / "oat.yaml")
    result = OATProtocol(metrics=metrics, samples=3, baseline_rollouts=5).run(
        model=instantiate(cfg.model), datamodule=instantiate(cfg.data), out_dir=tmp_path / "out", seed=1)
    out = write_report(result, tmp_path / "out", console=False)
    rows = out["rows"]
    assert set(rows) == {"OAT (greedy)", "OAT (sampled ×3)", "random (objects)", "center (objects)", "Human"}
    assert set(out["skipped"]) == {"saliency (objects)", "rgb_similarity (objects)"}  # layout-only
    for name, row in rows.items():
        m = row["metrics"]
        assert {"oat_delta", "ss", "ed", "multimatch"} <= set(m)
        assert 0.0 <= m["ss"]["value"] <= 1.0
        if name != "Human":
            assert math.isfinite(m["oat_delta"]["value"]) and m["oat_delta"]["value"] > 0
            assert {"found", "length", "search", "refix", "revisit"} <= set(m["oat_delta"]["values"])
            assert 0.0 < m["sim"]["value"] < 1.0
    assert rows["Human"]["metrics"]["oat_delta"]["value"] == 0.0
    assert rows["OAT (sampled ×3)"]["n_predictions"] == 3 * rows["OAT (greedy)"]["n_predictions"]
    md = (tmp_path / "out" / "metrics.md").read_text()
    # no checkpoint: random weights, labelled on the row and above the table
    assert "| OAT (greedy) (model) (untrained) |" in md and "oat_delta ↓" in md
    # 10 of the 37 test trials have two subjects: the only ones leave-one-subject-out can score
    assert "| Human (human) † |" in md and "† Human: scored on 10 of the 37 stimuli" in md
    assert "**untrained (random weights): OAT (greedy), OAT (sampled ×3)**" in md
    assert rows["OAT (greedy)"]["metrics"]["nss_object"]["sem"] is not None  # SEM over trials
    assert (tmp_path / "out" / "predictions.json").is_file() and (tmp_path / "out" / "predictions_random_objects.json").is_file()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["settings"]["layout_only"] is True


def test_checkpoint_round_trip_rebuilds_the_network(tmp_path):
    from scanpath.evaluation import load_weights
    from scanpath.evaluation.protocols.oat import prepare_module
    from scanpath.models.oat.module import OATModule

    cfg = _cfg(tmp_path)
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    dm.setup()
    mod = OATModule(grid=[6, 14], appearance="embedding", pe_cache_dir=str(tmp_path / "pe"), **SMALL)
    mod.max_len = 9
    ckpt = {"state_dict": mod.state_dict(), "hyper_parameters": dict(mod.hparams)}
    mod.on_save_checkpoint(ckpt)
    path = tmp_path / "m.ckpt"
    torch.save(ckpt, path)
    loaded = instantiate(cfg.model)
    load_weights(loaded, path)
    loaded = prepare_module(loaded, dm)
    assert loaded.max_len == 9 and loaded.net.appearance == "embedding"
    for (k, v), (k2, v2) in zip(mod.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_batches_carry_only_the_heavy_keys_each_reader_reads(tmp_path, monkeypatch):
    """Issue 18 item 3 (memory): no OAT-protocol batch carries the rendered 450×837 image — the
    saliency baseline reads one image per layout, sample by sample — and only the readers of crops
    (OAT, rgb_similarity) get crops; target_crop (taken from the crops) goes to nobody."""
    import scanpath.datamodules.search_arrays as sa_mod
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.evaluation.protocols import OATProtocol
    from scanpath.models.oat.baselines import ObjectBaseline
    from scanpath.models.oat.module import OATModule

    heavy = ("image", "crops", "target_crop")
    seen: dict[str, set[tuple[str, ...]]] = {}
    orig_dist, orig_roll, orig_tensors = ObjectBaseline.distribution, OATModule.rollouts, sa_mod.layout_tensors
    image_renders: list[str] = []

    def dist(self, batch):
        seen.setdefault(self.kind, set()).add(tuple(k for k in heavy if k in batch))
        return orig_dist(self, batch)

    def roll(self, batch, *a, **k):
        seen.setdefault("oat", set()).add(tuple(k for k in heavy if k in batch))
        return orig_roll(self, batch, *a, **k)

    def tensors(layout, with_image=True, **kw):
        if with_image:
            image_renders.append(layout.layout_id)
        return orig_tensors(layout, with_image=with_image, **kw)

    monkeypatch.setattr(ObjectBaseline, "distribution", dist)
    monkeypatch.setattr(OATModule, "rollouts", roll)
    monkeypatch.setattr(sa_mod, "layout_tensors", tensors)
    dm = SearchArraysDataModule(num_layouts=20, keep_crops=True, crop_hw=[40, 30], batch_size=4)
    model = OATModule(pe_cache_dir=str(tmp_path / "pe"), max_len=8, skip_batch_keys=["image", "target_crop"],
                      **SMALL)  # as conf/model/oat.yaml
    OATProtocol(metrics={"oat_delta": None}, samples=2, baseline_rollouts=2, teacher_forced=False).run(
        model=model, datamodule=dm, out_dir=tmp_path / "out", seed=1, n_figures=0, n_stimuli=0)
    assert seen["oat"] == seen["rgb_similarity"] == {("crops",)}
    assert seen["random"] == seen["center"] == seen["saliency"] == {()}
    test_layouts = {s["layout_id"] for s in dm.samples("test")}
    assert sorted(image_renders) == sorted(test_layouts)  # each test layout's image drawn once, for saliency
    store = dm.make_store([])  # the LRU cache keeps the image as uint8 (lossless), fetch returns float
    lid = dm.layouts[0].layout_id
    assert store.get(lid)["image"].dtype == torch.uint8
    img = store.fetch(lid, "image")
    assert img.dtype == torch.float32 and torch.equal(img, store._render(lid)["image"])
