"""FixaTons-style string metrics of the NevaClip protocol (docs/nevaclip.md §4, §7 items 11–12):
Damerau–Levenshtein SED on 4×4 FixaTons cells, SBTDE, and the provisional spp_* reductions."""

from __future__ import annotations

import itertools
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from scanpath.metrics import score_scanpaths
from scanpath.metrics.labelers import make_labeler
from scanpath.metrics.sequence import damerau_levenshtein, edit_distance, window_edit_distance
from scanpath.types import Scanpath

CONF = Path(__file__).resolve().parents[1] / "conf" / "metrics" / "nevaclip.yaml"


def _codes(s: str) -> list[int]:
    return [ord(c) - ord("a") for c in s]


# ---------------------------------------------------------------- independent references (tests only)
def _bfs_edit(a: str, b: str) -> int:
    """Fewest insert / delete / substitute / adjacent-swap operations turning a into b (BFS)."""
    alphabet = sorted(set(a) | set(b))
    limit = max(len(a), len(b)) + 1
    seen, queue = {a: 0}, deque([a])
    while queue:
        s = queue.popleft()
        if s == b:
            return seen[s]
        nxt = []
        for i in range(len(s) + 1):
            if len(s) < limit:
                nxt += [s[:i] + c + s[i:] for c in alphabet]
            if i < len(s):
                nxt.append(s[:i] + s[i + 1:])
                nxt += [s[:i] + c + s[i + 1:] for c in alphabet if c != s[i]]
            if i + 1 < len(s):
                nxt.append(s[:i] + s[i + 1] + s[i] + s[i + 2:])
        for t in nxt:
            if t not in seen:
                seen[t] = seen[s] + 1
                queue.append(t)
    raise AssertionError("unreachable")


def _lw_ref(a: str, b: str) -> int:
    """Plain-Python Lowrance–Wagner recurrence (dict alphabet); checked against the BFS below and
    used where the BFS state space is too large (long strings, big alphabets)."""
    big = len(a) + len(b)
    d = {(-1, -1): big}
    for i in range(len(a) + 1):
        d[i, -1], d[i, 0] = big, i
    for j in range(len(b) + 1):
        d[-1, j], d[0, j] = big, j
    last: dict[str, int] = {}
    for i in range(1, len(a) + 1):
        db = 0
        for j in range(1, len(b) + 1):
            k, l = last.get(b[j - 1], 0), db
            cost = int(a[i - 1] != b[j - 1])
            if not cost:
                db = j
            d[i, j] = min(d[i - 1, j - 1] + cost, d[i, j - 1] + 1, d[i - 1, j] + 1,
                          d[k - 1, l - 1] + (i - k - 1) + 1 + (j - l - 1))
        last[a[i - 1]] = i
    return d[len(a), len(b)]


