"""OpenCV CPU renderer for equirectangular → perspective views of uint8 HWC panoramas.

Same maps and conventions as :func:`scanpath.core.equirect_to_perspective` (``grid="hstar"`` or
``"py360"``, ``pole="flip"`` or ``"wrap"``; docs/humanoid360.md §2.1), sampled by ``cv2.remap``
(INTER_LINEAR) the way py360convert samples, so the CPU path is a few SIMD passes per view:

* The panorama is kept uint8 ``[H, W, C]`` and padded ONCE: one pole row above and below (the edge
  row rolled by W/2 for ``flip``, the opposite edge row for ``wrap``) and ``2W + 3`` wrapped columns
  (column ``j`` holds source column ``(j - 1) mod W``), so any longitude plus any yaw shift lies
  inside the padded image: no modulo per pixel and no per-call copy of the panorama.
* Yaw only shifts longitude: the sampling maps depend on (pitch, fov, sizes, grid) alone and are
  cached; the yaw shift ``yaw / 360 · W`` becomes a column offset of the source ROI (its integer
  part, a numpy view, no copy) plus a fraction quantised to cv2's 1/32-px interpolation grid. The
  float32 maps (the trigonometry) are cached per pitch, and their fixed-point form
  (``cv2.convertMaps`` to ``CV_16SC2`` + ``CV_16UC1``, as py360convert uses them) per (pitch,
  fraction), in one LRU bounded by bytes and shared by all renderers: a repeated pose renders straight from the cache, and a
  fixed-point remap is ~1.6x faster than a float-map one at 1280x720 (benchmarks/RESULTS.md ``## Core``).
* Views are rendered into one preallocated ``[V, h, w, C]`` buffer; ``cv2.remap`` splits large
  views over OpenCV's threads itself, and batches of small views (below ~64k pixels, where cv2
  does not split) are spread over a thread pool of ``cv2.getNumThreads()`` workers (cv2 releases
  the GIL).

Difference to the torch path: cv2 rounds the source coordinate to 1/32 px and blends with 15-bit
fixed-point weights, rounding half up. On photographs that is a fraction of a grey level from the
exact bilinear value (py360convert does the same); the torch path stays the exact reference, the
CUDA path and the differentiable one.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["EquirectRenderer", "MapCache", "SHARED_MAPS", "pad_equirect_hwc", "pad_equirect_planes", "wrap_columns"]

_TAB = 32  # cv2's INTER_TAB_SIZE: remap's sub-pixel grid
_SMALL_VIEW = 1 << 16  # cv2.remap splits a call over threads only above about this many pixels
_POOL: ThreadPoolExecutor | None = None
_POOL_N = 0


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_N
    if _POOL is None or _POOL_N != n:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL, _POOL_N = ThreadPoolExecutor(max_workers=n, thread_name_prefix="scanpath-e2p"), n
    return _POOL


class MapCache:
    """Thread-safe LRU of sampling maps bounded by bytes (keys include the panorama size)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = int(limit_bytes)
        self.bytes = 0
        self._d: OrderedDict[tuple, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
                return hit
        hit = build()  # outside the lock: trigonometry / convertMaps
        with self._lock:
            if key not in self._d:
                self._d[key] = hit
                self.bytes += sum(a.nbytes for a in hit)
            while self.bytes > self.limit and len(self._d) > 1:
                _, old = self._d.popitem(last=False)
                self.bytes -= sum(a.nbytes for a in old)
        return hit

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._d)


#: maps shared by every renderer (they depend on the pose and sizes, not on the panorama's pixels)
SHARED_MAPS = MapCache(256 << 20)


def pad_equirect_planes(planes: np.ndarray, pole: str = "flip") -> np.ndarray:
    """:func:`pad_equirect_hwc` of a channel-first ``[C, H, W]`` panorama (e.g. a CPU tensor's
    ``.numpy()``): ``cv2.merge`` interleaves the planes straight into the padded buffer (one SIMD pass,
    ~8x faster than a strided numpy transpose at 4096x2048)."""
    import cv2

    if pole not in ("flip", "wrap"):
        raise ValueError(f"equirect_to_perspective: pole must be 'flip' or 'wrap', got {pole!r}")
    C, H, W = planes.shape
    out = np.empty((H + 2, 2 * W + 3, C), dtype=planes.dtype)
    body = out[1:-1, 1:W + 1]
    if 1 < C <= 4:
        res = cv2.merge([np.ascontiguousarray(p) for p in planes], dst=body)
        if res is not body:  # cv2 allocated its own buffer (should not happen for a matching view)
            body[...] = res
    else:
        body[...] = planes.transpose(1, 2, 0)
    rows = (planes[:, 0], planes[:, -1]) if pole == "flip" else (planes[:, -1], planes[:, 0])
    shift = W // 2 if pole == "flip" else 0
    out[0, 1:W + 1] = np.roll(rows[0].T, shift, axis=0)
    out[-1, 1:W + 1] = np.roll(rows[1].T, shift, axis=0)
    return _fill_wrap(out, W)


