"""Raw planar gaze → fixations through pymovements (docs/datasets.md §5).

A synthetic 500 Hz recording with three known fixations (pixel noise σ = 0.3 px) joined by 30 ms
linear saccades: I-VT and I-DT find the three fixations at the right places and times; the degree
positions equal the visual-angle formula on the screen geometry; trials split a file; bad input names
the file, the line and the column; a missing pymovements names the extra to install. Tests that run
pymovements skip with a reason when the optional extra is not installed.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError
from scanpath.io.planar_gaze import ScreenGeometry, read_gaze_csv, read_planar_gaze, require_pymovements

SCREEN = ScreenGeometry(width_px=1280, height_px=1024, width_cm=38.0, height_cm=30.0, distance_cm=68.0)
TARGETS = [(300.0, 200.0, 300.0), (900.0, 500.0, 250.0), (640.0, 800.0, 400.0)]  # x, y px; duration ms
FS = 500.0

needs_pm = pytest.mark.skipif(
    __import__("importlib").util.find_spec("pymovements") is None,
    reason="pymovements is not installed (optional extra: pip install 'scanpath[gaze]')")


def _recording(seed: int = 0, targets=TARGETS, gap: tuple[int, int] | None = None):
    """(t_ms, x, y) and the planned fixation onsets; ``gap`` = sample indices set to NaN (track loss)."""
    rng = np.random.default_rng(seed)
    dt = 1000.0 / FS
    t, x, y, onsets = [], [], [], []
    now, prev = 0.0, None
    for tx, ty, dur in targets:
        if prev is not None:
            n = int(30 / dt)
            for i in range(1, n + 1):
                a = i / n
                t.append(now)
                x.append(prev[0] + (tx - prev[0]) * a)
                y.append(prev[1] + (ty - prev[1]) * a)
                now += dt
        onsets.append(now)
        for _ in range(int(dur / dt)):
            t.append(now)
            x.append(tx + rng.normal(0, 0.3))
            y.append(ty + rng.normal(0, 0.3))
            now += dt
        prev = (tx, ty)
    x, y = np.array(x), np.array(y)
    if gap is not None:
        x[gap[0]:gap[1]] = np.nan
        y[gap[0]:gap[1]] = np.nan
    return np.array(t), x, y, onsets


def _write(path: Path, rows: list[list], header=("time", "x", "y"), delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _rows(t, x, y, unit_scale: float = 1.0, extra: list | None = None) -> list[list]:
    out = []
    for a, b, c in zip(t, x, y):
        row = [f"{a * unit_scale:.6f}", "" if math.isnan(b) else f"{b:.3f}", "" if math.isnan(c) else f"{c:.3f}"]
        out.append(row + list(extra or []))
    return out


@needs_pm
@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_detects_the_planned_fixations(tmp_path: Path, method: str) -> None:
    t, x, y, onsets = _recording()
    path = _write(tmp_path / "rec.csv", _rows(t, x, y, unit_scale=1e-3))  # times in seconds
    [sp] = read_planar_gaze(path, SCREEN, method=method, time_unit="s", subject="s01")
    assert len(sp) == 3 and sp.stimulus == "rec" and sp.subject == "s01" and sp.image_size == (1280, 1024)
    np.testing.assert_allclose(sp.xy, [tg[:2] for tg in TARGETS], atol=1.0)
    planned = np.array([tg[2] for tg in TARGETS])
    assert np.all(np.abs(sp.duration - planned) <= 20.0), sp.duration  # edges: a few samples at 2 ms
    assert np.all(np.abs(sp.fixation_extra["onset_ms"] - onsets) <= 16.0), sp.fixation_extra["onset_ms"]
    assert sp.extra["detector"] == f"pymovements {method}" and sp.extra["sampling_rate_hz"] == pytest.approx(FS)
    assert sp.extra["screen"]["distance_cm"] == 68.0


@needs_pm
def test_degrees_follow_the_screen_geometry(tmp_path: Path) -> None:
    t, x, y, _ = _recording()
    path = _write(tmp_path / "rec.csv", _rows(t, x, y))
    for screen in (SCREEN, ScreenGeometry(1920, 1080, 53.0, 30.0, 100.0)):
        [sp] = read_planar_gaze(path, screen)
        # visual angle of each axis from the screen centre ((W - 1) / 2 px): atan(offset_cm / distance)
        exp_x = np.degrees(np.arctan((sp.x - (screen.width_px - 1) / 2) * screen.width_cm / screen.width_px
                                     / screen.distance_cm))
        exp_y = np.degrees(np.arctan((sp.y - (screen.height_px - 1) / 2) * screen.height_cm / screen.height_px
                                     / screen.distance_cm))
        np.testing.assert_allclose(sp.fixation_extra["x_deg"], exp_x, atol=2e-3)
        np.testing.assert_allclose(sp.fixation_extra["y_deg"], exp_y, atol=2e-3)


@needs_pm
def test_velocity_threshold_is_in_degrees_per_second(tmp_path: Path) -> None:
    """A drift of 3 °/s is one fixation under a 20 °/s threshold and none under 2 °/s."""
    dt = 1000.0 / FS
    n = 400
    t = np.arange(n) * dt
    px_per_deg = 1280 / 38.0 * 68.0 * math.pi / 180  # near the centre
    x = 640 + np.arange(n) * dt / 1000 * 3.0 * px_per_deg  # 3 °/s
    y = np.full(n, 512.0)
    path = _write(tmp_path / "drift.csv", _rows(t, x, y))
    assert len(read_planar_gaze(path, SCREEN, velocity_threshold=20.0)[0]) == 1
    assert len(read_planar_gaze(path, SCREEN, velocity_threshold=2.0)[0]) == 0


@needs_pm
def test_track_loss_splits_a_fixation(tmp_path: Path) -> None:
    t, x, y, _ = _recording(gap=(60, 70))  # 20 ms of lost samples inside the first fixation
    path = _write(tmp_path / "rec.csv", _rows(t, x, y))
    [sp] = read_planar_gaze(path, SCREEN, minimum_duration=50)
    assert len(sp) == 4 and np.allclose(sp.x[:2], 300.0, atol=1.0)


@needs_pm
def test_trials_and_stimuli_columns_split_the_file(tmp_path: Path) -> None:
    t, x, y, _ = _recording()
    rows = _rows(t, x, y, extra=["1", "a.jpg", "p1"]) + _rows(t + 5000, x, y, extra=["2", "b.jpg", "p1"])
    path = _write(tmp_path / "two.tsv", rows, header=("time", "x", "y", "trial", "image", "participant"),
                  delimiter="\t")
    sps = read_planar_gaze(path, SCREEN, trial_column="trial", stimulus_column="image", subject_column="participant")
    assert [(s.stimulus, s.subject, s.extra["trial"], len(s)) for s in sps] == [("a.jpg", "p1", "1", 3),
                                                                                ("b.jpg", "p1", "2", 3)]


@pytest.mark.parametrize("rows, header, match, line, field", [
    ([["0", "1", "2"], ["2", "oops", "3"]], ("time", "x", "y"), "expected a number", "line 3", "x"),
    ([["0", "1", "2"], ["abc", "1", "3"]], ("time", "x", "y"), "expected a number", "line 3", "time"),
    ([["0", "1", "2"], ["0", "1", "3"]], ("time", "x", "y"), "does not increase", "line 3", "time"),
    ([["0", "1", "2"], ["2", "1"]], ("time", "x", "y"), "fields", "line 3", "y"),
    ([["0", "1", "2"]], ("t", "x", "y"), "no column 'time'", "line 1", "time"),
    ([["nan", "1", "2"]], ("time", "x", "y"), "non-finite", "line 2", "time"),
])
def test_bad_input_names_file_line_and_field(tmp_path: Path, rows, header, match, line, field) -> None:
    path = _write(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(ScanpathDataError, match=match) as ei:
        read_gaze_csv(path)
    assert ei.value.file == str(path) and ei.value.record == line and ei.value.field == field


def test_reader_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScanpathDataError, match="not found"):
        read_gaze_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ScanpathDataError, match="empty file"):
        read_gaze_csv(tmp_path / "empty.csv")
    _write(tmp_path / "header_only.csv", [])
    with pytest.raises(ScanpathDataError, match="no samples"):
        read_gaze_csv(tmp_path / "header_only.csv")
    rows = [["0", "1", "2", "1"], ["2", "1", "2", "2"], ["4", "1", "2", "1"]]
    _write(tmp_path / "unsorted.csv", rows, header=("time", "x", "y", "trial"))
    with pytest.raises(ScanpathDataError, match="appears again") as ei:
        read_gaze_csv(tmp_path / "unsorted.csv", group_columns=["trial"])
    assert ei.value.record == "line 4"
    with pytest.raises(ScanpathDataError, match="time_unit"):
        read_gaze_csv(tmp_path / "unsorted.csv", time_unit="minutes")


def test_missing_values_are_track_loss_and_units_convert(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", [["0.000", "1", "2"], ["0.002", "", "NaN"], ["0.004", ".", "3"]])
    [rec] = read_gaze_csv(path, time_unit="s")
    np.testing.assert_allclose(rec.t_ms, [0.0, 2.0, 4.0])
    assert np.isnan(rec.x[1]) and np.isnan(rec.y[1]) and np.isnan(rec.x[2]) and rec.y[2] == 3.0
    assert rec.sampling_rate_hz() == pytest.approx(500.0)


@pytest.mark.parametrize("kw, field", [({"width_px": 0}, "screen.width_px"), ({"distance_cm": float("nan")},
                                       "screen.distance_cm"), ({"height_px": 10.5}, "screen.height_px"),
                                       ({"origin": "lower left"}, "screen.origin")])
def test_screen_geometry_is_validated(kw, field) -> None:
    args = dict(width_px=1280, height_px=1024, width_cm=38.0, height_cm=30.0, distance_cm=68.0) | kw
    with pytest.raises(ScanpathDataError) as ei:
        ScreenGeometry(**args)
    assert ei.value.field == field


def test_missing_pymovements_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pymovements", None)  # import now fails as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"scanpath\[gaze\]"):
        require_pymovements()
    path = _write(tmp_path / "r.csv", [["0", "1", "2"], ["2", "1", "2"]])
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        read_planar_gaze(path, SCREEN)


@needs_pm
def test_no_fixation_is_an_empty_scanpath_and_pymovements_errors_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "tiny.csv", [["0", "1", "2"], ["2", "1", "2"]])  # 2 ms: no fixation
    [sp] = read_planar_gaze(path, SCREEN)
    assert len(sp) == 0 and sp.extra["detector"] == "pymovements ivt"
    with pytest.raises(ScanpathDataError, match="pymovements ivt failed") as ei:
        read_planar_gaze(path, SCREEN, velocity_method="no-such-method")
    assert ei.value.file == str(path) and ei.value.field == "samples"