def _osa(a: str, b: str) -> int:
    """Optimal string alignment (restricted Damerau–Levenshtein), for contrast."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


# ---------------------------------------------------------------- Damerau–Levenshtein
def test_dl_spec_example_and_osa_difference():
    # §7 item 11: SED("ca", "abc") = 2 (ca → ac → abc); OSA and plain Levenshtein give 3
    assert damerau_levenshtein([_codes("ca")], [_codes("abc")])[0] == 2
    assert _osa("ca", "abc") == 3
    assert edit_distance([_codes("ca")], [_codes("abc")])[0] == 3
    hand = {("ab", "ba"): 1, ("abc", "abc"): 0, ("", "abc"): 3, ("abcd", "badc"): 2, ("abc", "ca"): 2,
            ("kitten", "sitting"): 3}
    a, b = zip(*hand)
    got = damerau_levenshtein([_codes(x) for x in a], [_codes(y) for y in b])
    np.testing.assert_array_equal(got, list(hand.values()))
    assert np.isnan(damerau_levenshtein([[]], [[]])[0])


def test_dl_matches_bfs_reference_on_random_short_strings():
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(250):
        la, lb = rng.integers(0, 5, size=2)
        pairs.append(("".join(rng.choice(list("abc"), la)), "".join(rng.choice(list("abc"), lb))))
    pairs += [("ca", "abc"), ("abc", "ca"), ("cab", "bca")]
    pairs = [p for p in pairs if p[0] or p[1]]
    got = damerau_levenshtein([_codes(a) for a, _ in pairs], [_codes(b) for _, b in pairs])
    want = np.array([_bfs_edit(a, b) for a, b in pairs], dtype=np.float64)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal([_lw_ref(a, b) for a, b in pairs], want)  # the longer-string reference
    # the random set must contain pairs where the unrestricted form beats OSA, or the test proves little
    assert any(_osa(a, b) > w for (a, b), w in zip(pairs, want))


def test_dl_matches_reference_on_longer_strings():
    rng = np.random.default_rng(2)
    a = ["".join(rng.choice(list("abcdefgh"), rng.integers(0, 12))) for _ in range(150)]
    b = ["".join(rng.choice(list("abcdefgh"), rng.integers(1, 12))) for _ in range(150)]
    got = damerau_levenshtein([_codes(x) for x in a], [_codes(y) for y in b])
    np.testing.assert_array_equal(got, [_lw_ref(x, y) for x, y in zip(a, b)])


def test_dl_with_pair_indices_and_large_labels():
    a = [np.array([100, 7]), np.array([5, 5, 9])]
    b = [np.array([7, 42, 100]), np.array([9, 5])]
    got = damerau_levenshtein(a, b, li=np.array([0, 1, 0]), ri=np.array([0, 1, 1]))
    np.testing.assert_array_equal(got, [2, 2, 2])


# ---------------------------------------------------------------- FixaTons cells
def test_fixatons_cells_clamped_and_upstream_grid():
    s = Scanpath(x=np.array([404.0, 303.0, 0.0]), y=np.array([1023.0, 0.0, 256.0]), image_size=(405, 1024))
    fixed = make_labeler({"labeler": "grid", "grid": [4, 4], "grid_cells": "integer"})(s)
    upstream = make_labeler({"labeler": "grid", "grid": [4, 4], "grid_cells": "integer", "upstream_grid": True})(s)
    fraction = make_labeler({"labeler": "grid", "grid": [4, 4]})(s)
    # (404, 1023) → 'p' (15), 'q' (16) upstream; x = 303: ⌊303/101⌋ = 3 but ⌊303·4/405⌋ = 2
    assert fixed.tolist() == [15, 3, 4]
    assert upstream.tolist() == [16, 3, 4]
    assert fraction.tolist() == [15, 2, 4]
    with pytest.raises(ValueError, match="grid_cells"):
        make_labeler({"labeler": "grid", "grid_cells": "bogus"})


# ---------------------------------------------------------------- registry: SED values and SBTDE
def _sp(cells: str, subject=None, stimulus="img", size=(400, 400)) -> Scanpath:
    """Scanpath through the centres of 4×4 cells named 'a'…'p' on a 400×400 image."""
    c = np.array(_codes(cells)) if cells else np.zeros(0, dtype=np.int64)
    return Scanpath(x=(c % 4) * 100.0 + 50.0, y=(c // 4) * 100.0 + 50.0, stimulus=stimulus, subject=subject,
                    image_size=size)


def test_sed_registry_reports_distance_and_similarity():
    p = {"grid": [4, 4], "grid_cells": "integer"}
    res = score_scanpaths([_sp("ca")], [_sp("abc", 1)], {"dl": {"metric": "sed", "transpositions": True, **p},
                                                         "lev": {"metric": "sed", **p}})
    assert res["dl"]["value"] == 2.0
    assert res["dl"]["values"] == {"distance": 2.0, "similarity": pytest.approx(1 - 2 / 3)}
    assert res["lev"]["value"] == 3.0 and res["lev"]["values"]["similarity"] == 0.0
    assert res["dl"]["params"]["transpositions"] is True and res["lev"]["params"]["transpositions"] is False


def _sbtde_ref(a: str, b: str, k: int = 3) -> float:
    wa = [a[i:i + k] for i in range(len(a) - k + 1)]
    wb = [b[i:i + k] for i in range(len(b) - k + 1)]
    return float(np.mean([min(_lw_ref(x, y) for y in wb) / k for x in wa]))


def test_sbtde_matches_bruteforce():
    rng = np.random.default_rng(1)
    a = ["".join(rng.choice(list("abcd"), rng.integers(3, 7))) for _ in range(12)]
    b = ["".join(rng.choice(list("abcd"), rng.integers(3, 7))) for _ in range(12)]
    got = window_edit_distance([_codes(x) for x in a], [_codes(y) for y in b], k=3)
    want = [_sbtde_ref(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.isnan(window_edit_distance([_codes("ab")], [_codes("abc")])[0])  # < k labels: no windows
    # through the registry: mean over the 2 humans of per-pair SBTDE
    res = score_scanpaths([_sp(a[0])], [_sp(b[0], 1), _sp(b[1], 2)], {"sbtde": {}})
    assert res["sbtde"]["value"] == pytest.approx((want[0] + _sbtde_ref(a[0], b[1])) / 2)
    assert res["sbtde"]["higher_is_better"] is False


# ---------------------------------------------------------------- provisional SPP from the NevaClip config
def test_nevaclip_config_spp_equals_best_match():
    metrics = OmegaConf.to_container(OmegaConf.load(CONF))
    for name in ("sed", "spp_sed", "sbtde", "spp_sbtde", "scanmatch", "spp_scanmatch", "multimatch",
                 "spp_multimatch"):
        assert name in metrics, name
    humans = [_sp("abcfgk", 1), _sp("pmlkhd", 2), _sp("aeimnop", 3),
              _sp("ponmlk", 1, "img2"), _sp("afkp", 2, "img2")]
    # prediction 0 equals human 1 of img; prediction 1 equals no human of img2
    preds = [_sp("abcfgk", 1), _sp("abfkp", 1, "img2")]
    res = score_scanpaths(preds, humans, metrics)
    sim_img = score_scanpaths([preds[0]], humans, {"s": metrics["spp_sed"]})["s"]
    assert sim_img["value"] == 1.0  # §7 item 12: spp_sed = 1 when the model scanpath equals a human one
    assert score_scanpaths([preds[0]], humans, {"s": metrics["spp_sbtde"]})["s"]["value"] == 0.0
    assert score_scanpaths([preds[0]], humans, {"s": metrics["spp_scanmatch"]})["s"]["value"] == pytest.approx(1.0)
    assert score_scanpaths([preds[0]], humans, {"s": metrics["spp_multimatch"]})["s"]["value"] == pytest.approx(1.0)
    # spp = mean over predictions of the best per-human score; the best beats the mean over humans
    codes = {"img": ["abcfgk", "pmlkhd", "aeimnop"], "img2": ["ponmlk", "afkp"]}
    best = []
    for pred, stim in (("abcfgk", "img"), ("abfkp", "img2")):
        best.append(max(1 - _lw_ref(pred, h) / max(len(pred), len(h)) for h in codes[stim]))
    assert res["spp_sed"]["value"] == pytest.approx(np.mean(best))
    assert res["spp_sed"]["value"] > res["sed"]["values"]["similarity"]
    assert res["spp_sbtde"]["value"] < res["sbtde"]["value"]
    assert res["spp_scanmatch"]["value"] >= res["scanmatch"]["value"]
    assert res["spp_multimatch"]["value"] >= res["multimatch"]["value"]
    # spp_multimatch picks one human per prediction by MM (not a per-dimension max)
    mm_cfg = {k: v for k, v in metrics["spp_multimatch"].items() if k != "pair_reduce"}
    per_pred = []
    for pred in preds:
        mms = [score_scanpaths([pred], [h], {"m": mm_cfg})["m"]["value"] for h in humans
               if h.stimulus == pred.stimulus]
        full = [score_scanpaths([pred], [h], {"multimatch": metrics["multimatch"]})["multimatch"] for h in humans
                if h.stimulus == pred.stimulus]
        # multimatch_mm per pair = mean of the 4 MultiMatch dims of that pair
        assert mms == pytest.approx([np.mean([f["values"][d] for d in ("vector", "direction", "length",
                                                                        "position")]) for f in full])
        per_pred.append(max(mms))
    assert res["spp_multimatch"]["value"] == pytest.approx(np.mean(per_pred))
    for name in metrics:
        assert np.isfinite(res[name]["value"]), name
