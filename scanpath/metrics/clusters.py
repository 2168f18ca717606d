"""Deterministic MeanShift cluster builder and :class:`ClusterLabeler` (docs/metrics.md §2.2).

One entry per key (``{split}-{condition}-{task}-{stem}`` or ``{split}-freeview-{stem}``):

1. pool all human fixations of the key (initial fixation included, no padding);
2. bw0 = ``estimate_bandwidth(quantile=0.3)`` on all samples; fit ``MeanShift(bandwidth=f·bw0)``
   for f in [0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.8];
3. keep the fit maximising (Nb − Nw)/Nc over consecutive human fixation pairs (Nb: different
   labels, Nw: equal labels, Nc: clusters); first f on ties; one cluster when bw0 = 0;
4. sort centres by (x, y), relabel, save plain JSON (centres, bandwidth, factor, strings per
   subject, builder params, input sha256). Prediction label = nearest centre, lowest index on ties.

Files are plain JSON arrays — never pickles. Upstream ``clusters.npy`` pickles can be imported
only with ``trust_pickle=True`` (unpickling runs arbitrary code).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.io.atomic import atomic_write_json
from scanpath.errors import ScanpathDataError
from scanpath.types import Scanpath

FACTORS = (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.8)
QUANTILE = 0.3


def nearest_centre(xy: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre per point (lowest index on ties)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    d = ((xy[:, None, :] - np.asarray(centres, dtype=np.float64)[None]) ** 2).sum(-1)
    return np.argmin(d, axis=1).astype(np.int64)


def _selection_score(labels_per_sp: Sequence[np.ndarray], n_clusters: int) -> float:
    nb = nw = 0
    for lab in labels_per_sp:
        if len(lab) > 1:
            same = lab[1:] == lab[:-1]
            nw += int(same.sum())
            nb += int((~same).sum())
    return (nb - nw) / max(n_clusters, 1)


def _pad_short(s: Scanpath, n: int = 3) -> Scanpath:
    """ScanDiff's cluster input: scanpaths shorter than ``n`` padded with fake fixations (1, 1)."""
    if len(s) >= n:
        return s
    import dataclasses

    k = n - len(s)
    return dataclasses.replace(s, x=np.r_[s.x, np.ones(k)], y=np.r_[s.y, np.ones(k)],
                               duration=None if s.duration is None else np.r_[s.duration, np.ones(k)],
                               fixation_extra={})


def build_key(scanpaths: Sequence[Scanpath], factors: Sequence[float] = FACTORS,
              quantile: float = QUANTILE, pad_short: bool = False) -> dict[str, Any]:
    """Clusters for one key from its human scanpaths (order-independent: subjects are sorted).

    ``pad_short`` (flag ``cluster_pad_short``) reproduces ScanDiff, which pads scanpaths shorter
    than 3 with (1, 1) before fitting."""
    from sklearn.cluster import MeanShift, estimate_bandwidth

    if pad_short:
        scanpaths = [_pad_short(s) for s in scanpaths]
    sps = sorted(scanpaths, key=lambda s: (str(s.subject), s.x.tobytes(), s.y.tobytes()))
    xy = np.concatenate([s.xy for s in sps], axis=0) if sps else np.zeros((0, 2))
    if len(xy) == 0:
        raise ScanpathDataError("no human fixations to cluster", record=sps[0].stimulus if sps else None)
    # sort the pooled samples so the fit does not depend on input order
    xy_sorted = xy[np.lexsort((xy[:, 1], xy[:, 0]))]
    bw0 = float(estimate_bandwidth(xy_sorted, quantile=quantile, n_samples=None)) if len(xy) > 1 else 0.0
    best = None
    if bw0 <= 0:
        centres = xy_sorted.mean(axis=0, keepdims=True)
        best = (float("nan"), None, centres)
    else:
        for f in factors:
            ms = MeanShift(bandwidth=f * bw0).fit(xy_sorted)
            c = ms.cluster_centers_
            c = c[np.lexsort((c[:, 1], c[:, 0]))]
            labs = [nearest_centre(s.xy, c) for s in sps]
            score = _selection_score(labs, len(c))
            if best is None or score > best[0]:
                best = (score, f, c)
    score, factor, centres = best
    return {
        "centres": centres.tolist(),
        "bandwidth": None if factor is None else factor * bw0,
        "bandwidth0": bw0,
        "factor": factor,
        "selection_score": score,
        "strings": {str(s.subject): nearest_centre(s.xy, centres).tolist() for s in sps},
    }


