"""Scanpaths → metric inputs: label strings, duration-repeated strings, the upstream short-scanpath
padding, OAT object sequences and targets, search target boxes.

The registry scorers (``fn(left, right, li, ri, params)``, one per metric, registered in the math
module that defines the metric) call these once per scanpath, then score every pair in one
batched call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.metrics._packing import Packed, pack
from scanpath.metrics.labelers import make_labeler
from scanpath.types import Scanpath

LABEL_DEFAULTS = {"labeler": "grid", "grid": [5, 5], "sed_integer_cells_compat": False, "cluster_file": None,
                  "segmentation_dir": None}
MIN_FIXATIONS = 3


def labels(scanpaths: Sequence[Scanpath], params: dict[str, Any]) -> list[np.ndarray]:
    """Label string of every scanpath with the labeler the params name (vectorised when it can)."""
    lab = make_labeler(params)
    if hasattr(lab, "label_many"):
        return lab.label_many(list(scanpaths))
    return [lab(s) for s in scanpaths]


def timed(labels: Sequence[np.ndarray], scanpaths: Sequence[Scanpath], bin_ms: float, mode: str,
          default_ms: float | None = None, truncate_ms: bool = False) -> Packed:
    """Each label repeated by its fixation's duration (:func:`scanpath.metrics.sequence.repeat_by_duration`),
    for all scanpaths in one ``np.repeat`` on the packed labels."""
    from scanpath.metrics.sequence import repeat_by_duration

    flat, offs = pack(labels)
    durs = []
    for s in scanpaths:
        dur = s.duration
        if dur is None:
            if default_ms is None:
                raise ScanpathDataError("duration-binned metric needs fixation durations (or default_duration_ms)",
                                        record=f"{s.stimulus}/subject={s.subject}", field="duration")
            dur = np.full(len(s), float(default_ms))
        durs.append(dur)
    if len(durs) != len(offs) - 1 or not np.array_equal(np.fromiter(map(len, durs), np.int64, len(durs)), np.diff(offs)):
        # not one duration per label: the per-scanpath form raises numpy's own error
        return Packed(*pack([repeat_by_duration(lab, d, bin_ms, mode, truncate_ms) for lab, d in zip(labels, durs)]))
    t = np.concatenate(durs).astype(np.float64) if durs else np.zeros(0)
    if truncate_ms:
        t = np.trunc(t)
    q = t / float(bin_ms)
    reps = np.maximum(np.floor(q) if mode == "floor" else np.round(q), 0).astype(np.int64)  # np.round: half-to-even
    ends = np.zeros(len(reps) + 1, dtype=np.int64)
    np.cumsum(reps, out=ends[1:])
    return Packed(np.repeat(flat, reps), ends[offs])


def pad_ones(s: Scanpath) -> Scanpath:
    """A scanpath of < 3 fixations with fake fixations (1, 1) px, duration 1, appended up to 3
    (HAT / IRL / Gazeformer / GazeXplain / ScanDiff; coordinates in the metric frame)."""
    k = MIN_FIXATIONS - len(s)
    if k <= 0:
        return s
    return dataclasses.replace(s, x=np.r_[s.x, np.ones(k)], y=np.r_[s.y, np.ones(k)],
                               duration=None if s.duration is None else np.r_[s.duration, np.ones(k)],
                               fixation_extra={})


def object_seq(s: Scanpath) -> np.ndarray:
    """OAT: the object index of every fixation (``fixation_extra['object']``)."""
    if "object" not in s.fixation_extra:
        raise ScanpathDataError("OAT statistics need fixation_extra['object']",
                                record=f"{s.stimulus}/subject={s.subject}", field="object")
    return np.asarray(s.fixation_extra["object"]).astype(np.int64)


def target_of(s: Scanpath, params=None) -> int:
    """OAT: the target object index (``extra['target_index']``, ``extra['target']`` or ``task``)."""
    for src in (s.extra.get("target_index"), s.extra.get("target"), s.task):
        if src is not None:
            try:
                return int(src)
            except (TypeError, ValueError):
                continue
    raise ScanpathDataError("OAT statistics need the target object index (extra['target_index'] or task)",
                            record=f"{s.stimulus}/subject={s.subject}", field="target_index")


def bbox(s: Scanpath):
    """Search target box ``extra['bbox'] = [x, y, w, h]``."""
    b = s.extra.get("bbox")
    if b is None:
        raise ScanpathDataError("search-efficiency metrics need extra['bbox'] = [x, y, w, h]",
                                record=f"{s.stimulus}/subject={s.subject}", field="bbox")
    return b
