"""Shelf (wine / yogurt) reader (docs/oat.md §3.2, §7 item 14)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from scanpath.errors import ScanpathDataError
from scanpath.io.shelf import COLUMNS, SHELF_GEOMETRY, load_shelf, shelf_crops

Q1_ROWS = [
    # ID, Target, Question, Choice, X, Y, T_Package, Sub_ID
    (7, "T1_4", "Q1_3", 1, 70.0, 300.0, 5, 11),
    (7, "T1_4", "Q1_3", 12, 80.0, 700.0, 5, 11),
    (7, "T1_4", "Q1_3", 5, 690.0, 320.0, 5, 11),
]


def write_csv(path: Path, rows, header=COLUMNS) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_q1_three_row_fixture(tmp_path):
    (t,) = load_shelf(write_csv(tmp_path / "q1.csv", Q1_ROWS))
    assert t.grid == (2, 11)
    assert t.extra["top_offset"] == 152
    assert t.image_size == (1680, 1050)
    assert t.scanpath.tolist() == [0, 11, 4]  # Choice shifted to 0-based
    assert t.target == 4  # T_Package shifted to 0-based
    assert (t.layout_id, t.target_id, t.subject_id, t.trial_id) == ("Q1_3", "T1_4", "11", "7")
    assert t.fix_xy.tolist() == [[70, 300], [80, 700], [690, 320]]
    assert t.boxes.shape == (22, 4)
    assert t.boxes[0].tolist() == [0, 152, 152, 601]
    assert t.boxes[11].tolist() == [0, 601, 152, 1050]  # bottom-aligned: last row ends at 1050
    assert t.boxes[21].tolist() == [1520, 601, 1672, 1050]
    sp = t.to_scanpath()
    assert sp.task == "T1_4" and sp.stimulus == "Q1_3"
    assert sp.fixation_extra["object"].tolist() == [0, 11, 4]


def test_geometry_table():
    tops = {p: g.top for p, g in SHELF_GEOMETRY.items()}
    assert tops == {"Q1": 152, "Q2": 165, "Q3": 135}
    q3 = SHELF_GEOMETRY["Q3"]
    assert q3.grid == (3, 9) and q3.boxes()[26].tolist() == [1488, 745, 1674, 1050]


def test_grouping_by_id_interleaved(tmp_path):
    rows = [
        (1, "T3_12", "Q3_10", 3, 10, 200, 12, "s1"),
        (2, "T3_1", "Q3_2", 27, 1600, 1000, 1, "s2"),
        (1, "T3_12", "Q3_10", 12, 300, 500, 12, "s1"),
        (2, "T3_1", "Q3_2", 1, 5, 140, 1, "s2"),
    ]
    trials = load_shelf(write_csv(tmp_path / "q3.csv", rows))
    assert [t.trial_id for t in trials] == ["1", "2"]
    assert trials[0].scanpath.tolist() == [2, 11] and trials[0].target == 11
    assert trials[1].scanpath.tolist() == [26, 0] and trials[1].grid == (3, 9)
    assert trials[1].extra["top_offset"] == 135
    assert load_shelf(write_csv(tmp_path / "q3b.csv", rows), prefixes=["Q1"]) == []
    assert len(load_shelf([tmp_path / "q3.csv", write_csv(tmp_path / "q1.csv", Q1_ROWS)])) == 3


def test_xlsx_matches_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    df = pd.DataFrame(Q1_ROWS, columns=list(COLUMNS))
    xlsx = tmp_path / "q1.xlsx"
    df.to_excel(xlsx, index=False)
    (a,) = load_shelf(xlsx)
    (b,) = load_shelf(write_csv(tmp_path / "q1.csv", Q1_ROWS))
    assert a.extra.pop("source_file").endswith("q1.xlsx") and b.extra.pop("source_file").endswith("q1.csv")
    assert a.to_scanpath().equals(b.to_scanpath())
    assert (a.grid, a.target, a.trial_id, a.subject_id) == (b.grid, b.target, b.trial_id, b.subject_id)


def test_geometry_override_for_new_prefix(tmp_path):
    rows = [(1, "T4_1", "Q4_1", 6, 10, 10, 2, 1)]
    with pytest.raises(ScanpathDataError) as err:
        load_shelf(write_csv(tmp_path / "q4.csv", rows))
    assert err.value.field == "Question" and err.value.record == "row 1"
    (t,) = load_shelf(tmp_path / "q4.csv", geometry={"Q4": {"product": "cereal", "grid": [2, 3], "cell_hw": [100, 200]}})
    assert t.grid == (2, 3) and t.extra["top_offset"] == 850 and t.scanpath.tolist() == [5]


@pytest.mark.parametrize(
    "edit, field, row",
    [
        (lambda r: r.__setitem__(1, (7, "T1_4", "Q1_3", 23, 80.0, 700.0, 5, 11)), "Choice", "row 2"),
        (lambda r: r.__setitem__(1, (7, "T1_4", "Q1_3", 0, 80.0, 700.0, 5, 11)), "Choice", "row 2"),
        (lambda r: r.__setitem__(1, (7, "T1_4", "Q1_3", 2.5, 80.0, 700.0, 5, 11)), "Choice", "row 2"),
        (lambda r: r.__setitem__(2, (7, "T1_9", "Q1_3", 2, 80.0, 700.0, 5, 11)), "Target", "row 3"),
        (lambda r: r.__setitem__(2, (7, "T1_4", "Q1_3", 2, 80.0, 700.0, 6, 11)), "T_Package", "row 3"),
        (lambda r: r.__setitem__(2, (7, "T1_4", "Q1_3", 2, "left", 700.0, 5, 11)), "X", "row 3"),
        (lambda r: r.__setitem__(0, (7, "T1_4", "Q1_3", 2, 80.0, 700.0, 40, 11)), "T_Package", "row 1"),
        (lambda r: r.__setitem__(0, (7, "T1_4", "", 2, 80.0, 700.0, 5, 11)), "Question", "row 1"),
    ],
)
def test_bad_rows_name_file_row_field(tmp_path, edit, field, row):
    rows = list(Q1_ROWS)
    edit(rows)
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ScanpathDataError) as err:
        load_shelf(path)
    assert (err.value.file, err.value.field, err.value.record) == (str(path), field, row)


def test_bad_files(tmp_path):
    with pytest.raises(ScanpathDataError, match="Choice"):
        load_shelf(write_csv(tmp_path / "cols.csv", [r[:3] + r[4:] for r in Q1_ROWS], [c for c in COLUMNS if c != "Choice"]))
    with pytest.raises(ScanpathDataError, match="not found"):
        load_shelf(tmp_path / "none.csv")
    (tmp_path / "x.txt").write_text("ID\n")
    with pytest.raises(ScanpathDataError, match="unsupported"):
        load_shelf(tmp_path / "x.txt")


def test_crops(tmp_path):
    import cv2

    img = np.full((1050, 1680, 3), 30, dtype=np.uint8)
    img[152:601, 0:152] = (10, 200, 40)  # BGR on disk: cell 0 is green-ish with ...
    img[160:170, 10:20] = (250, 0, 0)  # ... a blue patch
    path = tmp_path / "Q1_3.png"
    cv2.imwrite(str(path), img)
    boxes = SHELF_GEOMETRY["Q1"].boxes()
    crops = shelf_crops(path, boxes)
    assert crops.shape == (22, 3, 150, 93)
    assert crops[0].min() == 0.0 and crops[0].max() == 1.0
    assert crops[0, 2].max() == 1.0  # the blue patch is channel 2 in RGB
    assert np.all(crops[1] == 0.0)  # flat grey cell
