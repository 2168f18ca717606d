"""RT, slopes, asymmetry index and the human CSV reader (docs/eccnet.md §4, §7 "Human AIs", "RT and AI")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scanpath.analysis import asymmetry as an
from scanpath.analysis import asymmetry_index
from scanpath.errors import ScanpathDataError
from scanpath.stimuli.asymmetry import CONDITIONS, experiment_of

HUMAN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "asymmetry" / "human_rt_digitized.csv"


@pytest.fixture(scope="module")
def human():
    if not HUMAN_CSV.is_file():
        pytest.skip(f"human RT CSV not found at {HUMAN_CSV} (only present in the build sandbox)")
    return an.read_human_rt(HUMAN_CSV)


def test_human_csv_slopes_match_column(human):
    assert set(human) == set(CONDITIONS)
    for c, h in human.items():  # one row per generated set size (40 rows; older descriptions say 38)
        assert h.set_sizes == list(experiment_of(c).set_sizes), c
    for c, h in human.items():
        assert h.slope == pytest.approx(h.csv_slope, abs=1e-3), c


def test_human_asymmetry_index_matches_published(human):
    hs = {c: h.slope for c, h in human.items()}
    ai = asymmetry_index(hs, hs)
    want = {"exp1": 0.809, "exp2": 0.701, "exp3": 0.362, "exp4": 0.404, "exp5": 0.611, "exp6": 0.500,
            "mean": 0.564}
    assert set(ai) == set(want)
    for k, v in want.items():
        assert ai[k] == pytest.approx(v, abs=1e-3), k


def _constructed(human, n_of):
    """Model slopes from per-trial N chosen by ``n_of(condition, is_high, set_size)``."""
    hs = {c: h.slope for c, h in human.items()}
    out = {}
    for e, (a, b) in an.EXPERIMENT_PAIRS.items():
        hi = a if hs[a] > hs[b] else b
        for c in (a, b):
            ss = np.repeat(experiment_of(c).set_sizes, 3)
            n = np.array([n_of(c, c == hi, s) for s in ss], float)
            out[c] = an.rt_slope(n, ss)
    return hs, out


def test_polarity_constant_full_and_reversed(human):
    # N = 1 everywhere: RT 628.630 ms, slope 0, AI 0
    assert an.rt_from_fixations(1.0) == pytest.approx(628.630, abs=1e-3)
    hs, flat = _constructed(human, lambda c, hi, s: 1)
    assert all(abs(v) < 1e-9 for v in flat.values())
    assert all(v == 0.0 for v in asymmetry_index(flat, hs).values())
    # N = set size in H, 1 in L -> +1; the swap -> -1
    _, pos = _constructed(human, lambda c, hi, s: s if hi else 1)
    assert all(v == pytest.approx(1.0) for v in asymmetry_index(pos, hs).values())
    _, neg = _constructed(human, lambda c, hi, s: 1 if hi else s)
    assert all(v == pytest.approx(-1.0) for v in asymmetry_index(neg, hs).values())


def test_asymmetry_index_clips_negative_slopes_and_skips_missing():
    hs = {"curve_in_lines": 1.0, "line_in_curves": 5.0, "cross": 9.0}
    ai = asymmetry_index({"curve_in_lines": -3.0, "line_in_curves": 2.0}, hs)
    assert ai == {"exp1": 1.0, "mean": 1.0}  # s_L = max(0, -3) = 0
    ai = asymmetry_index({"curve_in_lines": 3.0, "line_in_curves": 1.0}, hs)
    assert ai["exp1"] == pytest.approx(-0.5)


def test_unfound_trials_count_as_set_size():
    n = an.effective_fixations([2, 7, 3], [True, False, True], [4, 8, 8])
    assert n.tolist() == [2.0, 8.0, 3.0]
    rts = an.rt_by_set_size(n, np.array([4, 8, 8]))
    assert rts[8] == pytest.approx(252.359 * 5.5 + 376.271)
    assert an.rt_slope(n, np.array([4, 8, 8])) == pytest.approx(252.359 * 3.5 / 4)


def test_slope_correlation_and_f_test(human):
    hs = {c: h.slope for c, h in human.items()}
    assert an.slope_correlation(hs, hs)["r"] == pytest.approx(1.0)
    lin = {c: 2 * v + 3 for c, v in hs.items()}
    assert an.slope_correlation(lin, hs)["r"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    s = np.repeat([3, 6, 9], 20).astype(float)
    rt_same = 400 + 10 * np.r_[s, s] + rng.normal(0, 5, 120)
    f_same = an.nested_f_test(rt_same, np.r_[s, s], np.r_[np.zeros(60), np.ones(60)])
    rt_diff = 400 + np.r_[10 * s, 60 * s] + rng.normal(0, 5, 120)
    f_diff = an.nested_f_test(rt_diff, np.r_[s, s], np.r_[np.zeros(60), np.ones(60)])
    assert f_diff["F"] > 100 and f_diff["p"] < 1e-6 and f_same["p"] > 1e-3


HEADER = "condition,description,set_size,human_rt_ms,human_slope_ms_per_item\n"


@pytest.mark.parametrize("row,field", [
    ("cross,x,three,829.0,96.0\n", "set_size"),
    ("cross,x,3,,96.0\n", "human_rt_ms"),
    ("cross,x,3,829.0,abc\n", "human_slope_ms_per_item"),
    (",x,3,829.0,96.0\n", "condition"),
    ("cross,x,0,829.0,96.0\n", "set_size"),
])
def test_malformed_rows_name_file_row_field(tmp_path, row, field):
    p = tmp_path / "rt.csv"
    p.write_text(HEADER + "cross,x,6,1117.0,96.0\n" + row)
    with pytest.raises(ScanpathDataError) as ei:
        an.read_human_rt(p)
    err = ei.value
    assert err.field == field and err.record == "row 3" and err.file == str(p)


def test_missing_column_and_user_path(tmp_path):
    p = tmp_path / "rt.csv"
    p.write_text("condition,set_size,human_rt_ms\ncross,3,829\n")
    with pytest.raises(ScanpathDataError, match="missing column"):
        an.read_human_rt(p)
    p.write_text(HEADER + "cross,x,3,829.0,96\ncross,x,9,1405.0,96\n")
    h = an.read_human_rt(p)
    assert h["cross"].slope == pytest.approx(96.0)
    with pytest.raises(ScanpathDataError, match="not found"):
        an.read_human_rt(tmp_path / "absent.csv")


def test_read_found_at(tmp_path):
    p = tmp_path / "found_at.csv"
    p.write_text("0,1,0\n0,0,0\n0,0,1\n")
    assert an.read_found_at(p).tolist() == [1, -1, 2]
    p.write_text("0,1,1\n")
    with pytest.raises(ScanpathDataError, match="one-hot"):
        an.read_found_at(p)


# ------------------------------------------------------------------ upstream per-trial outputs (§3, §5, §7)
#: §5 asymmetry-index rows (exp1..exp6, mean) of the upstream per-trial outputs
PUBLISHED_AI = {
    "eccNET": (1.000, 1.000, 0.495, 0.789, -1.000, 0.791, 0.513),
    "IVSN": (0.830, 0.988, -0.631, 0.290, -0.581, 1.000, 0.316),
    "eccNET_MNIST": (0.997, 0.274, 0.060, -0.108, 0.040, -0.153, 0.185),
    "eccNET_0_0_1": (-0.008, 0.970, -0.276, 0.392, -0.528, -0.046, 0.084),
    "eccNET_noecc": (0.962, -0.771, -0.679, 0.803, 1.000, -1.000, 0.052),
    "chance": (0.414, -0.261, 0.400, 0.129, -0.294, -0.407, -0.003),
    "pixelMatch": (-1.000, -0.568, 0.000, -1.000, 1.000, 0.502, -0.178),
    "eccNET_Rot90": (-1.000, -1.000, -0.092, -0.173, -1.000, 0.834, -0.405),
}


def _write_found_at(path, n, num_fix):
    table = np.zeros((len(n), num_fix), int)
    for i, v in enumerate(n):
        if v >= 0:
            table[i, v] = 1
    np.savetxt(path, table, fmt="%d", delimiter=",")


def test_upstream_outputs_analysis_on_constructed_tables(tmp_path, human, capsys):
    from scanpath.analysis.upstream_outputs import analyse_upstream_outputs, main, match_files
    from scanpath.stimuli.asymmetry import experiment_of

    rng = np.random.default_rng(0)
    expected = {}
    for cond in ("non_cross", "cross", "Ts"):
        spec = experiment_of(cond)
        n = rng.integers(-1, spec.num_fix, spec.n_trials)  # -1 = unfound (zero row)
        _write_found_at(tmp_path / f"intersection_{cond}.csv", n, spec.num_fix)
        s = np.repeat(spec.set_sizes, spec.trials_per_size)
        expected[cond] = an.rt_slope(np.where(n >= 0, n, s), s)
    files = match_files(tmp_path)
    assert files["cross"].name == "intersection_cross.csv" and files["non_cross"].name == "intersection_non_cross.csv"
    res = analyse_upstream_outputs(tmp_path, HUMAN_CSV)
    assert res["slopes"] == pytest.approx(expected, abs=1e-9)
    assert set(res["asymmetry_index"]) == {"exp3", "mean"}  # exp4 lacks Ls
    main([str(tmp_path), "--human-csv", str(HUMAN_CSV)])
    assert f"{res['asymmetry_index']['exp3']:.3f}" in capsys.readouterr().out
    np.savetxt(tmp_path / "intersection_Ls.csv", np.zeros((5, 10), int), fmt="%d", delimiter=",")
    with pytest.raises(ScanpathDataError, match="5 rows, expected 108"):
        analyse_upstream_outputs(tmp_path, HUMAN_CSV)


FIXTURE_N = Path(__file__).resolve().parent / "fixtures" / "upstream_eccnet_intersection_N.json"
#: §5 human slopes (ms/item) of Exps 3-4; they fix H/L, so the fixture check needs no local data
HUMAN_SLOPES_EXP34 = {"non_cross": 45.0, "cross": 96.0, "Ts": 14.0, "Ls": 33.0}


def test_upstream_fixture_reproduces_published_exp3_exp4(tmp_path):
    """§5 from a committed fixture of upstream per-trial facts (eccNET, Exps 3-4): the one-hot found_at
    tables rebuilt from it give the published slopes (32.7 / 97.0 / 11.7 / 99.3) and AIs 0.495 / 0.789."""
    import json

    from scanpath.analysis.upstream_outputs import analyse_upstream_outputs

    fx = json.loads(FIXTURE_N.read_text())
    for cond, ns in fx["conditions"].items():
        assert len(ns) == experiment_of(cond).n_trials, cond
        table = np.zeros((len(ns), fx["num_columns"]), int)
        for i, ch in enumerate(ns):
            if ch != "-":
                table[i, int(ch)] = 1
        np.savetxt(tmp_path / f"intersection_{cond}.csv", table, fmt="%d", delimiter=",")
    res = analyse_upstream_outputs(tmp_path, human_slopes=HUMAN_SLOPES_EXP34)
    published_slopes = {"non_cross": 32.7, "cross": 97.0, "Ts": 11.7, "Ls": 99.3}
    assert {c: round(v, 1) for c, v in res["slopes"].items()} == published_slopes
    row = PUBLISHED_AI[fx["model"]]
    assert round(res["asymmetry_index"]["exp3"], 3) == pytest.approx(row[2], abs=1e-9)
    assert round(res["asymmetry_index"]["exp4"], 3) == pytest.approx(row[3], abs=1e-9)


def test_upstream_outputs_reproduce_published_table():
    """§7: with a local copy of upstream's per-trial outputs (SCANPATH_VSA_OUT=<.../vs_exp/eccNET/out>, one
    folder per model with out_data/), the §5 asymmetry-index rows come out to 3 dp."""
    import os

    from scanpath.analysis.upstream_outputs import analyse_upstream_outputs

    root = os.environ.get("SCANPATH_VSA_OUT")
    if not root or not Path(root).is_dir():
        pytest.skip("upstream per-trial outputs not available (set SCANPATH_VSA_OUT; VSA has no licence to vendor them)")
    checked = 0
    for model, row in PUBLISHED_AI.items():
        d = Path(root) / model / "out_data"
        if not d.is_dir():
            continue
        ai = analyse_upstream_outputs(d, HUMAN_CSV)["asymmetry_index"]
        got = tuple(round(ai[k], 3) for k in ("exp1", "exp2", "exp3", "exp4", "exp5", "exp6", "mean"))
        assert got == pytest.approx(row, abs=1.5e-3), model
        checked += 1
    assert checked, f"no <model>/out_data folder under {root}"