def input_sha256(scanpaths: Sequence[Scanpath]) -> str:
    h = hashlib.sha256()
    for s in sorted(scanpaths, key=lambda s: (s.stimulus, str(s.task), str(s.condition), str(s.subject))):
        h.update(f"{s.stimulus}|{s.task}|{s.condition}|{s.subject}|".encode())
        h.update(np.ascontiguousarray(s.xy).tobytes())
    return h.hexdigest()


def cluster_key(s: Scanpath, split: str = "test") -> str:
    """``{split}-{condition}-{task}-{stem}`` or ``{split}-freeview-{stem}``."""
    stem = Path(str(s.stimulus)).stem
    if s.condition in (None, "", "freeview") or s.task in (None, ""):
        return f"{split}-freeview-{stem}"
    return f"{split}-{s.condition}-{s.task}-{stem}"


def build_clusters(humans: Sequence[Scanpath], split: str = "test", path: str | Path | None = None,
                   factors: Sequence[float] = FACTORS, quantile: float = QUANTILE,
                   cluster_pad_short: bool = False) -> dict[str, Any]:
    """Build clusters for every key of ``humans``; optionally write them atomically as JSON."""
    groups: dict[str, list[Scanpath]] = {}
    for s in humans:
        groups.setdefault(cluster_key(s, split), []).append(s)
    out = {
        "format": "scanpath-clusters-v1",
        "builder": {"algorithm": "sklearn MeanShift", "factors": list(factors), "quantile": quantile,
                    "split": split, "cluster_pad_short": cluster_pad_short},
        "input_sha256": input_sha256(humans),
        "keys": {k: build_key(v, factors, quantile, cluster_pad_short) for k, v in sorted(groups.items())},
    }
    if path is not None:
        atomic_write_json(path, out)
    return out


class ClusterLabeler:
    """Label = nearest centre of the scanpath's key."""

    def __init__(self, clusters: Mapping[str, Any], split: str | None = None) -> None:
        self.keys = clusters["keys"]
        self.split = split or clusters.get("builder", {}).get("split", "test")
        self._c = {k: np.asarray(v["centres"], dtype=np.float64) for k, v in self.keys.items()}

    @classmethod
    def load(cls, path: str | Path) -> ClusterLabeler:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if "keys" not in data:
            raise ScanpathDataError("not a cluster JSON (missing 'keys')", file=path, field="keys")
        return cls(data)

    def __call__(self, s: Scanpath) -> np.ndarray:
        k = cluster_key(s, self.split)
        if k not in self._c:
            raise ScanpathDataError(f"no clusters for key {k!r}", record=s.stimulus, field="stimulus")
        return nearest_centre(s.xy, self._c[k])


def import_upstream_pickle(path: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    """Convert an upstream ``clusters.npy`` (pickled sklearn MeanShift objects) to our JSON dict.

    Refuses unless ``trust_pickle=True``: unpickling executes code from the file.
    """
    if not trust_pickle:
        raise PermissionError(f"{path}: refusing to unpickle; pass trust_pickle=True (--trust-pickle) "
                              "only for files you trust")
    raw = np.load(path, allow_pickle=True).item()
    keys = {}
    for k, v in raw.items():
        model = v["cluster"] if isinstance(v, Mapping) and "cluster" in v else v
        centres = np.asarray(model.cluster_centers_, dtype=np.float64)
        entry = {"centres": centres.tolist(), "bandwidth": getattr(model, "bandwidth", None), "factor": None}
        if isinstance(v, Mapping) and "strings" in v:
            entry["strings"] = {str(s): list(map(int, lab)) for s, lab in v["strings"].items()}
        keys[str(k)] = entry
    return {"format": "scanpath-clusters-v1", "builder": "upstream pickle", "keys": keys}


def load_segmentation_maps(directory: str | Path) -> dict[str, np.ndarray]:
    """``{stem: int map}`` from ``{stem}.npy.gz`` files (gzipped 320×512 integer arrays)."""
    maps = {}
    for p in sorted(Path(directory).glob("*.npy.gz")):
        with gzip.open(p, "rb") as fh:
            arr = np.load(fh, allow_pickle=False)
        maps[p.name[: -len(".npy.gz")]] = arr
    return maps
