"""Salient360! readers (after github.com/David-Ef/salient360Toolbox, MIT; docs/humanoid360.md §2.5, §3).

* :func:`load_raw_gaze` reads the raw head + eye CSVs of the toolbox: static-image recordings
  (``OcutimeStamp`` µs, head quaternion ``cameraRotation.{x,y,z,w}``, head-relative
  ``{left,right}EyeDirection.*``, ``valL/valR``) and 360°-video recordings (``oculoTS`` ns, Unity
  Euler ``cam_pitch/cam_yaw/cam_roll`` in degrees, ``{left,right}GazeDir.*``, ``Lval/Rval``).
  Columns are matched by header name lower-cased with only letters kept. Quirk T1: in the video
  CSVs ``binPor.y`` and ``Lval`` are fused (``666.5324True``; 29 fields under 30 headers); the
  fused field is split with a regex. Timestamps are converted to milliseconds by dividing by
  10^(3·⌊log10(mean Δt)/3⌋).
* :func:`load_fixation_list` reads fixation-list files (``test_lat.csv``, ``H(E)scanpath_N.txt``):
  ``Idx, longitude, latitude, start timestamp[, duration]`` with lon/lat in [0, 1] (lat 0 at the
  top); a new scanpath starts where ``Idx`` = 0. Output is yaw/pitch degrees:
  yaw = (lon − 0.5)·360, pitch = (0.5 − lat)·180.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from pathlib import Path

import numpy as np

from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_text
from scanpath.types import Scanpath

FIX_FIELDS = ("Idx", "longitude", "latitude", "start", "duration")
_FUSED = re.compile(r"^(.*?)(True|False)$")


def norm_header(name: str) -> str:
    """Header key: lower-case letters only (``cameraRotation.x`` → ``camerarotationx``)."""
    return re.sub(r"[^a-z]", "", name.lower())


@dataclasses.dataclass
class RawGaze:
    """One raw recording. ``t_ms`` [N]; ``quat`` [N, 4] (w, x, y, z) or ``euler`` [N, 3]
    (pitch, yaw, roll degrees, Unity YXZ); ``eye_l``/``eye_r`` [N, 3] head-relative directions;
    ``val_l``/``val_r`` [N] bool validity flags from the file."""

    path: Path
    t_ms: np.ndarray
    eye_l: np.ndarray
    eye_r: np.ndarray
    val_l: np.ndarray
    val_r: np.ndarray
    quat: np.ndarray | None = None
    euler: np.ndarray | None = None
    n_fused_fixed: int = 0

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def kind(self) -> str:
        return "quaternion" if self.quat is not None else "euler"

    @property
    def rate_hz(self) -> float:
        """Sampling rate from the mean inter-sample interval."""
        return 1000.0 / float(np.mean(np.diff(self.t_ms)))

    @property
    def duration_s(self) -> float:
        return float(self.t_ms[-1] - self.t_ms[0]) / 1000.0


def to_milliseconds(t: np.ndarray, *, file: str | Path | None = None) -> np.ndarray:
    """Divide by 10^(3·⌊log10(mean Δt)/3⌋): µs → ms (Δt ≈ 8e3), ns → ms (Δt ≈ 4e6).

    Timestamps must be finite and strictly increasing (a :class:`ScanpathDataError` names the file and
    the first offending row, counting the header as row 0)."""
    t = np.asarray(t, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(t))
    if len(bad):
        raise ScanpathDataError(f"timestamp is {t[bad[0]]}", file=file, record=int(bad[0]) + 1, field="timestamp")
    step = np.diff(t)
    back = np.flatnonzero(step <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise ScanpathDataError(f"timestamps do not increase ({t[i]:g} after {t[i - 1]:g})", file=file,
                                record=i + 1, field="timestamp")
    dt = float(np.mean(step)) if len(t) > 1 else 1.0
    k = math.floor(math.log10(dt) / 3)
    return (t - t[0]) / (10.0 ** (3 * k)) if k > 0 else t - t[0]


def _float(v: str) -> float:
    v = v.strip()
    if v.lower() in ("true", "false"):
        return float(v.lower() == "true")
    return float(v)  # "NaN" parses


def _pick(cols: dict[str, int], names: list[str], path: Path, what: str) -> list[int]:
    for group in names:
        keys = group.split(",")
        if all(k in cols for k in keys):
            return [cols[k] for k in keys]
    raise ScanpathDataError(f"no {what} columns (looked for {names})", file=path, field=what)


def load_raw_gaze(path: str | Path) -> RawGaze:
    """Read one raw Salient360! head+eye CSV (static quaternion or dynamic Euler format)."""
    path = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(read_text(path, "raw gaze file"), newline="")))
    except csv.Error as e:
        raise ScanpathDataError(f"not a CSV file: {e}", file=path) from None
    if not rows:
        raise ScanpathDataError("empty file", file=path)
    if len(rows) < 2:
        raise ScanpathDataError("no data rows after the header", file=path, record=1)
    header = rows[0]
    cols = {norm_header(h): i for i, h in enumerate(header)}
    n_cols = len(header)
    data = np.full((len(rows) - 1, n_cols), np.nan)
    fused = 0
    for r, row in enumerate(rows[1:], start=1):
        if len(row) == n_cols - 1:  # T1: one numeric field fused with the following boolean
            for j, v in enumerate(row):
                m = _FUSED.match(v)
                if m and m.group(1) and not m.group(1).lower().endswith(("true", "false")):
                    row = row[:j] + [m.group(1), m.group(2)] + row[j + 1 :]
                    fused += 1
                    break
        if len(row) != n_cols:
            raise ScanpathDataError(f"{len(row)} fields for {n_cols} headers", file=path, record=r)
        try:
            data[r - 1] = [_float(v) for v in row]
        except (ValueError, OverflowError) as e:
            raise ScanpathDataError(f"unparseable value ({e})", file=path, record=r) from e
    tcol = _pick(cols, ["ocutimestamp", "oculots", "timestamp", "ts"], path, "timestamp")[0]
    t_ms = to_milliseconds(data[:, tcol], file=path)
    eye_l = data[:, _pick(cols, ["lefteyedirectionx,lefteyedirectiony,lefteyedirectionz",
                                 "leftgazedirx,leftgazediry,leftgazedirz"], path, "left eye direction")]
    eye_r = data[:, _pick(cols, ["righteyedirectionx,righteyedirectiony,righteyedirectionz",
                                 "rightgazedirx,rightgazediry,rightgazedirz"], path, "right eye direction")]
    val_l = data[:, _pick(cols, ["vall", "lval"], path, "left validity")[0]] == 1
    val_r = data[:, _pick(cols, ["valr", "rval"], path, "right validity")[0]] == 1
    quat = euler = None
    if all(k in cols for k in ("camerarotationw", "camerarotationx", "camerarotationy", "camerarotationz")):
        quat = data[:, [cols["camerarotationw"], cols["camerarotationx"], cols["camerarotationy"], cols["camerarotationz"]]]
    else:
        euler = data[:, _pick(cols, ["campitch,camyaw,camroll"], path, "head rotation")]
    return RawGaze(path, t_ms, eye_l, eye_r, val_l, val_r, quat=quat, euler=euler, n_fused_fixed=fused)


def lonlat_to_yawpitch(lon_n: np.ndarray, lat_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (lon, lat) in [0, 1] (lat 0 at the top) → yaw, pitch degrees."""
    return (np.asarray(lon_n) - 0.5) * 360.0, (0.5 - np.asarray(lat_n)) * 180.0


