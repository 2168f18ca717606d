"""eccNET / IVSN on natural images (docs/eccnet.md §2.6): target search in photographs and object arrays.

The network and the per-step map are those of the asymmetry mode (§2.4); what changes:

* the display is H x W (colour, any aspect), bg 0, m = H + margin (H = display height), crops 2m x 2m;
  at lateral gaze part of a wide display falls outside the crop (e.g. 96 px of 736 x 896), as upstream;
* layers are weighted by the layer mask alone (pattern ``l``), DoG (3, 0) / (5, 1);
* ``ior="square"`` (NaturalDesign, Waldo): a ``ior_size`` square centred on the gaze is removed from the
  allowed map only (the image is not repainted), allowed = display x M, and every step runs
  oracle (start included) -> IOR -> forward pass;
* ``ior="cells"`` (ObjArr): the first object cell containing the gaze is inhibited and repainted with
  bg, allowed = M x union of the cells (``cells`` boxes, or the masks of ``cell_masks_path``, upstream's
  ``gt_mask.npy``, resized to the display with INTER_AREA and thresholded at 125 as upstream), and the order is that of §2.4 (forward -> IOR -> oracle, start
  never checked);
* the allowed map is cut at +-H around the gaze and zero-padded by ``margin`` to the 2m crop, as
  upstream (``allowed_window="eye"``), so a target farther than H from the gaze is not reachable in one
  saccade (on 736 x 896 displays: columns 736-799 px from the gaze); ``allowed_window="crop"`` uses the
  whole +-m crop;
* the oracle looks for a gt pixel in an ``oracle_size`` window centred on the gaze
  (rows [r - size//2, r - size//2 + size), columns alike).

``check_last=False`` reproduces upstream quirk 9 (the last fixation is never checked); the default
checks it. NumFix counts model fixations after the start, so a scanpath has at most NumFix + 1 points.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from scanpath.errors import ScanpathDataError
from scanpath.models.eccnet.feature_cache import TrialFeatures, window_taps
from scanpath.models.eccnet.search import DogParams, GazeCrop, SearchResult, fixation_from_maps, window_hit
from scanpath.models.eccnet.torch_model import EccNet

Box = tuple[int, int, int, int]  # (x, y, w, h) display px


@dataclasses.dataclass(frozen=True)
class NaturalSearchParams:
    """Natural-image search settings; the defaults are the NaturalDesign row of §2.6."""

    num_fix: int = 66
    ior: Literal["square", "cells"] = "square"
    ior_size: int = 64
    oracle_size: int = 64
    cells: tuple[Box, ...] | None = None
    cell_masks_path: str | None = None
    dog: DogParams = ((3, 0.0), (5, 1.0))
    layer_mask: tuple[float, float, float] = (1.0, 1.0, 1.0)
    weight_pattern: Literal["nl", "l"] = "l"
    bg: int = 0
    margin: int = 64
    check_last: bool = True
    allowed_window: Literal["eye", "crop"] = "eye"
    cache_features: bool = True

    def __post_init__(self) -> None:
        if self.ior not in ("square", "cells"):
            raise ValueError(f"natural.ior must be 'square' or 'cells', got {self.ior!r}")
        if self.ior == "cells" and not self.cells and not self.cell_masks_path:
            raise ValueError("natural.ior='cells' needs natural.cells: a list of [x, y, w, h] object cells (display px), "
                             "or natural.cell_masks_path: a cells x H x W .npy of cell masks (upstream gt_mask.npy)")
        if self.cells and self.cell_masks_path:
            raise ValueError("give natural.cells or natural.cell_masks_path, not both")
        if self.cells is not None:
            for i, c in enumerate(self.cells):
                if len(c) != 4 or min(c[2], c[3]) <= 0:
                    raise ValueError(f"natural.cells[{i}] must be [x, y, w, h] with w, h > 0, got {list(c)}")
        if self.num_fix < 1 or self.ior_size < 1 or self.oracle_size < 1 or self.margin < 0:
            raise ValueError("natural.num_fix, ior_size and oracle_size must be >= 1 and margin >= 0")
        if self.allowed_window not in ("eye", "crop"):
            raise ValueError(f"natural.allowed_window must be 'eye' or 'crop', got {self.allowed_window!r}")
        if not 0 <= self.bg <= 255:
            raise ValueError(f"natural.bg must be a uint8 grey level, got {self.bg}")

    @classmethod
    def from_config(cls, cfg: dict | None, **defaults: object) -> NaturalSearchParams:
        """Build from a plain (Hydra) mapping; lists become tuples and ``None`` values keep the default."""
        kw = {k: v for k, v in dict(defaults).items() if v is not None}
        for k, v in (cfg or {}).items():
            if k not in {f.name for f in dataclasses.fields(cls)}:
                raise ValueError(f"unknown natural-image search setting {k!r}")
            if v is not None:
                kw[k] = v
        if "dog" in kw:
            kw["dog"] = tuple((int(k), float(s)) for k, s in kw["dog"])  # type: ignore[union-attr]
        if "cells" in kw:
            kw["cells"] = tuple(tuple(int(v) for v in c) for c in kw["cells"])  # type: ignore[union-attr]
        if "layer_mask" in kw:
            kw["layer_mask"] = tuple(float(v) for v in kw["layer_mask"])  # type: ignore[union-attr]
        return cls(**kw)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8)
def load_cell_masks(path: str) -> np.ndarray:
    """Cell masks ``[cells, h, w]`` uint8 from a ``.npy`` (upstream ``gt_mask.npy``: 0/255 per object cell)."""
    p = Path(path)
    if not p.is_file():
        raise ScanpathDataError("cell-mask file not found (upstream layout: <dataset>/ObjArr/gt_mask.npy)",
                                file=p, field="cell_masks_path")
    try:
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ScanpathDataError(f"cannot read cell masks: {e}", file=p, field="cell_masks_path") from e
    if a.ndim != 3 or a.shape[0] < 1 or not np.issubdtype(a.dtype, np.number):
        raise ScanpathDataError(f"cell masks must be a numeric cells x H x W array, got {a.dtype} {a.shape}", file=p,
                                field="cell_masks_path")
    a.setflags(write=False)
    return a


def display_cell_masks(params: NaturalSearchParams, H: int, W: int) -> np.ndarray | None:
    """Bool cell masks ``[cells, H, W]`` at the display size: the ``cells`` boxes, or the masks of
    ``cell_masks_path`` resized as upstream (INTER_AREA, then > 125). None without cells."""
    if params.cell_masks_path:
        return _resized_masks(str(params.cell_masks_path), H, W)
    if not params.cells:
        return None
    out = np.zeros((len(params.cells), H, W), bool)
    for i, (x, y, w, h) in enumerate(params.cells):
        out[i, max(y, 0):min(y + h, H), max(x, 0):min(x + w, W)] = True
    return out


@functools.lru_cache(maxsize=8)
def _resized_masks(path: str, H: int, W: int) -> np.ndarray:
    import cv2

    src = load_cell_masks(path)
    out = np.stack([cv2.resize(np.ascontiguousarray(m, dtype=np.uint8), (W, H), interpolation=cv2.INTER_AREA) > 125
                    for m in src])
    out.setflags(write=False)
    return out


def first_cell_at(masks: np.ndarray, r: int, c: int) -> int | None:
    """Index of the first cell mask containing display pixel (r, c) (IOR, as upstream), or None."""
    if not (0 <= r < masks.shape[1] and 0 <= c < masks.shape[2]):
        return None
    hit = np.flatnonzero(masks[:, r, c])
    return int(hit[0]) if len(hit) else None


def snap_to_cells(fixations_rc: np.ndarray, masks: np.ndarray, points: np.ndarray) -> np.ndarray:
    """ObjArr output (upstream ``post_process_saccades``): each (row, col) display fixation becomes
    ``points[i + 1]`` for the LAST cell i whose mask contains it, else ``points[0]`` (the centre).
    ``points`` holds 1 + cells positions (x, y) in the output frame."""
    if len(points) != masks.shape[0] + 1:
        raise ValueError(f"snapping to cells needs {masks.shape[0] + 1} points (centre + one per cell), got {len(points)}")
    out = np.empty((len(fixations_rc), 2), np.float64)
    K, H, W = masks.shape
    for k, (r, c) in enumerate(np.asarray(fixations_rc, np.int64)):
        t = 0
        if 0 <= r < H and 0 <= c < W:
            hit = np.flatnonzero(masks[:, r, c])
            t = int(hit[-1]) + 1 if len(hit) else 0
        out[k] = points[t]
    return out


class _NaturalState(GazeCrop):
    """One trial: padded canvas, allowed map (display or cells x IOR mask), gaze in canvas px."""

    def __init__(self, display: np.ndarray, gt: np.ndarray, params: NaturalSearchParams) -> None:
        H, W = display.shape[:2]
        m = H + params.margin
        self.H, self.W, self.m, self.params, self.gt = H, W, m, params, gt
        self.canvas = np.full((H + 2 * m, W + 2 * m, 3), params.bg, np.uint8)
        self.canvas[m:m + H, m:m + W] = display
        self.allowed = np.zeros(self.canvas.shape[:2], np.float32)
        self.cell_masks = display_cell_masks(params, H, W) if params.ior == "cells" else None
        if self.cell_masks is not None:
            self.allowed[m:m + H, m:m + W] = self.cell_masks.any(0)
        else:
            self.allowed[m:m + H, m:m + W] = 1.0
        self.g = np.array([m + H // 2, m + W // 2])
        self.fix = [(H // 2, W // 2)]
        self.found = False
        self.done = False

    def allowed_crop(self, top_left: tuple[int, int] | None = None) -> np.ndarray:
        """The allowed map seen from the gaze, 2m x 2m like the search crop. ``allowed_window="eye"``
        (upstream): cut at +-H around the gaze and zero-padded by ``margin``, so only targets within H
        of the gaze are reachable; ``"crop"``: the full +-m crop. ``top_left``: the crop's corner in
        canvas px instead of g - m (cached features, zeros outside the canvas)."""
        a = self.crop(self.allowed) if top_left is None else crop_at(self.allowed, *top_left, 2 * self.m)
        if self.params.allowed_window == "crop" or self.params.margin == 0:
            return a
        half = self.m - self.params.margin  # = H: the window is [g - H, g + H) around the true gaze
        r0, c0 = (int(v) - half - int(t) for v, t in zip(self.g, top_left or self.g - self.m))
        out = np.zeros_like(a)
        rs, cs = slice(max(r0, 0), max(r0 + 2 * half, 0)), slice(max(c0, 0), max(c0 + 2 * half, 0))
        out[rs, cs] = a[rs, cs]
        return out

    def judge(self, k: int) -> bool:
        """Oracle on fixation k (0 = start); True when the trial stops there."""
        last = k == self.params.num_fix
        if (not last or self.params.check_last) and window_hit(self.gt, *self.fix[-1], self.params.oracle_size):
            self.found = True
            return True
        return last

    def inhibit(self) -> None:
        """IOR at the current gaze: the square (mask only) or the first object cell (mask + repaint)."""
        r, c = self.fix[-1]
        m, p = self.m, self.params
        if p.ior == "square":
            r0, c0 = m + r - p.ior_size // 2, m + c - p.ior_size // 2
            self.allowed[max(r0, 0):r0 + p.ior_size, max(c0, 0):c0 + p.ior_size] = 0.0
            return
        assert self.cell_masks is not None
        cell = first_cell_at(self.cell_masks, r, c)
        if cell is not None:
            inside = self.cell_masks[cell]
            disp_allowed = self.allowed[m:m + self.H, m:m + self.W]
            disp_allowed[inside] = 0.0
            self.canvas[m:m + self.H, m:m + self.W][inside] = p.bg


def crop_at(arr: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    """``arr[top:top+side, left:left+side]`` with zeros where the window leaves ``arr``."""
    out = np.zeros((side, side, *arr.shape[2:]), arr.dtype)
    r0, r1 = max(top, 0), min(top + side, arr.shape[0])
    c0, c1 = max(left, 0), min(left + side, arr.shape[1])
    if r0 < r1 and c0 < c1:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = arr[r0:r1, c0:c1]
    return out


def _step(st: _NaturalState, k: int, params: NaturalSearchParams) -> None:
    """The oracle / IOR bookkeeping before the forward pass of step k (§2.4 vs §2.6 order)."""
    if params.ior == "cells" and k > 0:  # §2.4 order: fixate -> IOR -> oracle
        st.inhibit()
        st.done = st.judge(k)
    elif params.ior == "square":  # §2.6: oracle (start included) -> IOR -> forward
        st.done = st.judge(k)
        if not st.done:
            st.inhibit()


def _fixate(st: _NaturalState, maps: np.ndarray, top_left: tuple[int, int] | None, params: NaturalSearchParams) -> None:
    """§2.4 steps 3-6 on one trial's maps; the crop's corner is g - m unless ``top_left`` (canvas px)."""
    r, c = fixation_from_maps(maps, st.allowed_crop(top_left), params.layer_mask, params.weight_pattern, params.dog)
    corner = st.g - st.m if top_left is None else np.asarray(top_left)
    st.g = np.clip(corner + np.array([r, c]), st.m, [st.m + st.H, st.m + st.W])
    st.fix.append((int(st.g[0] - st.m), int(st.g[1] - st.m)))


@torch.inference_mode()
def natural_search(
    net: EccNet,
    displays: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    gt_masks: Sequence[np.ndarray],
    params: NaturalSearchParams,
    batch_size: int = 4,
    on_crop: Callable[[int, int, np.ndarray], None] | None = None,
    on_trial_done: Callable[[int], None] | None = None,
    skip_background: bool = True,
) -> list[SearchResult]:
    """Search every display (uint8 ``[H, W, 3]``) for its target (uint8 ``[h, w, 3]``); ``gt_masks`` are
    bool ``[H, W]`` in display pixels. Trials with equal display and target shapes share forward passes
    (``batch_size`` at a time); target features are computed once per trial.

    Returns one :class:`SearchResult` per trial; fixations are (row, col) display px, index 0 the start.
    ``on_crop(trial_index, step, crop)`` sees every gaze-centred crop before its forward pass.
    ``skip_background``: see :func:`scanpath.models.eccnet.search.eccnet_search`.
    """
    if not len(displays) == len(targets) == len(gt_masks):
        raise ValueError(f"got {len(displays)} displays, {len(targets)} targets and {len(gt_masks)} gt masks")
    for i, (d, t, g) in enumerate(zip(displays, targets, gt_masks)):
        if d.ndim != 3 or d.shape[2] != 3 or d.dtype != np.uint8:
            raise ValueError(f"display {i}: expected uint8 [H, W, 3], got {d.dtype} {d.shape}")
        if t.ndim != 3 or t.shape[2] != 3 or t.dtype != np.uint8:
            raise ValueError(f"target {i}: expected uint8 [h, w, 3], got {t.dtype} {t.shape}")
        if g.shape != d.shape[:2]:
            raise ValueError(f"gt mask {i}: shape {g.shape} differs from its display {d.shape[:2]}")
    groups: dict[tuple, list[int]] = {}
    for i, (d, t) in enumerate(zip(displays, targets)):
        groups.setdefault((d.shape, t.shape), []).append(i)
    results: list[SearchResult | None] = [None] * len(displays)
    cached = params.cache_features and params.ior == "square" and on_crop is None
    for members in groups.values():
        for b0 in range(0, len(members), max(int(batch_size), 1)):
            ids = members[b0:b0 + batch_size]
            states = [_NaturalState(displays[i], np.asarray(gt_masks[i], bool), params) for i in ids]
            tgt = net.target_taps(net.preprocess(np.stack([targets[i] for i in ids])))
            feats = [TrialFeatures(net, displays[i], params.bg) for i in ids] if cached else None
            for k in range(params.num_fix + 1):
                for st in states:
                    if not st.done:
                        _step(st, k, params)
                live = [j for j, st in enumerate(states) if not st.done]
                if not live:
                    break
                sel = torch.as_tensor(live, device=tgt[0].device)
                corners: list[tuple[int, int] | None] = [None] * len(live)
                if feats is not None:  # crop windows of the cached features (corner on the feature grid)
                    for a, j in enumerate(live):
                        st, grid = states[j], feats[j].grid
                        top, left = (int(v) - 2 * st.m for v in st.g)  # crop corner in display px
                        corners[a] = (grid.origin(grid.cell(top)) + st.m, grid.origin(grid.cell(left)) + st.m)
                    taps = window_taps([feats[j] for j in live],
                                       [(r - states[j].m, c - states[j].m) for j, (r, c) in zip(live, corners)],
                                       2 * states[live[0]].m)
                else:
                    crops = np.stack([states[j].crop(states[j].canvas) for j in live])
                    if on_crop is not None:
                        for j, crop in zip(live, crops):
                            on_crop(ids[j], k + 1, crop)
                    boxes = [states[j].display_box() for j in live] if skip_background else None
                    taps = net.search_taps(net.preprocess(crops), boxes, params.bg)
                maps = net.attention(taps, [t.index_select(0, sel) for t in tgt]).float().cpu().numpy()
                for a, j in enumerate(live):
                    _fixate(states[j], maps[a], corners[a], params)
            for j, st in zip(ids, states):
                results[j] = SearchResult(np.array(st.fix, np.int64), len(st.fix) - 1, st.found)
                if on_trial_done is not None:
                    on_trial_done(1)
    return results  # type: ignore[return-value]


def snap_to_points(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each (x, y) replaced by the nearest of ``points`` (e.g. ObjArr's object positions)."""
    d = ((xy[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return points[d.argmin(1)]
