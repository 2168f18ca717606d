"""Procedural equirectangular panoramas for the 360° search task (docs/humanoid360.md §2.4).

Seeded 1024×512 scenes: a sky/ground background with texture, 3–6 objects drawn gnomonically
(8–20° across, |pitch| ≤ 40°), each one of 8 colours and one of three shapes (cube, sphere, cone →
square, disc, triangle in the tangent plane). The instruction is "find the {colour} {shape}" for a
unique target; its window is the target's angular bounding box. A path-like cue (a darker ground
strip towards the target) is drawn for path-search (HPS) episodes. The difficulty ``level``
follows the paper's HOS rule from the target's visible fraction d in the start view:
d ≥ 0.5 → 0, 0 < d < 0.5 → 1, d = 0 → 2. Preset ``toy``: one 24° target at (90°, 0°).

Angles: yaw 0 is the centre column, positive yaw turns right, positive pitch looks up (the
renderer's convention); direction(yaw, pitch) = (sin y cos p, −sin p, cos y cos p).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.io.episodes import Episode

COLOURS = {
    "red": (220, 30, 30), "green": (30, 180, 50), "blue": (30, 60, 220), "yellow": (240, 220, 30),
    "purple": (140, 40, 180), "orange": (250, 140, 20), "white": (245, 245, 245), "black": (15, 15, 15),
}
SHAPES = ("cube", "sphere", "cone")
START_YAWS = (0, 90, 180, 270)
HFOV_DEG = 100.0
VFOV_DEG = math.degrees(2 * math.atan(math.tan(math.radians(50)) * 9 / 16))  # 67.673° at 16:9


@dataclasses.dataclass
class SceneObject:
    colour: str
    shape: str
    yaw: float
    pitch: float
    size: float  # angular width in degrees


@dataclasses.dataclass
class Scene:
    """A generated panorama with its objects, the target index and the target's pixel mask."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8
    objects: list[SceneObject]
    target: int
    mask: np.ndarray  # (H, W) bool, target pixels (visible, i.e. not occluded)

    @property
    def instruction(self) -> str:
        o = self.objects[self.target]
        return f"find the {o.colour} {o.shape}"


