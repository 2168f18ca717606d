"""COCO-Search18-style interchange JSON: round trips, every malformed-input path, sidecar, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanpath.io import coco
from scanpath.io.coco import read_coco_json, sidecar_path, write_coco_json, write_predictions
from scanpath.errors import ScanpathDataError
from scanpath.types import Scanpath

FRAME = (512, 320)
coord_x = st.floats(0, FRAME[0], allow_nan=False)
coord_y = st.floats(0, FRAME[1], allow_nan=False)


@st.composite
def scanpaths(draw, with_duration=None):
    n = draw(st.integers(0, 12))
    has_d = draw(st.booleans()) if with_duration is None else with_duration
    x = draw(st.lists(coord_x, min_size=n, max_size=n))
    y = draw(st.lists(coord_y, min_size=n, max_size=n))
    d = draw(st.lists(st.floats(0, 2000, allow_nan=False), min_size=n, max_size=n)) if has_d else None
    extra = {}
    if draw(st.booleans()):
        extra["bbox"] = [draw(coord_x), draw(coord_y), 20.0, 10.5]
        extra["fixOnTarget"] = draw(st.booleans())
    if draw(st.booleans()):
        extra["RT"] = draw(st.integers(0, 5000))
        extra["custom_note"] = draw(st.text(max_size=5))
    fx = {}
    if draw(st.booleans()):
        fx["object"] = np.asarray(draw(st.lists(st.integers(0, 83), min_size=n, max_size=n)), dtype=np.int64)
    cond = draw(st.sampled_from([None, "present", "absent", "freeview"]))
    return Scanpath(
        x=x,
        y=y,
        duration=d,
        stimulus=draw(st.sampled_from(["a.jpg", "b.jpg", "000012.jpg"])),
        subject=draw(st.one_of(st.integers(1, 20), st.sampled_from(["s1", "P07"]))),
        task=None if cond in (None, "freeview") else draw(st.sampled_from(["cup", "knife"])),
        condition=cond,
        image_size=FRAME,
        extra=extra,
        fixation_extra=fx,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sps=st.lists(scanpaths(), max_size=6))
def test_write_read_round_trip_is_lossless(tmp_path, sps):
    path = tmp_path / "rt.json"
    write_coco_json(path, sps)
    back = read_coco_json(path)
    assert len(back) == len(sps)
    for a, b in zip(sps, back):
        assert a.equals(b), (a, b)
        assert (a.duration is None) == (b.duration is None)


def test_round_trip_preserves_every_record_key(tmp_path):
    """read → write → read keeps each record's key set and values (docs/metrics.md §7.15)."""
    recs = [
        {"name": "1.jpg", "subject": 3, "task": "bottle", "condition": "present", "bbox": [1, 2, 30, 40],
         "X": [10.5, 20.0], "Y": [5.0, 6.25], "T": [100, 250], "length": 2, "fixOnTarget": True,
         "correct": 1, "split": "test", "RT": 812, "weird_extra": {"a": [1, 2]}},
        {"name": "2.jpg", "subject": 1, "X": [1.0], "Y": [2.0], "T": [300.0], "length": 1, "split": "valid"},
    ]
    src = tmp_path / "src.json"
    src.write_text(json.dumps(recs))
    out = tmp_path / "out.json"
    write_coco_json(out, read_coco_json(src))
    again = json.loads(out.read_text())
    for a, b in zip(recs, again):
        assert set(a) == set(b)
        for k in a:
            assert b[k] == a[k], k


def test_mixed_image_sizes_round_trip_per_record(tmp_path, make_scanpath):
    a = make_scanpath(3, size=(2560, 1600))
    b = make_scanpath(4, seed=1, size=(2541, 1584), stimulus="2.jpg")
    write_coco_json(tmp_path / "m.json", [a, b])
    assert json.loads(sidecar_path(tmp_path / "m.json").read_text())["frame"] is None
    back = read_coco_json(tmp_path / "m.json")
    assert [s.image_size for s in back] == [(2560, 1600), (2541, 1584)]


