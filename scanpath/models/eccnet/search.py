"""The eccNET search loop on grid-cell displays (asymmetry mode, docs/eccnet.md §2.4) and the two baselines.

One step, for every still-searching trial of a batch at once:

1. crop ``[g-m, g+m)^2`` of the padded canvas (side H + 2m, m = H + 64, inhibited cells repainted with bg);
2. top-down maps a_l = conv2d(search taps, target taps) (target taps computed once per trial);
3. w_l = max a_l (``nl``: times the layer mask; ``l``: the mask), normalised; A = sum w_l minmax(a_l);
4. three DoG sharpenings A <- A + G(A; k1, s1) - G(A; k2, s2) (cv2.GaussianBlur, reflect-101 border);
5. resize to 2m x 2m (INTER_AREA), A <- (A - min A) * allowed (uninhibited grid cells, cropped alike);
6. first row-major argmax -> new gaze g - m + argmax, clamped to [m, m + H];
7. IOR: the grid cell containing the gaze is inhibited (mask 0, repainted with bg);
8. oracle: the target is found when its gt mask has a pixel in [r-5, r+5) x [c-5, c+5).

Fixations are (row, col) in display pixels; index 0 is the start (display centre), never checked.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from scanpath.models.eccnet.torch_model import CAFFE_BGR_MEAN, EccNet
from scanpath.stimuli.asymmetry import Trial, cell_masks

DogParams = tuple[tuple[int, float], tuple[int, float]]


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """Per-experiment search settings (NumFix, background, DoG) and model-level layer weighting.

    ``last_fix_as_miss`` reproduces upstream quirk 1 (a find on fixation NumFix is saved as unfound).
    """

    num_fix: int
    bg: int
    dog: DogParams = ((3, 1.0), (5, 3.0))
    layer_mask: tuple[float, float, float] = (1.0, 1.0, 1.0)
    weight_pattern: Literal["nl", "l"] = "nl"
    oracle_half: int = 5
    margin: int = 64
    last_fix_as_miss: bool = False


@dataclasses.dataclass
class SearchResult:
    """Outcome of one trial: ``fixations`` (k+1, 2) int (row, col) display px with the start first."""

    fixations: np.ndarray
    n_fix: int  # fixations made, excluding the start (= N when found)
    found: bool


def dog_sharpen(a: np.ndarray, dog: DogParams, times: int = 3) -> np.ndarray:
    """A <- A + G(A; k1, s1) - G(A; k2, s2), ``times`` times (sigma 0 = OpenCV's fixed kernel)."""
    (k1, s1), (k2, s2) = dog
    a = np.ascontiguousarray(a, dtype=np.float32)
    for _ in range(times):
        a = a + cv2.GaussianBlur(a, (int(k1), int(k1)), float(s1)) - cv2.GaussianBlur(a, (int(k2), int(k2)), float(s2))
    return a


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)


def combine_layers(maps: np.ndarray, layer_mask: Sequence[float], pattern: str = "nl") -> np.ndarray:
    """Weighted sum of min-max normalised layer maps ``[L, h, w]`` (§2.4 step 3).

    With a zero weight sum upstream divides by zero (NaN, quirk 8); we use uniform weights over the
    active layers instead.
    """
    mask = np.asarray(layer_mask, dtype=np.float64)
    if pattern == "nl":
        w = mask * maps.reshape(len(maps), -1).max(1).astype(np.float64)
    elif pattern == "l":
        w = mask.copy()
    else:
        raise ValueError(f"weight pattern must be 'nl' or 'l', got {pattern!r}")
    s = w.sum()
    w = (mask > 0) / max((mask > 0).sum(), 1) if s == 0 else w / s
    out = np.zeros(maps.shape[1:], np.float32)
    for wl, a in zip(w, maps):
        if wl != 0:
            out += np.float32(wl) * _minmax(a).astype(np.float32)
    return out


def fixation_from_maps(maps: np.ndarray, allowed_crop: np.ndarray, layer_mask: Sequence[float], pattern: str,
                       dog: DogParams) -> tuple[int, int]:
    """§2.4 steps 3-6 for one trial: combine the layer maps ``[L, h, w]``, sharpen, resize to the crop
    (INTER_AREA), subtract the minimum, mask with ``allowed_crop`` and take the first row-major argmax.
    Returns (row, col) in crop pixels."""
    side_r, side_c = allowed_crop.shape
    a = dog_sharpen(combine_layers(maps, layer_mask, pattern), dog)
    a = cv2.resize(a, (side_c, side_r), interpolation=cv2.INTER_AREA)
    a = (a - a.min()) * allowed_crop
    r, c = divmod(int(np.argmax(a)), side_c)
    return r, c


