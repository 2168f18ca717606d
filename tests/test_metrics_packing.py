"""Input forms of the string metrics (issue 14 item 1): the labelers' packed labels, plain lists of
arrays and ready ``str`` give the same values; SS-time's one-pass repetition equals the per-scanpath one."""

from __future__ import annotations

import numpy as np
import pytest

from scanpath.metrics import sequence
from scanpath.metrics._packing import Packed, lengths, pack, strings
from scanpath.metrics.inputs import timed
from scanpath.metrics.labelers import GridLabeler
from scanpath.types import Scanpath

FNS = [sequence.lcs_length, sequence.levenshtein, sequence.sequence_score, sequence.edit_distance,
       sequence.damerau_levenshtein, sequence.optimal_string_alignment]


def _labels(rng, n, k=6, lo=0, hi=12):
    return [rng.integers(0, k, rng.integers(lo, hi)) for _ in range(n)]


def _as_str(seqs):
    return ["".join(map(chr, s.tolist())) for s in seqs]


@pytest.mark.parametrize("fn", FNS)
def test_packed_list_and_str_inputs_agree(fn):
    rng = np.random.default_rng(4)
    a, b = _labels(rng, 300), _labels(rng, 200)  # includes empty sequences (both-empty pairs → NaN)
    li, ri = rng.integers(0, 300, 900), rng.integers(0, 200, 900)
    ref = fn(a, b, li, ri)
    pa, pb = Packed(*pack(a)), Packed(*pack(b))
    np.testing.assert_array_equal(fn(pa, pb, li, ri), ref)
    np.testing.assert_array_equal(fn(_as_str(a), _as_str(b), li, ri), ref)
    qa, qb = [_as_str(a)[i] for i in li], [_as_str(b)[j] for j in ri]  # pair-aligned, no index
    np.testing.assert_array_equal(fn(qa, qb), ref)
    assert np.isnan(ref).any() == (fn in (sequence.sequence_score, sequence.edit_distance,
                                          sequence.damerau_levenshtein, sequence.optimal_string_alignment))


def test_packed_behaves_like_a_list_of_views():
    seqs = [np.array([3, 1]), np.array([], dtype=np.int64), np.array([2])]
    p = Packed(*pack(seqs))
    assert len(p) == 3 and [x.tolist() for x in p] == [[3, 1], [], [2]]
    assert p[-1].tolist() == [2] and [x.tolist() for x in p[1:]] == [[], [2]]
    assert lengths(p).tolist() == [2, 0, 1] and pack(p)[0] is p.flat
    with pytest.raises(IndexError):
        p[3]
    with pytest.raises(ValueError):
        Packed(np.zeros(3), np.array([0, 2]))
    assert [list(map(ord, s)) for s in strings(pack(p))[0]] == [[3, 1], [], [2]]


def test_grid_labeler_packs_what_it_labels_one_by_one():
    rng = np.random.default_rng(0)
    sps = [Scanpath(rng.uniform(0, 100, n), rng.uniform(0, 50, n), None, image_size=(100, 50))
           for n in (3, 0, 5, 1)]
    lab = GridLabeler((4, 3))
    many = lab.label_many(sps)
    assert isinstance(many, Packed)
    assert [x.tolist() for x in many] == [lab(s).tolist() for s in sps]
    assert len(lab.label_many([])) == 0


@pytest.mark.parametrize("mode,trunc", [("floor", False), ("round", False), ("round", True)])
def test_timed_equals_per_scanpath_repetition(mode, trunc):
    rng = np.random.default_rng(2)
    sps = [Scanpath(np.zeros(n), np.zeros(n), rng.uniform(0, 300, n).round(1)) for n in (4, 0, 7, 2)]
    labs = [rng.integers(0, 9, len(s)) for s in sps]
    got = timed(labs, sps, 50.0, mode, truncate_ms=trunc)
    want = [sequence.repeat_by_duration(l, s.duration, 50.0, mode, trunc) for l, s in zip(labs, sps)]
    assert [x.tolist() for x in got] == [w.tolist() for w in want]
    default = timed(labs, [Scanpath(s.x, s.y, None) for s in sps], 120.0, mode, default_ms=130.0)
    assert [len(x) for x in default] == [len(lab) for lab in labs]  # 130 / 120 ms: one repeat either way
