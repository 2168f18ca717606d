"""H* Bench loader: scene folders with one panorama and an ``annotation.json`` (docs/humanoid360.md §3).

Each scene folder holds one panorama (the first sorted ``*.png``, else ``*.jpg``) and an
``annotation.json`` list of items ``{"task": str, "yaw": [lo, hi], "pitch": [lo, hi] (HOS only),
"initial yaw": [4 ints], "level": [4 ints]}``. One episode per (item, start yaw). A missing
``initial yaw`` falls back to 0/90/180/270 and its level becomes the scalar ``level`` or
``"unknown"`` (upstream Q5 crashed there). ``upstream_order=True`` reproduces upstream's episode
order: sorted folders, ``random.seed(42)`` then ``random.shuffle``; episode of seed s = s mod N.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from scanpath.io.episodes import Episode
from scanpath.errors import ScanpathDataError
from scanpath.io.text import read_json

DEFAULT_START_YAWS = (0, 90, 180, 270)


def find_panorama(folder: Path) -> Path:
    """First sorted ``*.png`` of a scene folder, else first ``*.jpg``/``*.jpeg``."""
    for pattern in ("*.png", "*.jpg", "*.jpeg"):
        files = sorted(folder.glob(pattern))
        if files:
            return files[0]
    raise ScanpathDataError("scene folder has no *.png or *.jpg panorama", file=folder)


#: Accepted angle ranges (degrees): yaw windows may be written in [−360, 360] (lo > hi wraps), pitch in [−90, 90].
ANGLE_LIMITS = {"yaw": 360.0, "pitch": 90.0}


def _angle(a: Any) -> float | None:
    """A finite real angle, else None (booleans, strings, NaN, ±inf and 10**400 are rejected)."""
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        return None
    try:
        v = float(a)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


def _pair(item: dict[str, Any], key: str, file: Path, rec: int) -> tuple[float, float]:
    v = item.get(key)
    vals = [_angle(a) for a in v] if isinstance(v, (list, tuple)) else []
    if len(vals) != 2 or any(a is None for a in vals):
        raise ScanpathDataError(f"expected [lo, hi] finite numbers (degrees), got {v!r}", file=file, record=rec,
                                field=key)
    lim = ANGLE_LIMITS[key]
    if any(abs(a) > lim for a in vals):  # type: ignore[arg-type]
        raise ScanpathDataError(f"angles must lie in [-{lim:g}, {lim:g}] degrees, got {v!r}", file=file, record=rec,
                                field=key)
    return float(vals[0]), float(vals[1])  # type: ignore[arg-type]


def parse_items(items: Any, folder: Path, file: Path, task_type: str | None = None) -> list[Episode]:
    """Episodes of one scene's annotation list (validated, never mutated)."""
    if not isinstance(items, list):
        raise ScanpathDataError("annotation.json must hold a list of items", file=file)
    panorama = find_panorama(folder)
    eps = []
    for r, item in enumerate(items):
        if not isinstance(item, dict):
            raise ScanpathDataError("item must be an object", file=file, record=r)
        instr = item.get("task")
        if not isinstance(instr, str) or not instr:
            raise ScanpathDataError("missing or empty instruction", file=file, record=r, field="task")
        ywin = _pair(item, "yaw", file, r)
        pwin = _pair(item, "pitch", file, r) if "pitch" in item else None
        kind = task_type or ("HOS" if pwin is not None else "HPS")
        if kind == "HOS" and pwin is None:
            raise ScanpathDataError("object-search item has no pitch window", file=file, record=r, field="pitch")
        starts = item.get("initial yaw")
        levels = item.get("level", "unknown")
        if starts is None:
            starts = list(DEFAULT_START_YAWS)
            lev: list[Any] = [levels if isinstance(levels, (int, str)) else "unknown"] * len(starts)
        else:
            if not isinstance(starts, list) or not starts or not all(
                isinstance(s, int) and not isinstance(s, bool) and abs(s) <= 360 for s in starts
            ):
                raise ScanpathDataError(f"expected a list of ints, got {starts!r}", file=file, record=r, field="initial yaw")
            if isinstance(levels, list):
                if len(levels) != len(starts):
                    raise ScanpathDataError(
                        f"{len(levels)} levels for {len(starts)} start yaws", file=file, record=r, field="level"
                    )
                lev = list(levels)
            else:
                lev = [levels] * len(starts)
        for s, lv in zip(starts, lev, strict=True):
            eps.append(Episode(folder.name, panorama, instr, kind, ywin, pwin, start_yaw=s, level=lv,
                               extra={"item": r, "annotation": str(file)}))
    return eps


def load_hstar(root: str | Path, task: str | None = None, upstream_order: bool = False) -> list[Episode]:
    """All episodes under ``root`` (any depth): scene folders are those holding ``annotation.json``.

    ``task`` ("HOS"/"HPS") forces the task type; by default an item with a pitch window is HOS.
    """
    root = Path(root)
    if not root.exists():
        raise ScanpathDataError("H* root folder does not exist", file=root)
    files = sorted(root.rglob("annotation.json"), key=lambda p: str(p.parent))
    if not files:
        raise ScanpathDataError("no annotation.json found below this folder", file=root)
    eps: list[Episode] = []
    for f in files:
        items = read_json(f, "annotation.json")
        eps.extend(parse_items(items, f.parent, f, task))
    if upstream_order:
        rnd = random.Random(42)
        rnd.shuffle(eps)
    return eps


def upstream_episode(episodes: list[Episode], seed: int) -> Episode:
    """Upstream's episode choice: index ``seed mod N`` of the (shuffled) list."""
    return episodes[seed % len(episodes)]