def pad_equirect_hwc(pano_hwc: np.ndarray, pole: str = "flip") -> np.ndarray:
    """uint8 ``[H, W, C]`` → ``[H + 2, 2W + 3, C]``: pole rows, then wrapped columns (column ``j`` =
    source column ``(j - 1) mod W``), so column coordinate ``x`` of the panorama is ``x + 1`` here for
    every ``x`` in ``[-1, 2W + 1)``."""
    if pole not in ("flip", "wrap"):
        raise ValueError(f"equirect_to_perspective: pole must be 'flip' or 'wrap', got {pole!r}")
    if pano_hwc.ndim == 2:
        pano_hwc = pano_hwc[:, :, None]
    if pano_hwc.ndim != 3:
        raise ValueError(f"equirect_to_perspective: panorama must be [H, W, C], got {pano_hwc.shape}")
    H, W, C = pano_hwc.shape
    out = np.empty((H + 2, 2 * W + 3, C), dtype=pano_hwc.dtype)
    out[1:-1, 1:W + 1] = pano_hwc  # the only pass over the source (transposes a CHW view once)
    if pole == "flip":
        out[0, 1:W + 1] = np.roll(pano_hwc[0], W // 2, axis=0)
        out[-1, 1:W + 1] = np.roll(pano_hwc[-1], W // 2, axis=0)
    else:
        out[0, 1:W + 1], out[-1, 1:W + 1] = pano_hwc[-1], pano_hwc[0]
    return _fill_wrap(out, W)


def _fill_wrap(out: np.ndarray, W: int) -> np.ndarray:
    """Fill the wrapped columns of ``out [R, 2W + 3, C]`` from its columns ``1 .. W`` (block copies)."""
    out[:, W + 1:2 * W + 1] = out[:, 1:W + 1]
    out[:, 2 * W + 1:] = out[:, 1:3] if W >= 2 else out[:, 1:2]
    out[:, 0] = out[:, W]
    return out


def wrap_columns(rows_hwc: np.ndarray) -> np.ndarray:
    """``[R, W, C]`` → ``[R, 2W + 3, C]`` with column ``j`` = column ``(j - 1) mod W`` (one gather)."""
    R, W, C = rows_hwc.shape
    out = np.empty((R, 2 * W + 3, C), dtype=rows_hwc.dtype)
    out[:, 1:W + 1] = rows_hwc
    return _fill_wrap(out, W)


class EquirectRenderer:
    """Render perspective views of one equirectangular panorama with ``cv2.remap``.

    ``pano_hwc``: uint8 (or float32) ``[H, W, C]`` numpy array (C ≤ 4), or an already padded one from
    :func:`pad_equirect_hwc` with ``padded=True``. Maps live in :data:`SHARED_MAPS` (256 MB, shared by
    all renderers: P panoramas of one size reuse them); ``cache_bytes`` gives this renderer its own
    cache of that size instead. ``fixed_point=False`` keeps float32 maps (cv2 converts them in every call).
    """

    def __init__(
        self, pano_hwc: np.ndarray, pole: str = "flip", *, padded: bool = False, pano_hw: tuple[int, int] | None = None,
        cache_bytes: int | None = None, fixed_point: bool = True,
    ) -> None:
        src = np.ascontiguousarray(pano_hwc)
        if src.ndim == 2:
            src = src[:, :, None]
        if src.dtype not in (np.uint8, np.float32) or src.shape[2] > 4:
            raise ValueError(f"equirect_to_perspective: cv2 renderer needs uint8/float32 [H, W, C<=4], got "
                             f"{src.dtype} {src.shape}")
        self.padded = src if padded else pad_equirect_hwc(src, pole)
        H = self.padded.shape[0] - 2
        W = (self.padded.shape[1] - 3) // 2
        if pano_hw is not None and tuple(pano_hw) != (H, W):
            raise ValueError(f"equirect_to_perspective: padded panorama is {H}x{W}, expected {pano_hw}")
        self.pano_hw = (H, W)
        self.channels = self.padded.shape[2]
        self.fixed_point = bool(fixed_point)
        self.cache = SHARED_MAPS if cache_bytes is None else MapCache(cache_bytes)

    # ------------------------------------------------------------------ maps
    def _base(self, pitch, out_hw, fov_deg, vfov_deg, grid):
        """float32 (mx, my) ``[h, w]`` in padded coordinates at yaw shift 0 (mx before any wrap)."""
        from .projection import _lonlat_f32  # shared trigonometry of the CPU paths (avoids a cycle)

        H, W = self.pano_hw
        lon, lat = _lonlat_f32(pitch, out_hw, fov_deg, vfov_deg, grid)
        if grid == "hstar":
            mx = lon.mul_(W / (2 * math.pi)).add_(W / 2 + 1.0)
            my = lat.mul_(H / math.pi).add_(0.5 * H + 1.0)
        else:
            mx = lon.mul_(W / (2 * math.pi)).add_(0.5 * W + 0.5)
            my = lat.mul_(H / math.pi).add_(0.5 * H + 0.5)
        return mx.numpy(), my.numpy()

    def _get(self, key, build):
        return self.cache.get((self.pano_hw, self.padded.dtype.str) + key, build)

    def maps(self, pitch: float, frac: int, out_hw, fov_deg, vfov_deg, grid):
        """cv2 maps of a view at ``pitch`` whose yaw shift has fractional part ``frac / 32`` px."""
        import cv2

        base_key = ("base", float(pitch), tuple(out_hw), float(fov_deg), vfov_deg, grid)
        mx, my = self._get(base_key, lambda: self._base(pitch, out_hw, fov_deg, vfov_deg, grid))
        if not self.fixed_point:
            return (mx + np.float32(frac / _TAB)) if frac else mx, my
        # the trigonometry is cached per pitch (above); the fixed-point pair per (pitch, yaw fraction)
        return self._get(("fixed", frac) + base_key[1:],
                         lambda: cv2.convertMaps((mx + np.float32(frac / _TAB)) if frac else mx, my, cv2.CV_16SC2))

    def clear_cache(self) -> None:
        """Drop the cached maps (the shared cache: every renderer's; benchmarks time the per-pitch work)."""
        self.cache.clear()

    # ------------------------------------------------------------------ render
    def render(
        self, yaw, pitch, fov_deg: float = 100.0, out_hw: tuple[int, int] = (720, 1280), grid: str = "hstar",
        vfov_deg: float | None = None, out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Views ``[V, h, w, C]`` (the panorama's dtype) at ``yaw [V]``, ``pitch [V]`` degrees (yaw mod 360,
        pitch clamped to ±90). ``out``: optional C-contiguous buffer of that shape to write into."""
        import cv2

        if grid not in ("hstar", "py360"):
            raise ValueError(f"equirect_to_perspective: grid must be 'hstar' or 'py360', got {grid!r}")
        yaw = np.remainder(np.asarray(yaw, dtype=np.float64).reshape(-1), 360.0)
        pitch = np.clip(np.asarray(pitch, dtype=np.float64).reshape(-1), -90.0, 90.0)
        if yaw.size != pitch.size:
            raise ValueError(f"equirect_to_perspective: yaw ({yaw.size}) and pitch ({pitch.size}) differ in length")
        V, (h, w), C = yaw.size, out_hw, self.channels
        if out is None:
            out = np.empty((V, h, w, C), dtype=self.padded.dtype)
        elif out.shape != (V, h, w, C) or out.dtype != self.padded.dtype or not out.flags.c_contiguous:
            raise ValueError(f"equirect_to_perspective: out must be C-contiguous {(V, h, w, C)} {self.padded.dtype}")
        W = self.pano_hw[1]
        # yaw shift in 1/32 px, rounded like cv2 rounds a float map: integer part = ROI column offset
        q = np.rint(yaw / 360.0 * W * _TAB).astype(np.int64)
        q[q >= W * _TAB] -= W * _TAB  # yaw just below 360 rounds up to a full turn
        jobs = []
        for v in range(V):
            k, frac = divmod(int(q[v]), _TAB)
            m1, m2 = self.maps(float(pitch[v]), frac, out_hw, fov_deg, vfov_deg, grid)
            jobs.append((k, m1, m2, out[v] if C > 1 else out[v, :, :, 0]))

        def run(job):
            k, m1, m2, dst = job
            cv2.remap(self.padded[:, k:], m1, m2, cv2.INTER_LINEAR, dst=dst, borderMode=cv2.BORDER_REPLICATE)

        n_threads = cv2.getNumThreads()
        if V > 1 and n_threads > 1 and h * w < _SMALL_VIEW:
            list(_pool(n_threads).map(run, jobs))
        else:
            for job in jobs:
                run(job)
        return out
