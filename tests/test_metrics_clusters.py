"""Deterministic MeanShift cluster builder (docs/metrics.md §2.2, §7 item 9) and the cluster labeler."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scanpath.metrics import score_scanpaths
from scanpath.metrics.clusters import ClusterLabeler, _selection_score, build_clusters, import_upstream_pickle
from scanpath.types import Scanpath


def _humans(rng, order=None):
    centres = np.array([[100, 80], [400, 90], [250, 250]])
    sps = []
    for subj in range(6):
        idx = rng.integers(0, 3, 8)
        xy = centres[idx] + rng.normal(0, 12, (8, 2))
        sps.append(Scanpath(xy[:, 0], xy[:, 1], stimulus="img1.jpg", subject=subj, task="cup",
                            condition="present", image_size=(512, 320)))
    return sps if order is None else [sps[i] for i in order]


def test_builder_is_deterministic_and_order_free(tmp_path):
    h = _humans(np.random.default_rng(0))
    a = build_clusters(h, path=tmp_path / "c.json")
    c = build_clusters([h[i] for i in (3, 1, 5, 0, 2, 4)])  # repeated run, subjects permuted
    assert a["keys"] == c["keys"]
    key = "test-present-cup-img1"
    assert set(a["keys"]) == {key}
    entry = a["keys"][key]
    cent = np.array(entry["centres"])
    assert np.array_equal(cent[np.lexsort((cent[:, 1], cent[:, 0]))], cent)  # sorted by (x, y)
    assert entry["factor"] in (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.8)
    saved = json.loads((tmp_path / "c.json").read_text())  # plain JSON, no pickle
    assert saved["keys"] == a["keys"] and len(saved["input_sha256"]) == 64
    lab = ClusterLabeler.load(tmp_path / "c.json")
    assert lab(h[0]).tolist() == entry["strings"]["0"]


def test_selection_score_and_ties_pick_smaller_factor(monkeypatch):
    assert _selection_score([np.array([0, 1, 1, 2])], 3) == pytest.approx((2 - 1) / 3)
    import scanpath.metrics.clusters as C

    # every fit gives the same centres -> identical scores -> the first factor must be kept
    class Fake:
        def __init__(self, bandwidth):
            self.bandwidth = bandwidth

        def fit(self, X):
            self.cluster_centers_ = np.array([[100.0, 80.0], [400.0, 90.0]])
            return self

    import sklearn.cluster

    monkeypatch.setattr(sklearn.cluster, "MeanShift", Fake)
    out = C.build_key(_humans(np.random.default_rng(1)))
    assert out["factor"] == 0.2


def test_cluster_labels_drive_fed_and_ss(tmp_path):
    h = _humans(np.random.default_rng(2))
    build_clusters(h, path=tmp_path / "c.json")
    pred = [Scanpath(h[0].x.copy(), h[0].y.copy(), stimulus="img1.jpg", subject=1, task="cup", condition="present",
                     image_size=(512, 320))]
    r = score_scanpaths(pred, h[:1], {"ss_c": {"metric": "ss", "labeler": "cluster", "cluster_file": str(tmp_path / "c.json")},
                                      "fed": {"cluster_file": str(tmp_path / "c.json")}}, key="task")
    assert r["ss_c"]["value"] == 1.0 and r["fed"]["value"] == 0.0


def test_pickle_import_needs_trust(tmp_path):
    with pytest.raises(PermissionError, match="trust_pickle"):
        import_upstream_pickle(tmp_path / "clusters.npy")
