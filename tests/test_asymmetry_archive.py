"""Reader of upstream's asymmetry stimulus archive layout (docs/eccnet.md §3), on a tiny generated folder tree."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from scanpath.errors import ScanpathDataError
from scanpath.models.eccnet.search import SearchParams, baseline_search
from scanpath.stimuli.asymmetry import cell_masks, experiment_of, iter_trials, make_trial
from scanpath.stimuli.upstream_archive import ARCHIVE_FOLDERS, iter_archive_trials, load_trials, read_archive_trial


def write_archive(root, condition, indices):
    """Upstream layout: <exp>/<task>/{stimuli,target,gt}/<i>.jpg (1-based) + <exp>/gt_mask.npy (0/255)."""
    exp, task = ARCHIVE_FOLDERS[condition]
    spec = experiment_of(condition)
    trials = {}
    for sub in ("stimuli", "target", "gt"):
        (root / exp / task / sub).mkdir(parents=True, exist_ok=True)
    for i in indices:
        t = make_trial(condition, i, seed=3)
        trials[i] = t
        q = [cv2.IMWRITE_JPEG_QUALITY, 95]
        cv2.imwrite(str(root / exp / task / "stimuli" / f"{i + 1}.jpg"), t.display, q)
        cv2.imwrite(str(root / exp / task / "target" / f"{i + 1}.jpg"), t.target, q)
        cv2.imwrite(str(root / exp / task / "gt" / f"{i + 1}.jpg"), t.gt_mask.astype(np.uint8) * 255, q)
    np.save(root / exp / "gt_mask.npy", cell_masks(spec).astype(np.uint8) * 255)
    return trials


@pytest.mark.parametrize("condition", ["top_down", "hetero_t20"])
def test_archive_trials_match_the_stimuli_they_were_written_from(tmp_path, condition):
    spec = experiment_of(condition)
    tps = spec.trials_per_size
    blocks = [b * tps for b in range(len(spec.set_sizes))]
    written = write_archive(tmp_path, condition, blocks)
    got = list(iter_archive_trials(tmp_path, condition, max_trials_per_size=1))
    assert [t.index for t in got] == blocks and [t.set_size for t in got] == list(spec.set_sizes)
    for t in got:
        w = written[t.index]
        assert t.display.shape == (spec.display, spec.display) and t.target.shape == w.target.shape
        assert np.abs(t.display.astype(int) - w.display).max() <= 40  # JPEG round trip
        np.testing.assert_array_equal(t.gt_mask, w.gt_mask)
        assert t.target_cell == w.target_cell and sorted(t.cells) == sorted(w.cells)
        assert t.gt_box == w.gt_box
    res = baseline_search(got, SearchParams(num_fix=spec.num_fix, bg=spec.bg), "pixel_match")
    assert all(r.found for r in res)  # the network / baselines run on archive trials as on generated ones


def test_load_trials_generated_or_archive(tmp_path):
    gen = list(load_trials("top_down", seed=1, max_trials_per_size=1))
    ref = list(iter_trials("top_down", seed=1, max_trials_per_size=1))
    assert all(np.array_equal(a.display, b.display) for a, b in zip(gen, ref))
    write_archive(tmp_path, "top_down", [0, 30, 60])
    arch = list(load_trials("top_down", max_trials_per_size=1, stimuli_root=tmp_path, jpeg_quality=95))
    assert [t.seed for t in arch] == [-1, -1, -1]


def test_archive_errors_name_the_file(tmp_path):
    write_archive(tmp_path, "top_down", [0])
    with pytest.raises(ScanpathDataError, match=r"lightning_dir/top_down/stimuli/2\.jpg"):
        read_archive_trial(tmp_path, "top_down", 1)
    np.save(tmp_path / "lightning_dir" / "gt_mask.npy", np.zeros((4, 198, 198), np.uint8))
    with pytest.raises(ScanpathDataError, match="expected 16 cell masks"):
        list(iter_archive_trials(tmp_path, "top_down", max_trials_per_size=1))
    half = np.zeros((16, 198, 198), np.uint8)
    half[:, :99] = 255  # cells on the top half only
    np.save(tmp_path / "lightning_dir" / "gt_mask.npy", half)
    with pytest.raises(ScanpathDataError, match="differ from the 4x4 grid"):
        list(iter_archive_trials(tmp_path, "top_down", max_trials_per_size=1))
