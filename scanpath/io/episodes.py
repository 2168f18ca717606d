"""One H*-style episode: a panorama, an instruction, a target window and a start heading."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

TASKS = ("HOS", "HPS")
LEVEL_NAMES = {0: "easy", 1: "medium", 2: "hard", 3: "extreme"}


@dataclasses.dataclass
class Episode:
    """An episode of H* object search (HOS) or path search (HPS).

    ``panorama`` is a file path or an ``(H, W, 3)`` uint8 RGB array (equirectangular, yaw 0 at the
    centre column). ``yaw_window`` is [lo, hi] in degrees (lo > hi wraps), ``pitch_window`` [lo, hi]
    or None for HPS. ``level`` is the difficulty (0 easy … 3 extreme) or ``"unknown"``.
    """

    scene: str
    panorama: str | Path | np.ndarray | None
    instruction: str
    task: str
    yaw_window: tuple[float, float]
    pitch_window: tuple[float, float] | None
    start_yaw: int = 0
    level: int | str = "unknown"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"episode {self.scene!r}: task must be one of {TASKS}, got {self.task!r}")
        self.yaw_window = (float(self.yaw_window[0]), float(self.yaw_window[1]))
        if self.pitch_window is not None:
            self.pitch_window = (float(self.pitch_window[0]), float(self.pitch_window[1]))
        self.start_yaw = int(self.start_yaw) % 360

    @property
    def task_code(self) -> int:
        return TASKS.index(self.task)

    @property
    def key(self) -> str:
        """Unique id of the episode: scene, instruction and start yaw."""
        return f"{self.scene}|{self.instruction}|{self.start_yaw}"

    def window_arrays(self) -> tuple[float, float, float, float]:
        """(yaw_lo, yaw_hi, pitch_lo, pitch_hi) with HPS pitch as [−90, 90]."""
        plo, phi = self.pitch_window if self.pitch_window is not None else (-90.0, 90.0)
        return self.yaw_window[0], self.yaw_window[1], plo, phi


def load_panorama(panorama: str | Path | np.ndarray) -> np.ndarray:
    """Read an equirectangular panorama as an ``(H, W, 3)`` uint8 RGB array."""
    if isinstance(panorama, np.ndarray):
        if panorama.ndim != 3 or panorama.shape[2] != 3 or panorama.dtype != np.uint8:
            raise ValueError(f"panorama array must be (H, W, 3) uint8, got {panorama.shape} {panorama.dtype}")
        return panorama
    import cv2

    from scanpath.errors import ScanpathDataError

    img = cv2.imread(str(panorama), cv2.IMREAD_COLOR)
    if img is None:
        raise ScanpathDataError("cannot read panorama image", file=panorama)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
