"""SYNTHETIC visual-search arrays and a seeded stochastic observer (docs/oat.md §3.3).

Every record produced here is marked ``synthetic=True``: this is NOT human data. It exists so
that ``python train.py model=oat`` runs offline with no download.

**Layouts.** A 3 × 9 grid of 150 × 93 px cells (image 837 × 450, W × H). An object is a shape (6) ×
colour (6) × texture (4: solid, h-stripes, v-stripes, dots), drawn with OpenCV at 0.6–0.9 of the
cell width with a small centre jitter. Exactly one target; 6 distractors share 2 features with it,
8 share 1, the rest are random non-target types; positions are permuted.

**Observer** (per trial, objects in grid units (row, col)): sim(o) = shared features / 3.
First fixation ~ softmax(2·sim − 0.5·‖pos − centre‖). On the target: detect with p = 0.7; once
detected add one refixation with p = 0.3, then stop. Otherwise refixate with p = 0.15, else move
to o ≠ current by softmax(2·sim(o) − 0.5·‖pos(o) − pos(cur)‖ − 3·Σ_visits exp(−(t − t_v)/4))
(decaying inhibition of return, so revisits happen). Cap 30 fixations. The fixation pixel is the
object centre + N(0, (0.15·cell)²) per axis, clipped to the cell.

**Determinism.** Layout ``i`` (and its observers) draws only from ``np.random.default_rng([seed, i])``,
so a layout is bit-identical for a given seed whatever ``num_layouts`` is; the observers of all
layouts are then simulated together, vectorised over trials, from those pre-drawn numbers.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from scanpath.io.object_trial import CROP_HW, ObjectTrial, grid_boxes

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (235, 205, 40),
    "magenta": (200, 50, 200),
    "cyan": (40, 195, 205),
}
COLOUR_NAMES = tuple(COLOURS)
TEXTURES = ("solid", "hstripes", "vstripes", "dots")
N_VALUES = np.array([len(SHAPES), len(COLOURS), len(TEXTURES)])


@dataclasses.dataclass(frozen=True)
class ArrayConfig:
    """Geometry and composition of a search array."""

    grid: tuple[int, int] = (3, 9)
    cell_hw: tuple[int, int] = (150, 93)
    n_share2: int = 6
    n_share1: int = 8
    scale_range: tuple[float, float] = (0.6, 0.9)
    offset_jitter: float = 0.08  # max centre offset, fraction of the cell size per axis
    background: int = 128
    stripe_period: int = 8

    @property
    def num_objects(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the rendered array."""
        return self.grid[1] * self.cell_hw[1], self.grid[0] * self.cell_hw[0]


@dataclasses.dataclass(frozen=True)
class ObserverConfig:
    """Parameters of the simulated observer (defaults = docs/oat.md §3.3)."""

    sim_gain: float = 2.0
    centre_weight: float = 0.5
    distance_weight: float = 0.5
    ior_weight: float = 3.0
    ior_tau: float = 4.0
    p_detect: float = 0.7
    p_refix_after_detect: float = 0.3
    p_refix: float = 0.15
    max_len: int = 30
    pixel_sd: float = 0.15  # fraction of the cell size


@dataclasses.dataclass
class SearchLayout:
    """One array: per-object features (shape, colour, texture), target index, and drawing jitter."""

    layout_id: str
    features: np.ndarray  # (N, 3) int: shape, colour, texture
    target: int
    scale: np.ndarray  # (N,) fraction of the cell width
    offset: np.ndarray  # (N, 2) centre offset in px (dx, dy)
    config: ArrayConfig

    @property
    def boxes(self) -> np.ndarray:
        cfg = self.config
        return grid_boxes(cfg.grid, (cfg.cell_hw[1], cfg.cell_hw[0]))

    @property
    def centres(self) -> np.ndarray:
        """(N, 2) pixel centres of the drawn objects."""
        b = self.boxes
        return 0.5 * (b[:, :2] + b[:, 2:]) + self.offset

    def type_name(self, i: int) -> str:
        s, c, t = self.features[i]
        return f"{COLOUR_NAMES[c]}_{SHAPES[s]}_{TEXTURES[t]}"

    @property
    def target_id(self) -> str:
        return self.type_name(self.target)


