"""Object-layout datamodules: search arrays, Amazon covers, shelf (docs/oat.md §3.4, §7 item 13)."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.datamodules.amazon_covers import AmazonCoversDataModule
from scanpath.batch import collate_samples
from scanpath.datamodules.search_arrays import SearchArraysDataModule
from scanpath.datamodules.shelf import ShelfDataModule
from scanpath.errors import ScanpathDataError
from scanpath.types import scanpath_key

REPO = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = {"scanpath", "stimulus", "task", "grid", "boxes", "target_index", "trial_id", "synthetic", "image_size"}


@pytest.fixture(scope="module")
def amazon_json(shared_data: Path) -> Path:
    p = shared_data / "amazon_covers" / "Amazon.json"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="module")
def sa_dm():
    dm = SearchArraysDataModule(num_layouts=20, seed=3, batch_size=4)
    dm.setup()
    return dm


# ------------------------------------------------------------------------------ search arrays
def test_search_arrays_samples_and_split(sa_dm):
    tr, va, te = (sa_dm.samples(s) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (48, 6, 6)  # 16 / 2 / 2 layouts × 3 observers
    lay = [{s["layout_id"] for s in part} for part in (tr, va, te)]
    assert not (lay[0] & lay[1]) and not (lay[0] & lay[2]) and not (lay[1] & lay[2])
    s = te[0]
    assert CONTRACT_KEYS <= set(s) and {"crops", "target_crop", "image"} <= set(s)
    assert s["synthetic"] is True and s["scanpath"].extra["synthetic"] is True
    assert s["grid"] == (3, 9) and s["image_size"] == (837, 450)
    assert s["boxes"].shape == (27, 4) and s["boxes"].dtype == torch.float32
    assert s["crops"].shape == (27, 3, 150, 93) and s["image"].shape == (3, 450, 837)
    assert torch.equal(s["target_crop"], s["crops"][s["target_index"]])
    assert s["scanpath"].task == s["task"] and s["scanpath"].fixation_extra["object"].dtype == np.int64
    assert s["scanpath"].fixation_extra["object"][-1] >= 0
    assert sa_dm.layout_only is False and sa_dm.grid == (3, 9) and 1 <= sa_dm.max_len <= 30
    # one query per (layout, target); all observers of a layout are its human reference
    assert len(sa_dm.query_samples("test")) == 2
    keys = {scanpath_key(x["scanpath"], sa_dm.eval_key) for x in te}
    assert len(keys) == 2


def test_search_arrays_loader_batch(sa_dm):
    batch = next(iter(sa_dm.train_dataloader()))
    assert batch["crops"].shape == (4, 27, 3, 150, 93)
    assert batch["target_crop"].shape == (4, 3, 150, 93)
    assert batch["boxes"].shape == (4, 27, 4) and batch["image_size"].tolist()[0] == [837, 450]
    sp = batch["scanpaths"]
    obj = sp.fixation_extra["object"]
    assert obj.shape == sp.data.shape[:2] and torch.all(obj[~sp.mask] == -1)
    assert all(batch["synthetic"])


def test_lazy_samples_materialise_and_pickle(sa_dm):
    s = sa_dm.samples("train")[0]
    d = dict(s)
    assert set(d) == set(s) and isinstance(d["crops"], torch.Tensor)
    clone = pickle.loads(pickle.dumps(s))  # DataLoader workers pickle samples
    assert torch.equal(clone["crops"], s["crops"])
    s2 = sa_dm.samples("train")[1]
    s2["extra_key"] = 1
    assert s2["extra_key"] == 1 and "extra_key" in s2
    del s2["extra_key"]
    assert "extra_key" not in s2
    no_img = SearchArraysDataModule(num_layouts=3, include_image=False)
    assert "image" not in no_img.samples("train")[0] and "crops" in no_img.samples("train")[0]


def test_search_arrays_deterministic():
    a = SearchArraysDataModule(num_layouts=10, seed=11).samples("all")
    b = SearchArraysDataModule(num_layouts=10, seed=11).samples("all")
    assert [x["trial_id"] for x in a] == [x["trial_id"] for x in b]
    assert all(x["scanpath"].equals(y["scanpath"]) for x, y in zip(a, b))


def test_synthetic_logged(caplog):
    with caplog.at_level(logging.WARNING):
        SearchArraysDataModule(num_layouts=2).setup()
    assert "SYNTHETIC" in caplog.text


# ------------------------------------------------------------------------------ Amazon covers
def test_amazon_layout_only_fallback_and_trial_split(amazon_json, caplog):
    with caplog.at_level(logging.WARNING):
        dm = AmazonCoversDataModule(annotations=str(amazon_json))
        dm.setup()
    assert dm.layout_only and dm.resolved_mode == "layout_only"
    assert "LAYOUT-ONLY" in caplog.text
    parts = [dm.samples(s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [374, 47, 47]  # ⌊0.8·468⌋, ⌊0.9·468⌋ − ⌊0.8·468⌋, rest
    ids = [{s["trial_id"] for s in p} for p in parts]
    assert len(ids[0] | ids[1] | ids[2]) == 468
    s = parts[2][0]
    assert CONTRACT_KEYS <= set(s) and "crops" not in s and "target_crop" not in s
    assert s["grid"] == (6, 14) and s["boxes"].shape == (84, 4) and s["synthetic"] is False
    # same seed → same split; another seed → another split
    again = AmazonCoversDataModule(annotations=str(amazon_json))
    assert [x["trial_id"] for x in again.samples("test")] == [x["trial_id"] for x in parts[2]]
    other = AmazonCoversDataModule(annotations=str(amazon_json), split_seed=1)
    assert [x["trial_id"] for x in other.samples("test")] != [x["trial_id"] for x in parts[2]]
    # evaluation key = (layout, target): all test subjects of a collage share one query
    keys = {scanpath_key(x["scanpath"], dm.eval_key) for x in parts[2]}
    assert len(dm.query_samples("test")) == len(keys) == len({x["layout_id"] for x in parts[2]})


def test_amazon_missing_images_and_bug_flag(amazon_json, tmp_path):
    dm = AmazonCoversDataModule(annotations=str(amazon_json), image_dir=str(tmp_path / "nothing"))
    with pytest.raises(ScanpathDataError, match="nothing.* does not exist"):  # a given path is never ignored
        dm.setup()
    with pytest.raises(ScanpathDataError, match="mode=images"):
        AmazonCoversDataModule(annotations=str(amazon_json), image_dir=str(tmp_path), mode="images").setup()
    bug = AmazonCoversDataModule(annotations=str(amazon_json), upstream_duplicate_bug=True)
    assert len(bug.samples("all")) == 474
    root = AmazonCoversDataModule(root=str(amazon_json.parent))
    assert len(root.samples("all")) == 468


def test_amazon_missing_annotations_names_path(tmp_path):
    dm = AmazonCoversDataModule(annotations=str(tmp_path / "Amazon.json"))
    with pytest.raises(ScanpathDataError, match=str(tmp_path / "Amazon.json")):
        dm.setup()


def _tiny_amazon(tmp_path: Path, n: int = 4, size=(280, 120)) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    w, h = size
    data = {}
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for i in range(n):
        key = f"{i + 1}.png"
        data[key] = {
            "fixations": {str(s + 1): rng.uniform(0, min(w, h), size=(5 + s, 2)).tolist() for s in range(3)},
            "ground_truth": [{"xmin": 20, "xmax": 40, "ymin": 0, "ymax": 20}],
            "size": {"width": w, "height": h},
            "target": f"target_{i % 2}.jpg",
        }
        cv2.imwrite(str(img_dir / key), rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8))
    path = tmp_path / "Amazon.json"
    path.write_text(json.dumps(data))
    return path


def test_amazon_image_mode(tmp_path):
    path = _tiny_amazon(tmp_path)
    dm = AmazonCoversDataModule(annotations=str(path), image_dir=str(tmp_path / "images"), batch_size=3, include_image=True)
    assert not dm.layout_only and dm.resolved_mode == "images"
    s = dm.samples("all")[0]
    assert s["crops"].shape == (84, 3, 150, 93) and float(s["crops"].min()) >= 0 and float(s["crops"].max()) <= 1
    assert s["target_index"] == 1 and torch.equal(s["target_crop"], s["crops"][1])
    assert s["image"].shape == (3, 120, 280)
    batch = collate_samples(dm.samples("all")[:3])
    assert batch["crops"].shape == (3, 84, 3, 150, 93)
    (tmp_path / "images" / "2.png").unlink()
    with pytest.raises(ScanpathDataError, match="1 collage images missing"):  # given image_dir: no silent fallback
        AmazonCoversDataModule(annotations=str(path), image_dir=str(tmp_path / "images")).setup()
    # an auto-found images/ folder beside the JSON that is incomplete still falls back (logged)
    assert AmazonCoversDataModule(annotations=str(path)).layout_only


def test_pair_and_layout_and_split_file(tmp_path):
    path = _tiny_amazon(tmp_path, n=10)
    pair = AmazonCoversDataModule(annotations=str(path), split="pair", test_pairs=[["3.png", "target_0.jpg"]], filter_sd=None)
    test = pair.samples("test")
    assert {(s["layout_id"], s["task"]) for s in test} == {("3.png", "target_0.jpg")} and len(test) == 3
    m = 27
    assert len(pair.samples("val")) == int(0.9 * m) - int(0.8 * m)
    assert len(pair.samples("train")) == m - len(pair.samples("val"))
    with pytest.raises(ScanpathDataError, match="test_pairs"):
        AmazonCoversDataModule(annotations=str(path), split="pair", test_pairs=[["3.png", "target_1.jpg"]]).setup()

    lay = AmazonCoversDataModule(annotations=str(path), split="layout", filter_sd=None)
    parts = [{s["layout_id"] for s in lay.samples(k)} for k in ("train", "val", "test")]
    assert [len(p) for p in parts] == [8, 1, 1] and not (parts[0] & parts[2])

    order = list(np.random.default_rng(5).permutation(30))
    sf = tmp_path / "split.txt"
    sf.write_text("\n".join(map(str, order)))
    dm = AmazonCoversDataModule(annotations=str(path), split="split_file", split_file=str(sf), filter_sd=None)
    # indices refer to the filtered records in file order
    file_order = [s["trial_id"] for s in AmazonCoversDataModule(annotations=str(path), filter_sd=None).load_samples()]
    assert [s["trial_id"] for s in dm.samples("train")] == [file_order[i] for i in order[:24]]
    assert [s["trial_id"] for s in dm.samples("test")] == [file_order[i] for i in order[27:]]
    sf.write_text("0\n1\n99\n")
    with pytest.raises(ScanpathDataError) as err:
        AmazonCoversDataModule(annotations=str(path), split="split_file", split_file=str(sf), filter_sd=None).setup()
    assert err.value.record == "line 3" and err.value.field == "index"


# ------------------------------------------------------------------------------ shelf
Q1_ROWS = [(7, "T1_4", "Q1_3", 1, 70.0, 300.0, 5, 11), (7, "T1_4", "Q1_3", 12, 80.0, 700.0, 5, 11)]


def write_csv(path: Path, rows) -> Path:
    import csv

    from scanpath.io.shelf import COLUMNS

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def test_shelf_datamodule(tmp_path):
    rows = []
    for tid in range(10):
        rows += [(tid, "T1_4", f"Q1_{tid % 3}", 1 + (k * 5 + tid) % 22, 10.0 * k, 300.0, 5, tid % 4) for k in range(3 + tid % 3)]
    path = write_csv(tmp_path / "q1.csv", rows + [(99,) + r[1:] for r in Q1_ROWS])
    dm = ShelfDataModule(data_files=str(path), image_dir=None, prefixes=["Q1"], batch_size=4)
    assert dm.layout_only
    parts = [dm.samples(k) for k in ("train", "val", "test")]
    assert [len(p) for p in parts] == [8, 1, 2]
    s = parts[0][0]
    assert CONTRACT_KEYS <= set(s) and s["grid"] == (2, 11) and s["boxes"].shape == (22, 4)
    assert s["scanpath"].fixation_extra["object"].min() >= 0
    batch = next(iter(dm.train_dataloader()))
    assert batch["boxes"].shape == (4, 22, 4)
    assert dm.grids == [(2, 11)]
    q3 = [(50, "T3_1", "Q3_2", 27, 1600, 1000, 1, "s2")]
    mixed = ShelfDataModule(data_files=[str(path), str(write_csv(tmp_path / "q3.csv", q3))], prefixes=None)
    assert sorted(mixed.grids) == [(2, 11), (3, 9)]
    with pytest.raises(ValueError, match="mixes grids"):
        mixed.grid


def test_shelf_image_mode(tmp_path):
    import cv2

    path = write_csv(tmp_path / "q1.csv", Q1_ROWS)
    (tmp_path / "Question").mkdir()
    cv2.imwrite(str(tmp_path / "Question" / "Q1_3.png"), np.random.default_rng(0).integers(0, 255, (1050, 1680, 3), dtype=np.uint8))
    dm = ShelfDataModule(data_files=[str(path)], image_dir=str(tmp_path / "Question"), split="layout", split_fractions=(1.0, 0.0, 0.0))
    s = dm.samples("train")[0]
    assert s["crops"].shape == (22, 3, 150, 93) and s["target_crop"].shape == (3, 150, 93)


# ------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("name", ["search_arrays", "amazon_covers", "shelf"])
def test_data_configs_instantiate(name, monkeypatch):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    monkeypatch.setenv("PROJECT_ROOT", str(REPO))
    cfg = OmegaConf.create(
        {"paths": OmegaConf.load(REPO / "conf" / "paths" / "default.yaml"), "data": OmegaConf.load(REPO / "conf" / "data" / f"{name}.yaml")}
    )
    dm = instantiate(cfg.data)
    assert dm.batch_size == 20 and dm.eval_key == "task"
    if name == "amazon_covers":
        assert dm.annotations.endswith("shared/data/amazon_covers/Amazon.json")
    if name == "search_arrays":
        assert dm.num_layouts == 1000 and dm.observers_per_layout == 3 and dm.synthetic


def test_amazon_sti_folder_layout(tmp_path):
    sti = tmp_path / "STI"
    (sti / "AmazonCovers").mkdir(parents=True)
    path = _tiny_amazon(sti / "AmazonCovers")  # writes AmazonCovers/{Amazon.json, images/}
    dm = AmazonCoversDataModule(root=str(sti))  # root = the STI folder: AmazonCovers/Amazon.json is found
    assert not dm.layout_only and Path(dm.annotations) == path
    assert Path(dm.image_dir) == path.parent / "images"
    assert AmazonCoversDataModule(root=str(sti), mode="layout_only").layout_only


def test_teardown_after_fit_releases_the_cached_layouts():
    """Issue 18 item 3: after ``fit`` the training layouts' cached crops (kept as uint8 for the whole
    run with ``keep_crops``) are dropped before the test run / end-of-run evaluation; reading a
    layout again re-renders exactly the same tensors."""
    dm = SearchArraysDataModule(num_layouts=10, keep_crops=True, crop_hw=[40, 30], batch_size=4)
    dm.setup("fit")
    s = dm.samples("train")[0]
    crops, image = s["crops"], s["image"]
    assert len(dm.store._crops_u8) == 1 and len(dm.store._cache) == 1
    dm.teardown("test")  # other stages keep the caches
    assert len(dm.store._crops_u8) == 1
    dm.teardown("fit")
    assert len(dm.store._crops_u8) == 0 and len(dm.store._cache) == 0
    assert torch.equal(s["crops"], crops) and torch.equal(s["image"], image)
