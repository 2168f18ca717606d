"""Score anyone's predictions in one call; round-trip the COCO-Search18 repositories' files
(issue 17 items 1 and 2)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

import scanpath
from scanpath.evaluation import validate_metrics
from scanpath.io.coco import (
    prediction_records,
    read_coco_json,
    read_predictions,
    sidecar_path,
    write_coco_json,
    write_predictions,
)
from scanpath.metrics import score_scanpaths
from scanpath.scoring import load_metrics_preset
from scanpath.types import Scanpath

FRAME = (1680, 1050)


def _humans(n_stim=4, n_subj=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_stim):
        bbox = [float(rng.uniform(100, 1400)), float(rng.uniform(100, 800)), 160.0, 120.0]
        for subj in range(1, n_subj + 1):
            n = int(rng.integers(3, 9))
            out.append(Scanpath(x=rng.uniform(0, FRAME[0], n), y=rng.uniform(0, FRAME[1], n),
                                duration=rng.uniform(80, 400, n), stimulus=f"{i:03d}.jpg", subject=subj,
                                task="cup", condition="present", image_size=FRAME,
                                extra={"bbox": bbox, "split": "test", "correct": 1}))
    return out


def _preds(humans, per=2, seed=1):
    rng = np.random.default_rng(seed)
    boxes = {h.stimulus: h.extra["bbox"] for h in humans}
    out = []
    for s, (bx, by, bw, bh) in sorted(boxes.items()):
        for k in range(per):
            n = int(rng.integers(3, 9))
            x, y = rng.uniform(0, FRAME[0], n), rng.uniform(0, FRAME[1], n)
            if k == 0:  # the first sample finds the target at its 2nd fixation (cut_at_target acts)
                x[1], y[1] = bx + bw / 2, by + bh / 2
            out.append(Scanpath(x=x, y=y, stimulus=s, task="cup", condition="present", image_size=FRAME))
    return out


def _values(res):
    out = {}
    for e, r in res.items():
        out[e] = r["value"]
        for d, v in (r.get("values") or {}).items():
            out[f"{e}.{d}"] = v
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if a[k] is None or (isinstance(a[k], float) and math.isnan(a[k])):
            assert b[k] is None or math.isnan(b[k]), k
        else:
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-9), k


def _hat_file(path, preds):
    """A HAT-style predictions file: 512×320 pixels, no subject, no T, an extra key."""
    recs = []
    for p in preds:
        q = p.rescaled((512, 320))
        recs.append({"name": q.stimulus, "task": q.task, "condition": q.condition,
                     "X": q.x.tolist(), "Y": q.y.tolist(), "length": len(q), "sampling": "greedy"})
    path.write_text(json.dumps(recs))
    return path


def test_hat_predictions_file_reads_without_subject(tmp_path):
    preds = _preds(_humans())
    f = _hat_file(tmp_path / "predictions_TP.json", preds)
    with pytest.raises(scanpath.errors.ScanpathDataError, match="subject"):
        read_coco_json(f)  # a human file needs subjects
    back = read_predictions(f, image_size=(512, 320))
    assert len(back) == len(preds) and all(b.subject is None and b.duration is None for b in back)
    assert back[0].extra["sampling"] == "greedy" and back[0].image_size == (512, 320)


@pytest.mark.parametrize("frame", [(512, 320), (512, 384)])
def test_written_file_scores_like_the_scanpaths_natively(tmp_path, frame):
    humans = _humans()
    preds = _preds(humans)
    hat = load_metrics_preset("hat")
    native = _values(score_scanpaths(prediction_records(preds, humans, "task"), humans, hat, key="task"))
    path = write_predictions(tmp_path / "p.json", preds, humans, key="task", model="m", frame=frame)
    recs = json.loads(path.read_text())
    side = json.loads(sidecar_path(path).read_text())
    assert side["frame"] == list(frame) and side["source_frames"] == [list(FRAME)]
    assert all("T" not in r for r in recs)  # durations not predicted: no T, never zeros
    assert max(max(r["X"]) for r in recs) <= frame[0] and max(max(r["Y"]) for r in recs) <= frame[1]
    assert all(r["correct"] == int(r["fixOnTarget"]) for r in recs)
    assert {r["correct"] for r in recs} == {0, 1}  # computed, not hard-coded
    back = read_predictions(path)
    assert all(b.image_size == frame and b.duration is None for b in back)
    written = _values(score_scanpaths(back, humans, hat, key="task"))
    assert any(math.isfinite(v) for v in written.values() if v is not None)
    _assert_same(native, written)
    # and through the one-call API
    payload = scanpath.score(path, humans, metrics="hat", human_consistency=False)
    validate_metrics(payload)
    _assert_same(native, _values(payload["rows"]["m"]["metrics"]))


def test_correct_absent_without_a_box(tmp_path):
    p = Scanpath(x=[1.0, 2.0], y=[1.0, 2.0], stimulus="a.jpg", image_size=(10, 10))
    recs = json.loads(write_predictions(tmp_path / "p.json", [p]).read_text())
    assert "correct" not in recs[0] and "bbox" not in recs[0]


def test_score_cli_on_a_hat_file(tmp_path):
    humans = _humans()
    preds = _preds(humans)
    write_coco_json(tmp_path / "humans.json", humans)
    f = _hat_file(tmp_path / "predictions_TP.json", preds)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "scanpath", "score", str(f), "--humans", str(tmp_path / "humans.json"),
                           "--metrics", "hat", "--frame", "512x320", "--out", str(out)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads((out / "metrics.json").read_text())
    validate_metrics(payload)
    assert set(payload["rows"]) == {"predictions_TP", "Human"}
    assert payload["settings"]["protocol"] == "score" and payload["settings"]["eval_key"] == "task"
    for name in ("metrics.md", "report.html", "figures/metrics_table.png"):
        assert (out / name).is_file(), name
    native = _values(score_scanpaths(prediction_records(preds, humans, "task"), humans,
                                     load_metrics_preset("hat"), key="task"))
    _assert_same(native, _values(payload["rows"]["predictions_TP"]["metrics"]))
    assert "predictions_TP" in (out / "report.html").read_text()


def test_score_cli_errors_cleanly(tmp_path):
    humans = _humans()
    write_coco_json(tmp_path / "humans.json", humans)
    f = _hat_file(tmp_path / "p.json", _preds(humans))
    proc = subprocess.run([sys.executable, "-m", "scanpath", "score", str(f), "--humans", str(tmp_path / "humans.json"),
                           "--metrics", "no_such_preset", "--out", str(tmp_path / "o")],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "unknown metric preset 'no_such_preset'" in proc.stderr
