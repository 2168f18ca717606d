"""The scanpath data model shared by every loader, model and metric.

* :class:`Scanpath` is one observer's (or one model sample's) sequence of fixations on one stimulus:
  ``x``, ``y`` in pixels of the ORIGINAL stimulus (top-left origin; degrees yaw/pitch for 360°
  stimuli), ``duration`` in milliseconds or ``None`` when the source has no durations.
* :class:`ScanpathBatch` is the padded tensor form: ``data`` ``[B, T, 3]`` float (x, y, duration;
  padding and missing durations are NaN) plus ``lengths`` ``[B]``. ``to_list`` / ``from_list``
  round-trip losslessly (metadata and per-fixation extras such as OAT's object index included).

Validation policy for bad fixations (NaN / infinite coordinates or durations, negative durations,
points outside the image): ``"error"`` (default) raises :class:`~scanpath.errors.ScanpathDataError`
naming file, record and field; ``"clip"`` clamps coordinates into the image (and negative durations
to 0) but still rejects NaN and infinity; ``"drop"`` removes the offending fixations. An empty
scanpath is valid data (metrics define what it scores); it is never silently padded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from scanpath.errors import ScanpathDataError

InvalidPolicy = Literal["error", "clip", "drop"]
INVALID_POLICIES = ("error", "clip", "drop")


def _as_1d_float(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values if values is not None else [], dtype=np.float64)
    except (OverflowError, ValueError, TypeError) as e:  # 10**400, ragged or non-numeric entries
        raise ScanpathDataError(f"expected a 1-D sequence of numbers ({e})", field=name) from None
    if arr.ndim != 1:
        raise ScanpathDataError(f"expected a 1-D sequence, got shape {arr.shape}", field=name)
    return arr


@dataclasses.dataclass
class Scanpath:
    """One scanpath on one stimulus. Coordinates are pixels of the original stimulus."""

    x: np.ndarray
    y: np.ndarray
    duration: np.ndarray | None = None
    stimulus: str = ""
    subject: str | int | None = None
    task: str | None = None
    condition: str | None = None
    image_size: tuple[int, int] | None = None  # (W, H) of the original stimulus
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    fixation_extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = _as_1d_float(self.x, "x")
        self.y = _as_1d_float(self.y, "y")
        if len(self.x) != len(self.y):
            raise ScanpathDataError(
                f"x has {len(self.x)} values but y has {len(self.y)}", record=self.stimulus, field="y"
            )
        if self.duration is not None:
            self.duration = _as_1d_float(self.duration, "duration")
            if len(self.duration) != len(self.x):
                raise ScanpathDataError(
                    f"duration has {len(self.duration)} values but x has {len(self.x)}",
                    record=self.stimulus,
                    field="duration",
                )
        if self.image_size is not None:
            try:
                self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
            except (OverflowError, ValueError, TypeError, IndexError) as e:
                raise ScanpathDataError(f"image_size must be (W, H) integers, got {self.image_size!r} ({e})",
                                        record=self.stimulus, field="image_size") from None
        fx = {}
        for k, v in self.fixation_extra.items():
            try:
                arr = np.asarray(v)
            except (OverflowError, ValueError) as e:  # ragged per-fixation lists
                raise ScanpathDataError(f"per-fixation field is not a regular array ({e})",
                                        record=self.stimulus, field=k) from None
            if arr.shape[:1] != (len(self.x),):
                raise ScanpathDataError(
                    f"per-fixation field has {arr.shape[:1]} values, expected {len(self.x)}",
                    record=self.stimulus,
                    field=k,
                )
            fx[k] = arr
        self.fixation_extra = fx

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.x)

    @property
    def xy(self) -> np.ndarray:
        """Fixations as an ``(L, 2)`` float64 array of (x, y)."""
        return np.stack([self.x, self.y], axis=1) if len(self) else np.zeros((0, 2))

    @property
    def has_duration(self) -> bool:
        return self.duration is not None

    def meta(self) -> dict[str, Any]:
        """Everything except the coordinates (used to rebuild a Scanpath from a batch row)."""
        return {
            "stimulus": self.stimulus,
            "subject": self.subject,
            "task": self.task,
            "condition": self.condition,
            "image_size": self.image_size,
            "extra": dict(self.extra),
        }

    def truncated(self, n: int | None) -> Scanpath:
        """First ``n`` fixations (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return dataclasses.replace(
            self,
            x=self.x[:n],
            y=self.y[:n],
            duration=None if self.duration is None else self.duration[:n],
            fixation_extra={k: v[:n] for k, v in self.fixation_extra.items()},
        )

    def rescaled(self, size: tuple[int, int]) -> Scanpath:
        """Map to another frame of size (W', H'): x' = x·W'/W, y' = y·H'/H."""
        if self.image_size is None:
            raise ScanpathDataError("cannot rescale without image_size", record=self.stimulus, field="image_size")
        sx = size[0] / self.image_size[0]
        sy = size[1] / self.image_size[1]
        return dataclasses.replace(self, x=self.x * sx, y=self.y * sy, image_size=tuple(size))

    def equals(self, other: Scanpath, atol: float = 0.0) -> bool:
        """Exact (or ``atol``) equality of coordinates, durations, metadata and extras."""
        if len(self) != len(other) or self.meta() != other.meta():
            return False
        if not np.allclose(self.xy, other.xy, atol=atol, rtol=0, equal_nan=True):
            return False
        if (self.duration is None) != (other.duration is None):
            return False
        if self.duration is not None and not np.allclose(
            self.duration, other.duration, atol=atol, rtol=0, equal_nan=True
        ):
            return False
        if self.fixation_extra.keys() != other.fixation_extra.keys():
            return False
        return all(np.array_equal(v, other.fixation_extra[k]) for k, v in self.fixation_extra.items())

    # -------------------------------------------------------------- validation
    def validated(
        self,
        policy: InvalidPolicy = "error",
        *,
        file: str | None = None,
        record: Any = None,
    ) -> Scanpath:
        """Check NaN / infinite coordinates, negative durations and out-of-image points.

        ``policy`` decides what happens (module docstring). Returns a (possibly new) Scanpath.
        """
        if policy not in INVALID_POLICIES:
            raise ValueError(f"invalid policy {policy!r}; choose one of {INVALID_POLICIES}")
        rec = record if record is not None else self.stimulus
        keep = np.ones(len(self), dtype=bool)
        x, y = self.x.copy(), self.y.copy()
        dur = None if self.duration is None else self.duration.copy()

        for name, arr in (("x", x), ("y", y)):
            bad = ~np.isfinite(arr)
            if bad.any():
                if policy == "drop":
                    keep &= ~bad
                else:
                    i = int(np.flatnonzero(bad)[0])
                    raise ScanpathDataError(
                        f"fixation {i} has non-finite {name} ({arr[i]})", file=file, record=rec, field=name
                    )
        if dur is not None:
            nonfinite = ~np.isfinite(dur)  # NaN and ±inf: no policy can repair them except drop
            bad = nonfinite | (dur < 0)
            if bad.any():
                i = int(np.flatnonzero(nonfinite if nonfinite.any() else bad)[0])
                if policy == "drop":
                    keep &= ~bad
                elif policy == "clip" and not nonfinite.any():
                    dur = np.where(dur < 0, 0.0, dur)
                else:
                    raise ScanpathDataError(
                        f"fixation {i} has invalid duration {dur[i]} ms", file=file, record=rec, field="duration"
                    )
        if self.image_size is not None:
            w, h = self.image_size
            for name, arr, hi in (("x", x, w), ("y", y, h)):
                with np.errstate(invalid="ignore"):
                    bad = (arr < 0) | (arr > hi)
                bad &= keep
                if bad.any():
                    if policy == "error":
                        i = int(np.flatnonzero(bad)[0])
                        raise ScanpathDataError(
                            f"fixation {i} has {name}={arr[i]:g} outside the image [0, {hi}]",
                            file=file,
                            record=rec,
                            field=name,
                        )
                    if policy == "clip":
                        np.clip(arr, 0, hi, out=arr)
                    else:
                        keep &= ~bad
        if keep.all() and policy != "clip":
            return self
        return dataclasses.replace(
            self,
            x=x[keep],
            y=y[keep],
            duration=None if dur is None else dur[keep],
            fixation_extra={k: v[keep] for k, v in self.fixation_extra.items()},
        )


@dataclasses.dataclass
class ScanpathBatch:
    """Padded batch of scanpaths.

    ``data`` is ``[B, T, 3]`` (x, y, duration ms); padded steps and missing durations are NaN.
    ``lengths`` is ``[B]`` long. ``has_duration`` ``[B]`` bool says which rows carry durations.
    ``meta`` holds each row's non-coordinate fields; ``fixation_extra`` maps a name to a ``[B, T]``
    tensor (padding −1 for integer fields, NaN for float fields), e.g. OAT's ``"object"`` index.
    """

    data: torch.Tensor
    lengths: torch.Tensor
    has_duration: torch.Tensor | None = None
    meta: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fixation_extra: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 3 or self.data.shape[-1] != 3:
            raise ValueError(f"ScanpathBatch.data must be [B, T, 3], got {tuple(self.data.shape)}")
        if self.lengths.shape != (self.data.shape[0],):
            raise ValueError(f"lengths must be [B]={self.data.shape[0]}, got {tuple(self.lengths.shape)}")
        if self.has_duration is None:
            self.has_duration = torch.zeros(self.data.shape[0], dtype=torch.bool, device=self.data.device)

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def xy(self) -> torch.Tensor:
        return self.data[..., :2]

    @property
    def duration(self) -> torch.Tensor:
        return self.data[..., 2]

    @property
    def mask(self) -> torch.Tensor:
        """``[B, T]`` bool, True on real (non-padded) fixations."""
        t = torch.arange(self.data.shape[1], device=self.data.device)
        return t[None, :] < self.lengths[:, None]

    def to(self, device: torch.device | str) -> ScanpathBatch:
        return ScanpathBatch(
            data=self.data.to(device),
            lengths=self.lengths.to(device),
            has_duration=self.has_duration.to(device),
            meta=self.meta,
            fixation_extra={k: v.to(device) for k, v in self.fixation_extra.items()},
        )

    @classmethod
    def from_list(
        cls, scanpaths: Sequence[Scanpath], dtype: torch.dtype = torch.float64, max_len: int | None = None
    ) -> ScanpathBatch:
        """Pad a list of scanpaths. ``max_len`` pads to at least that many steps."""
        b = len(scanpaths)
        t = max([len(s) for s in scanpaths] + [max_len or 0, 0])
        data = torch.full((b, t, 3), float("nan"), dtype=dtype)
        lengths = torch.tensor([len(s) for s in scanpaths], dtype=torch.long)
        has_dur = torch.tensor([s.duration is not None for s in scanpaths], dtype=torch.bool)
        keys: dict[str, np.dtype] = {}
        for s in scanpaths:
            for k, v in s.fixation_extra.items():
                keys.setdefault(k, v.dtype)
        extra: dict[str, torch.Tensor] = {}
        for k, dt in keys.items():
            if np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.bool_):
                extra[k] = torch.full((b, t), -1, dtype=torch.long)
            else:
                extra[k] = torch.full((b, t), float("nan"), dtype=dtype)
        for i, s in enumerate(scanpaths):
            n = len(s)
            if n:
                data[i, :n, 0] = torch.from_numpy(s.x)
                data[i, :n, 1] = torch.from_numpy(s.y)
                if s.duration is not None:
                    data[i, :n, 2] = torch.from_numpy(s.duration)
                for k, v in s.fixation_extra.items():
                    extra[k][i, :n] = torch.as_tensor(v, dtype=extra[k].dtype)
        return cls(data, lengths, has_dur, [s.meta() for s in scanpaths], extra)

    def to_list(self) -> list[Scanpath]:
        """Back to a list of :class:`Scanpath` (lossless for batches built by ``from_list``)."""
        data = self.data.detach().cpu().to(torch.float64).numpy()
        lengths = self.lengths.cpu().tolist()
        has_dur = self.has_duration.cpu().tolist()
        extra = {k: v.detach().cpu().numpy() for k, v in self.fixation_extra.items()}
        out = []
        for i, n in enumerate(lengths):
            meta = dict(self.meta[i]) if i < len(self.meta) else {}
            meta.setdefault("extra", {})
            out.append(
                Scanpath(
                    x=data[i, :n, 0].copy(),
                    y=data[i, :n, 1].copy(),
                    duration=data[i, :n, 2].copy() if has_dur[i] else None,
                    fixation_extra={k: v[i, :n].copy() for k, v in extra.items()},
                    **{k: meta.get(k) for k in ("subject", "task", "condition", "image_size")},
                    stimulus=meta.get("stimulus", ""),
                    extra=dict(meta["extra"]),
                )
            )
        return out


def group_by_stimulus(
    scanpaths: Iterable[Scanpath], key: str | None = None
) -> dict[str, list[Scanpath]]:
    """Group scanpaths by evaluation key: ``stimulus`` (default) or ``stimulus|task|condition``."""
    groups: dict[str, list[Scanpath]] = {}
    for s in scanpaths:
        groups.setdefault(scanpath_key(s, key), []).append(s)
    return groups


def scanpath_key(s: Scanpath, key: str | None = None) -> str:
    """Evaluation key of a scanpath. ``key="task"`` adds task and condition (COCO-Search18 style)."""
    if key in (None, "stimulus"):
        return s.stimulus
    if key == "task":
        return f"{s.condition or ''}-{s.task or ''}-{s.stimulus}"
    raise ValueError(f"unknown key {key!r}; use 'stimulus' or 'task'")


def as_mapping(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(extra) if extra else {}
