"""Issue 16: every bad input to a reader is a named error (file, record, field), never a raw traceback
or silent acceptance; SQLite URIs quoted; data-file image paths stay under their folder; atomic writes
honour the umask."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError


# ------------------------------------------------------------------------------------------ helpers
def coco_rec(**kw):
    rec = {"name": "a.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [10, 10, 20, 20],
           "X": [100.0, 200.0, 300.0], "Y": [100.0, 200.0, 300.0], "T": [100.0, 200.0, 300.0], "length": 3,
           "split": "test"}
    rec.update(kw)
    return rec


def write_json_text(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def amazon_entry(**kw):
    e = {"fixations": {"1": [[100, 100], [500, 400]], "2": [[50, 60]]},
         "ground_truth": [{"xmin": 0, "xmax": 182, "ymin": 0, "ymax": 266}],
         "size": {"width": 2548, "height": 1600}, "target": "target_0.jpg"}
    e.update(kw)
    return e


def make_capmit(root: Path, *, clicks=None, img_path="a.jpeg", image_bytes=None, caption="a cup") -> Path:
    """A tiny CapMIT1003 folder with one image and one observation."""
    from PIL import Image

    (root / "ALLSTIMULI").mkdir(parents=True, exist_ok=True)
    if image_bytes is None:
        Image.fromarray(np.full((40, 50, 3), 100, np.uint8)).save(root / "ALLSTIMULI" / "a.jpeg")
    else:
        (root / "ALLSTIMULI" / "a.jpeg").write_bytes(image_bytes)
    db = root / "capmit1003.db"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE images (img_uid TEXT, img_path TEXT);"
        "CREATE TABLE captions (obs_uid TEXT, usr_uid TEXT, start_time TEXT, caption TEXT, img_uid TEXT);"
        "CREATE TABLE clicks (click_id, obs_uid TEXT, x, y, click_time);"
    )
    con.execute("INSERT INTO images VALUES ('i0', ?)", (img_path,))
    con.execute("INSERT INTO captions VALUES ('o0', 'u0', '100', ?, 'i0')", (caption,))
    rows = clicks if clicks is not None else [(0, 10, 10, 101.0), (1, 20, 20, 102.0)]
    con.executemany("INSERT INTO clicks VALUES (?, 'o0', ?, ?, ?)", rows)
    con.commit()
    con.close()
    return db


# -------------------------------------------------------------------------- item 2: SQLite URI quoting
@pytest.mark.parametrize("dirname", ["a#b", "q?mode=rwc", "pct%41x", "with space", "all # ? %41 x"])
def test_capmit_db_path_with_uri_characters(tmp_path, dirname):
    from scanpath.io.capmit1003 import is_synthetic, read_capmit1003

    root = tmp_path / dirname
    db = make_capmit(root)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    recs = read_capmit1003(db, root, require_images=True)
    assert [r.obs_uid for r in recs] == ["o0"]
    assert recs[0].x.tolist() == [10, 20]
    assert is_synthetic(db) is False
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # no stray file created where the URI was cut


def test_capmit_db_file_name_with_hash_creates_no_stray_file(tmp_path):
    from scanpath.io.capmit1003 import read_capmit1003

    make_capmit(tmp_path)
    db = tmp_path / "cap#1.db"
    (tmp_path / "capmit1003.db").rename(db)
    recs = read_capmit1003(db, tmp_path)
    assert len(recs) == 1
    assert not (tmp_path / "cap").exists()


def test_capmit_db_opened_read_only(tmp_path):
    from scanpath.io import capmit1003 as cm

    db = make_capmit(tmp_path / "x#y")
    con = sqlite3.connect(cm.sqlite_ro_uri(db), uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute("CREATE TABLE t (a)")
    finally:
        con.close()


# ----------------------------------------------------------- item 3: image paths stay under their folder
def test_coco_absolute_name_escaping_image_dir_is_an_error(tmp_path):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule

    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    imgs = tmp_path / "images"
    imgs.mkdir()
    ann = write_json_text(tmp_path / "a.json", json.dumps([coco_rec(name=str(outside))]))
    dm = CocoSearch18DataModule(str(ann), image_dir=str(imgs), frame=(1680, 1050))
    with pytest.raises(ScanpathDataError, match="outside") as e:
        dm.setup()
    assert e.value.field == "name" and str(ann) in str(e.value)
    dm = CocoSearch18DataModule(str(ann), image_dir=str(imgs), frame=(1680, 1050), allow_outside=True)
    dm.setup()
    assert Path(dm.samples("all")[0]["image_path"]) == outside


def test_coco_dotdot_name_escaping_image_dir_is_an_error(tmp_path):
    from scanpath.datamodules.coco_search18 import CocoSearch18DataModule

    (tmp_path / "secret.jpg").write_bytes(b"x")
    imgs = tmp_path / "images"
    imgs.mkdir()
    ann = write_json_text(tmp_path / "a.json", json.dumps([coco_rec(name="../secret.jpg")]))
    with pytest.raises(ScanpathDataError, match="outside"):
        CocoSearch18DataModule(str(ann), image_dir=str(imgs)).setup()


def test_capmit_img_path_escaping_allstimuli_is_an_error(tmp_path):
    from scanpath.io.capmit1003 import read_capmit1003

    root = tmp_path / "cap"
    db = make_capmit(root, img_path="../../../etc/hostname")
    with pytest.raises(ScanpathDataError, match="outside") as e:
        read_capmit1003(db, root)
    assert e.value.field == "images.img_path" and e.value.record == "o0"
    recs = read_capmit1003(db, root, allow_outside=True)
    assert recs[0].image_file == root / "ALLSTIMULI" / "../../../etc/hostname"


def test_amazon_collage_key_escaping_image_dir_is_an_error(tmp_path):
    from scanpath.datamodules.amazon_covers import AmazonCoversDataModule

    ann = write_json_text(tmp_path / "Amazon.json", json.dumps({"../x.jpg": amazon_entry()}))
    imgs = tmp_path / "images"
    imgs.mkdir()
    dm = AmazonCoversDataModule(annotations=str(ann), image_dir=str(imgs), mode="images", filter_sd=None)
    with pytest.raises(ScanpathDataError, match="outside"):
        dm.setup()


def test_shelf_question_escaping_image_dir_is_an_error(tmp_path):
    from scanpath.datamodules.shelf import ShelfDataModule

    f = tmp_path / "s.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Target", "Question", "Choice", "X", "Y", "T_Package", "Sub_ID"])
        w.writerow([1, "T1_1", "Q1/../../x", 1, 10, 300, 2, 5])
    imgs = tmp_path / "Question"
    imgs.mkdir()
    with pytest.raises(ScanpathDataError, match="outside"):
        ShelfDataModule(str(f), image_dir=str(imgs), mode="images").setup()


def test_resolve_under():
    from scanpath.io.paths import resolve_under

    assert resolve_under("/data/img", "a/b.jpg") == Path("/data/img/a/b.jpg")
    for bad in ("/etc/passwd", "../x.jpg", "a/../../x.jpg", "a/../../img2/x.jpg"):
        with pytest.raises(ScanpathDataError, match="outside"):
            resolve_under("/data/img", bad, file="f.json", record=3, field="name")
    assert resolve_under("/data/img", "/etc/x", allow_outside=True) == Path("/etc/x")


# ------------------------------------------------------------------------- item 4: umask is honoured
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_honours_umask(tmp_path, umask, mode):
    from scanpath.io.atomic import atomic_write_text

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == mode


def test_atomic_rewrite_keeps_existing_mode(tmp_path):
    from scanpath.io.atomic import atomic_write_text

    p = tmp_path / "out.txt"
    p.write_text("old")
    p.chmod(0o640)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and p.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------------- item 7: validation
@pytest.mark.parametrize("policy", ["error", "clip", "drop"])
def test_coco_infinite_duration(tmp_path, policy):
    from scanpath.io.coco import read_coco_json

    f = write_json_text(tmp_path / "a.json", '[{"name": "a.jpg", "subject": 1, "X": [1, 2, 3], "Y": [1, 2, 3], '
                                             '"T": [100, Infinity, 50], "length": 3}]')
    if policy == "drop":
        (sp,) = read_coco_json(f, invalid_policy="drop")
        assert sp.duration.tolist() == [100, 50] and np.isfinite(sp.duration).all()
    else:
        with pytest.raises(ScanpathDataError, match="duration") as e:
            read_coco_json(f, invalid_policy=policy)
        assert e.value.field == "T" and e.value.record == 0


@pytest.mark.parametrize("bbox", ["[NaN, 1, 2, 3]", "[1, 1, Infinity, 3]", "[1, -Infinity, 2, 3]"])
def test_coco_non_finite_bbox(tmp_path, bbox):
    from scanpath.io.coco import read_coco_json

    f = write_json_text(tmp_path / "a.json", '[{"name": "a.jpg", "subject": 1, "X": [1], "Y": [1], "T": [1], '
                                             f'"length": 1, "bbox": {bbox}}}]')
    with pytest.raises(ScanpathDataError) as e:
        read_coco_json(f)
    assert e.value.field == "bbox"


@pytest.mark.parametrize("size, field", [({"width": 0.3, "height": 1600}, "size.width"),
                                         ({"width": 1e300, "height": 1600}, "size.width"),
                                         ({"width": 2548, "height": 0.4}, "size.height")])
def test_amazon_bad_size(tmp_path, size, field):
    from scanpath.io.amazon import read_amazon_json

    f = write_json_text(tmp_path / "A.json", json.dumps({"1.jpg": amazon_entry(size=size)}))
    with pytest.raises(ScanpathDataError) as e:
        read_amazon_json(f)
    assert e.value.field == field and e.value.record == "1.jpg"


def test_amazon_ground_truth_outside_image(tmp_path):
    from scanpath.io.amazon import load_amazon

    gt = [{"xmin": 5000, "xmax": 5100, "ymin": 10, "ymax": 100}]
    f = write_json_text(tmp_path / "A.json", json.dumps({"1.jpg": amazon_entry(ground_truth=gt)}))
    with pytest.raises(ScanpathDataError) as e:
        load_amazon(f, filter_sd=None)
    assert e.value.field == "ground_truth[0]" and e.value.record == "1.jpg"


def _shelf_csv(path: Path, x, y) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Target", "Question", "Choice", "X", "Y", "T_Package", "Sub_ID"])
        w.writerow([1, "T1_1", "Q1_1", 1, 10, 300, 2, 5])
        w.writerow([1, "T1_1", "Q1_1", 2, x, y, 2, 5])
    return path


@pytest.mark.parametrize("x, y, field", [(1e300, 300, "X"), (-5, 300, "X"), (100, 1051, "Y"), (1681, 5, "X")])
def test_shelf_coordinates_outside_image(tmp_path, x, y, field):
    from scanpath.io.shelf import load_shelf

    f = _shelf_csv(tmp_path / "s.csv", x, y)
    with pytest.raises(ScanpathDataError) as e:
        load_shelf(f)
    assert e.value.field == field and e.value.record == "row 2"
    (t,) = load_shelf(f, invalid_policy="drop")
    assert len(t) == 1 and t.scanpath.tolist() == [0]
    (t,) = load_shelf(f, invalid_policy="clip")
    assert 0 <= t.fix_xy[1, 0] <= 1680 and 0 <= t.fix_xy[1, 1] <= 1050


@pytest.mark.parametrize("clicks, field", [
    ([(0, 10, 10, 101.0), (1, 1e300, 20, 102.0)], "clicks.x"),
    ([(0, 10, 10, 105.0), (1, 20, 20, 102.0)], "clicks.click_time"),
])
def test_capmit_bad_clicks_without_images(tmp_path, clicks, field):
    from scanpath.io.capmit1003 import read_capmit1003

    db = make_capmit(tmp_path, clicks=clicks)
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(db)  # no image folder: the image-size check cannot catch it
    assert e.value.field == field and str(e.value.record).startswith("o0")


def _fixlist(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_salient360_nan_index_is_an_error(tmp_path):
    from scanpath.io.salient360 import load_fixation_list

    f = _fixlist(tmp_path / "f.csv", "Idx, longitude, latitude, start\n0, 0.5, 0.5, 0\nNaN, 0.6, 0.5, 100\n")
    with pytest.raises(ScanpathDataError) as e:
        load_fixation_list(f)
    assert e.value.record == 3 and e.value.field == "Idx"


def test_salient360_negative_duration_is_an_error(tmp_path):
    from scanpath.io.salient360 import load_fixation_list

    f = _fixlist(tmp_path / "f.csv", "0, 0.5, 0.5, 0, 0.2\n1, 0.6, 0.5, 0.3, -0.1\n")
    with pytest.raises(ScanpathDataError) as e:
        load_fixation_list(f)
    assert e.value.record == 2 and e.value.field == "duration"


def _hstar(tmp_path: Path, items) -> Path:
    from PIL import Image

    scene = tmp_path / "hs" / "scene1"
    scene.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(scene / "pano.png")
    (scene / "annotation.json").write_text(items if isinstance(items, str) else json.dumps(items))
    return tmp_path / "hs"


@pytest.mark.parametrize("item, field", [
    ('[{"task": "find", "yaw": [NaN, 10], "pitch": [0, 10]}]', "yaw"),
    ('[{"task": "find", "yaw": [true, 10], "pitch": [0, 10]}]', "yaw"),
    ('[{"task": "find", "yaw": [0, 10], "pitch": [-100, 10]}]', "pitch"),
    ('[{"task": "find", "yaw": [0, 10], "pitch": [0, 95]}]', "pitch"),
    ('[{"task": "find", "yaw": [0, Infinity], "pitch": [0, 10]}]', "yaw"),
    ('[{"task": "find", "yaw": [0, 10], "initial yaw": [true, 90]}]', "initial yaw"),
])
def test_hstar_bad_angles(tmp_path, item, field):
    from scanpath.io.hstar import load_hstar

    root = _hstar(tmp_path, item)
    with pytest.raises(ScanpathDataError) as e:
        load_hstar(root)
    assert e.value.field == field and e.value.record == 0


def _human_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["condition", "description", "set_size", "human_rt_ms", "human_slope_ms_per_item"])
        w.writerows(rows)
    return path


@pytest.mark.parametrize("row, field", [
    (["Ts", "T among L", 3, -500, 10], "human_rt_ms"),
    (["Ts", "T among L", "1e400", 500, 10], "set_size"),
    (["Ts", "T among L", "inf", 500, 10], "set_size"),
])
def test_asymmetry_csv_bad_values(tmp_path, row, field):
    from scanpath.analysis.asymmetry import read_human_rt

    f = _human_csv(tmp_path / "h.csv", [row])
    with pytest.raises(ScanpathDataError) as e:
        read_human_rt(f)
    assert e.value.field == field and e.value.record == "row 2"


# ------------------------------------------------------------- item 8: raw tracebacks → named errors
NON_UTF8 = b"\xff\xfe\x00\x81garbage\xc3\x28"


def _readers(tmp_path: Path):
    """(name, path, call) for every text reader, each fed the same non-UTF-8 bytes."""
    from scanpath.analysis.asymmetry import read_found_at, read_human_rt
    from scanpath.io.amazon import read_amazon_json
    from scanpath.io.coco import read_coco_json
    from scanpath.io.hstar import load_hstar
    from scanpath.io.mit1003 import read_fixation_file
    from scanpath.io.salient360 import load_fixation_list, load_raw_gaze
    from scanpath.io.shelf import load_shelf

    def hstar(p):
        return load_hstar(p.parent)

    return [
        ("coco", "a.json", read_coco_json),
        ("amazon", "Amazon.json", read_amazon_json),
        ("hstar", "hs/s1/annotation.json", hstar),
        ("mit1003", "subj01", read_fixation_file),
        ("salient360_fix", "fix.csv", load_fixation_list),
        ("salient360_raw", "raw.csv", load_raw_gaze),
        ("shelf", "s.csv", load_shelf),
        ("asymmetry", "h.csv", read_human_rt),
        ("found_at", "found.csv", read_found_at),
    ]


@pytest.mark.parametrize("k", range(9))
def test_non_utf8_files_are_named_errors(tmp_path, k):
    name, rel, fn = _readers(tmp_path)[k]
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if name == "hstar":
        from PIL import Image

        Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(p.parent / "pano.png")
    p.write_bytes(NON_UTF8 * 20)
    with pytest.raises(ScanpathDataError) as e:
        fn(p)
    assert e.value.file is not None and Path(e.value.file).name == p.name


def test_coco_sidecar_non_utf8(tmp_path):
    from scanpath.io.coco import read_coco_json

    f = write_json_text(tmp_path / "a.json", json.dumps([coco_rec()]))
    (tmp_path / "a.json.meta.json").write_bytes(NON_UTF8)
    with pytest.raises(ScanpathDataError) as e:
        read_coco_json(f)
    assert e.value.file.endswith("a.json.meta.json")


BOM = "\ufeff"


def test_utf8_bom_is_accepted(tmp_path):
    from scanpath.analysis.asymmetry import read_human_rt
    from scanpath.io.amazon import read_amazon_json
    from scanpath.io.coco import read_coco_json
    from scanpath.io.hstar import load_hstar
    from scanpath.io.mit1003 import read_fixation_file
    from scanpath.io.salient360 import load_fixation_list

    f = write_json_text(tmp_path / "a.json", BOM + json.dumps([coco_rec()]))
    (tmp_path / "a.json.meta.json").write_text(BOM + json.dumps({"frame": [1680, 1050]}), encoding="utf-8")
    assert len(read_coco_json(f)) == 1
    f = write_json_text(tmp_path / "A.json", BOM + json.dumps({"1.jpg": amazon_entry()}))
    assert len(read_amazon_json(f)) == 1
    root = _hstar(tmp_path, BOM + json.dumps([{"task": "find", "yaw": [0, 10], "pitch": [0, 10]}]))
    assert len(load_hstar(root)) == 4
    f = tmp_path / "subj"
    f.write_text(BOM + "1 2 0.0 0.1\n3 4 0.2 0.3\n", encoding="utf-8")
    assert read_fixation_file(f).shape == (2, 4)
    f = _fixlist(tmp_path / "fix.csv", BOM + "0, 0.5, 0.5, 0\n1, 0.6, 0.5, 100\n")
    assert len(load_fixation_list(f)[0]) == 2
    f = tmp_path / "h.csv"
    f.write_text(BOM + "condition,description,set_size,human_rt_ms,human_slope_ms_per_item\nTs,x,3,500,10\n",
                 encoding="utf-8")
    assert read_human_rt(f)["Ts"].set_sizes == [3]


@pytest.mark.parametrize("text, field", [
    ('[{"name": "a.jpg", "subject": 1, "X": [1' + "0" * 400 + '], "Y": [1], "T": [1], "length": 1}]', "X"),
    ('[{"name": "a.jpg", "subject": 1, "X": [1], "Y": [1], "T": [1e400], "length": 1}]', "T"),
    ('[{"name": "a.jpg", "subject": 1, "X": [1], "Y": [1], "T": [1], "length": 1, '
     '"fixation_extra": {"obj": [[1, 2]]}}]', None),
    ('[{"name": "a.jpg", "subject": 1, "X": [1, 2], "Y": [1, 2], "T": [1, 1], "length": 2, '
     '"fixation_extra": {"obj": [[1, 2], [3]]}}]', "fixation_extra.obj"),
    ('[{"name": "a.jpg", "subject": 1, "X": [1], "Y": [1], "T": [1], "length": 1, "image_size": [Infinity, 5]}]',
     "image_size"),
])
def test_coco_overflow_and_ragged(tmp_path, text, field):
    from scanpath.io.coco import read_coco_json

    f = write_json_text(tmp_path / "a.json", text)
    if field is None:  # a well-formed per-fixation 2-vector is valid
        assert read_coco_json(f)[0].fixation_extra["obj"].shape == (1, 2)
        return
    with pytest.raises(ScanpathDataError) as e:
        read_coco_json(f)
    assert e.value.field == field and e.value.record == 0


@pytest.mark.parametrize("frame", ["[Infinity, 1050]", "[1e400, 1050]", "[1680, NaN]"])
def test_coco_sidecar_frame_overflow(tmp_path, frame):
    from scanpath.io.coco import read_coco_json

    f = write_json_text(tmp_path / "a.json", json.dumps([coco_rec()]))
    (tmp_path / "a.json.meta.json").write_text('{"frame": %s}' % frame)
    with pytest.raises(ScanpathDataError) as e:
        read_coco_json(f)
    assert e.value.field == "frame"


@pytest.mark.parametrize("click_id", [None, "abc", 1.5])
def test_capmit_bad_click_id(tmp_path, click_id):
    from scanpath.io.capmit1003 import read_capmit1003

    db = make_capmit(tmp_path, clicks=[(0, 10, 10, 101.0), (click_id, 20, 20, 102.0)])
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(db, tmp_path)
    assert e.value.field == "clicks.click_id" and str(e.value.record).startswith("o0")


def test_capmit_corrupt_image(tmp_path):
    from scanpath.io.capmit1003 import read_capmit1003

    db = make_capmit(tmp_path, image_bytes=b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(db, tmp_path, require_images=True)
    assert e.value.file.endswith("a.jpeg") and e.value.record == "o0"


def test_mit1003_corrupt_image(tmp_path):
    from scanpath.io.mit1003 import read_mit1003, write_synthetic_mit1003

    root = write_synthetic_mit1003(tmp_path / "m", stems=["s0"])
    (root / "STIMULI" / "s0.jpeg").write_bytes(b"GIF89a broken")
    with pytest.raises(ScanpathDataError) as e:
        read_mit1003(root)
    assert e.value.file.endswith("s0.jpeg") and e.value.record == "s0"


@pytest.mark.parametrize("case", ["missing", "directory", "header_only", "non_increasing", "empty"])
def test_salient360_raw_bad_files(tmp_path, case):
    from scanpath.io.salient360 import load_raw_gaze

    header = "OcutimeStamp,cameraRotation.x,cameraRotation.y,cameraRotation.z,cameraRotation.w," \
             "leftEyeDirection.x,leftEyeDirection.y,leftEyeDirection.z,rightEyeDirection.x," \
             "rightEyeDirection.y,rightEyeDirection.z,valL,valR\n"
    row = "{t},0,0,0,1,0,0,1,0,0,1,1,1\n"
    p = tmp_path / "raw.csv"
    if case == "directory":
        p.mkdir()
    elif case == "header_only":
        p.write_text(header)
    elif case == "non_increasing":
        p.write_text(header + row.format(t=1000) + row.format(t=900) + row.format(t=800))
    elif case == "empty":
        p.write_text("")
    with pytest.raises(ScanpathDataError) as e:
        load_raw_gaze(p)
    assert e.value.file == str(p)


@pytest.mark.parametrize("case", ["missing", "directory", "header_only"])
def test_salient360_fixation_list_bad_files(tmp_path, case):
    from scanpath.io.salient360 import load_fixation_list

    p = tmp_path / "fix.csv"
    if case == "directory":
        p.mkdir()
    elif case == "header_only":
        p.write_text("Idx, longitude, latitude, start\n")
    with pytest.raises(ScanpathDataError) as e:
        load_fixation_list(p)
    assert e.value.file == str(p)


def test_hstar_annotation_json_directory(tmp_path):
    from scanpath.io.hstar import load_hstar

    root = _hstar(tmp_path, [{"task": "find", "yaw": [0, 10], "pitch": [0, 10]}])
    d = root / "scene2" / "annotation.json"
    d.mkdir(parents=True)
    with pytest.raises(ScanpathDataError) as e:
        load_hstar(root)
    assert e.value.file == str(d)


def test_mit1003_fixation_file_missing_or_directory(tmp_path):
    from scanpath.io.mit1003 import read_fixation_file

    with pytest.raises(ScanpathDataError):
        read_fixation_file(tmp_path / "nope")
    with pytest.raises(ScanpathDataError):
        read_fixation_file(tmp_path)
