"""eccNET / IVSN natural-image search on the search arrays: CPU seconds per step, cached features vs the
per-crop pass (docs/eccnet.md §2.6.1).

Both runs share the random-init VGG16 weights, the displays and the targets (cut from the display at the
target's box, as the leaderboard does). The oracle mask is empty, so every trial makes exactly ``--steps``
fixations; the per-step cost excludes nothing (the cached run's one-off per-trial pass is included and
also reported alone). The fixations of the two runs are compared (they may differ: the cached crop is
shifted by up to stride/2 px and its edge sees the canvas instead of zero padding; with random weights
the maps have many near-equal peaks, so the first fixation that differs sends the searches apart).

    OMP_NUM_THREADS=1 python benchmarks/bench_eccnet_natural.py [--trials 2] [--steps 4] [--scales 1 0.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from scanpath.datamodules.search_arrays import SearchArraysDataModule
from scanpath.models.eccnet.feature_cache import TrialFeatures
from scanpath.models.eccnet.module import EccNetSearchModel, _to_uint8_hwc, scale_image, target_box_mask, target_from_display
from scanpath.models.eccnet.natural import NaturalSearchParams, natural_search


def _inputs(n: int, scale: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    dm = SearchArraysDataModule(num_layouts=100, include_image=True)
    dm.setup()
    ds = dm.predict_dataloader().dataset
    displays, targets = [], []
    for i in range(n):
        s = ds[i]
        d = scale_image(_to_uint8_hwc(s["image"]), scale)
        box = target_box_mask(s["boxes"], int(s["target_index"]), d.shape[:2], s["image_size"])
        displays.append(d)
        targets.append(target_from_display(d, box))
    return displays, targets


def _cpu(fn) -> tuple[float, object]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5])
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"threads {torch.get_num_threads()}, {args.trials} trials x {args.steps} steps, CPU s (process time)")
    print("| variant | display | per-crop s/step | cached s/step | cached: per-trial pass s | ratio | same fixations "
          "| first fixation apart (median px) |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in ("eccnet", "ivsn"):
        net = EccNetSearchModel(variant, weights="random", seed=0).net
        for scale in args.scales:
            displays, targets = _inputs(args.trials, scale)
            gts = [np.zeros(d.shape[:2], bool) for d in displays]
            runs = {}
            for cache in (False, True):
                p = NaturalSearchParams(num_fix=args.steps, layer_mask=(0.0, 0.0, 1.0) if variant == "ivsn" else
                                        (1.0, 1.0, 1.0), cache_features=cache)
                runs[cache] = _cpu(lambda: natural_search(net, displays, targets, gts, p, batch_size=4))
            setup, _ = _cpu(lambda: [TrialFeatures(net, d, 0) for d in displays])
            n = args.trials * args.steps
            pairs = list(zip(runs[False][1], runs[True][1]))
            same = np.mean([np.array_equal(a.fixations, b.fixations) for a, b in pairs])
            first = np.median([np.hypot(*(a.fixations[1] - b.fixations[1])) for a, b in pairs])
            H, W = displays[0].shape[:2]
            print(f"| {variant} | {H}x{W} | {runs[False][0] / n:.3f} | {runs[True][0] / n:.3f} | "
                  f"{setup / args.trials:.3f} | {runs[False][0] / runs[True][0]:.1f}x | {same:.0%} of trials | "
                  f"{first:.0f} |")


if __name__ == "__main__":
    main()
