"""Generators of the six search-asymmetry experiments (docs/eccnet.md §2.5, §7 "Generator")."""

from __future__ import annotations

import numpy as np
import pytest

from scanpath.stimuli import asymmetry as A

LAST_BLOCK = {c: A.experiment_of(c).n_trials - 1 for c in A.CONDITIONS}  # largest set size


def test_experiment_table_sizes_backgrounds_cells_and_trial_total():
    want = {  # display deg, cells, bg, canvas
        "exp1": (11.3, 36, 0, 48), "exp2": (6.6, 16, 27, 31), "exp3": (20.5, 9, 255, 177),
        "exp4": (20.5, 9, 255, 177), "exp5": (11.3, 16, 255, 69), "exp6": (11.3, 16, 255, 69),
    }
    for k, (deg, cells, bg, canvas) in want.items():
        e = A.EXPERIMENTS[k]
        assert e.display == round(deg * 30)  # sizes in px = degrees x 30
        assert e.n_cells == cells and e.bg == bg and e.canvas == canvas
        # every jittered canvas fits inside its cell, and the grid fits the display
        assert e.jitter - 1 + e.canvas <= e.cell and e.grid * e.cell <= e.display
    assert A.total_trials() == 1272
    assert len(A.CONDITIONS) == 12


@pytest.mark.parametrize("cond", A.CONDITIONS)
def test_trial_items_inside_cells_and_target_once(cond):
    spec = A.experiment_of(cond)
    for idx in (0, LAST_BLOCK[cond]):
        t = A.make_trial(cond, idx, seed=3)
        assert t.set_size == spec.set_sizes[idx // spec.trials_per_size]
        assert t.display.shape == (spec.display, spec.display) and t.display.dtype == np.uint8
        assert t.target.shape == (spec.canvas, spec.canvas)
        assert len(t.cells) == len(set(t.cells)) == t.set_size == len(t.offsets)
        matches = 0
        for cell, (jy, jx) in zip(t.cells, t.offsets):
            r0, c0 = spec.cell_corner(cell)
            assert 0 <= jy < spec.jitter and 0 <= jx < spec.jitter
            assert r0 + jy + spec.canvas <= r0 + spec.cell and c0 + jx + spec.canvas <= c0 + spec.cell
            patch = t.display[r0 + jy:r0 + jy + spec.canvas, c0 + jx:c0 + jx + spec.canvas]
            matches += int(np.array_equal(patch, t.target))
        assert matches == 1  # the target image equals the display patch at the target, and only there
        # gt = the target's un-jittered cell
        r0, c0 = spec.cell_corner(t.target_cell)
        assert t.gt_mask.sum() == spec.cell ** 2 and t.gt_mask[r0:r0 + spec.cell, c0:c0 + spec.cell].all()
        # nothing outside the placed canvases differs from the background
        occupied = np.zeros_like(t.gt_mask)
        for cell, (jy, jx) in zip(t.cells, t.offsets):
            r0, c0 = spec.cell_corner(cell)
            occupied[r0 + jy:r0 + jy + spec.canvas, c0 + jx:c0 + jx + spec.canvas] = True
        assert (t.display[~occupied] == spec.bg).all()


def test_same_seed_identical_bytes_other_seed_differs():
    for cond in ("line_in_curves", "hetero_t20", "Ls"):
        a, b = A.make_trial(cond, 5, seed=7), A.make_trial(cond, 5, seed=7)
        assert a.display.tobytes() == b.display.tobytes() and a.target.tobytes() == b.target.tobytes()
        assert a.to_json() == b.to_json()
        c = A.make_trial(cond, 5, seed=8)
        assert c.display.tobytes() != a.display.tobytes()


def test_glyph_pixel_counts_and_disc():
    counts = {k: int(A.glyph_mask(k).sum()) for k in ("cross", "non_cross", "L", "T")}
    assert counts == {"cross": 5173, "non_cross": 5098, "L": 5173, "T": 5024}
    canvas = A.glyph_item("cross", 0)
    assert canvas.shape == (177, 177) and (canvas == 0).sum() == 5173
    assert (canvas[:6] == 255).all() and (canvas[:, 171:] == 255).all()  # glyph at (6, 6)
    disc = A.lighting_disc(27)
    r, c = np.mgrid[0:31, 0:31]
    inside = (r - 15) ** 2 + (c - 15) ** 2 < 225
    assert inside.sum() == 697
    levels = np.unique(disc[inside])
    assert levels.min() == 0 and levels.max() == 238 and len(levels) == 15
    assert (disc[~inside] == 27).all()
    assert disc[28, 15] > disc[2, 15]  # bottom-lit base


def test_lighting_conditions_and_orientation_bars():
    base = A.lighting_disc(27)
    t = A.make_trial("top_down", 40)
    assert np.array_equal(t.target, base[::-1])
    lr = A.make_trial("left_right", 40)
    assert np.array_equal(lr.target, base.T[:, ::-1])
    assert lr.target[15, 2] > lr.target[15, 28]  # left-lit target
    bar0 = A.orientation_bar(0.0)
    assert bar0.shape == (69, 69) and (bar0[4:64, 30:39] == 0).all() and (bar0 == 0).sum() == 60 * 9
    tilted = A.orientation_bar(-20.0)
    assert not np.array_equal(tilted, bar0) and tilted[0, 0] == 255


def test_hetero_distractor_types():
    spec = A.EXPERIMENTS["exp6"]
    for idx in range(spec.trials_per_size * 2, spec.n_trials, 7):  # set sizes 8 and 12
        t = A.make_trial("hetero_t0", idx)
        d = [v for k, v in enumerate(t.variants) if k != t.target_slot]
        assert 0.0 not in d
        if t.set_size - 1 <= 8:
            assert len(set(d)) == len(d)
        else:
            assert set(d) == {40.0, -40.0, 60.0, -60.0, 80.0, -80.0, 20.0, -20.0}


def test_curvature_variants_cycle_and_jpeg_option():
    t = A.make_trial("curve_in_lines", 0)
    assert t.variants == [k % 4 for k in range(t.set_size)]
    j = A.make_trial("curve_in_lines", 0, jpeg_quality=95)
    assert j.display.shape == t.display.shape and not np.array_equal(j.display, t.display)
    assert np.abs(j.display.astype(int) - t.display.astype(int)).mean() < 5


def test_unknown_condition_and_bad_index():
    with pytest.raises(KeyError, match="unknown asymmetry condition"):
        A.make_trial("nope", 0)
    with pytest.raises(IndexError):
        A.make_trial("cross", 108)
