"""COCO-Search18-style interchange JSON: reader, writer and the ``<file>.meta.json`` sidecar.

Format (docs/metrics.md §3): a JSON list of records
``{name, subject, task, condition ∈ {present, absent, freeview}, bbox: [x, y, w, h], X, Y, T (ms),
length, fixOnTarget, correct, split}`` (``RT`` optional; free-viewing records lack task, condition
and bbox). The reader requires ``len(X) == len(Y) == len(T) == length`` and raises
:class:`~scanpath.errors.ScanpathDataError` naming the file, the record index and the key.
``T: null`` (or ``T`` absent on a record the sidecar lists in ``no_duration_records``) means no
durations. Prediction files (``read_coco_json(..., predictions=True)`` / :func:`read_predictions`:
ours, HAT's ``predictions_TP.json``, Gazeformer's, IRL's) need only ``name``, ``X`` and ``Y``:
``subject``, ``T`` and ``length`` are optional there, every other key is kept in ``extra``.

Mapping to :class:`~scanpath.types.Scanpath`: ``name`` → ``stimulus``, ``X``/``Y`` → ``x``/``y``,
``T`` → ``duration``; ``subject``, ``task``, ``condition`` as they are; every other key (``bbox``,
``fixOnTarget``, ``correct``, ``split``, ``RT``, unknown keys) goes to ``extra`` and is written back
unchanged, so ``write → read`` preserves every key. Two framework keys make the round trip lossless:
``fixation_extra`` (per-fixation arrays such as OAT's object index) and ``image_size`` (only when
the records do not share one frame). Records without durations are written without ``T`` (never zeros)
and the sidecar lists them, so reading the pair back gives ``duration=None``. ``frame=(W, H)`` on the
writers rescales coordinates (and the target box) into that frame (HAT/Gazeformer evaluate in 512×320,
IRL in 512×320, older code in 512×384) and records it in the sidecar; ``correct`` on predictions is
computed from the target box (a fixation inside it), absent without a box.

The sidecar ``<file>.meta.json`` holds ``frame`` ([W, H] shared by all records, or null),
``model``, ``checkpoint``, ``sampling``, ``samples_per_image``, ``durations_predicted`` and
``no_duration_records`` (indices written without T), ``source_frames`` (the frames before ``frame=``
rescaled them), plus anything the caller adds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.io.atomic import atomic_write_json, atomic_write_json_records
from scanpath.io.text import read_json
from scanpath.errors import ScanpathDataError
from scanpath.types import INVALID_POLICIES, Scanpath, scanpath_key

#: Frame of the COCO-Search18 / COCO-FreeView fixation files (pixels, W × H).
COCO_FRAME: tuple[int, int] = (1680, 1050)
CONDITIONS = ("present", "absent", "freeview")
REQUIRED_KEYS = ("name", "subject", "X", "Y", "T", "length")
#: What a predictions file must hold (HAT / Gazeformer / IRL write no subject, some no T or length).
PREDICTION_REQUIRED_KEYS = ("name", "X", "Y")
#: Keys mapped onto Scanpath fields (everything else is kept in ``Scanpath.extra``).
_CORE_KEYS = {"name", "subject", "task", "condition", "X", "Y", "T", "length", "fixation_extra", "image_size"}
_FIELD_TO_KEY = {"x": "X", "y": "Y", "duration": "T"}


def sidecar_path(path: str | Path) -> Path:
    """``predictions.json`` → ``predictions.json.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


