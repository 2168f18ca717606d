"""CapMIT1003 / MIT1003 readers and datamodules (docs/nevaclip.md §3, §7 item 10) on SYNTHETIC fixtures."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from scanpath.batch import collate_samples
from scanpath.datamodules.capmit1003 import CapMIT1003DataModule
from scanpath.datamodules.mit1003 import MIT1003DataModule
from scanpath.io.capmit1003 import parse_time, read_capmit1003, write_synthetic_capmit1003
from scanpath.errors import ScanpathDataError
from scanpath.io.mit1003 import read_fixation_file, read_mit1003, write_synthetic_mit1003


@pytest.fixture
def cap_root(tmp_path):
    return write_synthetic_capmit1003(tmp_path / "cap", n_images=3, captions_per_image=2, clicks=6, seed=1)


def test_clicks_are_stored_out_of_order_and_read_sorted(cap_root):
    db = cap_root / "capmit1003.db"
    con = sqlite3.connect(db)
    raw = [r[0] for r in con.execute("SELECT click_id FROM clicks WHERE obs_uid = 'obs0_0'")]
    truth = {r[0]: r[1:] for r in con.execute("SELECT click_id, x, y FROM clicks WHERE obs_uid = 'obs0_0'")}
    con.close()
    assert raw != sorted(raw)  # the fixture really is out of order on disk
    recs = read_capmit1003(db, cap_root)
    assert [r.obs_uid for r in recs] == sorted(f"obs{i}_{j}" for i in range(3) for j in range(2))
    r0 = recs[0]
    assert r0.click_ids.tolist() == sorted(raw)
    assert r0.x.tolist() == [truth[c][0] for c in sorted(raw)]
    assert r0.y.tolist() == [truth[c][1] for c in sorted(raw)]
    assert r0.caption and r0.img_path == "synthetic_000.jpeg" and r0.image_size == (320, 240)
    # times: seconds since start_time, increasing, first gap in [0.2, 1.5) s by construction
    assert np.all(np.diff(r0.time_s) > 0) and 0.2 <= r0.time_s[0] < 1.5
    d = r0.pseudo_duration_ms
    assert np.isnan(d[-1]) and np.allclose(d[:-1], np.diff(r0.time_s) * 1000)
    sp = r0.to_scanpath()
    assert sp.duration is None and sp.stimulus == "synthetic_000" and sp.extra["obs_uid"] == "obs0_0"


def test_epoch_timestamps(tmp_path):
    root = write_synthetic_capmit1003(tmp_path / "e", n_images=1, captions_per_image=1, time_format="epoch")
    iso = write_synthetic_capmit1003(tmp_path / "i", n_images=1, captions_per_image=1, time_format="iso")
    a = read_capmit1003(root / "capmit1003.db")[0]
    b = read_capmit1003(iso / "capmit1003.db")[0]
    assert np.allclose(a.time_s, b.time_s, atol=1e-5)
    assert parse_time(1682942400123, file="f", record=0, field="t") == pytest.approx(1682942400.123)
    assert parse_time("2023-05-01T12:00:00Z", file="f", record=0, field="t") == pytest.approx(1682942400.0)


def _corrupt(db, sql):
    con = sqlite3.connect(db)
    con.execute(sql)
    con.commit()
    con.close()


def test_malformed_inputs_name_file_record_field(cap_root, tmp_path):
    db = cap_root / "capmit1003.db"
    _corrupt(db, "UPDATE clicks SET x = 'abc' WHERE click_id = 3")
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(db)
    assert e.value.field == "clicks.x" and "click 3" in str(e.value.record) and str(db) in str(e.value)

    root2 = write_synthetic_capmit1003(tmp_path / "b", n_images=1, captions_per_image=1)
    _corrupt(root2 / "capmit1003.db", "UPDATE clicks SET click_time = 'yesterday' WHERE click_id = 0")
    with pytest.raises(ScanpathDataError, match="timestamp") as e:
        read_capmit1003(root2 / "capmit1003.db")
    assert e.value.field == "clicks.click_time"

    root3 = write_synthetic_capmit1003(tmp_path / "c", n_images=1, captions_per_image=1)
    _corrupt(root3 / "capmit1003.db", "DELETE FROM images")
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(root3 / "capmit1003.db")
    assert e.value.record == "obs0_0" and e.value.field == "images.img_path"

    root4 = write_synthetic_capmit1003(tmp_path / "d", n_images=1, captions_per_image=1)
    _corrupt(root4 / "capmit1003.db", "ALTER TABLE clicks RENAME COLUMN click_time TO t")
    with pytest.raises(ScanpathDataError) as e:
        read_capmit1003(root4 / "capmit1003.db")
    assert e.value.field == "clicks.click_time"

    root5 = write_synthetic_capmit1003(tmp_path / "f", n_images=1, captions_per_image=1)
    _corrupt(root5 / "capmit1003.db", "UPDATE clicks SET x = 5000 WHERE click_id = 1")
    with pytest.raises(ScanpathDataError, match="outside the image") as e:
        read_capmit1003(root5 / "capmit1003.db", root5)
    assert e.value.field == "x"
    assert len(read_capmit1003(root5 / "capmit1003.db", root5, invalid_policy="drop")[0].x) == 5

    (tmp_path / "junk.db").write_text("not sqlite")
    with pytest.raises(ScanpathDataError, match="SQLite"):
        read_capmit1003(tmp_path / "junk.db")
    with pytest.raises(ScanpathDataError, match="not found"):
        read_capmit1003(tmp_path / "missing.db")


def test_mit1003_reader(tmp_path):
    root = write_synthetic_mit1003(tmp_path / "mit", subjects=3, fixations=6)
    sps = read_mit1003(root)
    assert len(sps) == 6 and {s.stimulus for s in sps} == {"synthetic_000", "synthetic_001"}
    raw = read_fixation_file(root / "SCANPATHS" / "synthetic_000" / "subj00")
    assert raw.shape == (6, 4)
    s0 = sps[0]
    assert len(s0) == 5  # central first fixation dropped
    assert np.allclose(s0.x, raw[1:, 0]) and np.allclose(s0.duration, (raw[1:, 3] - raw[1:, 2]) * 1000)
    assert s0.image_size == (320, 240)
    keep = read_mit1003(root, drop_first_fixation=False)
    assert len(keep[0]) == 6 and keep[0].x[0] == pytest.approx(160.0)

    bad = root / "SCANPATHS" / "synthetic_001" / "subj01"
    bad.write_text("1 2 0.1 0.2\n3 oops 0.3 0.4\n")
    with pytest.raises(ScanpathDataError) as e:
        read_mit1003(root)
    assert e.value.record == "line 2" and e.value.field == "y" and "subj01" in str(e.value.file)
    bad.write_text("1 2 0.5 0.2\n")
    with pytest.raises(ScanpathDataError, match="before t_start"):
        read_mit1003(root)


def test_capmit_datamodule_lazy_images_and_controls(cap_root):
    dm = CapMIT1003DataModule(root=str(cap_root), clip_size=64, batch_size=4)
    q = dm.query_samples("test")
    assert len(q) == 6  # every obs_uid is a query (one caption each), all in the test split
    assert dm.synthetic  # the fixture is marked SYNTHETIC, so tables say so
    s = q[0]
    assert s["clip_image"].shape == (3, 64, 64) and s["geometry"].shape == (7,)
    assert s["geometry"][:2].tolist() == [320, 240]
    batch = next(iter(dm.predict_dataloader()))
    assert batch["clip_image"].shape == (4, 3, 64, 64) and batch["geometry"].shape == (4, 7)
    assert len(batch["caption"]) == 4 and batch["scanpaths"].data.shape[0] == 4

    other = CapMIT1003DataModule(root=str(cap_root), clip_size=64, caption_mode="caption_other_image")
    o = {x["obs_uid"]: x for x in other.samples("all")}
    for x in dm.samples("all"):
        donor_caps = {y["caption_true"] for y in dm.samples("all") if y["stimulus"] != x["stimulus"]}
        assert o[x["obs_uid"]]["caption"] in donor_caps
        assert o[x["obs_uid"]]["caption_true"] == x["caption"]
    obs = CapMIT1003DataModule(root=str(cap_root), clip_size=64, caption_mode="caption_other_observer")
    for x in obs.samples("all"):
        same_img = [y for y in dm.samples("all") if y["stimulus"] == x["stimulus"] and y["obs_uid"] != x["obs_uid"]]
        assert x["caption"] in {y["caption"] for y in same_img}


def test_mit1003_datamodule(tmp_path):
    root = write_synthetic_mit1003(tmp_path / "mit")
    dm = MIT1003DataModule(root=str(root), clip_size=64, resize_mode="longest", include_image=True,
                           split_fractions=(0.0, 0.0, 1.0))
    q = dm.query_samples("test")
    assert len(q) == 2 and len(dm.human_scanpaths("test")) == 6 and dm.synthetic
    b = collate_samples(q)
    assert b["clip_image"].shape == (2, 3, 64, 64)
    assert isinstance(b["image"], list) and b["image"][0].shape == (3, 240, 320)
    with pytest.raises(ScanpathDataError, match="data.root"):
        MIT1003DataModule(root=None)


def test_mit1003_with_caption_queries(tmp_path):
    mit = write_synthetic_mit1003(tmp_path / "mit", stems=["synthetic_000", "synthetic_001"])
    cap = write_synthetic_capmit1003(tmp_path / "cap", n_images=3, captions_per_image=2)
    dm = MIT1003DataModule(root=str(mit), clip_size=64, captions_db=str(cap / "capmit1003.db"),
                           split_fractions=(0.0, 0.0, 1.0))
    q = dm.query_samples("test")
    assert len(q) == 4  # 2 matched stimuli × 2 captions (synthetic_002 has no eye tracking)
    assert all(s["caption"] and s["obs_uid"].startswith(("obs0_", "obs1_")) for s in q)
    assert q[0]["clip_image"].shape == (3, 64, 64)