class _Geometry:
    """Cell layout of one experiment: union mask and a gaze -> cell lookup."""

    def __init__(self, trial: Trial) -> None:
        spec = trial.experiment
        self.H, self.C, self.grid = spec.display, spec.cell, spec.grid
        self.union = cell_masks(spec).any(0)

    def cell_at(self, r: int, c: int) -> int | None:
        """First grid cell containing display pixel (r, c), or None."""
        if 0 <= r < self.grid * self.C and 0 <= c < self.grid * self.C:
            return (r // self.C) * self.grid + c // self.C
        return None

    def cell_slice(self, cell: int, off: int = 0) -> tuple[slice, slice]:
        r0, c0 = (cell // self.grid) * self.C + off, (cell % self.grid) * self.C + off
        return slice(r0, r0 + self.C), slice(c0, c0 + self.C)


def window_hit(mask: np.ndarray, r: int, c: int, size: int) -> bool:
    """Whether ``mask`` has a pixel in the ``size`` window centred on (r, c):
    rows [r - size//2, r - size//2 + size), columns alike (clipped to the mask)."""
    H, W = mask.shape
    r0, c0 = r - size // 2, c - size // 2
    return bool(mask[max(r0, 0):max(min(r0 + size, H), 0), max(c0, 0):max(min(c0 + size, W), 0)].any())


def oracle_hit(gt: np.ndarray, r: int, c: int, half: int = 5) -> bool:
    """Whether the gt mask has a pixel in [r-half, r+half) x [c-half, c+half)."""
    return window_hit(gt, r, c, 2 * half)


class GazeCrop:
    """A display of H x W pixels padded by m on every side; the gaze ``g`` is in canvas pixels and the
    search crop is [g - m, g + m)^2."""

    m: int
    H: int
    W: int
    g: np.ndarray

    def crop(self, arr: np.ndarray) -> np.ndarray:
        m = self.m
        return arr[self.g[0] - m:self.g[0] + m, self.g[1] - m:self.g[1] + m]

    def display_box(self) -> tuple[int, int, int, int]:
        """Rows and columns of the display inside the current crop (everything else is bg)."""
        r0, c0 = 2 * self.m - int(self.g[0]), 2 * self.m - int(self.g[1])
        return r0, r0 + self.H, c0, c0 + self.W


class _EccState(GazeCrop):
    def __init__(self, trial: Trial, geo: _Geometry, params: SearchParams) -> None:
        H, m = geo.H, geo.H + params.margin
        self.m, self.H, self.W = m, H, H
        side = H + 2 * m
        self.canvas = np.full((side, side), params.bg, np.uint8)
        self.canvas[m:m + H, m:m + H] = trial.display
        self.allowed = np.zeros((side, side), np.float32)
        self.allowed[m:m + H, m:m + H] = geo.union
        self.g = np.array([side // 2, side // 2])
        self.fix = [tuple(int(v) for v in self.g - m)]
        self.found = False
        self.done = False


@torch.inference_mode()
def eccnet_search(
    net: EccNet,
    trials: Sequence[Trial],
    params: SearchParams,
    batch_size: int = 4,
    on_trial_done: Callable[[int], None] | None = None,
    on_crop: Callable[[int, int, np.ndarray], None] | None = None,
    skip_background: bool = True,
) -> list[SearchResult]:
    """Run the search on ``trials`` (all of one experiment), ``batch_size`` trials per forward pass.

    ``on_crop(trial_index, step, crop)`` (optional) sees every gaze-centred crop before the forward pass.
    ``skip_background`` computes the search stream only where the crop is not uniform background
    (:mod:`scanpath.models.eccnet.background_skip`; same maps up to float32 rounding, fewer FLOPs).
    """
    results: list[SearchResult | None] = [None] * len(trials)
    if not trials:
        return []
    geo = _Geometry(trials[0])
    for b0 in range(0, len(trials), batch_size):
        batch = list(trials[b0:b0 + batch_size])
        states = [_EccState(t, geo, params) for t in batch]
        tgt = net.target_taps(net.preprocess(np.stack([t.target for t in batch])))
        for k in range(1, params.num_fix + 1):
            active = [i for i, s in enumerate(states) if not s.done]
            if not active:
                break
            crops = np.stack([states[i].crop(states[i].canvas) for i in active])
            if on_crop is not None:
                for j, i in enumerate(active):
                    on_crop(b0 + i, k, crops[j])
            boxes = [states[i].display_box() for i in active] if skip_background else None
            taps = net.search_taps(net.preprocess(crops), boxes, params.bg)
            idx = torch.as_tensor(active, device=tgt[0].device)
            maps = net.attention(taps, [t.index_select(0, idx) for t in tgt]).float().cpu().numpy()
            for j, i in enumerate(active):
                st, trial = states[i], batch[i]
                r, c = fixation_from_maps(maps[j], st.crop(st.allowed), params.layer_mask, params.weight_pattern,
                                          params.dog)
                st.g = np.clip(st.g - st.m + np.array([r, c]), st.m, st.m + geo.H)
                dr, dc = (int(v) for v in st.g - st.m)
                st.fix.append((dr, dc))
                cell = geo.cell_at(dr, dc)
                if cell is not None:  # IOR: inhibit and repaint the fixated cell
                    rs, cs = geo.cell_slice(cell, st.m)
                    st.allowed[rs, cs] = 0.0
                    st.canvas[rs, cs] = params.bg
                if oracle_hit(trial.gt_mask, dr, dc, params.oracle_half):
                    st.done = True
                    st.found = not (params.last_fix_as_miss and k == params.num_fix)
        for i, st in enumerate(states):
            results[b0 + i] = SearchResult(np.array(st.fix, np.int64), len(st.fix) - 1, st.found)
            if on_trial_done is not None:
                on_trial_done(1)
    return results  # type: ignore[return-value]


def pixel_match_map(display: np.ndarray, target: np.ndarray, impl: str = "fft") -> np.ndarray:
    """Static pixelMatch map: same-padded cross-correlation of display and target (gray replicated to
    three channels, caffe BGR means subtracted, zero padding, channels summed), then a 7x7 Gaussian
    blur of sigma 3. ``impl="fft"`` (default) or ``"direct"`` (torch conv2d; reference for tests)."""
    H, W = display.shape[:2]
    kh, kw = target.shape[:2]
    pbh, pbw = (kh - 1) // 2, (kw - 1) // 2  # TF / torch "same": the extra pad goes after
    if impl == "direct":
        mean = torch.tensor(CAFFE_BGR_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
        d = torch.as_tensor(display, dtype=torch.float64)[None, None].expand(1, 3, -1, -1) - mean
        t = torch.as_tensor(target, dtype=torch.float64)[None, None].expand(1, 3, -1, -1) - mean
        corr = F.conv2d(F.pad(d, (pbw, kw - 1 - pbw, pbh, kh - 1 - pbh)), t)[0, 0].numpy()
    else:
        from scipy.signal import correlate

        corr = np.zeros((H, W), np.float64)
        for mu in CAFFE_BGR_MEAN:
            full = correlate(display.astype(np.float64) - mu, target.astype(np.float64) - mu, mode="full",
                             method="fft")
            corr += full[kh - 1 - pbh:kh - 1 - pbh + H, kw - 1 - pbw:kw - 1 - pbw + W]
    return cv2.GaussianBlur(corr.astype(np.float32), (7, 7), 3.0)


def baseline_rng(seed: int, condition: str, index: int) -> np.random.Generator:
    """The chance baseline's stream for one trial, seeded on (seed, CRC-32 of the full condition name,
    trial index): stable across runs and processes (unlike the salted ``hash()``), and distinct for
    conditions of equal name length (curve_in_lines / line_in_curves, Ts / Ls)."""
    return np.random.default_rng([int(seed), zlib.crc32(condition.encode("utf-8")), int(index)])


def baseline_search(
    trials: Sequence[Trial],
    params: SearchParams,
    kind: Literal["chance", "pixel_match"],
    seed: int = 0,
    baseline_bugs: bool = False,
    on_trial_done: Callable[[int], None] | None = None,
) -> list[SearchResult]:
    """``chance`` (uniform pixel of the allowed cells) or ``pixel_match`` (argmax of a static map over the
    allowed cells), both starting at the display centre with cell IOR and the same oracle.

    ``baseline_bugs`` reproduces upstream quirk 3: the centre start is checked (N = 0 possible), IOR is
    inert (uint8 wrap), and chance resamples only when the pixel is outside the cells AND its 10x10 patch
    is blank. (The row shift of the written table is applied by the asymmetry protocol.)
    """
    if not trials:
        return []
    geo = _Geometry(trials[0])
    out = []
    for trial in trials:
        rng = baseline_rng(seed, trial.condition, trial.index)
        allowed = geo.union.astype(np.float32).copy()
        H = geo.H
        pos = (H // 2, H // 2)
        fix = [pos]
        found = baseline_bugs and oracle_hit(trial.gt_mask, *pos, half=params.oracle_half)
        smap = None
        if kind == "pixel_match":
            smap = pixel_match_map(trial.display, trial.target)
            smap = smap - smap.min()
        elif kind != "chance":
            raise ValueError(f"unknown baseline {kind!r}")
        k = 0
        while not found and k < params.num_fix:
            k += 1
            if kind == "chance":
                if baseline_bugs:
                    while True:
                        r, c = (int(v) for v in rng.integers(0, H, size=2))
                        patch = trial.display[max(r - 5, 0):r + 5, max(c - 5, 0):c + 5]
                        if allowed[r, c] > 0 or (patch != params.bg).any():
                            break
                else:
                    flat = np.flatnonzero(allowed)
                    if len(flat) == 0:
                        break
                    r, c = divmod(int(rng.choice(flat)), H)
            else:
                r, c = divmod(int(np.argmax(smap * allowed)), H)
            fix.append((r, c))
            cell = geo.cell_at(r, c)
            if cell is not None and not baseline_bugs:
                allowed[geo.cell_slice(cell)] = 0.0
            if oracle_hit(trial.gt_mask, r, c, params.oracle_half):
                found = not (params.last_fix_as_miss and k == params.num_fix)
                break
        out.append(SearchResult(np.array(fix, np.int64), len(fix) - 1, bool(found)))
        if on_trial_done is not None:
            on_trial_done(1)
    return out
