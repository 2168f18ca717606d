"""eccNET natural-image mode (docs/eccnet.md §2.6): search loop invariants, oracle order, IOR modes,
the datamodule (targets, gt masks, bad records) and evaluate.py end to end, on small random networks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, write_tiny_natural

from scanpath.datamodules.natural_search import NaturalSearchDataModule
from scanpath.io.coco import read_coco_json, write_coco_json
from scanpath.errors import ScanpathDataError
from scanpath.models.eccnet.module import EccNetSearchModel
from scanpath.models.eccnet.natural import NaturalSearchParams, natural_search, snap_to_points, window_hit
from scanpath.models.eccnet.torch_model import EccNet


def thin_net(seed: int = 0) -> EccNet:
    from torchvision.models.vgg import make_layers

    torch.manual_seed(seed)
    return EccNet(features=make_layers([4, 4, "M", 6, 6, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"]))


def scenes(n: int = 3, H: int = 72, W: int = 96, seed: int = 0):
    """Noise displays with a checkerboard target away from the centre; (displays, targets, gt masks)."""
    rng = np.random.default_rng(seed)
    displays, targets, gts = [], [], []
    for i in range(n):
        d = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
        r, c = (4, 4) if i % 2 == 0 else (H - 16, W - 16)
        gt = np.zeros((H, W), bool)
        gt[r:r + 12, c:c + 12] = True
        d[gt] = [255, 0, 0]
        displays.append(d)
        targets.append(np.ascontiguousarray(d[r:r + 12, c:c + 12]))
        gts.append(gt)
    return displays, targets, gts


def canvas_crop(display: np.ndarray, gaze: np.ndarray, m: int, bg: int) -> np.ndarray:
    H, W = display.shape[:2]
    canvas = np.full((H + 2 * m, W + 2 * m, 3), bg, np.uint8)
    canvas[m:m + H, m:m + W] = display
    g = np.asarray(gaze) + m
    return canvas[g[0] - m:g[0] + m, g[1] - m:g[1] + m]


def test_square_mode_invariants():
    displays, targets, gts = scenes(4)
    p = NaturalSearchParams(num_fix=8, ior_size=16, oracle_size=8)
    crops: dict[tuple[int, int], np.ndarray] = {}
    res = natural_search(thin_net(), displays, targets, gts, p, batch_size=3,
                         on_crop=lambda i, k, c: crops.__setitem__((i, k), c.copy()))
    H, W = displays[0].shape[:2]
    m = H + p.margin
    for i, r in enumerate(res):
        fx = r.fixations
        assert fx.shape == (r.n_fix + 1, 2) and 0 <= r.n_fix <= p.num_fix
        assert tuple(fx[0]) == (H // 2, W // 2)
        assert (fx[:, 0] >= 0).all() and (fx[:, 0] <= H).all() and (fx[:, 1] >= 0).all() and (fx[:, 1] <= W).all()
        hits = [window_hit(gts[i], *f, size=p.oracle_size) for f in fx]  # the start is checked too
        if r.found:
            assert hits[-1] and not any(hits[:-1])
        else:
            assert r.n_fix == p.num_fix and not any(hits)
        for k in range(1, len(fx)):  # never inside an earlier fixation's IOR square
            for j in range(k):
                assert not (abs(fx[k][0] - fx[j][0]) <= 7 and abs(fx[k][1] - fx[j][1]) <= 7), (i, j, k)
        for k in range(1, r.n_fix + 1):  # IOR is mask-only: crops show the unpainted display
            np.testing.assert_array_equal(crops[(i, k)], canvas_crop(displays[i], fx[k - 1], m, p.bg))
        assert crops[(i, 1)].shape == (2 * m, 2 * m, 3)


def test_oracle_sees_the_start_in_square_mode_not_in_cells_mode():
    displays, targets, _ = scenes(1)
    H, W = displays[0].shape[:2]
    gt = np.zeros((H, W), bool)
    gt[H // 2, W // 2] = True
    calls = []
    res = natural_search(thin_net(), displays, targets, [gt], NaturalSearchParams(num_fix=3),
                         on_crop=lambda *a: calls.append(a))
    assert res[0].found and res[0].n_fix == 0 and len(res[0].fixations) == 1 and not calls
    cells = ((0, 0, W // 2, H // 2), (W // 2, 0, W - W // 2, H // 2), (0, H // 2, W // 2, H - H // 2),
             (W // 2, H // 2, W - W // 2, H - H // 2))
    res = natural_search(thin_net(), displays, targets, [gt], NaturalSearchParams(num_fix=3, ior="cells", cells=cells))
    assert res[0].n_fix >= 1


def test_last_fixation_checked_unless_upstream():
    displays, targets, _ = scenes(1)
    H, W = displays[0].shape[:2]
    p = NaturalSearchParams(num_fix=1, oracle_size=8)
    first = natural_search(thin_net(), displays, targets, [np.zeros((H, W), bool)], p)[0]
    r, c = first.fixations[1]
    assert not window_hit(np.pad(np.ones((1, 1), bool), ((r, H - r - 1), (c, W - c - 1))), H // 2, W // 2, 8)
    gt = np.zeros((H, W), bool)
    gt[min(r, H - 1), min(c, W - 1)] = True  # exactly where the first model fixation lands
    ours = natural_search(thin_net(), displays, targets, [gt], p)[0]
    upstream = natural_search(thin_net(), displays, targets, [gt], NaturalSearchParams(num_fix=1, oracle_size=8,
                                                                                      check_last=False))[0]
    assert ours.found and ours.n_fix == 1
    assert not upstream.found and upstream.n_fix == 1
    np.testing.assert_array_equal(ours.fixations, upstream.fixations)


def test_cells_mode_repaints_and_never_refixates_a_cell():
    displays, targets, gts = scenes(2, H=64, W=64)
    cells = tuple((x, y, 32, 32) for y in (0, 32) for x in (0, 32))
    p = NaturalSearchParams(num_fix=4, ior="cells", cells=cells, oracle_size=4, bg=0)
    crops: dict[tuple[int, int], np.ndarray] = {}
    res = natural_search(thin_net(1), displays, targets, [np.zeros_like(g) for g in gts], p,
                         on_crop=lambda i, k, c: crops.__setitem__((i, k), c.copy()))
    m = 64 + p.margin

    def cell_of(f):
        return next((j for j, (x, y, w, h) in enumerate(cells) if y <= f[0] < y + h and x <= f[1] < x + w), None)

    for i, r in enumerate(res):
        assert not r.found and r.n_fix == p.num_fix
        visited = [cell_of(f) for f in r.fixations[1:]]
        assert len([v for v in visited if v is not None]) == len({v for v in visited if v is not None})
        for k in range(2, r.n_fix + 1):  # cells inhibited before crop k are bg in it
            gaze = r.fixations[k - 1]
            for cidx in [v for v in visited[:k - 1] if v is not None]:
                x, y, w, h = cells[cidx]
                rr = slice(y + m - gaze[0], y + m - gaze[0] + h)
                cc = slice(x + m - gaze[1], x + m - gaze[1] + w)
                assert (crops[(i, k)][rr, cc] == p.bg).all()


def test_params_validation_and_snapping():
    with pytest.raises(ValueError, match="cells"):
        NaturalSearchParams(ior="cells")
    with pytest.raises(ValueError, match="unknown natural-image search setting 'nufix'"):
        NaturalSearchParams.from_config({"nufix": 3})
    p = NaturalSearchParams.from_config({"dog": [[3, 0], [5, 1]], "cells": None, "num_fix": 7}, layer_mask=(0, 0, 1))
    assert p.dog == ((3, 0.0), (5, 1.0)) and p.num_fix == 7 and p.layer_mask == (0.0, 0.0, 1.0)
    pts = np.array([[10.0, 10.0], [100.0, 50.0]])
    np.testing.assert_array_equal(snap_to_points(np.array([[12.0, 9.0], [90.0, 60.0]]), pts), pts)
    with pytest.raises(ValueError, match="display 0"):
        natural_search(thin_net(), [np.zeros((8, 8), np.uint8)], [np.zeros((4, 4, 3), np.uint8)],
                       [np.zeros((8, 8), bool)], NaturalSearchParams())


def _datamodule(tmp_path: Path, **kw) -> NaturalSearchDataModule:
    ann, img_dir = write_tiny_natural(tmp_path)
    kw.setdefault("display_size", (160, 100))
    dm = NaturalSearchDataModule(str(ann), image_dir=str(img_dir), split="stimulus",
                                 split_fractions=(0.0, 0.0, 1.0), **kw)
    dm.setup("predict")
    return dm


def test_datamodule_gives_display_target_and_gt(tmp_path):
    dm = _datamodule(tmp_path, target_size=16)
    s = dm.predict_dataloader().dataset[0]
    assert s["image"].shape == (3, 100, 160) and s["target_crop"].shape == (3, 16, 16)
    x, y, w, h = s["scanpath"].extra["bbox"]  # frame 320x200 -> display 160x100
    gt = s["gt_mask"].numpy()
    rows, cols = np.nonzero(gt)
    assert rows.min() == int(np.floor(y / 2)) and rows.max() == int(np.ceil((y + h) / 2)) - 1
    assert cols.min() == int(np.floor(x / 2)) and cols.max() == int(np.ceil((x + w) / 2)) - 1
    tgt = s["target_crop"].numpy()
    assert tgt[0].mean() > 0.3 and tgt[1].mean() < 0.1  # the red/blue checkerboard, not the grey noise


def test_datamodule_reads_target_and_gt_files(tmp_path):
    import cv2

    ann, img_dir = write_tiny_natural(tmp_path)
    tdir, gdir = tmp_path / "targets", tmp_path / "gt"
    tdir.mkdir()
    gdir.mkdir()
    names = {sp.stimulus for sp in read_coco_json(ann)}
    for n in names:
        cv2.imwrite(str(tdir / f"{Path(n).stem}_t.png"), np.full((20, 10, 3), 200, np.uint8))
        mask = np.zeros((200, 320), np.uint8)
        mask[10:30, 40:60] = 255
        cv2.imwrite(str(gdir / f"{Path(n).stem}.png"), mask)
    dm = NaturalSearchDataModule(str(ann), image_dir=str(img_dir), display_size=(160, 100), target_size=(8, 6),
                                 target_source="dir", target_dir=str(tdir), target_pattern="{stem}_t.png",
                                 gt_source="dir", gt_dir=str(gdir), gt_pattern="{stem}.png")
    dm.setup("predict")
    s = dm.predict_dataloader().dataset[0]
    assert s["target_crop"].shape == (3, 6, 8) and torch.allclose(s["target_crop"], torch.tensor(200 / 255))
    rows, cols = np.nonzero(s["gt_mask"].numpy())
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 14, 20, 29)
    (tdir / f"{Path(sorted(names)[0]).stem}_t.png").unlink()
    dm2 = NaturalSearchDataModule(str(ann), image_dir=str(img_dir), target_source="dir", target_dir=str(tdir),
                                  target_pattern="{stem}_t.png")
    with pytest.raises(ScanpathDataError, match="field 'target'") as e:
        dm2.setup("predict")
    assert str(ann) in str(e.value)


def test_datamodule_bad_records(tmp_path):
    ann, img_dir = write_tiny_natural(tmp_path)
    recs = json.loads(Path(ann).read_text())
    recs[1]["bbox"] = None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(recs))
    with pytest.raises(ScanpathDataError, match="field 'bbox'") as e:
        NaturalSearchDataModule(str(bad), image_dir=str(img_dir)).setup("predict")
    assert "bad.json" in str(e.value) and recs[1]["name"] in str(e.value)
    for r in recs:  # every record of that stimulus: outside the 320 x 200 frame
        if r["name"] == recs[1]["name"]:
            r["bbox"] = [400.0, 10.0, 5.0, 5.0]
    bad.write_text(json.dumps(recs))
    with pytest.raises(ScanpathDataError, match="outside the 320x200 frame") as e:
        NaturalSearchDataModule(str(bad), image_dir=str(img_dir), frame=(320, 200)).setup("predict")
    assert "field 'bbox'" in str(e.value) and "bad.json" in str(e.value)
    # target-absent records are dropped by default (no target to search for), kept on request
    recs = json.loads(Path(ann).read_text())
    recs[0]["condition"] = "absent"
    absent = tmp_path / "absent.json"
    absent.write_text(json.dumps(recs))
    dm = NaturalSearchDataModule(str(absent), image_dir=str(img_dir), split="stimulus", split_fractions=(0, 0, 1))
    dm.setup("predict")
    assert len(dm.human_scanpaths("test")) == len(recs) - 1
    with pytest.raises(ValueError, match="target_dir"):
        NaturalSearchDataModule(str(ann), image_dir=str(img_dir), target_source="dir")


def test_model_predicts_in_the_original_frame(tmp_path):
    dm = _datamodule(tmp_path, target_size=12)
    model = EccNetSearchModel("eccnet", weights="random", natural={"num_fix": 3, "ior_size": 16, "oracle_size": 8,
                                                                   "output_points": "all"})
    model._net = thin_net()
    batch = next(iter(dm.predict_dataloader()))
    assert model.skip_reason(dm.predict_dataloader().dataset[0]) is None
    out = model.predict_scanpaths(batch).to_list()
    assert len(out) == len(batch["scanpaths"].meta)
    for sp, disp, gt in zip(out, batch["image"], batch["gt_mask"]):
        assert sp.image_size == (320, 200)
        assert (sp.x[0], sp.y[0]) == (80 * 2.0, 50 * 2.0)  # display centre (50, 80) x 2
        assert np.all(sp.x % 2 == 0) and np.all(sp.y % 2 == 0)  # display px scaled by 320/160, 200/100
        last = (int(sp.y[-1] / 2), int(sp.x[-1] / 2))
        assert sp.extra["found"] == window_hit(gt.numpy(), *last, size=8)
        assert "bbox" in sp.extra and "split" not in sp.extra
    model.snap_points = np.array([[0.0, 0.0], [320.0, 200.0]])
    snapped = model.predict_scanpaths(batch).to_list()
    assert all(set(zip(s.x, s.y)) <= {(0.0, 0.0), (320.0, 200.0)} for s in snapped)


def test_skip_reasons():
    assert "asymmetry" in EccNetSearchModel("chance").skip_reason({"image": 0})
    why = EccNetSearchModel("eccnet", weights="random").skip_reason({"image": 0})
    assert "target_crop" in why and "natural_search" in why
    upstream = EccNetSearchModel("eccnet", weights="random", upstream=True)
    assert upstream.natural.check_last is False and EccNetSearchModel("ivsn", weights="random").natural.layer_mask == (0, 0, 1)


def test_evaluate_experiment_eccnet_natural(tmp_path):
    from evaluate import evaluate

    ann, img_dir = write_tiny_natural(tmp_path)
    cfg = compose_config("evaluate", [
        "experiment=eccnet_natural", f"data.annotations={ann}", f"data.image_dir={img_dir}",
        "data.display_size=[64,40]", "data.target_size=8", "data.frame=null", "model.weights=random",
        "model.natural.num_fix=2", "model.natural.ior_size=8", "model.natural.oracle_size=8",
        "metrics.scanmatch.frame=[320,200]", "n_figures=0", "~baselines",
    ], tmp_path)
    out = evaluate(cfg)
    run = Path(cfg.paths.output_dir)
    preds = json.loads((run / "predictions.json").read_text())
    test_names = {sp.stimulus for sp in read_coco_json(ann) if sp.extra["split"] == "test"}
    assert {p["name"] for p in preds} == test_names
    assert all(1 <= len(p["X"]) <= 3 and "found" in p for p in preds)  # start + at most NumFix = 2 fixations
    row = out["rows"]["eccnet"]["metrics"]
    assert np.isfinite(row["scanmatch"]["value"])


def test_datamodule_bad_gt_masks(tmp_path):
    import cv2

    ann, img_dir = write_tiny_natural(tmp_path)
    gdir = tmp_path / "gt"
    gdir.mkdir()
    names = sorted({sp.stimulus for sp in read_coco_json(ann)})
    for n in names:
        cv2.imwrite(str(gdir / f"{Path(n).stem}.png"), np.zeros((200, 320), np.uint8))  # no target pixel
    dm = NaturalSearchDataModule(str(ann), image_dir=str(img_dir), gt_source="dir", gt_dir=str(gdir),
                                 gt_pattern="{stem}.png", split="stimulus", split_fractions=(0, 0, 1))
    dm.setup("predict")
    ds = dm.predict_dataloader().dataset
    with pytest.raises(ScanpathDataError, match="no target pixel") as e:
        ds[0]
    assert f"{Path(ds.samples[0]['stimulus']).stem}.png" in str(e.value) and ds.samples[0]["stimulus"] in str(e.value)
    (gdir / f"{Path(ds.samples[0]['stimulus']).stem}.png").write_bytes(b"not an image")
    with pytest.raises(ScanpathDataError, match="cannot read gt mask"):
        ds[0]


def test_allowed_map_is_cut_at_display_height_around_the_gaze():
    """Upstream cuts the allowed map at +-H around the gaze and zero-pads it by the margin (64) to the
    2m crop; on wide displays columns between H and m from the gaze are then unreachable."""
    from scanpath.models.eccnet.natural import _NaturalState

    H, W, b = 24, 200, 16
    m = H + b
    disp = np.zeros((H, W, 3), np.uint8)
    eye = _NaturalState(disp, np.zeros((H, W), bool), NaturalSearchParams(margin=b))
    full = _NaturalState(disp, np.zeros((H, W), bool), NaturalSearchParams(margin=b, allowed_window="crop"))
    a, f = eye.allowed_crop(), full.allowed_crop()
    assert a.shape == f.shape == (2 * m, 2 * m)
    assert a[:, :b].sum() == a[:, -b:].sum() == a[:b].sum() == a[-b:].sum() == 0
    rows = slice(m - H // 2, m - H // 2 + H)  # display rows in the crop (gaze at row H // 2)
    assert (a[rows, b:-b] == 1).all() and a.sum() == H * (2 * m - 2 * b)
    assert (f[rows, :] == 1).all()  # the whole +-m crop lies inside the wide display
    # end to end: every saccade lands in [g - H, g + H) around the previous gaze g, never in the band
    displays, targets, gts = scenes(2, H=H, W=W)
    for cache in (True, False):  # cached features (crop corner on the feature grid) and the per-crop pass
        for r in natural_search(thin_net(), displays, targets, gts, NaturalSearchParams(
                num_fix=6, margin=b, ior_size=8, oracle_size=4, cache_features=cache)):
            steps = np.diff(r.fixations, axis=0)
            assert ((steps >= -H) & (steps < H)).all(), (cache, r.fixations.tolist())


def test_natural_output_keeps_num_fix_points(tmp_path):
    """Upstream saves data[i, :min(NumFix, j)]: at most NumFix points, the start included."""
    dm = _datamodule(tmp_path, target_size=12)
    batch = next(iter(dm.predict_dataloader()))
    kw = {"num_fix": 2, "ior_size": 8, "oracle_size": 2}
    model = EccNetSearchModel("eccnet", weights="random", natural=kw)
    model._net = thin_net()
    full = EccNetSearchModel("eccnet", weights="random", natural={**kw, "output_points": "all"})
    full._net = thin_net()
    a, b = model.predict_scanpaths(batch).to_list(), full.predict_scanpaths(batch).to_list()
    assert any(len(s.x) == 3 for s in b)  # some search used all NumFix = 2 fixations
    for sa, sb in zip(a, b):
        assert len(sa.x) == min(len(sb.x), 2)
        np.testing.assert_array_equal(sa.x, sb.x[:2])


def test_objarr_snaps_to_the_containing_cell_else_the_centre(tmp_path):
    """Upstream ObjArr output: a fixation inside cell i (the last containing one) becomes position i + 1,
    anywhere else position 0 (the centre); cells may come from a gt_mask.npy (cells x H x W, 0/255)."""
    from scanpath.models.eccnet.natural import display_cell_masks, snap_to_cells

    masks = np.zeros((3, 40, 40), np.uint8)
    masks[0, 0:20, 0:20] = 255
    masks[1, 10:30, 10:30] = 255  # overlaps cell 0: the last containing cell wins
    masks[2, 30:40, 30:40] = 255
    np.save(tmp_path / "gt_mask.npy", masks)
    p = NaturalSearchParams(ior="cells", cell_masks_path=str(tmp_path / "gt_mask.npy"))
    disp = display_cell_masks(p, 80, 80)  # resized x2 like upstream (INTER_AREA, > 125)
    assert disp.shape == (3, 80, 80) and disp[0].sum() == 40 * 40 and disp[2].sum() == 20 * 20
    pts = np.array([[500.0, 400.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    fx = np.array([[5, 5], [25, 25], [70, 70], [50, 5], [-1, 3]])  # (row, col) display px
    out = snap_to_cells(fx, disp, pts)
    assert out.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [500.0, 400.0], [500.0, 400.0]]
    with pytest.raises(ValueError, match="4 points"):
        snap_to_cells(fx, disp, pts[:3])
    with pytest.raises(ScanpathDataError, match="not found"):
        display_cell_masks(NaturalSearchParams(ior="cells", cell_masks_path=str(tmp_path / "nope.npy")), 8, 8)


def test_objarr_preset_has_the_seven_upstream_positions():
    """experiment=eccnet_objarr carries upstream's seven ObjArr positions (centre first) and reads the cells
    from the dataset's gt_mask.npy; nothing is left mandatory (???)."""
    from omegaconf import OmegaConf

    cfg = compose_config("evaluate", ["experiment=eccnet_objarr", "data.annotations=a.json",
                                      "data.image_dir=/data/ObjArr/stimuli"])
    nat = OmegaConf.to_container(cfg.model.natural, resolve=True)
    assert nat["snap_points"] == [[512, 640], [988, 365], [512, 90], [36, 365], [36, 915], [512, 1190], [988, 915]]
    assert nat["ior"] == "cells" and nat["snap"] == "cells" and nat["cells"] is None
    assert nat["cell_masks_path"] == "/data/ObjArr/stimuli/../gt_mask.npy"
    assert nat["num_fix"] == 7 and nat["oracle_size"] == 45
    assert "???" not in OmegaConf.to_yaml(cfg.model)


