"""Issue 16 item 5: a path the user gave that does not exist is an error naming it, never a fallback
to other data — in every datamodule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError


def _amazon(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"fixations": {"1": [[10, 10], [100, 50]], "2": [[20, 20]]},
             "ground_truth": [{"xmin": 0, "xmax": 20, "ymin": 0, "ymax": 20}],
             "size": {"width": 280, "height": 120}, "target": "target_0.jpg"}
    p = folder / "Amazon.json"
    p.write_text(json.dumps({"1.png": entry, "2.png": entry}))
    return p


def test_amazon_mistyped_annotations_is_an_error_not_the_shared_file(tmp_path):
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

    good = _amazon(tmp_path / "shared")
    dm = AmazonCoversDataModule(root=str(good.parent), annotations=str(tmp_path / "nope.json"), filter_sd=None)
    with pytest.raises(ScanpathDataError, match="data.annotations") as e:
        dm.setup()
    assert e.value.file == str(tmp_path / "nope.json")
    # root alone still finds <root>/Amazon.json
    assert len(AmazonCoversDataModule(root=str(good.parent), filter_sd=None).samples("all")) == 4


@pytest.mark.parametrize("key", ["root", "mask_dir", "image_dir"])
def test_amazon_missing_folders(tmp_path, key):
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

    good = _amazon(tmp_path / "shared")
    kw = {"annotations": str(good), "filter_sd": None}
    if key == "root":
        kw = {"root": str(tmp_path / "nope"), "filter_sd": None}
    else:
        kw[key] = str(tmp_path / "nope")
    with pytest.raises(ScanpathDataError, match=f"data.{key}") as e:
        AmazonCoversDataModule(**kw).setup()
    assert e.value.file == str(tmp_path / "nope")


def test_shelf_missing_paths(tmp_path):
    from scanpath.datamodules.shelf import ShelfDataModule

    f = tmp_path / "s.csv"
    f.write_text("ID,Target,Question,Choice,X,Y,T_Package,Sub_ID\n1,T1_1,Q1_1,1,10,300,2,5\n")
    with pytest.raises(ScanpathDataError, match="data.image_dir") as e:
        ShelfDataModule(str(f), image_dir=str(tmp_path / "nope")).setup()
    assert e.value.file == str(tmp_path / "nope")
    with pytest.raises(ScanpathDataError, match="data.data_files"):
        ShelfDataModule([str(f), str(tmp_path / "nope.csv")]).setup()
    # no image_dir and no <root>/Question: layout-only, as documented
    assert ShelfDataModule(str(f), root=str(tmp_path)).layout_only
    # screenshots missing from a given image_dir are an error, not a silent layout-only run
    (tmp_path / "shots").mkdir()
    with pytest.raises(ScanpathDataError, match="screenshots missing"):
        ShelfDataModule(str(f), image_dir=str(tmp_path / "shots")).setup()


def _coco(tmp_path: Path) -> Path:
    rec = {"name": "a.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [1, 1, 5, 5],
           "X": [10.0], "Y": [10.0], "T": [100.0], "length": 1}
    p = tmp_path / "a.json"
    p.write_text(json.dumps([rec]))
    return p


@pytest.mark.parametrize("key", ["image_dir", "target_dir", "gt_dir"])
def test_coco_and_natural_search_missing_dirs(tmp_path, key):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule
    from scanpath.datamodules.natural_search import NaturalSearchDataModule

    ann = _coco(tmp_path)
    nope = str(tmp_path / "nope")
    if key == "image_dir":
        dm = CocoSearch18DataModule(str(ann), image_dir=nope)
    else:
        (tmp_path / "img").mkdir()
        src = {"target_dir": "target_source", "gt_dir": "gt_source"}[key]
        dm = NaturalSearchDataModule(str(ann), image_dir=str(tmp_path / "img"), **{key: nope, src: "dir"})
    with pytest.raises(ScanpathDataError, match=f"data.{key}") as e:
        dm.setup()
    assert e.value.file == nope


def test_coco_missing_annotation_file(tmp_path):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule

    with pytest.raises(ScanpathDataError, match="not found") as e:
        CocoSearch18DataModule(str(tmp_path / "nope.json")).setup()
    assert e.value.file == str(tmp_path / "nope.json")


@pytest.mark.parametrize("key", ["root", "db_path", "mit1003_root"])
def test_capmit1003_missing_paths(tmp_path, key):
    from scanpath.datamodules.capmit1003 import CapMIT1003DataModule
    from scanpath.io.capmit1003 import write_synthetic_capmit1003

    root = write_synthetic_capmit1003(tmp_path / "cap", n_images=1, captions_per_image=1, clicks=2)
    nope = str(tmp_path / "nope")
    kw = {"db_path": str(root / "capmit1003.db"), "mit1003_root": str(root)}
    if key == "root":
        kw = {"root": nope}
    else:
        kw[key] = nope
    with pytest.raises(ScanpathDataError) as e:
        CapMIT1003DataModule(**kw).setup()
    assert nope in str(e.value)


def test_mit1003_missing_paths(tmp_path):
    from scanpath.datamodules.mit1003 import MIT1003DataModule
    from scanpath.io.mit1003 import write_synthetic_mit1003

    with pytest.raises(ScanpathDataError, match="data.root") as e:
        MIT1003DataModule(root=str(tmp_path / "nope")).setup()
    assert e.value.file == str(tmp_path / "nope")
    root = write_synthetic_mit1003(tmp_path / "m", stems=["s0"])
    with pytest.raises(ScanpathDataError, match="data.captions_db"):
        MIT1003DataModule(root=str(root), captions_db=str(tmp_path / "nope.db")).setup()


def test_hstar_missing_root(tmp_path):
    from scanpath.datamodules.hstar import HstarDataModule

    with pytest.raises(ScanpathDataError) as e:
        HstarDataModule(root=str(tmp_path / "nope")).setup()
    assert e.value.file == str(tmp_path / "nope")


def test_split_file_missing(tmp_path):
    from scanpath.datamodules.search_arrays import SearchArraysDataModule

    dm = SearchArraysDataModule(num_layouts=3, split="split_file", split_file=str(tmp_path / "nope.txt"))
    with pytest.raises(ScanpathDataError) as e:
        dm.setup()
    assert e.value.file == str(tmp_path / "nope.txt")
    assert np.isfinite(0)