# ----------------------------------------------------------------------------------------- reading
def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``path`` as a dict, or None when there is none."""
    side = sidecar_path(path)
    if not side.exists():
        return None
    meta = read_json(side, "sidecar")
    if not isinstance(meta, dict):
        raise ScanpathDataError(f"sidecar must be a JSON object, got {type(meta).__name__}", file=side)
    frame = meta.get("frame")
    if frame is not None and not _is_size(frame):
        raise ScanpathDataError(f"frame must be [W, H] with finite numbers ≥ 1, got {frame!r}", file=side,
                                field="frame")
    missing = meta.get("no_duration_records", [])
    if not isinstance(missing, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in missing):
        raise ScanpathDataError("must be a list of record indices", file=side, field="no_duration_records")
    return meta


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_size(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_finite(a) and a >= 1 for a in v)


def _is_finite(v: Any) -> bool:
    """A real number that fits a float64 and is finite (rejects NaN, ±inf, 10**400, booleans)."""
    if not _is_number(v):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _numbers(rec: Mapping[str, Any], key: str, file: Path, index: int) -> list[float]:
    val = rec[key]
    if not isinstance(val, list):
        raise ScanpathDataError(f"must be a list of numbers, got {type(val).__name__}", file=file, record=index, field=key)
    for j, v in enumerate(val):
        if not _is_number(v):
            raise ScanpathDataError(f"entry {j} is {v!r}, not a number", file=file, record=index, field=key)
        if isinstance(v, int) and not _is_finite(v):
            raise ScanpathDataError(f"entry {j} is too large for a float ({str(v)[:12]}…)", file=file,
                                    record=index, field=key)
    return val


def parse_record(
    rec: Any,
    index: int,
    *,
    file: Path,
    image_size: tuple[int, int] | None,
    has_duration: bool = True,
    invalid_policy: str = "error",
    fix_length_mismatch: str | None = None,
    predictions: bool = False,
) -> Scanpath:
    """One interchange record → :class:`Scanpath` (checks described in the module docstring).

    ``predictions``: a model's record — ``subject``, ``T`` and ``length`` may be absent."""
    if not isinstance(rec, dict):
        raise ScanpathDataError(f"record must be a JSON object, got {type(rec).__name__}", file=file, record=index)
    for key in PREDICTION_REQUIRED_KEYS if predictions else REQUIRED_KEYS:
        if key not in rec and not (key == "T" and not has_duration):
            raise ScanpathDataError("required key is missing", file=file, record=index, field=key)
    name = rec["name"]
    if not isinstance(name, str) or not name:
        raise ScanpathDataError(f"must be a non-empty string, got {name!r}", file=file, record=index, field="name")
    subject = rec.get("subject")
    if not (isinstance(subject, str) or (isinstance(subject, int) and not isinstance(subject, bool))
            or (subject is None and predictions)):
        raise ScanpathDataError(f"must be an int or a string, got {subject!r}", file=file, record=index, field="subject")
    xs = _numbers(rec, "X", file, index)
    ys = _numbers(rec, "Y", file, index)
    length = rec.get("length", len(xs) if predictions else None)
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ScanpathDataError(f"must be a non-negative int, got {length!r}", file=file, record=index, field="length")
    if rec.get("T") is None:  # explicit null / absent where allowed: no durations
        has_duration = False
        ts = list(xs[:length]) if len(xs) >= length else list(xs)
    else:
        ts = _numbers(rec, "T", file, index)
    if fix_length_mismatch not in (None, "truncate_T"):
        raise ValueError(f"fix_length_mismatch must be None or 'truncate_T', got {fix_length_mismatch!r}")
    if fix_length_mismatch == "truncate_T" and len(xs) == len(ys) == length < len(ts):
        ts = ts[:length]  # old COCO-Search18 test.json: X/Y cut at the target, T not (docs/metrics.md §6)
    for key, vals in (("X", xs), ("Y", ys)) + ((("T", ts),) if has_duration else ()):
        if len(vals) != length:
            raise ScanpathDataError(
                f"has {len(vals)} values but length is {length} (len(X)={len(xs)}, len(Y)={len(ys)}, len(T)={len(ts)})",
                file=file,
                record=index,
                field=key,
            )
    for key in ("task", "condition"):
        if key in rec and rec[key] is not None and not isinstance(rec[key], str):
            raise ScanpathDataError(f"must be a string, got {rec[key]!r}", file=file, record=index, field=key)
    if rec.get("condition") is not None and rec["condition"] not in CONDITIONS:
        raise ScanpathDataError(
            f"must be one of {CONDITIONS}, got {rec['condition']!r}", file=file, record=index, field="condition"
        )
    if "bbox" in rec and rec["bbox"] is not None:
        bbox = rec["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_finite(v) for v in bbox)) or min(bbox[2:]) < 0:
            raise ScanpathDataError(f"must be [x, y, w, h] finite numbers with w, h ≥ 0, got {bbox!r}",
                                    file=file, record=index, field="bbox")
    size = image_size
    if "image_size" in rec:
        if not _is_size(rec["image_size"]):
            raise ScanpathDataError(
                f"must be [W, H] with finite numbers ≥ 1, got {rec['image_size']!r}", file=file, record=index,
                field="image_size"
            )
        size = (int(rec["image_size"][0]), int(rec["image_size"][1]))
    fx_raw = rec.get("fixation_extra", {})
    if not isinstance(fx_raw, dict):
        raise ScanpathDataError("must be an object of per-fixation lists", file=file, record=index, field="fixation_extra")
    fixation_extra = {}
    for k, v in fx_raw.items():
        if not isinstance(v, list) or len(v) != length:
            n = len(v) if isinstance(v, list) else type(v).__name__
            raise ScanpathDataError(
                f"per-fixation list has {n} entries, expected length={length}", file=file, record=index, field=f"fixation_extra.{k}"
            )
        try:
            arr = np.asarray(v)
        except (OverflowError, ValueError) as e:
            raise ScanpathDataError(f"per-fixation list is ragged or not numeric ({e})", file=file, record=index,
                                    field=f"fixation_extra.{k}") from None
        if arr.dtype == object:
            raise ScanpathDataError("per-fixation list mixes types or lengths", file=file, record=index,
                                    field=f"fixation_extra.{k}")
        fixation_extra[k] = arr
    extra = {k: v for k, v in rec.items() if k not in _CORE_KEYS}
    try:
        sp = _make_scanpath(xs, ys, ts, has_duration, name, subject, rec, size, extra, fixation_extra)
    except ScanpathDataError as e:
        key = _FIELD_TO_KEY.get(e.field or "", e.field)
        raise ScanpathDataError(e.message, file=file, record=index, field=key) from None
    try:
        return sp.validated(invalid_policy, file=str(file), record=index)  # type: ignore[arg-type]
    except ScanpathDataError as e:
        key = _FIELD_TO_KEY.get(e.field or "", e.field)
        raise ScanpathDataError(e.message, file=file, record=index, field=key) from e


def _make_scanpath(xs: list, ys: list, ts: list, has_duration: bool, name: str, subject: Any, rec: dict,
                   size: Any, extra: dict, fixation_extra: dict) -> Scanpath:
    return Scanpath(
        x=np.asarray(xs, dtype=np.float64),
        y=np.asarray(ys, dtype=np.float64),
        duration=np.asarray(ts, dtype=np.float64) if has_duration else None,
        stimulus=name,
        subject=subject,
        task=rec.get("task"),
        condition=rec.get("condition"),
        image_size=size,
        extra=extra,
        fixation_extra=fixation_extra,
    )


def read_coco_json(
    path: str | Path,
    *,
    image_size: tuple[int, int] | None = None,
    invalid_policy: str = "error",
    fix_length_mismatch: str | None = None,
    predictions: bool = False,
) -> list[Scanpath]:
    """Read an interchange JSON file into a list of :class:`Scanpath`.

    ``image_size`` (W, H) is the frame used for the out-of-image check; default: a record's
    ``image_size`` key, else the sidecar's ``frame``, else :data:`COCO_FRAME` (1680×1050).
    ``invalid_policy`` is ``"error" | "clip" | "drop"`` (see :mod:`scanpath.types`);
    ``fix_length_mismatch="truncate_T"`` accepts old files whose T is longer than X/Y;
    ``predictions=True`` reads a model's file (``subject``, ``T``, ``length`` optional).
    """
    path = Path(path)
    if invalid_policy not in INVALID_POLICIES:
        raise ValueError(f"invalid_policy must be one of {INVALID_POLICIES}, got {invalid_policy!r}")
    records = read_json(path, "fixation file")
    if not isinstance(records, list):
        raise ScanpathDataError(f"top level must be a list of records, got {type(records).__name__}", file=path)
    meta = read_sidecar(path) or {}
    frame = image_size or (tuple(int(v) for v in meta["frame"]) if meta.get("frame") else None) or COCO_FRAME
    no_dur = set(meta.get("no_duration_records", []))
    return [
        parse_record(
            rec,
            i,
            file=path,
            image_size=frame,  # type: ignore[arg-type]
            has_duration=i not in no_dur,
            invalid_policy=invalid_policy,
            fix_length_mismatch=fix_length_mismatch,
            predictions=predictions,
        )
        for i, rec in enumerate(records)
    ]


def read_predictions(path: str | Path, *, image_size: tuple[int, int] | None = None,
                     invalid_policy: str = "error") -> list[Scanpath]:
    """A predictions file (ours, HAT's, Gazeformer's, IRL's): :func:`read_coco_json` with ``predictions=True``."""
    return read_coco_json(path, image_size=image_size, invalid_policy=invalid_policy, predictions=True)


# ----------------------------------------------------------------------------------------- writing
def _jsonable(v: Any) -> Any:
    """numpy / torch scalars and arrays → plain JSON values (NaN kept as NaN)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return _jsonable(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def scanpath_to_record(s: Scanpath, *, write_image_size: bool = False) -> dict[str, Any]:
    """One :class:`Scanpath` → interchange record (inverse of :func:`parse_record`)."""
    rec: dict[str, Any] = {"name": s.stimulus}
    if s.subject is not None:
        rec["subject"] = _jsonable(s.subject)
    if s.task is not None:
        rec["task"] = s.task
    if s.condition is not None:
        rec["condition"] = s.condition
    for k, v in s.extra.items():
        if k in _CORE_KEYS:
            raise ScanpathDataError("extra key collides with a core interchange key", record=s.stimulus, field=k)
        rec[k] = _jsonable(v)
    rec["X"] = [float(v) for v in s.x]
    rec["Y"] = [float(v) for v in s.y]
    if s.duration is not None:  # no durations: no T (never zeros)
        rec["T"] = [float(v) for v in s.duration]
    rec["length"] = len(s)
    if s.fixation_extra:
        rec["fixation_extra"] = {k: _jsonable(np.asarray(v)) for k, v in s.fixation_extra.items()}
    if write_image_size and s.image_size is not None:
        rec["image_size"] = [int(s.image_size[0]), int(s.image_size[1])]
    return rec


def in_frame(s: Scanpath, frame: tuple[int, int]) -> Scanpath:
    """``s`` rescaled into ``frame`` (W, H), its target box (``extra['bbox']``) too."""
    if s.image_size is None:
        raise ScanpathDataError("cannot write in another frame without image_size", record=s.stimulus,
                                field="image_size")
    sx, sy = frame[0] / s.image_size[0], frame[1] / s.image_size[1]
    out = s.rescaled((int(frame[0]), int(frame[1])))
    bbox = s.extra.get("bbox")
    if bbox is not None:
        bx, by, bw, bh = (float(v) for v in bbox)
        out = dataclasses.replace(out, extra={**s.extra, "bbox": [bx * sx, by * sy, bw * sx, bh * sy]})
    return out


def parse_frame(frame: Any) -> tuple[int, int] | None:
    """``"512x320"`` / ``[512, 320]`` / None → (W, H) or None."""
    if frame is None:
        return None
    if isinstance(frame, str):
        parts = frame.lower().replace("×", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"frame must be WxH (e.g. 512x320), got {frame!r}")
        frame = parts
    w, h = (int(v) for v in frame)
    if w < 1 or h < 1:
        raise ValueError(f"frame must be positive, got {frame!r}")
    return w, h


def write_coco_json(
    path: str | Path, scanpaths: Sequence[Scanpath], meta: Mapping[str, Any] | None = None,
    *, frame: Any = None,
) -> Path:
    """Write scanpaths as interchange records plus the sidecar, both atomically. Returns ``path``.

    ``frame`` (``(W, H)`` or ``"WxH"``): rescale every scanpath (and its target box) into that frame
    first, as HAT / Gazeformer (512×320) or older IRL code (512×384) read their files."""
    path = Path(path)
    target = parse_frame(frame)
    source_frames = None
    if target is not None:
        source_frames = sorted({tuple(s.image_size) for s in scanpaths if s.image_size is not None})
        scanpaths = [in_frame(s, target) for s in scanpaths]
    sizes = {s.image_size for s in scanpaths}
    frame = next(iter(sizes)) if len(sizes) == 1 else None
    per_record_size = len(sizes) > 1
    records = [scanpath_to_record(s, write_image_size=per_record_size) for s in scanpaths]
    no_dur = [i for i, s in enumerate(scanpaths) if s.duration is None]
    side: dict[str, Any] = {
        "frame": list(frame) if frame is not None else None,
        "model": None,
        "checkpoint": None,
        "sampling": None,
        "samples_per_image": None,
        "durations_predicted": len(no_dur) < len(scanpaths) if scanpaths else False,
        "no_duration_records": no_dur,
        "n_records": len(records),
    }
    if source_frames is not None:
        side["source_frames"] = [list(f) for f in source_frames]
    side.update(_jsonable(dict(meta or {})))
    atomic_write_json_records(path, records)
    atomic_write_json(sidecar_path(path), side)
    return path


def _inside(x: np.ndarray, y: np.ndarray, bbox: Sequence[float]) -> bool:
    bx, by, bw, bh = (float(v) for v in bbox)
    return bool(np.any((x > bx) & (x < bx + bw) & (y > by) & (y < by + bh)))


def prediction_records(
    predictions: Sequence[Scanpath], humans: Sequence[Scanpath] = (), key: str = "stimulus"
) -> list[Scanpath]:
    """Fill the predictions-writer fields (docs/metrics.md §3) on copies of ``predictions``.

    ``subject`` = 1-based sample index per key (kept when the model set an int), ``split`` = "test",
    ``bbox`` copied from the first human record of the same key, ``fixOnTarget`` = any fixation
    strictly inside the box, ``correct`` = ``int(fixOnTarget)`` when there is a box (the model found
    the target; absent without one — never a hard-coded 1); task/condition filled from the human record
    if missing.
    """
    by_key: dict[str, Scanpath] = {}
    for h in humans:
        by_key.setdefault(scanpath_key(h, key), h)
    counters: dict[str, int] = {}
    out = []
    for p in predictions:
        k = scanpath_key(p, key)
        counters[k] = counters.get(k, 0) + 1
        human = by_key.get(k)
        extra = dict(p.extra)
        bbox = human.extra.get("bbox") if human is not None else None
        bbox = bbox if bbox is not None else extra.get("bbox")
        extra.pop("correct", None)
        if bbox is not None:
            extra["bbox"] = [float(v) for v in bbox]
            extra["fixOnTarget"] = _inside(p.x, p.y, bbox)
            extra["correct"] = int(extra["fixOnTarget"])
        extra["split"] = "test"
        subject = p.subject if isinstance(p.subject, int) and not isinstance(p.subject, bool) else counters[k]
        out.append(
            Scanpath(
                x=p.x,
                y=p.y,
                duration=p.duration,
                stimulus=p.stimulus,
                subject=subject,
                task=p.task if p.task is not None else (human.task if human else None),
                condition=p.condition if p.condition is not None else (human.condition if human else None),
                image_size=p.image_size,
                extra=extra,
                fixation_extra=dict(p.fixation_extra),
            )
        )
    return out


def write_predictions(
    path: str | Path,
    predictions: Sequence[Scanpath],
    humans: Sequence[Scanpath] = (),
    *,
    key: str = "stimulus",
    model: str | None = None,
    checkpoint: str | None = None,
    sampling: str | None = None,
    samples_per_image: int | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    frame: Any = None,
) -> Path:
    """Write ``predictions.json`` + sidecar (used for every model's predictions in evaluate.py);
    ``frame`` as in :func:`write_coco_json` (e.g. ``(512, 320)`` for HAT's evaluation)."""
    recs = prediction_records(predictions, humans, key)
    meta = {
        "model": model,
        "checkpoint": checkpoint,
        "sampling": sampling,
        "samples_per_image": samples_per_image,
        **dict(extra_meta or {}),
    }
    return write_coco_json(path, recs, meta, frame=frame)


def is_finite_number(v: Any) -> bool:
    """True for a real, finite number (helper for metric checks)."""
    return _is_number(v) and math.isfinite(v)
