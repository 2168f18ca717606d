"""The shared data model: list <-> batch round trip, devices, validation policies, empty scanpaths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scanpath.errors import ScanpathDataError
from scanpath.types import Scanpath, ScanpathBatch, group_by_stimulus, scanpath_key

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def scanpath_st(draw):
    n = draw(st.integers(0, 10))
    has_d = draw(st.booleans())
    fx = {}
    if draw(st.booleans()):
        fx["object"] = np.asarray(draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)), dtype=np.int64)
    if draw(st.booleans()):
        fx["pupil"] = np.asarray(draw(st.lists(finite, min_size=n, max_size=n)), dtype=np.float64)
    return Scanpath(
        x=draw(st.lists(finite, min_size=n, max_size=n)),
        y=draw(st.lists(finite, min_size=n, max_size=n)),
        duration=draw(st.lists(st.floats(0, 1e4), min_size=n, max_size=n)) if has_d else None,
        stimulus=draw(st.text(max_size=4)),
        subject=draw(st.one_of(st.none(), st.integers(0, 9), st.text(max_size=3))),
        task=draw(st.one_of(st.none(), st.just("cup"))),
        condition=draw(st.one_of(st.none(), st.just("present"))),
        image_size=draw(st.one_of(st.none(), st.tuples(st.integers(1, 4000), st.integers(1, 4000)))),
        extra=draw(st.dictionaries(st.sampled_from(["bbox", "RT", "note"]), st.integers(), max_size=2)),
        fixation_extra=fx,
    )


@settings(max_examples=60, deadline=None)
@given(sps=st.lists(scanpath_st(), max_size=6), pad=st.integers(0, 15))
def test_list_batch_round_trip_is_lossless(sps, pad):
    # every row needs the same fixation_extra keys for a lossless trip (missing keys come back as padding)
    keys = set().union(*[s.fixation_extra for s in sps]) if sps else set()
    sps = [s for s in sps if set(s.fixation_extra) == keys]
    batch = ScanpathBatch.from_list(sps, max_len=pad)
    assert batch.data.shape == (len(sps), max([len(s) for s in sps] + [pad]), 3)
    assert batch.mask.sum().item() == sum(len(s) for s in sps)
    assert torch.isnan(batch.data[~batch.mask]).all()
    back = batch.to_list()
    assert len(back) == len(sps)
    for a, b in zip(sps, back):
        assert a.equals(b), (a, b)
        for k, v in a.fixation_extra.items():
            assert b.fixation_extra[k].dtype.kind == v.dtype.kind


def test_batch_padding_values_and_has_duration():
    a = Scanpath(x=[1, 2, 3], y=[4, 5, 6], duration=[10, 20, 30], fixation_extra={"object": np.array([0, 1, 2])})
    b = Scanpath(x=[7], y=[8], fixation_extra={"object": np.array([5])})
    batch = ScanpathBatch.from_list([a, b])
    assert batch.lengths.tolist() == [3, 1]
    assert batch.has_duration.tolist() == [True, False]
    assert torch.isnan(batch.duration[1]).all()
    assert batch.fixation_extra["object"].tolist() == [[0, 1, 2], [5, -1, -1]]
    assert batch.to_list()[1].duration is None


def test_to_device_moves_all_tensors_and_keeps_meta():
    batch = ScanpathBatch.from_list([Scanpath(x=[1.0], y=[2.0], stimulus="s", fixation_extra={"o": np.array([3])})])
    dev = "cuda" if torch.cuda.is_available() else "meta"
    moved = batch.to(dev)
    assert moved.data.device.type == dev and moved.lengths.device.type == dev
    assert moved.has_duration.device.type == dev and moved.fixation_extra["o"].device.type == dev
    assert moved.meta == batch.meta
    back = batch.to("cpu").to_list()[0]
    assert back.stimulus == "s" and back.x.tolist() == [1.0]
    if dev == "cuda":
        assert moved.to("cpu").to_list()[0].equals(batch.to_list()[0])


def test_empty_scanpaths_are_valid_and_round_trip():
    e = Scanpath(x=[], y=[], duration=[], stimulus="e", image_size=(10, 10))
    assert len(e) == 0 and e.xy.shape == (0, 2)
    assert e.validated("error") is e
    batch = ScanpathBatch.from_list([e, Scanpath(x=[], y=[])])
    assert batch.data.shape == (2, 0, 3) and batch.lengths.tolist() == [0, 0]
    back = batch.to_list()
    assert back[0].equals(e) and len(back[1]) == 0
    assert ScanpathBatch.from_list([]).data.shape == (0, 0, 3)


def _bad() -> Scanpath:
    return Scanpath(
        x=[5.0, -3.0, 50.0, 120.0],
        y=[5.0, 10.0, 20.0, 30.0],
        duration=[100.0, 200.0, -5.0, 100.0],
        stimulus="img",
        image_size=(100, 50),
        fixation_extra={"object": np.array([0, 1, 2, 3])},
    )


@pytest.mark.parametrize(
    "sp,field,fragment",
    [
        (Scanpath(x=[1.0, np.nan], y=[1.0, 1.0], image_size=(10, 10)), "x", "non-finite"),
        (Scanpath(x=[1.0, 2.0], y=[np.inf, 1.0]), "y", "non-finite"),
        (Scanpath(x=[1.0], y=[1.0], duration=[-1.0]), "duration", "invalid duration"),
        (Scanpath(x=[1.0], y=[1.0], duration=[np.nan]), "duration", "invalid duration"),
        (Scanpath(x=[11.0], y=[1.0], image_size=(10, 10)), "x", "outside the image"),
        (Scanpath(x=[1.0], y=[-0.5], image_size=(10, 10)), "y", "outside the image"),
    ],
)
def test_error_policy_names_file_record_field(sp, field, fragment):
    with pytest.raises(ScanpathDataError) as ei:
        sp.validated("error", file="data/fix.json", record=17)
    e = ei.value
    assert (e.file, e.record, e.field) == ("data/fix.json", 17, field)
    assert "data/fix.json" in str(e) and "record 17" in str(e) and f"field '{field}'" in str(e) and fragment in str(e)


def test_clip_policy_clamps_coordinates_and_durations():
    out = _bad().validated("clip")
    assert out.x.tolist() == [5.0, 0.0, 50.0, 100.0]
    assert out.duration.tolist() == [100.0, 200.0, 0.0, 100.0]
    assert out.fixation_extra["object"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ScanpathDataError, match="non-finite"):
        Scanpath(x=[np.nan], y=[1.0]).validated("clip")


def test_drop_policy_removes_bad_fixations_and_their_extras():
    out = _bad().validated("drop")
    assert out.x.tolist() == [5.0]
    assert out.fixation_extra["object"].tolist() == [0]
    nan = Scanpath(x=[np.nan, 1.0], y=[1.0, 1.0], duration=[np.nan, 5.0]).validated("drop")
    assert nan.x.tolist() == [1.0] and nan.duration.tolist() == [5.0]


def test_validation_does_not_mutate_input_and_rejects_unknown_policy():
    sp = _bad()
    before = sp.x.copy()
    sp.validated("clip")
    np.testing.assert_array_equal(sp.x, before)
    with pytest.raises(ValueError, match="invalid policy"):
        sp.validated("ignore")


def test_constructor_rejects_shape_mismatches():
    with pytest.raises(ScanpathDataError, match="field 'y'"):
        Scanpath(x=[1, 2], y=[1])
    with pytest.raises(ScanpathDataError, match="field 'duration'"):
        Scanpath(x=[1, 2], y=[1, 2], duration=[1])
    with pytest.raises(ScanpathDataError, match="field 'object'"):
        Scanpath(x=[1, 2], y=[1, 2], fixation_extra={"object": [1]})


def test_truncated_rescaled_and_keys():
    sp = Scanpath(x=[10.0, 20.0, 30.0], y=[5.0, 5.0, 5.0], duration=[1, 2, 3], image_size=(100, 50),
                  stimulus="s", task="cup", condition="present")
    assert len(sp.truncated(2)) == 2 and sp.truncated(None) is sp
    r = sp.rescaled((50, 100))
    assert r.x.tolist() == [5.0, 10.0, 15.0] and r.y.tolist() == [10.0, 10.0, 10.0] and r.image_size == (50, 100)
    assert scanpath_key(sp) == "s" and scanpath_key(sp, "task") == "present-cup-s"
    groups = group_by_stimulus([sp, sp.truncated(1), Scanpath(x=[], y=[], stimulus="t")])
    assert {k: len(v) for k, v in groups.items()} == {"s": 2, "t": 1}
