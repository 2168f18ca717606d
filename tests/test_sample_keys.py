"""Models declare the sample keys they read; the search-array loaders render only what the run needs
(issue 14 item 4)."""

from __future__ import annotations

import pytest

import scanpath.datamodules.search_arrays as sa_mod
from scanpath.datamodules.search_arrays import SearchArraysDataModule
from scanpath.evaluation.pipeline import display_dataset
from scanpath.models.base import ScanpathModel, sample_keys_union
from scanpath.models.baselines import CenterBias, RandomBaseline, SaliencyIOR, TargetSimilarity
from scanpath.utils.instantiators import serve_sample_keys


@pytest.fixture
def renders(monkeypatch):
    """Counts layout renders by kind (``image`` = a render that drew the full array)."""
    calls = {"image": 0, "crops_only": 0}
    real = sa_mod.layout_tensors

    def counting(layout, with_image=True, **kw):
        calls["image" if with_image else "crops_only"] += 1
        return real(layout, with_image=with_image, **kw)

    monkeypatch.setattr(sa_mod, "layout_tensors", counting)
    return calls


def _dm(**kw):
    return SearchArraysDataModule(num_layouts=10, observers_per_layout=2, seed=5, batch_size=4, keep_crops=True,
                                  **kw)


def _all_batches(dm):
    return [b for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.predict_dataloader()) for b in loader]


def test_union_of_declared_keys():
    assert "image" not in sample_keys_union([CenterBias(), RandomBaseline()])
    assert {"image", "target_crop"} <= sample_keys_union([CenterBias(), TargetSimilarity()])
    assert "image" in sample_keys_union([SaliencyIOR()])
    assert sample_keys_union([CenterBias(), ScanpathModel()]) is None  # undeclared: serve everything
    assert sample_keys_union([]) == frozenset()


def test_center_bias_run_renders_no_image(renders):
    dm = _dm()
    keys = serve_sample_keys(dm, [CenterBias(), RandomBaseline()])
    assert keys is not None and "image" not in keys
    assert set(dm.excluded_keys()) == {"image", "crops", "target_crop"}
    batches = _all_batches(dm)
    assert batches and all("image" not in b and "crops" not in b for b in batches)
    assert all("image_size" in b and "scanpaths" in b for b in batches)
    assert renders == {"image": 0, "crops_only": 0}
    # figures and the report still draw the stimulus: only the sample asked for is rendered
    sample = display_dataset(dm)[0]
    assert sample["image"].shape[0] == 3
    assert renders["image"] == 1


def test_a_model_that_reads_the_image_still_gets_it(renders):
    dm = _dm()
    serve_sample_keys(dm, [CenterBias(), SaliencyIOR()])
    assert "image" not in dm.excluded_keys()
    batches = _all_batches(dm)
    assert all(b["image"].shape[1:] == (3, 450, 837) for b in batches)
    assert renders["image"] > 0


def test_undeclared_model_and_default_serve_everything(renders):
    dm = _dm()
    assert dm.excluded_keys() == ()  # nothing declared yet: as before
    serve_sample_keys(dm, [CenterBias(), ScanpathModel()])
    assert dm.excluded_keys() == ()
    batch = next(iter(dm.train_dataloader()))
    assert {"image", "crops", "target_crop"} <= set(batch)


def test_loader_exclude_config_still_applies():
    dm = _dm(loader_exclude=["target_crop"])
    serve_sample_keys(dm, [TargetSimilarity()])
    assert dm.excluded_keys() == ("target_crop", "crops")
