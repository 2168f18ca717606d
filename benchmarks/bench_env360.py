"""Benchmark: 360° environment steps per second.

Ours: ``BatchedHumanoid360Env`` stepping N parallel episodes (one batched core render per step) on CPU
(OpenCV renderer, ``render_impl="auto"``) and/or CUDA (torch path). Reference: the single gymnasium
``Humanoid360Env`` rendering each step with ``py360convert.e2p`` (measured in the same run). Also shown:
the batched env with the previous CPU renderer (``render_impl="torch"``, the "before" of issue 14) and
the single env with the core renderer.

    python benchmarks/bench_env360.py [--envs 64] [--steps 5] [--sizes 72x128 360x640] [--device auto|cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from scanpath.envs.actions import Rotate
from scanpath.envs.batched import BatchedHumanoid360Env
from scanpath.io.episodes import Episode
from scanpath.envs.humanoid360 import Humanoid360Env

P41 = Path(__file__).resolve().parents[2] / "shared" / "data" / "salient360" / "stimuli" / "P41_2000x1000.jpg"


def panorama() -> tuple[np.ndarray, str]:
    if P41.exists():
        import cv2

        return cv2.cvtColor(cv2.imread(str(P41)), cv2.COLOR_BGR2RGB), "P41 2000×1000"
    from scanpath.stimuli.panoramas import generate_scene

    return generate_scene(0, size=(2048, 1024)).image, "procedural 2048×1024"


def rotations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice([-90, -45, -20, 20, 45, 90], n), rng.choice([-30, -10, 0, 10, 30], n)], 1)


def bench_batched(pano: np.ndarray, n_envs: int, steps: int, out_hw, device: str, impl: str = "auto") -> float:
    stack = torch.from_numpy(pano).permute(2, 0, 1)[None].contiguous()
    env = BatchedHumanoid360Env(stack, out_hw=out_hw, max_steps=steps + 1, device=device, render_impl=impl)
    n = n_envs
    args = (torch.zeros(n, dtype=torch.long), torch.tensor([[0.0, 10.0]] * n), torch.tensor([[0.0, 10.0]] * n),
            torch.zeros(n, dtype=torch.long), torch.arange(n) * 37 % 360)
    env.reset(*args)  # warm-up (map cache, allocations)
    env.step(torch.zeros(n, dtype=torch.long), torch.from_numpy(rotations(n, 0)))
    env.reset(*args)
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for s in range(steps):
        env.step(torch.zeros(n, dtype=torch.long), torch.from_numpy(rotations(n, s + 1)))
    if device == "cuda":
        torch.cuda.synchronize()
    return n * steps / (time.perf_counter() - t)


def bench_single(pano: np.ndarray, steps: int, out_hw, renderer: str) -> float:
    ep = Episode("bench", pano, "find it", "HOS", (0, 10), (0, 10), start_yaw=0)
    env = Humanoid360Env([ep], out_hw=out_hw, max_steps=10**6, renderer=renderer)
    env.reset(options={"episode": 0})
    env.step(Rotate(10, 0))  # warm-up
    rot = rotations(steps, 1)
    t = time.perf_counter()
    for a in rot:
        env.step(Rotate(int(a[0]), int(a[1])))
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--ref-steps", type=int, default=20)
    ap.add_argument("--sizes", nargs="+", default=["72x128", "360x640"])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: cpu, plus cuda when present")
    ap.add_argument("--quick", action="store_true", help="tiny run that exercises every column (dry run)")
    a = ap.parse_args()
    if a.quick:
        a.envs, a.steps, a.ref_steps, a.sizes = 4, 1, 2, ["18x32"]
    torch.manual_seed(0)
    import cv2

    cv2.setNumThreads(torch.get_num_threads())  # both renderers call cv2.remap
    pano, name = panorama()
    if a.quick:
        pano, name = cv2.resize(pano, (256, 128), interpolation=cv2.INTER_AREA), name + " resized to 256×128"
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if a.device == "auto" else [a.device]
    if "cuda" in devices and not torch.cuda.is_available():
        raise SystemExit("bench_env360: --device cuda but torch.cuda.is_available() is False")
    print(f"panorama: {name}; torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"| view (h×w) | device | batched env steps/s (N={a.envs}) | batched, impl=torch (before) steps/s | "
          "single env + py360convert steps/s | ratio | ratio before | single env + core steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    for size in a.sizes:
        h, w = (int(v) for v in size.split("x"))
        ref = bench_single(pano, a.ref_steps, (h, w), "py360convert")
        core1 = bench_single(pano, a.ref_steps, (h, w), "core")
        for dev in devices:
            ours = bench_batched(pano, a.envs, a.steps, (h, w), dev)
            before = bench_batched(pano, a.envs, a.steps, (h, w), dev, "torch") if dev == "cpu" else float("nan")
            print(f"| {h}×{w} | {dev} | {ours:.1f} | {before:.1f} | {ref:.1f} | {ours / ref:.1f}× | "
                  f"{before / ref:.1f}× | {core1:.1f} |", flush=True)


if __name__ == "__main__":
    main()
