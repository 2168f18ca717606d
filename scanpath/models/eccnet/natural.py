"""eccNET / IVSN on natural images (docs/eccnet.md §2.6): target search in photographs and object arrays.

The network and the per-step map are those of the asymmetry mode (§2.4); what changes:

* the display is H x W (colour, any aspect), bg 0, m = H + margin (H = display height), crops 2m x 2m;
  at lateral gaze part of a wide display falls outside the crop (e.g. 96 px of 736 x 896), as upstream;
* layers are weighted by the layer mask alone (pattern ``l``), DoG (3, 0) / (5, 1);
* ``ior="square"`` (NaturalDesign, Waldo): a ``ior_size`` square centred on the gaze is removed from the
  allowed map only (the image is not repainted), allowed = display x M, and every step runs
  oracle (start included) -> IOR -> forward pass;
* ``ior="cells"`` (ObjArr): the first object cell containing the gaze is inhibited and repainted with
  bg, allowed = M x union of the cells, and the order is that of §2.4 (forward -> IOR -> oracle, start
  never checked);
* the oracle looks for a gt pixel in an ``oracle_size`` window centred on the gaze
  (rows [r - size//2, r - size//2 + size), columns alike).

``check_last=False`` reproduces upstream quirk 9 (the last fixation is never checked); the default
checks it. NumFix counts model fixations after the start, so a scanpath has at most NumFix + 1 points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

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
    dog: DogParams = ((3, 0.0), (5, 1.0))
    layer_mask: tuple[float, float, float] = (1.0, 1.0, 1.0)
    weight_pattern: Literal["nl", "l"] = "l"
    bg: int = 0
    margin: int = 64
    check_last: bool = True

    def __post_init__(self) -> None:
        if self.ior not in ("square", "cells"):
            raise ValueError(f"natural.ior must be 'square' or 'cells', got {self.ior!r}")
        if self.ior == "cells" and not self.cells:
            raise ValueError("natural.ior='cells' needs natural.cells: a list of [x, y, w, h] object cells (display px)")
        if self.cells is not None:
            for i, c in enumerate(self.cells):
                if len(c) != 4 or min(c[2], c[3]) <= 0:
                    raise ValueError(f"natural.cells[{i}] must be [x, y, w, h] with w, h > 0, got {list(c)}")
        if self.num_fix < 1 or self.ior_size < 1 or self.oracle_size < 1 or self.margin < 0:
            raise ValueError("natural.num_fix, ior_size and oracle_size must be >= 1 and margin >= 0")
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


class _NaturalState(GazeCrop):
    """One trial: padded canvas, allowed map (display or cells x IOR mask), gaze in canvas px."""

    def __init__(self, display: np.ndarray, gt: np.ndarray, params: NaturalSearchParams) -> None:
        H, W = display.shape[:2]
        m = H + params.margin
        self.H, self.W, self.m, self.params, self.gt = H, W, m, params, gt
        self.canvas = np.full((H + 2 * m, W + 2 * m, 3), params.bg, np.uint8)
        self.canvas[m:m + H, m:m + W] = display
        self.allowed = np.zeros(self.canvas.shape[:2], np.float32)
        if params.ior == "cells":
            for x, y, w, h in params.cells or ():
                self.allowed[m + max(y, 0):m + min(y + h, H), m + max(x, 0):m + min(x + w, W)] = 1.0
        else:
            self.allowed[m:m + H, m:m + W] = 1.0
        self.g = np.array([m + H // 2, m + W // 2])
        self.fix = [(H // 2, W // 2)]
        self.found = False
        self.done = False

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
        for x, y, w, h in p.cells or ():
            if y <= r < y + h and x <= c < x + w:
                rows = slice(m + max(y, 0), m + min(y + h, self.H))
                cols = slice(m + max(x, 0), m + min(x + w, self.W))
                self.allowed[rows, cols] = 0.0
                self.canvas[rows, cols] = p.bg
                return


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
    for members in groups.values():
        for b0 in range(0, len(members), max(int(batch_size), 1)):
            ids = members[b0:b0 + batch_size]
            states = [_NaturalState(displays[i], np.asarray(gt_masks[i], bool), params) for i in ids]
            tgt = net.target_taps(net.preprocess(np.stack([targets[i] for i in ids])))
            for k in range(params.num_fix + 1):
                for st in states:
                    if st.done:
                        continue
                    if params.ior == "cells" and k > 0:  # §2.4 order: fixate -> IOR -> oracle
                        st.inhibit()
                        st.done = st.judge(k)
                    elif params.ior == "square":  # §2.6: oracle (start included) -> IOR -> forward
                        st.done = st.judge(k)
                        if not st.done:
                            st.inhibit()
                live = [j for j, st in enumerate(states) if not st.done]
                if not live:
                    break
                crops = np.stack([states[j].crop(states[j].canvas) for j in live])
                if on_crop is not None:
                    for j, crop in zip(live, crops):
                        on_crop(ids[j], k + 1, crop)
                boxes = [states[j].display_box() for j in live] if skip_background else None
                taps = net.search_taps(net.preprocess(crops), boxes, params.bg)
                sel = torch.as_tensor(live, device=tgt[0].device)
                maps = net.attention(taps, [t.index_select(0, sel) for t in tgt]).float().cpu().numpy()
                for a, j in enumerate(live):
                    st = states[j]
                    r, c = fixation_from_maps(maps[a], st.crop(st.allowed), params.layer_mask, params.weight_pattern,
                                              params.dog)
                    st.g = np.clip(st.g - st.m + np.array([r, c]), st.m, [st.m + st.H, st.m + st.W])
                    st.fix.append((int(st.g[0] - st.m), int(st.g[1] - st.m)))
            for j, st in zip(ids, states):
                results[j] = SearchResult(np.array(st.fix, np.int64), len(st.fix) - 1, st.found)
                if on_trial_done is not None:
                    on_trial_done(1)
    return results  # type: ignore[return-value]


def snap_to_points(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each (x, y) replaced by the nearest of ``points`` (e.g. ObjArr's object positions)."""
    d = ((xy[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return points[d.argmin(1)]