# --------------------------------------------------------------------------------- layout sampling
def _other_value(rng: np.random.Generator, k: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """A value of feature ``k`` (per row) different from ``avoid`` (uniform over the others)."""
    n = N_VALUES[k]
    return (avoid + 1 + (rng.random(len(k)) * (n - 1)).astype(np.int64)) % n


def sample_layout(rng: np.random.Generator, cfg: ArrayConfig, layout_id: str) -> SearchLayout:
    """Draw one layout's object types, target and jitter from ``rng``."""
    n = cfg.num_objects
    n_rest = n - 1 - cfg.n_share2 - cfg.n_share1
    if n_rest < 0:
        raise ValueError(f"grid {cfg.grid} has {n} cells, fewer than 1 + {cfg.n_share2} + {cfg.n_share1} objects")
    tgt = (rng.random(3) * N_VALUES).astype(np.int64)
    feats = np.tile(tgt, (n, 1))
    # share 2: change one feature
    rows = np.arange(1, 1 + cfg.n_share2)
    k = rng.integers(0, 3, size=len(rows))
    feats[rows, k] = _other_value(rng, k, tgt[k])
    # share 1: keep one feature, change the other two
    rows = np.arange(1 + cfg.n_share2, 1 + cfg.n_share2 + cfg.n_share1)
    keep = rng.integers(0, 3, size=len(rows))
    for j in (1, 2):
        kk = (keep + j) % 3
        feats[rows, kk] = _other_value(rng, kk, tgt[kk])
    # the rest: random non-target types
    rows = np.arange(n - n_rest, n)
    if n_rest:
        rest = (rng.random((n_rest, 3)) * N_VALUES).astype(np.int64)
        same = (rest == tgt).all(axis=1)
        while same.any():
            rest[same] = (rng.random((int(same.sum()), 3)) * N_VALUES).astype(np.int64)
            same = (rest == tgt).all(axis=1)
        feats[rows] = rest
    perm = rng.permutation(n)
    placed = np.empty_like(feats)
    placed[perm] = feats  # object j of the list goes to cell perm[j]
    scale = rng.uniform(cfg.scale_range[0], cfg.scale_range[1], size=n)
    # keep the drawn object inside its cell: offset bounded by the jitter and the free margin
    half = 0.5 * scale * cfg.cell_hw[1]
    max_dx = np.minimum(cfg.offset_jitter * cfg.cell_hw[1], 0.5 * cfg.cell_hw[1] - half)
    max_dy = np.minimum(cfg.offset_jitter * cfg.cell_hw[0], 0.5 * cfg.cell_hw[0] - half)
    offset = np.stack([rng.uniform(-1, 1, n) * max_dx, rng.uniform(-1, 1, n) * max_dy], axis=1)
    return SearchLayout(layout_id, placed, int(perm[0]), scale, offset, cfg)


def similarity(layout: SearchLayout) -> np.ndarray:
    """sim(o) = (number of features shared with the target) / 3."""
    return (layout.features == layout.features[layout.target]).sum(axis=1) / 3.0


# --------------------------------------------------------------------------------------- observer
def _sample_rows(logits: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling of one index per row of ``logits`` (−inf allowed) with uniforms ``u``."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    idx = (cdf < u[:, None]).sum(axis=1)
    return np.minimum(idx, logits.shape[1] - 1)


def simulate_observers(
    sim: np.ndarray,
    pos: np.ndarray,
    target: np.ndarray,
    uniforms: np.ndarray,
    obs: ObserverConfig = ObserverConfig(),
    centre: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run B observers in parallel.

    ``sim`` ``[B, N]`` target similarity, ``pos`` ``[N, 2]`` grid (row, col), ``target`` ``[B]``,
    ``uniforms`` ``[B, max_len, 4]`` in [0, 1) (choice, detect, refix-after-detect, refix).
    Returns ``objects`` ``[B, max_len]`` int64 padded with −1 and ``lengths`` ``[B]``.
    """
    b, n = sim.shape
    t_max = obs.max_len
    pos = np.asarray(pos, dtype=np.float64)
    if centre is None:
        centre = 0.5 * (pos.min(axis=0) + pos.max(axis=0))
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)  # [N, N]
    rows = np.arange(b)
    objects = np.full((b, t_max), -1, dtype=np.int64)
    lengths = np.ones(b, dtype=np.int64)
    logits0 = obs.sim_gain * sim - obs.centre_weight * np.linalg.norm(pos - np.asarray(centre), axis=1)[None, :]
    cur = _sample_rows(logits0, uniforms[:, 0, 0])
    objects[:, 0] = cur
    active = np.ones(b, dtype=bool)
    decay = np.exp(-1.0 / obs.ior_tau)
    ior = np.zeros((b, n))
    for t in range(t_max - 1):
        ior = decay * ior
        ior[rows, cur] += decay  # Σ_v exp(−(t + 1 − t_v)/τ) over visits up to time t
        u = uniforms[:, t + 1]
        on_target = cur == target
        detected = active & on_target & (u[:, 1] < obs.p_detect)
        extra = detected & (u[:, 2] < obs.p_refix_after_detect)
        searching = active & ~detected
        refix = searching & (u[:, 3] < obs.p_refix)
        logits = obs.sim_gain * sim - obs.distance_weight * dist[cur] - obs.ior_weight * ior
        logits[rows, cur] = -np.inf
        moved = _sample_rows(logits, u[:, 0])
        nxt = np.where(refix | extra, cur, moved)
        grow = searching | extra
        objects[grow, t + 1] = nxt[grow]
        lengths[grow] += 1
        cur = np.where(grow, nxt, cur)
        active = searching
        if not active.any():
            break
    return objects, lengths


def simulate_observer_reference(
    sim: np.ndarray,
    pos: np.ndarray,
    target: int,
    uniforms: np.ndarray,
    obs: ObserverConfig = ObserverConfig(),
    centre: Sequence[float] | None = None,
) -> list[int]:
    """One observer, written as a plain per-step loop (the readable reference for
    :func:`simulate_observers`; same random numbers ``uniforms`` ``[max_len, 4]`` → same scanpath)."""
    pos = np.asarray(pos, dtype=np.float64)
    if centre is None:
        centre = 0.5 * (pos.min(axis=0) + pos.max(axis=0))

    def draw(logits: np.ndarray, u: float) -> int:
        p = np.exp(logits - logits.max())
        cdf = np.cumsum(p) / p.sum()
        return min(int((cdf < u).sum()), len(logits) - 1)

    first = obs.sim_gain * sim - obs.centre_weight * np.linalg.norm(pos - np.asarray(centre), axis=1)
    path = [draw(first, uniforms[0, 0])]
    while len(path) < obs.max_len:
        t = len(path) - 1  # time of the current fixation
        cur = path[-1]
        u = uniforms[t + 1]
        if cur == target and u[1] < obs.p_detect:
            if u[2] < obs.p_refix_after_detect:
                path.append(cur)
            break
        if u[3] < obs.p_refix:
            path.append(cur)
            continue
        ior = np.zeros(len(sim))
        for tv, o in enumerate(path):
            ior[o] += np.exp(-(t + 1 - tv) / obs.ior_tau)
        logits = obs.sim_gain * sim - obs.distance_weight * np.linalg.norm(pos - pos[cur], axis=1) - obs.ior_weight * ior
        logits[cur] = -np.inf
        path.append(draw(logits, u[0]))
    return path


def fixation_pixels(
    obj_centres: np.ndarray, obj_boxes: np.ndarray, normals: np.ndarray, cell_hw: tuple[int, int], sd: float
) -> np.ndarray:
    """Fixated object's centre + N(0, (sd·cell)²) per axis, clipped inside its cell.

    ``obj_centres`` ``[..., 2]`` and ``obj_boxes`` ``[..., 4]`` of the fixated objects, ``normals``
    ``[..., 2]`` standard normal draws → pixels ``[..., 2]``.
    """
    xy = obj_centres + normals * sd * np.array([cell_hw[1], cell_hw[0]], dtype=np.float64)
    eps = 1e-3  # stay strictly inside so the pixel maps back to the same cell
    x = np.clip(xy[..., 0], obj_boxes[..., 0], obj_boxes[..., 2] - eps)
    y = np.clip(xy[..., 1], obj_boxes[..., 1], obj_boxes[..., 3] - eps)
    return np.stack([x, y], axis=-1)


# --------------------------------------------------------------------------------------- dataset
@dataclasses.dataclass
class SearchArrayData:
    layouts: list[SearchLayout]
    trials: list[ObjectTrial]


def generate_search_arrays(
    num_layouts: int = 1000,
    observers_per_layout: int = 3,
    seed: int = 0,
    array: ArrayConfig = ArrayConfig(),
    observer: ObserverConfig = ObserverConfig(),
) -> SearchArrayData:
    """Generate SYNTHETIC layouts and simulated-observer trials (bit-identical per seed)."""
    n_obs = int(observers_per_layout)
    t_max = observer.max_len
    layouts, unif, normals = [], [], []
    for i in range(int(num_layouts)):
        rng = np.random.default_rng([int(seed), i])
        layouts.append(sample_layout(rng, array, f"search_{seed}_{i:05d}"))
        unif.append(rng.random((n_obs, t_max, 4)))
        normals.append(rng.standard_normal((n_obs, t_max, 2)))
    if not layouts:
        return SearchArrayData([], [])
    r, c = np.divmod(np.arange(array.num_objects), array.grid[1])
    pos = np.stack([r, c], axis=1).astype(np.float64)
    sim = np.repeat(np.stack([similarity(lay) for lay in layouts]), n_obs, axis=0)
    target = np.repeat(np.array([lay.target for lay in layouts]), n_obs)
    objects, lengths = simulate_observers(sim, pos, target, np.concatenate(unif), observer)
    boxes = layouts[0].boxes
    centres = 0.5 * (boxes[:, :2] + boxes[:, 2:])[None] + np.stack([lay.offset for lay in layouts])  # [L, N, 2]
    lay_idx = np.repeat(np.arange(len(layouts)), n_obs)
    obj = np.maximum(objects, 0)  # padding −1 → 0, sliced away below
    xy_all = fixation_pixels(
        centres[lay_idx[:, None], obj], boxes[obj], np.concatenate(normals), array.cell_hw, observer.pixel_sd
    )
    trials = []
    for k in range(len(objects)):
        lay = layouts[k // n_obs]
        j = k % n_obs
        obj = objects[k, : lengths[k]].copy()
        xy = xy_all[k, : lengths[k]]
        trials.append(
            ObjectTrial(
                dataset="synthetic_search_arrays",
                layout_id=lay.layout_id,
                target_id=lay.target_id,
                subject_id=f"sim{j + 1}",
                trial_id=f"{lay.layout_id}#sim{j + 1}",
                grid=array.grid,
                image_size=array.image_size,
                boxes=boxes,
                target=lay.target,
                scanpath=obj,
                fix_xy=xy,
                synthetic=True,
            )
        )
    return SearchArrayData(layouts, trials)


# --------------------------------------------------------------------------------------- drawing
def _unit_polygon(shape: str) -> np.ndarray | None:
    if shape == "square":
        return np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    if shape == "triangle":
        return np.array([[0.0, -0.95], [0.95, 0.8], [-0.95, 0.8]])
    if shape == "diamond":
        return np.array([[0.0, -1.0], [0.9, 0.0], [0.0, 1.0], [-0.9, 0.0]])
    if shape == "cross":
        a = 0.32
        return np.array(
            [[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]]
        )
    if shape == "star":
        ang = -np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    return None  # circle


@functools.lru_cache(maxsize=8)
def _texture_bits(grid: tuple[int, int], cell_hw: tuple[int, int], period: int) -> np.ndarray:
    """``[H, W]`` uint8 bit field: bit k is set where texture k (solid, h-stripes, v-stripes, dots)
    is "on" (cell-relative patterns)."""
    h, w = grid[0] * cell_hw[0], grid[1] * cell_hw[1]
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy % cell_hw[0], xx % cell_hw[1]
    half = period // 2
    dots = ((yy % period - half) ** 2 + (xx % period - half) ** 2) <= (period * 0.3) ** 2
    masks = [np.ones((h, w), dtype=bool), (yy // half) % 2 == 0, (xx // half) % 2 == 0, dots]
    bits = np.zeros((h, w), dtype=np.uint8)
    for k, m in enumerate(masks):
        bits |= m.astype(np.uint8) << k
    bits.setflags(write=False)
    return bits


def render_layout(layout: SearchLayout) -> np.ndarray:
    """Draw the array as an ``(H, W, 3)`` uint8 RGB image (deterministic, no anti-aliasing).

    Shapes are drawn once into a label image; texture and colour are applied by table lookup:
    textured pixels take the object's colour, untextured shape pixels are near-white.
    """
    import cv2

    cfg = layout.config
    cw = cfg.cell_hw[1]
    w, h = cfg.image_size
    n = cfg.num_objects
    if n > 126:
        raise ValueError(f"render_layout supports at most 126 objects, got {n}")
    labels = np.zeros((h, w), dtype=np.uint8)
    centres = layout.centres
    for i in range(n):
        half = 0.5 * layout.scale[i] * cw
        cx, cy = centres[i]
        poly = _unit_polygon(SHAPES[int(layout.features[i, 0])])
        if poly is None:
            cv2.circle(labels, (int(round(cx)), int(round(cy))), int(round(half)), i + 1, thickness=-1, lineType=cv2.LINE_8)
        else:
            pts = np.round(np.array([cx, cy]) + poly * half).astype(np.int32)
            cv2.fillPoly(labels, [pts], i + 1, lineType=cv2.LINE_8)
    bits = _texture_bits(tuple(cfg.grid), tuple(cfg.cell_hw), cfg.stripe_period)
    tex_lut = np.zeros(256, dtype=np.uint8)
    tex_lut[1 : n + 1] = layout.features[:, 2]
    on = (bits >> cv2.LUT(labels, tex_lut)) & 1
    idx = labels * 2 + on  # 2·label + texture bit, < 256
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:2] = cfg.background
    lut[2 : 2 * n + 2 : 2] = 245
    palette = np.array([COLOURS[c] for c in COLOUR_NAMES], dtype=np.uint8)
    lut[3 : 2 * n + 3 : 2] = palette[layout.features[:, 1]]
    return cv2.LUT(cv2.merge([idx, idx, idx]), lut.reshape(256, 1, 3))


def layout_tensors(layout: SearchLayout, with_image: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """``(image [3, H, W] float32 in [0, 1], crops [N, 3, 150, 93] float32 min-max per crop)``.

    With the default geometry the cells are exactly the crop size, so crops are the cells
    themselves; other cell sizes are resized to 150 × 93.
    """
    cfg = layout.config
    img = render_layout(layout)
    ch, cw = cfg.cell_hw
    rows, cols = cfg.grid
    cells = img.reshape(rows, ch, cols, cw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, ch, cw, 3)
    if (ch, cw) != CROP_HW:
        import cv2

        cells = np.stack([cv2.resize(c, (CROP_HW[1], CROP_HW[0]), interpolation=cv2.INTER_LINEAR) for c in cells])
    cells = np.ascontiguousarray(cells.transpose(0, 3, 1, 2))
    lo = cells.min(axis=(1, 2, 3), keepdims=True).astype(np.float32)  # per-crop min / max on uint8
    hi = cells.max(axis=(1, 2, 3), keepdims=True).astype(np.float32)
    scale = np.where(hi > lo, 1.0 / np.maximum(hi - lo, 1.0), 0.0).astype(np.float32)  # flat crop → zeros
    crops = cells.astype(np.float32)
    crops -= lo
    crops *= scale
    if not with_image:
        return None, crops
    image = img.transpose(2, 0, 1).astype(np.float32)
    image *= np.float32(1.0 / 255.0)
    return image, crops
