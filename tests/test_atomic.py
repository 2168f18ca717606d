"""Atomic writers: content appears all at once or not at all."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from scanpath.io.atomic import atomic_open, atomic_save_figure, atomic_write_json, atomic_write_text  # noqa: E402


def test_write_json_and_text(tmp_path):
    atomic_write_json(tmp_path / "sub" / "a.json", {"v": [1, 2.5, float("nan")]})
    assert json.loads((tmp_path / "sub" / "a.json").read_text().replace("NaN", "null")) == {"v": [1, 2.5, None]}
    atomic_write_text(tmp_path / "b.txt", "hello")
    assert (tmp_path / "b.txt").read_text() == "hello"


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_write_keeps_old_file_and_leaves_no_temp(tmp_path, exc):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(type(exc)):
        with atomic_open(target) as fh:
            fh.write("new partial content")
            raise exc
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_interrupted_new_file_is_not_created(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"ok": 1, "bad": object()})  # json.dump fails half-way
    assert list(tmp_path.iterdir()) == []


def test_save_figure(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    atomic_save_figure(fig, tmp_path / "f.png", dpi=50)
    plt.close(fig)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_json_records_one_per_line(tmp_path):
    from scanpath.io.atomic import atomic_write_json_records

    recs = [{"name": "a", "X": [1.0, float("nan")], "n": 1}, {"name": "b", "X": [], "n": None}]
    atomic_write_json_records(tmp_path / "r.json", recs)
    text = (tmp_path / "r.json").read_text()
    assert text.count("\n") == len(recs) + 2  # "[", one line per record, "]"
    back = json.loads(text)
    assert back[1] == recs[1] and back[0]["X"][0] == 1.0 and back[0]["X"][1] != back[0]["X"][1]  # NaN kept
    atomic_write_json_records(tmp_path / "e.json", [])
    assert json.loads((tmp_path / "e.json").read_text()) == []