def test_natural_search_runs_on_object_layouts_with_the_target_box_as_oracle(tmp_path):
    """eccNET natural-image search on the search arrays (leaderboard): the oracle mask is the target's box."""
    from scanpath.datamodules.search_arrays import SearchArraysDataModule
    from scanpath.batch import collate_samples
    from scanpath.models.eccnet.module import EccNetSearchModel, target_box_mask

    dm = SearchArraysDataModule(num_layouts=30, include_image=True, batch_size=2)
    dm.setup()
    q = [dm.predict_dataloader().dataset[i] for i in range(2)]
    model = EccNetSearchModel("eccnet", weights="random", seed=0, natural={"num_fix": 2, "ior_size": 32,
                                                                          "oracle_size": 32})
    assert model.skip_reason(q[0]) is None
    m = target_box_mask(q[0]["boxes"], int(q[0]["target_index"]), (450, 837), q[0]["image_size"])
    x0, y0, x1, y1 = q[0]["boxes"][int(q[0]["target_index"])].tolist()
    assert m.sum() > 0 and m[int((y0 + y1) / 2), int((x0 + x1) / 2)] and not m[0:int(y0) - 1].any()
    out = model.predict_scanpaths(collate_samples(q)).to_list()
    assert len(out) == 2 and all(1 <= len(s) <= 2 and s.image_size == tuple(q[0]["image_size"]) for s in out)
