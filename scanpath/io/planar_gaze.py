"""Raw planar gaze samples (time, x, y in screen pixels) → fixations, through pymovements
(docs/datasets.md §5).

Reading is ours (:func:`read_gaze_csv`: a CSV/TSV with a header row; errors name the file, the line
and the column); event detection is pymovements' (optional extra: ``pip install 'scanpath[gaze]'``):

1. pixels → degrees of visual angle from the screen geometry (:class:`ScreenGeometry`; pymovements
   ``pix2deg``: ``deg = atan2(px − (W − 1)/2, D·W/W_cm)`` per axis, origin at the screen centre);
2. velocities in °/s (``pos2vel``, default the five-point method, with the sampling rate given or
   estimated as 1000 / median Δt);
3. fixations by I-VT (``velocity_threshold`` °/s, default 20) or I-DT (``dispersion_threshold`` °,
   default 1.0), both with ``minimum_duration`` ms (default 100) — pymovements' defaults, after
   Salvucci & Goldberg (2000). I-DT needs integer time stamps in pymovements: times are rounded to
   whole milliseconds for it.

A fixation's position is the mean pixel position of its samples, its duration pymovements'
``offset − onset`` (time of its last sample minus its first), in ms. Samples with an empty or
non-numeric-but-missing x/y (``""``, ``NaN``, ``.``, ``-``) are track loss: kept as NaN, they end a
fixation. The 360° detector for head-mounted recordings stays ours (scanpath.io.salient360 and
docs/humanoid360.md §2.5): pymovements is planar.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_text
from scanpath.types import INVALID_POLICIES, Scanpath

EXTRA = "gaze"
TIME_UNITS_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
METHODS = ("ivt", "idt")
MISSING = {"", "nan", "NaN", "NAN", ".", "-", "NA", "null", "None"}


def require_pymovements() -> Any:
    """Import pymovements or say which extra installs it."""
    try:
        import pymovements
    except ImportError as e:
        raise ModuleNotFoundError(
            f"detecting fixations in raw planar gaze needs pymovements ({e}); install the optional extra: "
            f"pip install 'scanpath[{EXTRA}]'  (or: pip install pymovements)", name="pymovements") from None
    return pymovements


@dataclasses.dataclass(frozen=True)
class ScreenGeometry:
    """The display the samples were recorded on: resolution (px), physical size (cm) and the
    eye-to-screen distance (cm). ``origin`` is where pixel (0, 0) lies: ``upper left`` (eye trackers'
    screen coordinates) or ``center``."""

    width_px: int
    height_px: int
    width_cm: float
    height_cm: float
    distance_cm: float
    origin: str = "upper left"

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px", "width_cm", "height_cm", "distance_cm"):
            v = getattr(self, name)
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0
            if not ok or (name.endswith("_px") and float(v) != int(v)):
                raise ScanpathDataError(f"must be a positive {'whole' if name.endswith('_px') else 'finite'} "
                                        f"number, got {v!r}", field=f"screen.{name}")
        if self.origin not in ("upper left", "center"):
            raise ScanpathDataError(f"must be 'upper left' or 'center', got {self.origin!r}", field="screen.origin")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class GazeSamples:
    """One recording (or one trial of it): times in ms, pixel x/y (NaN = track loss)."""

    t_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    key: dict[str, str] = dataclasses.field(default_factory=dict)
    file: str = ""
    first_line: int = 0

    def __len__(self) -> int:
        return len(self.t_ms)

    def sampling_rate_hz(self) -> float:
        dt = np.diff(self.t_ms)
        if len(dt) == 0:
            raise ScanpathDataError("needs at least two samples to know the sampling rate", file=self.file or None,
                                    record=self.key or None, field="time")
        return 1000.0 / float(np.median(dt))


def _sniff_dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    head = text[:4096]
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t ")
    except csv.Error:
        if "\t" in head:
            return csv.excel_tab
        return csv.excel


def _number(value: str, *, path: Path, line: int, field: str, missing_ok: bool) -> float:
    v = value.strip()
    if missing_ok and v in MISSING:
        return math.nan
    try:
        out = float(v)
    except ValueError:
        raise ScanpathDataError(f"expected a number, got {value[:40]!r}", file=path, record=f"line {line}",
                                field=field) from None
    if not math.isfinite(out) and not missing_ok:
        raise ScanpathDataError(f"non-finite value {value!r}", file=path, record=f"line {line}", field=field)
    return out if math.isfinite(out) else math.nan


def read_gaze_csv(path: str | Path, *, time_column: str = "time", x_column: str = "x", y_column: str = "y",
                  time_unit: str = "ms", group_columns: Sequence[str] = ()) -> list[GazeSamples]:
    """Samples of a delimited text file with a header row, one :class:`GazeSamples` per run of rows with
    the same ``group_columns`` values (e.g. ``trial``, ``stimulus``, ``subject``), in file order.
    Times must increase strictly within a group; a group that reappears later in the file is an error."""
    path = Path(path)
    if time_unit not in TIME_UNITS_TO_MS:
        raise ScanpathDataError(f"time_unit must be one of {sorted(TIME_UNITS_TO_MS)}, got {time_unit!r}",
                                field="time_unit")
    scale = TIME_UNITS_TO_MS[time_unit]
    text = read_text(path, "gaze sample file")
    reader = csv.reader(io.StringIO(text), _sniff_dialect(text))
    header = next(reader, None)
    if not header:
        raise ScanpathDataError("empty file: expected a header row naming the columns", file=path)
    header = [h.strip() for h in header]
    cols: dict[str, int] = {}
    for role, name in [("time", time_column), ("x", x_column), ("y", y_column)] + [(g, g) for g in group_columns]:
        if name not in header:
            raise ScanpathDataError(f"no column {name!r} ({role}); the header has {header}", file=path,
                                    record="line 1", field=name)
        cols[role] = header.index(name)
    groups: list[GazeSamples] = []
    seen: set[tuple[str, ...]] = set()
    cur_key: tuple[str, ...] | None = None
    rows: list[tuple[float, float, float]] = []
    start = 0

    def close() -> None:
        if cur_key is None:
            return
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        groups.append(GazeSamples(arr[:, 0], arr[:, 1], arr[:, 2], dict(zip(group_columns, cur_key)), str(path), start))

    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ScanpathDataError(f"{len(row)} fields, the header has {len(header)}", file=path,
                                    record=f"line {line_no}", field=header[min(len(row), len(header) - 1)])
        key = tuple(row[cols[g]].strip() for g in group_columns)
        if key != cur_key:
            if key in seen:
                raise ScanpathDataError(f"group {dict(zip(group_columns, key))} appears again after other rows: "
                                        "sort the file by its group columns", file=path, record=f"line {line_no}",
                                        field=",".join(group_columns))
            close()
            seen.add(key)
            cur_key, rows, start = key, [], line_no
        t = _number(row[cols["time"]], path=path, line=line_no, field=time_column, missing_ok=False) * scale
        if rows and not t > rows[-1][0]:
            raise ScanpathDataError(f"time {row[cols['time']].strip()} does not increase (previous sample at "
                                    f"{rows[-1][0] / scale:g} {time_unit})", file=path, record=f"line {line_no}",
                                    field=time_column)
        x = _number(row[cols["x"]], path=path, line=line_no, field=x_column, missing_ok=True)
        y = _number(row[cols["y"]], path=path, line=line_no, field=y_column, missing_ok=True)
        rows.append((t, x, y))
    close()
    if not groups:
        raise ScanpathDataError("no samples after the header row", file=path)
    return groups


@dataclasses.dataclass
class Fixations:
    """Detected fixations: onset (ms), duration (ms), mean pixel and degree position."""

    onset_ms: np.ndarray
    duration_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    x_deg: np.ndarray
    y_deg: np.ndarray
    params: dict[str, Any]


def detect_fixations(samples: GazeSamples, screen: ScreenGeometry, *, method: str = "ivt",
                     velocity_threshold: float = 20.0, dispersion_threshold: float = 1.0,
                     minimum_duration: float = 100.0, sampling_rate_hz: float | None = None,
                     velocity_method: str = "fivepoint") -> Fixations:
    """pymovements I-VT / I-DT on one recording (module docstring for the parameters and units)."""
    if method not in METHODS:
        raise ScanpathDataError(f"method must be one of {METHODS}, got {method!r}", field="method")
    pm = require_pymovements()
    rate = float(sampling_rate_hz) if sampling_rate_hz is not None else samples.sampling_rate_hz()
    where = {"file": samples.file or None, "record": samples.key or f"from line {samples.first_line}"}
    t = samples.t_ms
    if method == "idt":  # pymovements' I-DT requires integer time stamps
        t = np.round(t).astype(np.int64)
    params: dict[str, Any] = {"detector": f"pymovements {method}", "minimum_duration_ms": minimum_duration,
                              "sampling_rate_hz": rate, "pymovements_version": getattr(pm, "__version__", "?")}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*No events were detected.*", category=UserWarning)
            exp = pm.Experiment(screen.width_px, screen.height_px, screen.width_cm, screen.height_cm,
                                screen.distance_cm, origin=screen.origin, sampling_rate=rate)
            gaze = pm.gaze.from_numpy(pixel=np.stack([samples.x, samples.y]), time=t, experiment=exp,
                                      time_unit="ms")
            gaze.pix2deg()
            if method == "ivt":
                gaze.pos2vel(method=velocity_method)
                gaze.detect("ivt", velocity_threshold=velocity_threshold, minimum_duration=minimum_duration)
                params.update(velocity_threshold_deg_s=velocity_threshold, velocity_method=velocity_method)
            else:
                gaze.detect("idt", dispersion_threshold=dispersion_threshold,
                            minimum_duration=int(round(minimum_duration)))
                params.update(dispersion_threshold_deg=dispersion_threshold)
            if gaze.events.frame.height == 0:  # nothing detected: an empty scanpath, not an error
                empty = np.zeros(0)
                return Fixations(empty, empty, empty, empty, empty, empty, params)
            gaze.compute_event_properties([("location", {"method": "mean", "position_column": "pixel"})])
            pixel = gaze.events.frame
            gaze.drop_event_properties("location")
            gaze.compute_event_properties([("location", {"method": "mean", "position_column": "position"})])
            deg = gaze.events.frame
    except Exception as e:  # pymovements' own validation (too few samples, bad values, …)
        raise ScanpathDataError(f"pymovements {method} failed: {type(e).__name__}: {e}", field="samples",
                                **where) from None
    fix = pixel.filter(pixel["name"] == "fixation")
    fix_deg = deg.filter(deg["name"] == "fixation")
    loc = np.asarray(fix["location"].to_list(), dtype=np.float64).reshape(-1, 2)
    loc_deg = np.asarray(fix_deg["location"].to_list(), dtype=np.float64).reshape(-1, 2)
    order = np.argsort(fix["onset"].to_numpy(), kind="stable")
    return Fixations(onset_ms=fix["onset"].to_numpy().astype(np.float64)[order],
                     duration_ms=fix["duration"].to_numpy().astype(np.float64)[order],
                     x=loc[order, 0], y=loc[order, 1], x_deg=loc_deg[order, 0], y_deg=loc_deg[order, 1],
                     params=params)


def read_planar_gaze(path: str | Path, screen: ScreenGeometry, *, method: str = "ivt", time_column: str = "time",
                     x_column: str = "x", y_column: str = "y", time_unit: str = "ms",
                     trial_column: str | None = None, stimulus_column: str | None = None,
                     subject_column: str | None = None, stimulus: str | None = None, subject: str | int | None = None,
                     task: str | None = None, invalid_policy: str = "error", **detector: Any) -> list[Scanpath]:
    """Raw samples of ``path`` → one fixation :class:`~scanpath.types.Scanpath` per trial (or per file).

    x/y are screen pixels, ``image_size`` the screen resolution, ``duration`` ms; ``fixation_extra``
    holds ``onset_ms``, ``x_deg`` and ``y_deg``; ``extra`` the detector, its parameters, the screen
    geometry and the source file. ``stimulus`` defaults to the stimulus column, else the trial value,
    else the file stem. ``detector`` keywords go to :func:`detect_fixations`."""
    if invalid_policy not in INVALID_POLICIES:
        raise ScanpathDataError(f"invalid_policy must be one of {INVALID_POLICIES}, got {invalid_policy!r}",
                                field="invalid_policy")
    path = Path(path)
    group_cols = [c for c in (trial_column, stimulus_column, subject_column) if c is not None]
    out: list[Scanpath] = []
    for rec in read_gaze_csv(path, time_column=time_column, x_column=x_column, y_column=y_column,
                             time_unit=time_unit, group_columns=group_cols):
        fx = detect_fixations(rec, screen, method=method, **detector)
        trial = rec.key.get(trial_column) if trial_column else None
        name = (rec.key.get(stimulus_column) if stimulus_column else None) or stimulus or trial or path.stem
        sp = Scanpath(
            x=fx.x, y=fx.y, duration=fx.duration_ms, stimulus=str(name),
            subject=(rec.key.get(subject_column) if subject_column else None) or subject,
            task=task, image_size=(screen.width_px, screen.height_px),
            extra={"source_file": str(path), "first_line": rec.first_line, "trial": trial, "screen": screen.as_dict(),
                   **fx.params},
            fixation_extra={"onset_ms": fx.onset_ms, "x_deg": fx.x_deg, "y_deg": fx.y_deg},
        )
        record = rec.key or f"from line {rec.first_line}"
        out.append(sp.validated(invalid_policy, file=str(path), record=record))  # type: ignore[arg-type]
    return out
