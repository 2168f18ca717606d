"""eccNET search speed: seconds per trial, ours vs the ring-by-ring reference network.

Three runs share the random-init VGG16 weights, the trials and the search loop:

* reference: ring-by-ring EccPool (``pool_impl=reference``, as upstream), dense search stream;
* ours (dense): one-pass summed-area-table EccPool (``pool_impl=sat``), dense search stream;
* ours: SAT EccPool + background skipping (``skip_background=True``, the default).

Random weights give arbitrary search lengths, so each trial runs a fixed number of fixation steps
(``--steps``, NumFix capped) and we report seconds per trial for that cap; the pooling layers' own time
is measured with forward hooks. Fixations of the three runs are compared (they must be identical).

    OMP_NUM_THREADS=1 python benchmarks/bench_eccnet.py [--trials 1] [--steps 2] [--device cpu|cuda] [--quick]
    OMP_NUM_THREADS=1 python benchmarks/bench_eccnet.py --forward-only   # dense vs background skipping
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch

from scanpath.models.eccnet.search import SearchParams, eccnet_search
from scanpath.models.eccnet.torch_model import EccNet, EccPool
from scanpath.stimuli.asymmetry import experiment_of, make_trial

EXPERIMENTS = {"curvature (exp1, 806-px crop)": "line_in_curves", "intersection (exp3, 1358-px crop)": "cross"}


def _pool_timer(net: EccNet) -> tuple[dict[str, float], list]:
    acc: dict[str, float] = defaultdict(float)
    start: dict[int, float] = {}
    hooks = []
    for m in net.features:
        if isinstance(m, EccPool):
            hooks.append(m.register_forward_pre_hook(lambda mod, inp: start.__setitem__(id(mod), time.perf_counter())))
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out: acc.__setitem__("pool", acc["pool"] + time.perf_counter() - start[id(mod)])))
    return acc, hooks


def run(net: EccNet, trials: list, params: SearchParams, skip: bool) -> tuple[float, float, list]:
    acc, hooks = _pool_timer(net)
    t0 = time.perf_counter()
    res = eccnet_search(net, trials, params, batch_size=1, skip_background=skip)
    dt = time.perf_counter() - t0
    for h in hooks:
        h.remove()
    return dt, acc["pool"], res


def forward_only(device: str) -> None:
    """One search-stream forward pass, dense vs background skipping, eccNET and IVSN pools, display box at
    the crop centre (gaze at the display centre) and at the top edge (gaze at a display corner)."""
    from scanpath.models.eccnet.torch_model import EccNetConfig

    rng = np.random.default_rng(0)
    print("| network | crop | display box | dense s | skip s | ratio | max rel. difference |")
    print("|---|---|---|---|---|---|---|")
    for name, cfg in (("eccNET", EccNetConfig()), ("IVSN", EccNetConfig(pool="max", eccentric=False))):
        torch.manual_seed(0)
        net = EccNet(cfg).to(device)
        for H in (339, 615):
            m = H + 64
            for where, (r0, c0) in (("centre", (m - H // 2, m - H // 2)), ("top edge", (64, 64 + H // 3))):
                crop = np.zeros((2 * m, 2 * m), np.uint8)
                crop[r0:r0 + H, c0:c0 + H] = rng.integers(0, 256, (H, H))
                x = net.preprocess(crop[None])
                with torch.inference_mode():
                    net.search_taps(x[..., :64, :64])  # warm-up
                    t = time.perf_counter()
                    dense = net.search_taps(x)
                    td = time.perf_counter() - t
                    t = time.perf_counter()
                    skip = net.search_taps(x, [(r0, r0 + H, c0, c0 + H)], 0)
                    ts = time.perf_counter() - t
                err = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(dense, skip))
                print(f"| {name} | {2 * m} | {where} | {td:.2f} | {ts:.2f} | {td / ts:.2f}x | {err:.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="fixation steps per trial (NumFix cap)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--forward-only", action="store_true", help="time single search-stream passes instead")
    ap.add_argument("--quick", action="store_true", help="first experiment, 1 trial, 1 step (dry run of the plumbing)")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.steps = 1, 1
    if args.forward_only:
        forward_only(args.device)
        return
    torch.manual_seed(0)
    ours = EccNet().to(args.device)
    ref = ours.with_pool_impl("reference").to(args.device)
    rows = []
    for label, cond in list(EXPERIMENTS.items())[: 1 if args.quick else None]:
        spec = experiment_of(cond)
        last = spec.n_trials - args.trials
        trials = [make_trial(cond, i) for i in range(last, spec.n_trials)]  # largest set size
        params = SearchParams(num_fix=min(args.steps, spec.num_fix), bg=spec.bg, dog=spec.dog)
        run(ours, trials[:1], SearchParams(num_fix=1, bg=spec.bg, dog=spec.dog), True)  # warm-up
        t_s, p_s, r_s = run(ours, trials, params, True)
        t_d, p_d, r_d = run(ours, trials, params, False)
        t_r, p_r, r_r = run(ref, trials, params, False)
        same = all(np.array_equal(a.fixations, b.fixations) and np.array_equal(a.fixations, c.fixations)
                   for a, b, c in zip(r_s, r_d, r_r))
        steps = sum(r.n_fix for r in r_s)
        n = len(trials)
        rows.append((label, n, steps, t_s / n, t_d / n, t_r / n, t_r / t_s, t_r / t_d, p_d / steps, p_r / steps,
                     p_r / max(p_d, 1e-12), same))
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {dev}; torch {torch.__version__}; {args.steps} fixation steps per trial (NumFix cap)")
    print("| experiment | trials | steps | ours s/trial | ours (dense) s/trial | reference s/trial | ratio ours "
          "| ratio ours (dense) | SAT pool s/step | ring-by-ring pool s/step | pool ratio | same fixations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f}x | {r[7]:.2f}x | "
              f"{r[8]:.3f} | {r[9]:.3f} | {r[10]:.1f}x | {r[11]} |")


if __name__ == "__main__":
    main()
