"""What a metric needs from the scanpaths it scores, checked before scoring.

A metric declares its needs on its :class:`~scanpath.metrics.registry.MetricSpec` (``needs``: a
tuple, or a function of the merged params returning one); the labeler and frame params add theirs
(:func:`metric_needs`). :func:`unmet_reason` says why a metric cannot apply to a set of predictions
and human scanpaths (``None`` = it can), so the pipeline reports the metric as skipped — value
``null`` with ``skipped_reason`` — instead of failing the whole run after the models predicted.

Needs: ``durations`` (fixation durations on every scanpath), ``bbox`` (``extra["bbox"]`` on every
target-present scanpath), ``objects`` (``fixation_extra["object"]`` and a target index, OAT),
``image_size`` (to rescale to the metric frame), ``clusters`` (a ``cluster_file``),
``segmentation`` (a ``segmentation_dir``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scanpath.types import Scanpath

#: ScanpathDataError fields that mean "the input lacks what this metric needs" (not corrupt data).
NEED_FIELDS = {"duration": "durations", "bbox": "bbox", "object": "objects", "target_index": "objects",
               "image_size": "image_size"}


def metric_needs(spec: Any, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The needs of one configured metric: the spec's own plus those its params imply."""
    own = spec.needs(params) if callable(getattr(spec, "needs", None)) else tuple(getattr(spec, "needs", ()) or ())
    out = list(own)
    labeler = params.get("labeler")
    if labeler == "cluster" and not params.get("cluster_file"):
        out.append("clusters")
    if labeler == "segmentation" and not params.get("segmentation_dir"):
        out.append("segmentation")
    if params.get("frame") is not None:
        out.append("image_size")
    return tuple(dict.fromkeys(out))


def _missing(need: str, sps: Sequence[Scanpath]) -> int:
    """How many scanpaths of ``sps`` lack what ``need`` asks for."""
    if need == "durations":
        return sum(s.duration is None for s in sps)
    if need == "bbox":
        return sum(s.extra.get("bbox") is None for s in sps if s.condition in (None, "present"))
    if need == "objects":
        return sum(not _has_objects(s) for s in sps)
    if need == "image_size":
        return sum(s.image_size is None for s in sps)
    return 0


def _has_objects(s: Scanpath) -> bool:
    has_target = any(s.extra.get(k) is not None for k in ("target_index", "target")) or s.task is not None
    return "object" in s.fixation_extra and has_target


_WHAT = {"durations": "fixation durations", "bbox": "a target box (extra['bbox'])",
         "objects": "per-fixation object indices and a target index", "image_size": "an image size"}


def unmet_reason(spec: Any, params: Mapping[str, Any], sides: Mapping[str, Sequence[Scanpath]]) -> str | None:
    """Why the metric cannot be scored on ``sides`` (``{"predictions": [...], "human scanpaths": [...]}``),
    or None when every need is met."""
    reasons = []
    for need in metric_needs(spec, params):
        if need == "clusters":
            reasons.append("needs clusters (set cluster_file to a JSON written by "
                           "scanpath.metrics.clusters.build_clusters)")
            continue
        if need == "segmentation":
            reasons.append("needs segmentation maps (set segmentation_dir)")
            continue
        for side, sps in sides.items():
            k = _missing(need, sps)
            if k:
                reasons.append(f"needs {_WHAT[need]}; {k} of {len(sps)} {side} have none")
    return "; ".join(reasons) or None


def skipped_entry(spec: Any, params: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The metric entry of a metric that could not apply: value null, the reason, nothing scored."""
    from scanpath.metrics.evaluation import _plain

    out: dict[str, Any] = {"value": None, "params": _plain(dict(params)), "higher_is_better": spec.higher_is_better,
                           "n": 0, "n_nan": 0, "skipped_reason": reason}
    if spec.subdims is not None:
        out["values"] = {d: None for d in spec.subdims}
        out["dim_higher_is_better"] = spec.dim_directions(spec.subdims)
    return out


__all__ = ["metric_needs", "unmet_reason", "skipped_entry", "NEED_FIELDS"]