def test_reader_without_sidecar_uses_coco_frame(tmp_path):
    p = tmp_path / "h.json"
    p.write_text(json.dumps([{"name": "a", "subject": 1, "X": [1679.0], "Y": [1049.0], "T": [1], "length": 1}]))
    assert read_coco_json(p)[0].image_size == coco.COCO_FRAME
    p.write_text(json.dumps([{"name": "a", "subject": 1, "X": [1700.0], "Y": [10.0], "T": [1], "length": 1}]))
    with pytest.raises(ScanpathDataError, match=r"record 0.*field 'X'.*outside"):
        read_coco_json(p)
    assert read_coco_json(p, invalid_policy="clip")[0].x[0] == 1680
    assert len(read_coco_json(p, invalid_policy="drop")[0]) == 0
    assert read_coco_json(p, image_size=(2000, 2000))[0].x[0] == 1700


GOOD = {"name": "a.jpg", "subject": 1, "task": "cup", "condition": "present", "bbox": [1, 1, 5, 5],
        "X": [1.0, 2.0], "Y": [3.0, 4.0], "T": [100.0, 200.0], "length": 2}

MALFORMED = [
    # (description, record mutation, expected field, message fragment)
    ("missing name", lambda r: r.pop("name"), "name", "missing"),
    ("missing subject", lambda r: r.pop("subject"), "subject", "missing"),
    ("missing X", lambda r: r.pop("X"), "X", "missing"),
    ("missing Y", lambda r: r.pop("Y"), "Y", "missing"),
    ("missing T", lambda r: r.pop("T"), "T", "missing"),
    ("missing length", lambda r: r.pop("length"), "length", "missing"),
    ("empty name", lambda r: r.update(name=""), "name", "non-empty string"),
    ("subject list", lambda r: r.update(subject=[1]), "subject", "int or a string"),
    ("length str", lambda r: r.update(length="2"), "length", "non-negative int"),
    ("length negative", lambda r: r.update(length=-1), "length", "non-negative int"),
    ("X not list", lambda r: r.update(X=1.0), "X", "list of numbers"),
    ("Y has string", lambda r: r.update(Y=[3.0, "4"]), "Y", "entry 1"),
    ("T has bool", lambda r: r.update(T=[True, 200.0]), "T", "entry 0"),
    ("X too long", lambda r: r.update(X=[1.0, 2.0, 3.0]), "X", "3 values but length is 2"),
    ("Y too short", lambda r: r.update(Y=[3.0]), "Y", "1 values but length is 2"),
    ("T mismatch", lambda r: r.update(T=[100.0, 200.0, 300.0]), "T", "3 values but length is 2"),
    ("length mismatch", lambda r: r.update(length=3), "X", "length is 3"),
    ("task not str", lambda r: r.update(task=5), "task", "must be a string"),
    ("bad condition", lambda r: r.update(condition="maybe"), "condition", "must be one of"),
    ("bbox 3 values", lambda r: r.update(bbox=[1, 2, 3]), "bbox", "[x, y, w, h]"),
    ("bbox negative w", lambda r: r.update(bbox=[1, 2, -3, 4]), "bbox", "[x, y, w, h]"),
    ("image_size bad", lambda r: r.update(image_size=[0, 10]), "image_size", "[W, H]"),
    ("fixation_extra length", lambda r: r.update(fixation_extra={"object": [1]}), "fixation_extra.object", "expected length=2"),
    ("fixation_extra not dict", lambda r: r.update(fixation_extra=[1, 2]), "fixation_extra", "per-fixation"),
    ("NaN X", lambda r: r.update(X=[float("nan"), 2.0]), "X", "non-finite"),
    ("negative T", lambda r: r.update(T=[-5.0, 200.0]), "T", "invalid duration"),
    ("Y outside", lambda r: r.update(Y=[3.0, 5000.0]), "Y", "outside the image"),
]


@pytest.mark.parametrize("desc,mutate,field,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_record_names_file_record_and_key(tmp_path, desc, mutate, field, fragment):
    bad = json.loads(json.dumps(GOOD))
    mutate(bad)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([GOOD, GOOD, bad]), encoding="utf-8")
    with pytest.raises(ScanpathDataError) as ei:
        read_coco_json(p, image_size=(100, 100))
    e = ei.value
    assert e.file == str(p) and e.record == 2 and e.field == field
    msg = str(e)
    assert str(p) in msg and "record 2" in msg and f"field '{field}'" in msg and fragment in msg


