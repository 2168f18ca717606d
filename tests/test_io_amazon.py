"""STI Amazon book-cover reader (docs/oat.md §3.1, §5, §7 items 1–4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scanpath.io.amazon import AMAZON_GRID, amazon_crops, load_amazon, mask_boxes, read_amazon_json
from scanpath.errors import ScanpathDataError
from scanpath.io.object_trial import box_iou, grid_boxes, points_to_boxes, points_to_cells
from scanpath.metrics.behavioural import STATS, oat_stats


@pytest.fixture(scope="module")
def amazon_json(shared_data: Path) -> Path:
    p = shared_data / "amazon_covers" / "Amazon.json"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="module")
def amazon(amazon_json):
    return load_amazon(amazon_json)


def _mean_stats(trials) -> dict[str, float]:
    rows = [oat_stats(t.scanpath, t.target) for t in trials]
    return {k: float(np.mean([r[k] for r in rows])) for k in STATS}


# ------------------------------------------------------------------------------ shared 80-collage file
def test_counts_and_filter_range(amazon):
    assert amazon.n_raw == 480
    assert amazon.n_kept == 468
    assert sum(len(t) for t in amazon.raw) == 7356
    st = amazon.filter_stats
    assert st["mean"] == pytest.approx(15.325, abs=1e-9)
    assert st["sd"] == pytest.approx(14.616, abs=1e-3)
    assert st["low"] == pytest.approx(-28.52, abs=5e-3)
    assert st["high"] == pytest.approx(59.17, abs=5e-3)
    assert all(len(t) <= st["high"] for t in amazon.trials)
    assert {t.target_id for t in amazon.raw} == {f"target_{k}.jpg" for k in range(4)}
    assert all(not t.synthetic and t.grid == AMAZON_GRID and t.num_objects == 84 for t in amazon.raw)


def test_file_order_and_one_record_per_subject(amazon, amazon_json):
    data = json.loads(amazon_json.read_text())
    expected = [(k, s) for k, v in data.items() for s in v["fixations"]]
    assert [(t.layout_id, t.subject_id) for t in amazon.raw] == expected
    for t in amazon.raw[:30]:
        raw = np.asarray(data[t.layout_id]["fixations"][t.subject_id], dtype=float)
        np.testing.assert_array_equal(t.fix_xy, raw)  # raw pixels are kept
    assert len({t.trial_id for t in amazon.raw}) == 480


def test_upstream_duplicate_bug(amazon_json, amazon):
    bug = load_amazon(amazon_json, upstream_duplicate_bug=True)
    assert bug.n_raw == 480 and bug.n_kept == 474
    by_layout: dict[str, list] = {}
    for t in bug.raw:
        by_layout.setdefault(t.layout_id, []).append(t)
    correct_last = {}
    for t in amazon.raw:
        correct_last[t.layout_id] = t  # file order: the last one wins
    for key, recs in by_layout.items():
        assert len(recs) == 6
        for r in recs:  # every record carries the last subject's scanpath
            np.testing.assert_array_equal(r.scanpath, correct_last[key].scanpath)
            np.testing.assert_array_equal(r.fix_xy, correct_last[key].fix_xy)
    dropped = {t.layout_id for t in bug.raw} - {t.layout_id for t in bug.trials}
    assert len(dropped) == 1  # one whole collage is dropped


def test_collage_1(amazon):
    t = amazon.raw[0]
    assert (t.layout_id, t.subject_id) == ("1.jpg", "1")
    assert t.image_size == (2559, 1600)
    assert t.target == 12
    assert t.scanpath[:10].tolist() == [35, 32, 46, 0, 0, 1, 14, 47, 48, 49]


def test_far_edge_maps_to_last_cell():
    w, h = 2559, 1600
    cell = (w / 14, h / 6)
    pts = np.array([[w, 10], [10, h], [w, h], [0, 0], [-3, -3], [w + 50, 5], [cell[0], 0]])
    obj = points_to_cells(pts, AMAZON_GRID, cell)
    assert obj.tolist() == [13, 70, 83, 0, 0, 13, 1]


def test_target_iou(amazon):
    seen = set()
    for t in amazon.raw:
        if t.layout_id in seen:
            continue
        seen.add(t.layout_id)
        assert t.extra["target_iou"] >= 0.6, t.layout_id
        assert t.extra["second_iou"] <= 0.06, t.layout_id
    assert len(seen) == 80


def test_box_iou_against_hand_values():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]], dtype=float)
    iou = box_iou((0, 0, 10, 10), boxes)
    np.testing.assert_allclose(iou, [1.0, 25 / 175, 0.0])


@pytest.mark.parametrize(
    "which, expected",
    [("kept", (0.857, 13.641, 0.782, 0.171, 0.047)), ("raw", (0.844, 15.325, 0.778, 0.169, 0.053))],
)
def test_human_statistics_match_spec(amazon, which, expected):
    trials = amazon.trials if which == "kept" else amazon.raw
    stats = _mean_stats(trials)
    for k, v in zip(STATS, expected):
        assert round(stats[k], 3) == pytest.approx(v, abs=1e-9), (k, stats[k])
    for t in trials:
        s = oat_stats(t.scanpath, t.target)
        assert abs(s["search"] + s["refix"] + s["revisit"] - 1.0) < 1e-9


# ------------------------------------------------------------------------------ synthetic files
def _collage(lengths, rng, size=(2560, 1600), target_cell=5, name="target_0.jpg"):
    w, h = size
    cw, ch = w / 14, h / 6
    r, c = divmod(target_cell, 14)
    return {
        "fixations": {
            str(s + 1): [[float(rng.uniform(0, w)), float(rng.uniform(0, h))] for _ in range(n)]
            for s, n in enumerate(lengths)
        },
        "ground_truth": [{"xmin": c * cw + 5, "xmax": (c + 1) * cw - 5, "ymin": r * ch + 5, "ymax": (r + 1) * ch - 5}],
        "size": {"width": w, "height": h},
        "target": name,
    }


def _write(tmp_path: Path, data, name="Amazon.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


def test_hundred_collage_file_loads_and_filters(tmp_path):
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 30, size=(100, 6))
    lengths[7, 2] = 400  # an outlier subject
    lengths[42, 5] = 350  # an outlier that is the last subject of its collage
    data = {f"{i + 1}.jpg": _collage(lengths[i].tolist(), rng, target_cell=i % 84, name=f"target_{i % 5}.jpg") for i in range(100)}
    path = _write(tmp_path, data)
    res = load_amazon(path)
    flat = lengths.reshape(-1).astype(float)
    lo, hi = flat.mean() - 3 * flat.std(), flat.mean() + 3 * flat.std()
    assert res.n_raw == 600
    assert res.n_kept == int(((flat >= lo) & (flat <= hi)).sum()) == 598
    assert [t.target for t in res.raw[::6]] == [i % 84 for i in range(100)]
    bug = load_amazon(path, upstream_duplicate_bug=True)
    last = lengths[:, -1].astype(float)
    assert bug.n_kept == 6 * int(((last >= lo) & (last <= hi)).sum()) == 594
    assert load_amazon(path, filter_sd=None).n_kept == 600


def _one(tmp_path, fixations, size=(1400, 600)):
    rng = np.random.default_rng(0)
    entry = _collage([1], rng, size=size)
    entry["fixations"] = {"1": fixations}
    return _write(tmp_path, {"a.jpg": entry})


def test_outside_image_policies(tmp_path):
    path = _one(tmp_path, [[-10, 50], [700, 300], [1405, 650], [1400, 600]])
    keep = load_amazon(path, filter_sd=None).raw[0]
    assert keep.fix_xy.tolist() == [[-10, 50], [700, 300], [1405, 650], [1400, 600]]
    assert keep.scanpath.tolist() == [0, 3 * 14 + 7, 83, 83]
    clip = load_amazon(path, filter_sd=None, invalid_policy="clip").raw[0]
    assert clip.fix_xy.tolist() == [[0, 50], [700, 300], [1400, 600], [1400, 600]]
    drop = load_amazon(path, filter_sd=None, invalid_policy="drop").raw[0]
    assert drop.fix_xy.tolist() == [[700, 300], [1400, 600]]
    assert drop.scanpath.tolist() == [49, 83]
    with pytest.raises(ScanpathDataError) as err:
        load_amazon(path, invalid_policy="error")
    msg = str(err.value)
    assert "a.jpg" in msg and "fixations.1[0]" in msg and str(path) in msg


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["a.jpg"].pop("size"), "size"),
        (lambda d: d["a.jpg"]["size"].update(width=-5), "size.width"),
        (lambda d: d["a.jpg"]["size"].update(height="tall"), "size.height"),
        (lambda d: d["a.jpg"].update(ground_truth=[]), "ground_truth"),
        (lambda d: d["a.jpg"]["ground_truth"][0].pop("xmax"), "ground_truth[0].xmax"),
        (lambda d: d["a.jpg"].update(target=3), "target"),
        (lambda d: d["a.jpg"].update(fixations=[]), "fixations"),
        (lambda d: d["a.jpg"]["fixations"].update({"1": [[1, 2], [3]]}), "fixations.1[1]"),
        (lambda d: d["a.jpg"]["fixations"].update({"1": [[1, 2], [3, None]]}), "fixations.1[1].y"),
        (lambda d: d["a.jpg"]["fixations"].update({"1": {"x": 1}}), "fixations.1"),
        (lambda d: d.update({"b.jpg": [1, 2]}), None),
    ],
)
def test_malformed_entries_name_file_record_field(tmp_path, mutate, field):
    rng = np.random.default_rng(0)
    data = {"a.jpg": _collage([3, 4], rng)}
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ScanpathDataError) as err:
        load_amazon(path)
    e = err.value
    assert e.file == str(path)
    assert e.record in ("a.jpg", "b.jpg")
    if field is not None:
        assert e.field == field
        assert repr(field) in str(e)


@pytest.mark.parametrize("text", ["{not json", "[1, 2, 3]", "{}"])
def test_malformed_files(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ScanpathDataError, match="Amazon.json"):
        read_amazon_json(path)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(ScanpathDataError, match="nope.json"):
        load_amazon(tmp_path / "nope.json")


# ------------------------------------------------------------------------------ masks and crops
def _mask_image(size=(1400, 600), gap=6):
    w, h = size
    img = np.zeros((h, w), dtype=np.uint8)
    boxes = grid_boxes(AMAZON_GRID, (w / 14, h / 6))
    for x0, y0, x1, y1 in boxes:
        img[int(y0) + gap : int(y1) - gap, int(x0) + gap : int(x1) - gap] = 255
    return img


def test_mask_mode(tmp_path):
    import cv2

    mask_dir = tmp_path / "binarymask"
    mask_dir.mkdir()
    cv2.imwrite(str(mask_dir / "14x6-a.jpg.png"), _mask_image())
    # files are named 14x6-<key>; write with a key that is itself a PNG name to keep it lossless
    path = _one(tmp_path, [[50, 50], [103, 50], [101, 3]])
    data = json.loads(path.read_text())
    data = {"a.jpg.png": data["a.jpg"]}
    path = _write(tmp_path, data)
    boxes = mask_boxes(mask_dir / "14x6-a.jpg.png")
    assert boxes.shape == (84, 4)
    assert boxes[0].tolist() == [6, 6, 94, 94] and boxes[13, 0] > boxes[12, 0] and boxes[14, 1] > boxes[13, 1]
    res = load_amazon(path, mask_dir=mask_dir, filter_sd=None)
    assert res.mode == "mask"
    t = res.raw[0]
    assert t.scanpath.tolist() == [0, 1, 1]  # (103, 50) and (101, 3) lie in gaps: nearest centre is cell 1's
    np.testing.assert_array_equal(points_to_boxes(np.array([[97.0, 50.0], [6.0, 94.0]]), boxes), [0, 0])
    assert t.target == 5
    cv2.imwrite(str(mask_dir / "14x6-a.jpg.png"), _mask_image()[:, :700])
    with pytest.raises(ScanpathDataError, match="expected 84"):
        load_amazon(path, mask_dir=mask_dir)


def test_crops_rgb_minmax_and_upstream_pixels(tmp_path):
    import cv2

    w, h = 1400, 600
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    rgb[:, :, 0] = 200  # red everywhere ...
    rgb[10:20, 10:20] = (0, 0, 90)  # ... with a dark-blue patch in cell 0
    rgb[0:100, 200:300] = 77  # cell 2 is flat grey
    img_path = tmp_path / "a.jpg.png"
    cv2.imwrite(str(img_path), rgb[..., ::-1])
    boxes = grid_boxes(AMAZON_GRID, (w / 14, h / 6))
    crops = amazon_crops(img_path, boxes, (w, h))
    assert crops.shape == (84, 3, 150, 93) and crops.dtype == np.float32
    assert crops[0].min() == 0.0 and crops[0].max() == 1.0
    assert crops[0, 0].max() == 1.0  # red channel first (RGB order)
    assert np.all(crops[1, 0] == 1.0) and np.all(crops[1, 1:] == 0.0)  # min-max over all channels
    assert np.all(crops[2] == 0.0)  # a flat crop normalises to zeros
    raw = amazon_crops(img_path, boxes, (w, h), upstream_pixels=True)
    assert raw[1, 2].max() == 200.0 and raw[1, 0].max() == 0.0  # BGR, 0–255


def test_points_to_cells_property():
    """Random points (inside and outside the image): the returned cell contains the point after
    clamping it to the image, for many image sizes."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, h = int(rng.integers(100, 4000)), int(rng.integers(100, 3000))
        pts = rng.uniform(-0.5, 1.5, size=(400, 2)) * [w, h]
        pts[:20] = rng.integers(0, 15, size=(20, 1)) * [w / 14, 0] + [0, h / 2]  # exact cell edges
        cell = (w / 14, h / 6)
        idx = points_to_cells(pts, AMAZON_GRID, cell)
        assert idx.min() >= 0 and idx.max() < 84
        b = grid_boxes(AMAZON_GRID, cell)[idx]
        xc, yc = np.clip(pts[:, 0], 0, w), np.clip(pts[:, 1], 0, h)
        tol = 1e-6 * max(w, h)
        assert np.all((b[:, 0] - tol <= xc) & (xc <= b[:, 2] + tol) & (b[:, 1] - tol <= yc) & (yc <= b[:, 3] + tol))
