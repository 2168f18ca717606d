"""Search-loop invariants (§7 "Search"), baselines, and the runner's outputs, on fast thin networks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scanpath.models.eccnet.module import EccNetSearchModel
from scanpath.evaluation.protocols.asymmetry import run_asymmetry
from scanpath.models.eccnet.search import SearchParams, baseline_search, eccnet_search, oracle_hit
from scanpath.models.eccnet.torch_model import EccNet
from scanpath.stimuli.asymmetry import EXPERIMENTS, make_trial

HUMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


def thin_net(seed: int = 0) -> EccNet:
    from torchvision.models.vgg import make_layers

    torch.manual_seed(seed)
    return EccNet(features=make_layers([4, 4, "M", 6, 6, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M"]))


def _cell(spec, r, c):
    if 0 <= r < spec.grid * spec.cell and 0 <= c < spec.grid * spec.cell:
        return (r // spec.cell) * spec.grid + c // spec.cell
    return None


def test_eccnet_search_invariants():
    spec = EXPERIMENTS["exp2"]  # smallest crop (524 px)
    trials = [make_trial("left_right", i) for i in (60, 61, 62)]  # set size 12
    params = SearchParams(num_fix=spec.num_fix, bg=spec.bg, dog=spec.dog)
    crops: dict[tuple[int, int], np.ndarray] = {}
    res = eccnet_search(thin_net(), trials, params, batch_size=2,
                        on_crop=lambda i, k, c: crops.__setitem__((i, k), c.copy()))
    m = spec.display + 64
    for i, (t, r) in enumerate(zip(trials, res)):
        fx = r.fixations
        assert fx.shape == (r.n_fix + 1, 2) and 1 <= r.n_fix <= params.num_fix
        assert tuple(fx[0]) == (spec.display // 2, spec.display // 2)
        assert (fx >= 0).all() and (fx <= spec.display).all()  # inside the display (clamped)
        cells = [_cell(spec, *p) for p in fx[1:]]
        visited = [c for c in cells if c is not None]
        assert len(visited) == len(set(visited))  # no cell fixated twice
        hits = [oracle_hit(t.gt_mask, *p) for p in fx[1:]]
        if r.found:  # stops at the first fixation that sees the target
            assert hits[-1] and not any(hits[:-1])
        else:
            assert r.n_fix == params.num_fix and not any(hits)
        # inhibited cells are background in every later crop
        for k in range(2, r.n_fix + 1):
            gaze = fx[k - 1] + m  # canvas coords of the gaze used for crop k
            for c in [c for c in cells[:k - 1] if c is not None]:
                r0, c0 = spec.cell_corner(c)
                rr = slice(r0 + m - (gaze[0] - m), r0 + m - (gaze[0] - m) + spec.cell)
                cc = slice(c0 + m - (gaze[1] - m), c0 + m - (gaze[1] - m) + spec.cell)
                assert (crops[(i, k)][rr, cc] == spec.bg).all()
    # the first crop contains the untouched display
    c1, o = crops[(0, 1)], m - spec.display // 2  # the start gaze is the display centre
    assert c1.shape == (2 * m, 2 * m)
    assert np.array_equal(c1[o:o + spec.display, o:o + spec.display], trials[0].display)
    assert (c1[:o] == spec.bg).all() and (c1[o + spec.display:] == spec.bg).all()


def test_batching_does_not_change_results():
    spec = EXPERIMENTS["exp2"]
    trials = [make_trial("top_down", i) for i in (30, 31, 32)]
    params = SearchParams(num_fix=4, bg=spec.bg, dog=spec.dog)
    net = thin_net(1)
    a = eccnet_search(net, trials, params, batch_size=3)
    b = eccnet_search(net, trials, params, batch_size=1)
    for x, y in zip(a, b):
        assert np.array_equal(x.fixations, y.fixations) and x.found == y.found


def test_last_fix_as_miss_flag():
    spec = EXPERIMENTS["exp2"]
    trials = [make_trial("left_right", i) for i in range(60, 90, 3)]
    base = baseline_search(trials, SearchParams(num_fix=spec.num_fix, bg=spec.bg), "chance", seed=1)
    ks = [r.n_fix for r in base if r.found]
    cap = max(ks)  # a cap equal to some trial's N: found on the last fixation
    on = baseline_search(trials, SearchParams(num_fix=cap, bg=spec.bg, last_fix_as_miss=True), "chance", seed=1)
    off = baseline_search(trials, SearchParams(num_fix=cap, bg=spec.bg), "chance", seed=1)
    for r_on, r_off in zip(on, off):
        if r_off.found and r_off.n_fix == cap:
            assert not r_on.found
        else:
            assert r_on.found == r_off.found


@pytest.mark.parametrize("kind", ["chance", "pixel_match"])
def test_baselines_search_cells_without_repeats(kind):
    spec = EXPERIMENTS["exp1"]
    trials = [make_trial("curve_in_lines", i) for i in (60, 61)]  # set size 32
    res = baseline_search(trials, SearchParams(num_fix=spec.num_fix, bg=spec.bg), kind, seed=0)
    for t, r in zip(trials, res):
        cells = [_cell(spec, *p) for p in r.fixations[1:]]
        assert None not in cells and len(cells) == len(set(cells))
        assert r.found  # 36 cells, 37 fixations, IOR: the target cell is always reached
        assert oracle_hit(t.gt_mask, *r.fixations[-1])


def test_baseline_bugs_make_ior_inert():
    """Quirk 3: with ``baseline_bugs`` IOR is inert, so pixelMatch re-fixates its argmax. On generated
    trials pixelMatch's first argmax is the target (found at N = 1), so the gt square is moved to an
    empty cell: the argmax is then a miss and the inert-IOR run must stay on it for all NumFix steps."""
    import dataclasses

    spec = EXPERIMENTS["exp1"]
    t = make_trial("curve_in_lines", 60)
    params = SearchParams(num_fix=spec.num_fix, bg=spec.bg)
    found_first = baseline_search([t], params, "pixel_match", baseline_bugs=True)[0]
    assert found_first.found and found_first.n_fix == 1  # the branch the old test silently skipped
    empty = next(c for c in range(spec.n_cells) if c not in t.cells)
    r0, c0 = spec.cell_corner(empty)
    gt = np.zeros_like(t.gt_mask)
    gt[r0:r0 + spec.cell, c0:c0 + spec.cell] = True
    moved = dataclasses.replace(t, gt_mask=gt)
    r = baseline_search([moved], params, "pixel_match", baseline_bugs=True)[0]
    assert not r.found and r.n_fix == spec.num_fix
    assert len({tuple(p) for p in r.fixations[1:]}) == 1  # one point, re-fixated NumFix times
    fixed = baseline_search([moved], params, "pixel_match")[0]  # working IOR: every cell once, then the gt
    assert fixed.found and len({tuple(p) for p in fixed.fixations[1:]}) == fixed.n_fix > 1


def test_runner_outputs_with_chance(tmp_path):
    if not HUMAN_CSV.is_file():
        pytest.skip("human RT CSV not available at ../shared/data/asymmetry")
    model = EccNetSearchModel("chance", seed=0)
    res = run_asymmetry(model, tmp_path, conditions=["top_down", "left_right"], max_trials_per_size=4,
                        human_csv=str(HUMAN_CSV), progress=False)
    assert set(res["asymmetry_index"]) == {"exp2", "mean"}
    for c in ("top_down", "left_right"):
        fa = np.loadtxt(tmp_path / c / "found_at.csv", delimiter=",", ndmin=2)
        assert fa.shape == (12, 18)  # 3 set sizes x 4 trials; NumFix + 1 columns
        meta = json.loads((tmp_path / c / "trials.json").read_text())
        for row, rec in zip(fa, meta["trials"]):
            if rec["found"]:
                assert row.argmax() == rec["N"] == rec["n_fix"] and row.sum() == 1
            else:
                assert row.sum() == 0
        fx = np.load(tmp_path / c / "fixations.npy")
        assert fx.shape == (12, 18, 2)
    for f in ("slopes.md", "slopes.json", "asymmetry_index.md", "asymmetry_index.json", "figures/rt_vs_set_size.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert "Humans" in (tmp_path / "asymmetry_index.md").read_text()


def test_pixel_match_fft_equals_direct():
    from scanpath.models.eccnet.search import pixel_match_map

    rng = np.random.default_rng(0)
    for shape, k in (((40, 40), 8), ((33, 33), 7)):
        d = rng.integers(0, 256, shape).astype(np.uint8)
        t = rng.integers(0, 256, (k, k)).astype(np.uint8)
        a, b = pixel_match_map(d, t), pixel_match_map(d, t, impl="direct")
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3 * np.abs(b).max() * 1e-3)


def test_runner_resume_reuses_finished_conditions(tmp_path):
    if not HUMAN_CSV.is_file():
        pytest.skip("human RT CSV not available at ../shared/data/asymmetry")
    model = EccNetSearchModel("eccnet", weights="random", seed=0)
    model._net = thin_net()
    kw = dict(conditions=["top_down", "left_right"], max_trials_per_size=1, num_fix_cap=3,
              human_csv=str(HUMAN_CSV), progress=False)
    first = run_asymmetry(model, tmp_path, **kw)
    calls = []
    original = model.search
    model.search = lambda trials, params, on_trial_done=None: calls.append(len(trials)) or original(
        trials, params, on_trial_done)
    (tmp_path / "left_right" / "trials.json").unlink()  # as if interrupted before left_right finished
    again = run_asymmetry(model, tmp_path, resume=True, **kw)
    assert calls == [3]  # only left_right searched again
    assert again["slopes"] == first["slopes"]
    per = json.loads((tmp_path / "slopes.json").read_text())["per_condition"]
    assert per["top_down"]["reused"] is True and per["left_right"]["reused"] is False
    other = EccNetSearchModel("eccnet", weights="random", seed=0, layer_mask=(0, 0, 1))  # other settings
    other._net = model._net
    calls_other = []
    orig_other = other.search
    other.search = lambda trials, params, on_trial_done=None: calls_other.append(len(trials)) or orig_other(
        trials, params, on_trial_done)
    run_asymmetry(other, tmp_path, resume=True, **kw)
    assert calls_other == [3, 3]  # nothing reused: the model signature differs


def test_chance_streams_differ_between_equal_length_conditions():
    """The chance stream is seeded on the full condition name (not its length): curve_in_lines and
    line_in_curves (both 14 characters) and Ts / Ls get different visit orders on the same cells."""
    import dataclasses

    from scanpath.models.eccnet.search import baseline_rng

    assert len("curve_in_lines") == len("line_in_curves") and len("Ts") == len("Ls")
    for a, b in (("curve_in_lines", "line_in_curves"), ("Ts", "Ls")):
        assert baseline_rng(0, a, 3).integers(1 << 30, size=4).tolist() != baseline_rng(0, b, 3).integers(1 << 30, size=4).tolist()
    assert baseline_rng(0, "Ts", 3).integers(1 << 30) == baseline_rng(0, "Ts", 3).integers(1 << 30)  # stable
    spec = EXPERIMENTS["exp1"]
    t = make_trial("curve_in_lines", 60)
    twin = dataclasses.replace(t, condition="line_in_curves")  # identical display, other condition name
    params = SearchParams(num_fix=spec.num_fix, bg=spec.bg)
    ra = baseline_search([t], params, "chance", seed=0)[0]
    rb = baseline_search([twin], params, "chance", seed=0)[0]
    assert not np.array_equal(ra.fixations[1:4], rb.fixations[1:4])
