"""Lightning wrapper of eccNET / IVSN / ablations / search baselines (one class, variants via config).

Variants (docs/eccnet.md §2.4; pools, eccentric, layer mask):

* ``eccnet``: avg, EccPool, (1, 1, 1)        * ``ivsn``: max, plain, (0, 0, 1)
* ``eccnet_noecc``: max, plain, (1, 1, 1)    (upstream's noecc also switched to max-pooling, quirk 5)
* ``eccnet_noecc_avg``: avg, plain, (1, 1, 1)  * ``eccnet_top_only``: avg, EccPool, (0, 0, 1)
* ``chance`` / ``pixel_match``: no network.

``upstream=True`` turns on every reproduce flag of §6 (``last_fix_as_miss``, ``baseline_bugs``,
``lighting_gt_jitter``, JPEG quality 95 stimuli, and in natural-image mode ``natural.check_last=false``);
each flag can also be set on its own.

Two ways to run:

* asymmetry benchmark: ``python evaluate.py experiment=eccnet_asymmetry`` (the asymmetry protocol over generated trials);
* natural-image search (§2.6): ``python evaluate.py experiment=eccnet_natural ...``; ``predict_scanpaths``
  takes batches with ``image`` (display), ``target_crop`` and ``gt_mask`` (scanpath.datamodules.natural_search)
  and returns the searches in the original stimulus frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scanpath.models.base import ScanpathModel
from scanpath.models.eccnet.natural import (
    NaturalSearchParams,
    display_cell_masks,
    natural_search,
    snap_to_cells,
    snap_to_points,
)
from scanpath.models.eccnet.search import SearchParams, SearchResult, baseline_search, eccnet_search
from scanpath.models.eccnet.torch_model import EccNet, EccNetConfig
from scanpath.stimuli.asymmetry import ExperimentSpec, Trial
from scanpath.types import Scanpath, ScanpathBatch

#: Per-sample inputs of the natural-image mode (scanpath.datamodules.natural_search).
NATURAL_KEYS = ("image", "target_crop", "gt_mask")
#: Stimulus-level record fields copied onto predictions (never a human's per-observer fields).
_STIMULUS_KEYS = ("bbox",)

VARIANTS: dict[str, dict[str, Any]] = {
    "eccnet": dict(pool="avg", eccentric=True, layer_mask=(1, 1, 1)),
    "ivsn": dict(pool="max", eccentric=False, layer_mask=(0, 0, 1)),
    "eccnet_noecc": dict(pool="max", eccentric=False, layer_mask=(1, 1, 1)),
    "eccnet_noecc_avg": dict(pool="avg", eccentric=False, layer_mask=(1, 1, 1)),
    "eccnet_top_only": dict(pool="avg", eccentric=True, layer_mask=(0, 0, 1)),
    "chance": dict(baseline="chance"),
    "pixel_match": dict(baseline="pixel_match"),
}


class EccNetSearchModel(ScanpathModel):
    """Zero-shot target-search model (eccNET family or a search baseline): asymmetry trials or natural images."""

    trainable = False
    #: natural-image mode (the asymmetry benchmark generates its own trials and reads no samples)
    required_sample_keys = ("scanpath", "stimulus", *NATURAL_KEYS, "boxes", "target_index", "image_size")

    def __init__(
        self,
        variant: str = "eccnet",
        weights: str | None = "IMAGENET1K_V1",
        weights_path: str | None = None,
        preprocess: str = "torchvision",
        pool_impl: str = "sat",
        weight_pattern: str = "nl",
        layer_mask: Sequence[float] | None = None,
        upstream: bool = False,
        last_fix_as_miss: bool | None = None,
        baseline_bugs: bool | None = None,
        lighting_gt_jitter: bool | None = None,
        jpeg_quality: int | None = None,
        batch_size: int = 4,
        seed: int = 0,
        display_name: str | None = None,
        natural: dict[str, Any] | None = None,
        skip_background: bool = True,
        search_workers: int | None = None,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown eccNET variant {variant!r}; known: {', '.join(VARIANTS)}")
        v = VARIANTS[variant]
        self.variant = variant
        self.display_name = display_name or variant
        self.baseline: str | None = v.get("baseline")
        self.weight_pattern = weight_pattern
        self.layer_mask = tuple(float(x) for x in (layer_mask if layer_mask is not None else v.get("layer_mask", (1, 1, 1))))
        self.last_fix_as_miss = upstream if last_fix_as_miss is None else bool(last_fix_as_miss)
        self.baseline_bugs = upstream if baseline_bugs is None else bool(baseline_bugs)
        self.lighting_gt_jitter = upstream if lighting_gt_jitter is None else bool(lighting_gt_jitter)
        self.jpeg_quality = (95 if upstream else None) if jpeg_quality is None else (int(jpeg_quality) or None)
        self.batch_size = int(batch_size)
        self.skip_background = bool(skip_background)
        self.search_workers = None if search_workers is None else max(int(search_workers), 1)
        self.seed = int(seed)
        self._net: EccNet | None = None
        self.net_config = None if self.baseline else EccNetConfig(
            pool=v["pool"], eccentric=v["eccentric"], pool_impl=pool_impl, preprocess=preprocess)
        self.weights = None if weights in (None, "random", "none") else str(weights)
        self.weights_path = Path(weights_path) if weights_path else None
        if self.weights_path is not None and not self.weights_path.is_file():
            raise FileNotFoundError(f"weights_path={self.weights_path}: file not found")
        nat = dict(natural or {})
        snap = nat.pop("snap_points", None)
        self.snap_points = None if snap is None else np.asarray(snap, np.float64).reshape(-1, 2)
        self.snap = nat.pop("snap", None) or ("cells" if nat.get("ior") == "cells" else "nearest")
        if self.snap not in ("cells", "nearest"):
            raise ValueError(f"natural.snap must be 'cells' or 'nearest', got {self.snap!r}")
        self.output_points = nat.pop("output_points", None) or "num_fix"
        if self.output_points not in ("num_fix", "all"):
            raise ValueError(f"natural.output_points must be 'num_fix' or 'all', got {self.output_points!r}")
        self.display_scale = float(nat.pop("display_scale", None) or 1.0)
        if not 0.0 < self.display_scale <= 4.0:
            raise ValueError(f"natural.display_scale must be in (0, 4], got {self.display_scale}")
        self.object_target = nat.pop("object_target", None) or "display"
        if self.object_target not in ("display", "crop"):
            raise ValueError(f"natural.object_target must be 'display' or 'crop', got {self.object_target!r}")
        self.natural = NaturalSearchParams.from_config(
            nat, layer_mask=self.layer_mask, check_last=False if upstream else None)
        if self.display_scale != 1.0 and self.natural.ior == "cells":
            raise ValueError("natural.display_scale needs natural.ior=square (the cells are display pixels)")

    @property
    def net(self) -> EccNet:
        """The VGG16 network, built on first use (ImageNet weights are fetched by torchvision only then)."""
        if self.baseline is not None:
            raise AttributeError(f"{self.variant} is a baseline without a network")
        if self._net is None:
            torch.manual_seed(self.seed)  # random-init weights are reproducible
            try:
                self._net = EccNet(self.net_config, weights=self.weights, weights_path=self.weights_path)
            except (OSError, RuntimeError) as e:  # e.g. no network for the torchvision download
                raise RuntimeError(
                    f"could not load VGG16 weights {self.weights!r} ({e}); pass model.weights_path=<state_dict.pth> "
                    "or model.weights=random (random init cannot reproduce the published asymmetries)") from e
            self._net.to(self.device)
        return self._net

    def signature(self) -> dict[str, Any]:
        """Everything that changes the searches (recorded in trials.json; ``resume`` compares it)."""
        return {"variant": self.variant, "weights": self.weights,
                "weights_path": None if self.weights_path is None else str(self.weights_path),
                "net": None if self.net_config is None else dataclasses.asdict(self.net_config),
                "weight_pattern": self.weight_pattern, "layer_mask": list(self.layer_mask),
                "last_fix_as_miss": self.last_fix_as_miss, "baseline_bugs": self.baseline_bugs, "seed": self.seed}

    def stimulus_kwargs(self) -> dict[str, Any]:
        """Stimulus-generation options implied by the flags (JPEG round trip, Exp2 gt jitter)."""
        return {"jpeg_quality": self.jpeg_quality, "lighting_gt_jitter": self.lighting_gt_jitter}

    def search_params(self, spec: ExperimentSpec, num_fix_cap: int | None = None) -> SearchParams:
        num_fix = spec.num_fix if num_fix_cap is None else min(spec.num_fix, int(num_fix_cap))
        return SearchParams(num_fix=num_fix, bg=spec.bg, dog=spec.dog, layer_mask=self.layer_mask,
                            weight_pattern=self.weight_pattern, last_fix_as_miss=self.last_fix_as_miss)

    def search(self, trials: Sequence[Trial], params: SearchParams,
               on_trial_done: Callable[[int], None] | None = None) -> list[SearchResult]:
        """Run the search on trials of one experiment."""
        if self.baseline is not None:
            return baseline_search(trials, params, self.baseline, seed=self.seed, baseline_bugs=self.baseline_bugs,
                                   on_trial_done=on_trial_done)
        return eccnet_search(self.net, trials, params, batch_size=self.batch_size, on_trial_done=on_trial_done,
                             skip_background=self.skip_background)

    def predict_scanpaths(self, batch: dict[str, Any]) -> ScanpathBatch:
        """Natural-image search (§2.6) on a collated batch with ``image`` (display, float [0, 1]),
        ``target_crop`` and ``gt_mask`` (display px); fixations come back in the original frame
        (``image_size``), snapped to ``natural.snap_points`` when set (``snap=cells``: the last cell containing
        the fixation, else the first point, as upstream ObjArr; ``nearest``: the nearest point). As upstream
        saves them, at most NumFix points are kept (start included; ``output_points=all`` keeps NumFix + 1).
        ``extra`` records found and N."""
        if self.baseline is not None:
            raise ValueError(self.skip_reason({}))
        missing = [k for k in NATURAL_KEYS if k not in batch and not (k == "gt_mask" and _has_target_box(batch))]
        if missing:
            raise KeyError(f"natural-image eccNET needs batch keys {NATURAL_KEYS}; missing {missing} "
                           "(use data=natural_search)")
        sizes = batch.get("image_size")
        displays = [scale_image(_to_uint8_hwc(x), self.display_scale) for x in batch["image"]]
        if "gt_mask" in batch:
            targets = [scale_image(_to_uint8_hwc(x), self.display_scale) for x in batch["target_crop"]]
            gts = [scale_mask(np.asarray(torch.as_tensor(g).cpu(), bool), d.shape[:2])
                   for g, d in zip(batch["gt_mask"], displays)]
        else:  # object layouts: the target's box is the oracle mask; the target is cut from the display there
            gts = [target_box_mask(batch["boxes"][i], int(batch["target_index"][i]), d.shape[:2],
                                   sizes[i] if sizes is not None else None)
                   for i, d in enumerate(displays)]
            if self.object_target == "display":
                targets = [target_from_display(d, g) for d, g in zip(displays, gts)]
            else:
                targets = [scale_image(_to_uint8_hwc(x), self.display_scale) for x in batch["target_crop"]]
        results = parallel_natural_search(self.net, displays, targets, gts, self.natural, batch_size=self.batch_size,
                                          skip_background=self.skip_background, workers=self.search_workers)
        out = []
        for i, (res, disp, meta) in enumerate(zip(results, displays, batch["scanpaths"].meta)):
            H, W = disp.shape[:2]
            W0, H0 = (int(v) for v in sizes[i]) if sizes is not None else (W, H)
            fx = res.fixations[:self.natural.num_fix] if self.output_points == "num_fix" else res.fixations
            xy = np.stack([fx[:, 1] * (W0 / W), fx[:, 0] * (H0 / H)], 1).astype(np.float64)
            if self.snap_points is not None and self.snap == "cells":
                masks = display_cell_masks(self.natural, H, W)
                if masks is None:
                    raise ValueError("natural.snap='cells' needs natural.cells or natural.cell_masks_path")
                xy = snap_to_cells(fx, masks, self.snap_points)
            elif self.snap_points is not None:
                xy = snap_to_points(xy, self.snap_points)
            extra = {k: v for k, v in (meta.get("extra") or {}).items() if k in _STIMULUS_KEYS}
            extra.update(found=bool(res.found), N=int(res.n_fix) if res.found else None)
            out.append(Scanpath(xy[:, 0], xy[:, 1], None, stimulus=meta.get("stimulus") or "", subject=1,
                                task=meta.get("task"), condition=meta.get("condition"), image_size=(W0, H0),
                                extra=extra))
        return ScanpathBatch.from_list(out)

    def skip_reason(self, sample: dict[str, Any]) -> str | None:
        if self.baseline is not None:
            return (f"{self.variant} is an asymmetry-benchmark baseline (experiment=eccnet_asymmetry); "
                    "it has no natural-image mode")
        missing = [k for k in NATURAL_KEYS if k not in sample and not (k == "gt_mask" and _has_target_box(sample))]
        if missing:
            return (f"natural-image eccNET needs {', '.join(NATURAL_KEYS)} (or object boxes with a target index) "
                    f"per sample (data=natural_search); "
                    f"this dataset lacks {', '.join(missing)}. The asymmetry benchmark runs with "
                    "experiment=eccnet_asymmetry")
        return None


def _has_target_box(sample: dict[str, Any]) -> bool:
    return sample.get("boxes") is not None and sample.get("target_index") is not None


def target_box_mask(boxes: Any, target: int, display_hw: tuple[int, int], image_size: Any = None) -> np.ndarray:
    """The oracle mask of an object layout: the target's box ``(x0, y0, x1, y1)`` (original-frame px)
    drawn on the display grid."""
    H, W = int(display_hw[0]), int(display_hw[1])
    W0, H0 = (int(v) for v in image_size) if image_size is not None else (W, H)
    x0, y0, x1, y1 = (float(v) for v in torch.as_tensor(boxes)[target].tolist())
    mask = np.zeros((H, W), bool)
    c0, r0 = int(np.floor(x0 * W / W0)), int(np.floor(y0 * H / H0))
    c1, r1 = int(np.ceil(x1 * W / W0)), int(np.ceil(y1 * H / H0))
    mask[max(r0, 0):min(r1, H), max(c0, 0):min(c1, W)] = True
    return mask


def parallel_natural_search(net: EccNet, displays: list[np.ndarray], targets: list[np.ndarray],
                            gts: list[np.ndarray], params: NaturalSearchParams, batch_size: int = 4,
                            skip_background: bool = True, workers: int | None = None) -> list[Any]:
    """:func:`natural_search` on CPU with one trial at a time per thread, ``workers`` threads (None:
    torch's intra-op thread count) and torch single-threaded meanwhile: every core is busy on small
    convolutions without intra-op barriers (which cost up to 2.5x CPU time on a loaded machine), and the
    results do not depend on the worker count (each trial sees the same single-threaded kernels, never
    a batch). On other devices: one batched serial search (``batch_size`` trials per pass)."""
    from concurrent.futures import ThreadPoolExecutor

    if next(net.parameters()).device.type != "cpu":
        return natural_search(net, displays, targets, gts, params, batch_size=batch_size,
                              skip_background=skip_background)
    n = len(displays)
    workers = max(min(torch.get_num_threads() if workers is None else int(workers), n), 1)

    def run(i: int) -> Any:
        return natural_search(net, [displays[i]], [targets[i]], [gts[i]], params, batch_size=1,
                              skip_background=skip_background)[0]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            return [run(i) for i in range(n)]
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(run, range(n)))
    finally:
        torch.set_num_threads(threads)


def scale_image(img: np.ndarray, scale: float) -> np.ndarray:
    """uint8 ``[H, W, 3]`` resized by ``scale`` (cv2 INTER_AREA; unchanged at 1)."""
    if scale == 1.0:
        return img
    import cv2

    h, w = img.shape[:2]
    size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA))


def scale_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A bool mask resized to ``hw``: a pixel is set where any part of it was (small targets survive)."""
    if mask.shape == tuple(hw):
        return mask
    import cv2

    return cv2.resize(mask.astype(np.uint8) * 255, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_AREA) > 0


def target_from_display(display: np.ndarray, box_mask: np.ndarray) -> np.ndarray:
    """The target image of an object layout: the display inside the target's box (as seen in the display,
    like the asymmetry mode's target canvas)."""
    rows, cols = np.flatnonzero(box_mask.any(1)), np.flatnonzero(box_mask.any(0))
    if not len(rows) or not len(cols):
        raise ValueError("the target's box lies outside the display")
    return np.ascontiguousarray(display[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def _to_uint8_hwc(x: Any) -> np.ndarray:
    """A float [0, 1] ``[3, H, W]`` (or uint8) image tensor as uint8 ``[H, W, 3]``."""
    t = torch.as_tensor(x).detach().cpu()
    if t.dtype != torch.uint8:
        t = (t.float() * 255.0).round().clamp(0, 255).to(torch.uint8)
    return np.ascontiguousarray(t.permute(1, 2, 0).numpy())