def load_fixation_list(path: str | Path, stimulus: str | None = None) -> list[Scanpath]:
    """Fixation-list file → scanpaths in yaw/pitch degrees (one per ``Idx`` = 0 restart).

    Durations come from a 5th column when present (seconds → ms when all values < 50), else None.
    """
    path = Path(path)
    rows: list[list[float]] = []
    seen_data = False
    for r, line in enumerate(read_text(path, "fixation list").splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = [p for p in re.split(r"[,\s]+", s) if p]
        try:
            vals = [float(p) for p in parts]
        except (ValueError, OverflowError) as e:
            if not seen_data:  # the header line (before any data row) is skipped
                seen_data = True
                continue
            raise ScanpathDataError(f"unparseable value ({e})", file=path, record=r) from None
        seen_data = True
        if len(vals) < 3:
            raise ScanpathDataError("expected Idx, longitude, latitude[, start[, duration]]", file=path, record=r)
        vals = vals[:5]  # further columns (e.g. an end timestamp) are not used
        for j, v in enumerate(vals):
            if not math.isfinite(v):
                raise ScanpathDataError(f"non-finite value {parts[j]!r}", file=path, record=r, field=FIX_FIELDS[j])
        if vals[0] < 0 or not vals[0].is_integer():
            raise ScanpathDataError(f"Idx must be a non-negative integer, got {parts[0]!r}", file=path, record=r,
                                    field="Idx")
        for name, v in (("longitude", vals[1]), ("latitude", vals[2])):
            if not 0.0 <= v <= 1.0:
                raise ScanpathDataError(f"{v} outside [0, 1]", file=path, record=r, field=name)
        if len(vals) == 5 and vals[4] < 0:
            raise ScanpathDataError(f"negative duration {parts[4]!r}", file=path, record=r, field="duration")
        rows.append(vals)
    if not rows:
        raise ScanpathDataError("no fixation rows (Idx, longitude, latitude, …)", file=path)
    groups: list[list[list[float]]] = []
    for v in rows:
        if int(v[0]) == 0 or not groups:
            groups.append([])
        groups[-1].append(v)
    out = []
    stim = stimulus or path.stem
    for k, g in enumerate(groups):
        a = np.array([row + [np.nan] * (5 - len(row)) for row in g])
        yaw, pitch = lonlat_to_yawpitch(a[:, 1], a[:, 2])
        dur = None
        if not np.isnan(a[:, 4]).all():
            dur = a[:, 4] * (1000.0 if np.nanmax(a[:, 4]) < 50 else 1.0)
        out.append(Scanpath(yaw, pitch, dur, stimulus=stim, subject=k + 1,
                            extra={"coords": "yaw_pitch_deg", "start": a[:, 3].tolist()}))
    return out