def pixel_directions(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Yaw, pitch (degrees) of panorama pixel centres, ``(H, W)`` each."""
    yaw = ((np.arange(w) + 0.5) / w * 2 - 1) * 180.0
    pitch = (0.5 - (np.arange(h) + 0.5) / h) * 180.0
    return np.broadcast_to(yaw[None, :], (h, w)), np.broadcast_to(pitch[:, None], (h, w))


def direction(yaw: np.ndarray | float, pitch: np.ndarray | float) -> np.ndarray:
    """Unit vectors ``[..., 3]`` (x right, y down, z forward) of headings in degrees."""
    y, p = np.radians(yaw), np.radians(pitch)
    return np.stack([np.sin(y) * np.cos(p), -np.sin(p), np.cos(y) * np.cos(p)], axis=-1)


def _tangent_coords(vec: np.ndarray, yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gnomonic (u right, v up) coordinates of ``vec`` around heading (yaw, pitch); front flag."""
    c = direction(yaw, pitch)
    right = direction(yaw + 90.0, 0.0)
    up = np.cross(right, c)  # y is down, so right × forward points up
    dz = vec @ c
    front = dz > 1e-6
    dz = np.where(front, dz, 1.0)
    return (vec @ right) / dz, (vec @ up) / dz, front


def _shape_mask(u: np.ndarray, v: np.ndarray, front: np.ndarray, shape: str, size: float) -> np.ndarray:
    t = math.tan(math.radians(size) / 2)
    if shape == "cube":
        m = (np.abs(u) <= t) & (np.abs(v) <= t)
    elif shape == "sphere":
        m = u**2 + v**2 <= t**2
    elif shape == "cone":  # apex up
        m = (v <= t) & (v >= -t) & (np.abs(u) <= (t - v) / 2)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return m & front


def visible_fraction(yaws: np.ndarray, pitches: np.ndarray, start_yaw: float,
                     hfov: float = HFOV_DEG, vfov: float = VFOV_DEG) -> float:
    """Fraction of the given directions inside the start view (yaw ``start_yaw``, pitch 0)."""
    if len(yaws) == 0:
        return 0.0
    v = direction(np.asarray(yaws) - start_yaw, np.asarray(pitches))
    z = v[:, 2]
    ok = (z > 0) & (np.abs(v[:, 0]) <= z * math.tan(math.radians(hfov / 2))) & (
        np.abs(v[:, 1]) <= z * math.tan(math.radians(vfov / 2))
    )
    return float(ok.mean())


def level_from_fraction(d: float) -> int:
    """Paper's HOS difficulty rule: d ≥ 0.5 → 0 (easy), 0 < d < 0.5 → 1 (medium), d = 0 → 2 (hard)."""
    return 0 if d >= 0.5 else (1 if d > 0 else 2)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    _, pitch = pixel_directions(w, h)
    sky = np.array(rng.uniform([90, 140, 190], [150, 190, 240]))
    ground = np.array(rng.uniform([70, 60, 40], [140, 120, 90]))
    t = (pitch > 0)[..., None]
    img = np.where(t, sky * (0.75 + 0.25 * (pitch[..., None] / 90)), ground * (0.8 + 0.2 * (-pitch[..., None] / 90)))
    noise = rng.normal(0, 6, size=(h // 8 + 1, w // 8 + 1, 3))
    noise = np.repeat(np.repeat(noise, 8, 0), 8, 1)[:h, :w]
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def generate_scene(
    seed: int, *, size: tuple[int, int] = (1024, 512), n_objects: tuple[int, int] = (3, 6),
    object_deg: tuple[float, float] = (8.0, 20.0), max_pitch: float = 40.0, preset: str | None = None,
    path_cue: bool = False, objects: list[SceneObject] | None = None, target: int = 0,
) -> Scene:
    """One seeded scene (see module docstring). ``preset="toy"``: one red 24° cube at (90, 0).

    ``objects`` places given objects instead (``target`` is then their target index).
    """
    rng = np.random.default_rng(seed)
    w, h = size
    img = _background(rng, w, h)
    if objects is not None:
        objects = list(objects)
    elif preset == "toy":
        objects = [SceneObject("red", "cube", 90.0, 0.0, 24.0)]
        target = 0
    elif preset is None:
        n = int(rng.integers(n_objects[0], n_objects[1] + 1))
        combos = [(c, s) for c in COLOURS for s in SHAPES]
        picks = rng.choice(len(combos), size=n, replace=False)
        objects = []
        for k in picks:
            c, s = combos[int(k)]
            objects.append(SceneObject(c, s, float(rng.uniform(-180, 180)), float(rng.uniform(-max_pitch, max_pitch)),
                                       float(rng.uniform(*object_deg))))
        target = int(rng.integers(n))
    else:
        raise ValueError(f"unknown panorama preset {preset!r}; use None or 'toy'")
    yaw, pitch = pixel_directions(w, h)
    vec = direction(yaw, pitch)
    if path_cue:
        o = objects[target]
        dy = (yaw - o.yaw + 180) % 360 - 180
        strip = (np.abs(dy) <= 4) & (pitch < -15)
        img[strip] = (img[strip] * 0.45).astype(np.uint8)
    owner = np.full((h, w), -1)
    for i, o in enumerate(objects):
        u, v, front = _tangent_coords(vec, o.yaw, o.pitch)
        m = _shape_mask(u, v, front, o.shape, o.size)
        img[m] = COLOURS[o.colour]
        owner[m] = i
    return Scene(f"proc_{seed:06d}" if preset is None else f"{preset}_{seed:06d}", img, objects, target, owner == target)


def target_window(scene: Scene) -> tuple[tuple[float, float], tuple[float, float]]:
    """Angular bounding box of the target mask: yaw [lo, hi] (lo > hi across the seam), pitch [lo, hi]."""
    h, w = scene.mask.shape
    yaw, pitch = pixel_directions(w, h)
    o = scene.objects[scene.target]
    ys = (yaw[scene.mask] - o.yaw + 180) % 360 - 180
    ps = pitch[scene.mask]
    half = 180.0 / w  # pixel half-width in degrees
    lo = (o.yaw + ys.min() - half) % 360
    hi = (o.yaw + ys.max() + half) % 360
    return (round(float(lo), 3), round(float(hi), 3)), (round(float(ps.min() - half), 3), round(float(ps.max() + half), 3))


def scene_episodes(scene: Scene, task: str = "HOS", start_yaws: tuple[int, ...] = START_YAWS) -> list[Episode]:
    """The four H* episodes of a scene (one per start yaw), with levels from the visible fraction."""
    h, w = scene.mask.shape
    yaw, pitch = pixel_directions(w, h)
    ty, tp = yaw[scene.mask], pitch[scene.mask]
    ywin, pwin = target_window(scene)
    eps = []
    for s in start_yaws:
        d = visible_fraction(ty, tp, s)
        instr = scene.instruction if task == "HOS" else scene.instruction.replace("find", "walk towards")
        eps.append(Episode(scene.name, scene.image, instr, task, ywin, pwin if task == "HOS" else None,
                           start_yaw=s, level=level_from_fraction(d), extra={"visible_fraction": d}))
    return eps


def generate_episodes(n_scenes: int, seed: int = 0, *, preset: str | None = None, task: str = "HOS",
                      size: tuple[int, int] = (1024, 512), **kwargs: Any) -> list[Episode]:
    """Episodes of ``n_scenes`` seeded scenes (scene k uses seed ``seed + k``)."""
    eps: list[Episode] = []
    for k in range(n_scenes):
        sc = generate_scene(seed + k, size=size, preset=preset, path_cue=task == "HPS", **kwargs)
        eps.extend(scene_episodes(sc, task))
    return eps


def write_hstar(scenes: list[Scene], root: str | Path, task: str = "HOS") -> Path:
    """Write scenes in H* Bench layout: ``root/<scene>/panorama.png`` + ``annotation.json``."""
    import cv2

    from scanpath.io.atomic import atomic_open, atomic_write_json

    root = Path(root)
    for sc in scenes:
        d = root / sc.name
        d.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"cannot encode panorama of {sc.name}")
        with atomic_open(d / "panorama.png", "wb") as fh:
            fh.write(buf.tobytes())
        eps = scene_episodes(sc, task)
        item: dict[str, Any] = {"task": eps[0].instruction, "yaw": list(eps[0].yaw_window),
                                "initial yaw": [e.start_yaw for e in eps], "level": [e.level for e in eps]}
        if task == "HOS":
            item["pitch"] = list(eps[0].pitch_window)
        atomic_write_json(d / "annotation.json", [item])
    return root
