"""eccNET search speed: seconds per trial, one-pass (SAT) EccPool vs the ring-by-ring reference network.

Both runs use the same random-init VGG16 weights, the same trials and the same search loop; only the
EccPool implementation differs (``pool_impl=sat`` vs ``reference``). Random weights give arbitrary
search lengths, so each trial runs a fixed number of fixation steps (``--steps``, NumFix capped) and we
report seconds per trial for that cap and seconds per fixation step; the pooling layers' own time is
measured with forward hooks. Fixations of the two runs are compared (they must be identical).

    OMP_NUM_THREADS=1 python benchmarks/bench_eccnet.py [--trials 1] [--steps 2] [--device cpu]
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


def run(net: EccNet, trials: list, params: SearchParams) -> tuple[float, float, list]:
    acc, hooks = _pool_timer(net)
    t0 = time.perf_counter()
    res = eccnet_search(net, trials, params, batch_size=1)
    dt = time.perf_counter() - t0
    for h in hooks:
        h.remove()
    return dt, acc["pool"], res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="fixation steps per trial (NumFix cap)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    ours = EccNet().to(args.device)
    ref = ours.with_pool_impl("reference").to(args.device)
    rows = []
    for label, cond in EXPERIMENTS.items():
        spec = experiment_of(cond)
        last = spec.n_trials - args.trials
        trials = [make_trial(cond, i) for i in range(last, spec.n_trials)]  # largest set size
        params = SearchParams(num_fix=min(args.steps, spec.num_fix), bg=spec.bg, dog=spec.dog)
        run(ours, trials[:1], SearchParams(num_fix=1, bg=spec.bg, dog=spec.dog))  # warm-up
        t_o, p_o, r_o = run(ours, trials, params)
        t_r, p_r, r_r = run(ref, trials, params)
        same = all(np.array_equal(a.fixations, b.fixations) for a, b in zip(r_o, r_r))
        steps = sum(r.n_fix for r in r_o)
        rows.append((label, len(trials), steps, t_o / len(trials), t_r / len(trials), t_r / t_o, p_o / steps,
                     p_r / steps, p_r / max(p_o, 1e-12), same))
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {dev}; torch {torch.__version__}; {args.steps} fixation steps per trial (NumFix cap)")
    print("| experiment | trials | steps | ours s/trial | ring-by-ring s/trial | ratio | ours pool s/step "
          "| ring-by-ring pool s/step | pool ratio | same fixations |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f}x | {r[6]:.3f} | {r[7]:.3f} | "
              f"{r[8]:.1f}x | {r[9]} |")


if __name__ == "__main__":
    main()
