"""Skip the uniform background of gaze-centred crops in the VGG16 search stream (same function, less work).

A search crop (side 2m, m = H + 64) is mostly the flat background around the display: 82 % of an
806-px crop for a 339-px display. Away from the display and from the crop border, every feature map of
the trunk is a per-channel constant there: a 3x3 convolution of a constant is a constant, ReLU and
every pool (max, TF-same average, EccPool: averages over valid pixels) keep it. So each layer is
computed densely only on *dirty* rectangles, per sample:

* the display box, dilated by the receptive field added so far (1 px per 3x3 conv, half a kernel per
  pool, at that layer's resolution);
* a band along the crop border of growing width, where the convolutions' zero padding is seen;

and everything else is filled with the constant, itself obtained by running the same layers on a
constant 3x3 patch. Pools run densely (they are cheap next to the convolutions) and only map the
rectangles to the next resolution. Results equal the dense trunk up to float32 summation order
(about 1e-6 relative); tests compare both. When the dirty area exceeds ``dense_fraction`` of a map the
layer is computed densely.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Rect = tuple[int, int, int, int]  # rows [r0, r1), cols [c0, c1)


def _clip(r: Rect, h: int, w: int) -> Rect | None:
    r0, r1, c0, c1 = max(r[0], 0), min(r[1], h), max(r[2], 0), min(r[3], w)
    return (r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None


def _band_rects(h: int, w: int, band: int) -> list[Rect]:
    """Top, bottom, left and right strips of width ``band``."""
    if band <= 0:
        return []
    b_h, b_w = min(band, h), min(band, w)
    return [(0, b_h, 0, w), (h - b_h, h, 0, w), (0, h, 0, b_w), (0, h, w - b_w, w)]


def _area(rects: Sequence[Rect]) -> int:
    return sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in rects)


def _conv_on_rect(x: torch.Tensor, conv: nn.Conv2d, rect: Rect) -> torch.Tensor:
    """``conv`` (3x3, stride 1, zero padding 1) evaluated on output ``rect`` only, exactly as the dense
    layer would (zeros where the rectangle touches the map border)."""
    h, w = x.shape[-2:]
    r0, r1, c0, c1 = rect
    pr, pc = conv.padding if isinstance(conv.padding, tuple) else (conv.padding, conv.padding)
    ir0, ir1, ic0, ic1 = r0 - pr, r1 + pr, c0 - pc, c1 + pc
    patch = x[:, :, max(ir0, 0):min(ir1, h), max(ic0, 0):min(ic1, w)]
    pad = (max(-ic0, 0), max(ic1 - w, 0), max(-ir0, 0), max(ir1 - h, 0))
    if any(pad):
        patch = F.pad(patch, pad)
    return F.conv2d(patch, conv.weight, conv.bias)


def _pool_extent(layer: nn.Module, n: int) -> int:
    """Largest kernel side a pool layer uses on an n x n input."""
    max_kernel = getattr(layer, "max_kernel", None)
    return int(max_kernel(n)) if callable(max_kernel) else 2


def _free_index(n: int, band: int, span: tuple[int, int] | None) -> int | None:
    """An index outside both border bands and outside ``span`` (the dilated display box), or None."""
    for i in (band, None if span is None else span[1]):
        if i is not None and band <= i < n - band and (span is None or not span[0] <= i < span[1]):
            return i
    return None


def _sample_plan(box: Rect | None, band: int, h: int, w: int, profiles: bool = True
                 ) -> tuple[list[Rect], tuple[int, int] | None]:
    """Rectangles one sample needs computed in 2-D, and the probe (row, col) of the border profiles.

    Along a border, away from the corners and from the display box, a feature depends only on the
    distance to that border (the input is constant along it), so each border strip is one 1-px-wide
    profile broadcast along the border; the four band x band corners and the box are computed in 2-D.
    Without a free probe row/column, or after a pool whose kernel varies with position (EccPool: the
    border is no longer uniform along itself, ``profiles=False``), the strips are computed in 2-D."""
    rects = [] if box is None else [box]
    if band <= 0:
        return rects, None
    bh, bw = min(band, h), min(band, w)
    col = _free_index(w, band, None if box is None else (box[2], box[3]))
    row = _free_index(h, band, None if box is None else (box[0], box[1]))
    if not profiles or col is None or row is None:
        return rects + _band_rects(h, w, band), None
    corners = [(0, bh, 0, bw), (0, bh, w - bw, w), (h - bh, h, 0, bw), (h - bh, h, w - bw, w)]
    return corners + rects, (row, col)


def _conv_sample(out: torch.Tensor, x: torch.Tensor, conv: nn.Conv2d, rects: list[Rect],
                 probe: tuple[int, int] | None, band: int) -> None:
    """Write ``conv(x)`` into ``out`` (one sample, pre-filled with the constant) where it differs from it."""
    h, w = x.shape[-2:]
    if probe is not None:  # border profiles first; corners and the box overwrite their parts below
        row, col = probe
        bh, bw = min(band, h), min(band, w)
        out[:, :, :bh, :] = _conv_on_rect(x, conv, (0, bh, col, col + 1))
        out[:, :, h - bh:, :] = _conv_on_rect(x, conv, (h - bh, h, col, col + 1))
        out[:, :, :, :bw] = _conv_on_rect(x, conv, (row, row + 1, 0, bw))
        out[:, :, :, w - bw:] = _conv_on_rect(x, conv, (row, row + 1, w - bw, w))
    for r in rects:
        out[:, :, r[0]:r[1], r[2]:r[3]] = _conv_on_rect(x, conv, r)


def skip_background_trunk(layers: Sequence[nn.Module], x: torch.Tensor, boxes: Sequence[Rect | None],
                          background: torch.Tensor, keep: Sequence[int],
                          dense_fraction: float = 0.7) -> list[torch.Tensor]:
    """Run ``layers`` (VGG16 features: 3x3 convs, ReLUs, stride-2 pools) on ``x`` ``[B, C, S, S]`` whose
    pixels outside ``boxes[b]`` (rows/cols in input px; None = the whole map is dirty) all equal
    ``background`` ``[1, C, 1, 1]``. Returns the outputs of the layer indices in ``keep``, as the dense
    trunk would."""
    if len(boxes) != x.shape[0]:
        raise ValueError(f"need one display box per sample, got {len(boxes)} for a batch of {x.shape[0]}")
    h, w = x.shape[-2:]
    live: list[Rect | None] = [None if b is None else _clip(tuple(int(v) for v in b), h, w) for b in boxes]
    full = [b is None for b in boxes]
    band = 0
    profiles = True  # border strips are 1-D profiles until a position-dependent pool
    const = background.to(x.dtype).expand(1, x.shape[1], 3, 3).contiguous()  # a constant 3x3 patch
    taps = []
    owned = False  # x (and const) were produced here, not handed in by the caller
    for i, layer in enumerate(layers):
        h, w = x.shape[-2:]
        if isinstance(layer, nn.Conv2d):  # outputs within 1 px of a dirty input, or of the zero padding
            band += 1
            live = [None if r is None else (r[0] - 1, r[1] + 1, r[2] - 1, r[3] + 1) for r in live]
            plans = [([(0, h, 0, w)], None) if full[b] else _sample_plan(_clip(live[b], h, w) if live[b] else None,
                                                                         band, h, w, profiles)
                     for b in range(len(live))]
            const_out = layer(F.pad(const, (1, 1, 1, 1), mode="replicate"))[:, :, 1:4, 1:4]
            if sum(_area(rects) for rects, _ in plans) > dense_fraction * h * w * len(plans):
                x = layer(x)
            else:
                out = torch.empty((x.shape[0], const_out.shape[1], h, w), dtype=x.dtype, device=x.device,
                                  memory_format=_memory_format(x))
                out.copy_(const_out[:, :, :1, :1].expand_as(out))
                for b, (rects, probe) in enumerate(plans):
                    _conv_sample(out[b:b + 1], x[b:b + 1], layer, rects, probe, band)
                x = out
            const = const_out
            owned = True
        elif isinstance(layer, (nn.ReLU, nn.Identity)):
            if isinstance(layer, nn.ReLU):  # in place on this trunk's own outputs (no copy of a 1 GB map)
                x = x.relu_() if owned else F.relu(x)
                const = const.relu_() if owned else F.relu(const)
        else:  # a stride-2 pool: computed densely; dirty rectangles map to the output grid
            k = _pool_extent(layer, max(h, w))
            profiles = profiles and k <= 2  # a larger kernel somewhere: EccPool rings vary along the border
            x = layer(x)
            owned = True
            oh, ow = x.shape[-2:]
            live = [None if r is None else _clip(((r[0] - k) // 2, (r[1] + k) // 2 + 1, (r[2] - k) // 2,
                                                  (r[3] + k) // 2 + 1), oh, ow) for r in live]
            band = (band + k) // 2 + 1
        if i in keep:
            taps.append(x)
        if i == keep[-1]:
            break
    return taps


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if cl else torch.contiguous_format