@pytest.mark.parametrize(
    "content,fragment",
    [("{not json", "invalid JSON at line 1"), ('{"a": 1}', "top level must be a list"), ("[1, 2]", "record must be")],
)
def test_malformed_file_level(tmp_path, content, fragment):
    p = tmp_path / "f.json"
    p.write_text(content)
    with pytest.raises(ScanpathDataError, match=fragment) as ei:
        read_coco_json(p)
    assert ei.value.file == str(p)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(ScanpathDataError, match="file not found"):
        read_coco_json(tmp_path / "nope.json")
    p = tmp_path / "latin.json"
    p.write_bytes(b'[{"name": "\xe9"}]')
    with pytest.raises(ScanpathDataError, match="not UTF-8"):
        read_coco_json(p)


@pytest.mark.parametrize(
    "side,field",
    [("[1]", None), ('{"frame": [0, 5]}', "frame"), ('{"no_duration_records": "x"}', "no_duration_records"), ("{oops", None)],
)
def test_malformed_sidecar(tmp_path, side, field):
    p = tmp_path / "p.json"
    p.write_text(json.dumps([GOOD]))
    sidecar_path(p).write_text(side)
    with pytest.raises(ScanpathDataError) as ei:
        read_coco_json(p)
    assert ei.value.file == str(sidecar_path(p)) and ei.value.field == field


def test_truncate_T_flag_for_old_test_json(tmp_path):
    rec = dict(GOOD, T=[100.0, 200.0, 300.0])
    p = tmp_path / "old.json"
    p.write_text(json.dumps([rec]))
    with pytest.raises(ScanpathDataError, match="field 'T'"):
        read_coco_json(p)
    sp = read_coco_json(p, fix_length_mismatch="truncate_T")[0]
    np.testing.assert_array_equal(sp.duration, [100.0, 200.0])


def test_predictions_writer_fields(tmp_path, make_scanpath):
    human = make_scanpath(3, stimulus="s.jpg", task="cup", condition="present", extra={"bbox": [10, 10, 20, 20]})
    inside = Scanpath(x=[0.0, 15.0], y=[0.0, 15.0], stimulus="s.jpg", image_size=(200, 100))
    edge = Scanpath(x=[10.0, 30.0], y=[15.0, 15.0], stimulus="s.jpg", image_size=(200, 100))  # on the edge only
    path = write_predictions(tmp_path / "predictions.json", [inside, edge], [human], model="m", samples_per_image=2)
    recs = json.loads(path.read_text())
    assert [r["subject"] for r in recs] == [1, 2]
    assert all(r["split"] == "test" and r["bbox"] == [10, 10, 20, 20] for r in recs)
    assert [r["fixOnTarget"] for r in recs] == [True, False]
    assert [r["correct"] for r in recs] == [1, 0]  # from the box, never a hard-coded 1
    assert all(r["task"] == "cup" and r["condition"] == "present" for r in recs)
    assert all("T" not in r for r in recs)  # no durations predicted: no T, never zeros
    side = json.loads(sidecar_path(path).read_text())
    assert side["model"] == "m" and side["samples_per_image"] == 2 and side["durations_predicted"] is False
    assert side["frame"] == [200, 100]
    back = read_coco_json(path)
    assert all(b.duration is None for b in back)


class _Boom(RuntimeError):
    pass


def test_atomic_write_leaves_no_partial_file_when_interrupted(tmp_path, make_scanpath, monkeypatch):
    path = tmp_path / "predictions.json"
    write_coco_json(path, [make_scanpath(3)])
    before = path.read_bytes()

    real_dump, real_dumps = json.dump, json.dumps

    def dump_then_fail(obj, fh, **kw):
        fh.write("[{\"name\": \"half")  # part of the payload reaches the temp file …
        raise _Boom("disk full")  # … then the write dies

    def dumps_fail(obj, **kw):  # the records are encoded one by one: "[" is already in the temp file
        raise _Boom("disk full")

    monkeypatch.setattr(json, "dump", dump_then_fail)
    monkeypatch.setattr(json, "dumps", dumps_fail)
    with pytest.raises(_Boom):
        write_coco_json(path, [make_scanpath(5, seed=3)])
    monkeypatch.setattr(json, "dump", real_dump)
    monkeypatch.setattr(json, "dumps", real_dumps)
    assert path.read_bytes() == before  # old content intact
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, sidecar_path(path).name])
    fresh = tmp_path / "new.json"
    monkeypatch.setattr(json, "dump", dump_then_fail)
    monkeypatch.setattr(json, "dumps", dumps_fail)
    with pytest.raises(_Boom):
        write_coco_json(fresh, [make_scanpath(2)])
    assert not fresh.exists() and not any(".tmp" in p.name for p in tmp_path.iterdir())
