"""Benchmark: NevaClip scanpaths per second, batched vs the upstream one-image-at-a-time protocol.

Both sides run the same :class:`~scanpath.models.neva.torch_model.NevaOptimizer` (same T, I, K, so the
same number of forward/backward passes per image) on the same random-init open_clip model:

* **ours** — all ``--images`` images optimised together (B = 32, K candidates each) in one batch;
* **reference (upstream protocol)** — one image at a time (B = 1), as upstream ``main.py`` loops.

Scanpaths are identical up to float error (per-sample generators), which the script checks.

    OMP_NUM_THREADS=1 python benchmarks/bench_nevaclip.py                # CPU, NevaTiny-ViT (64 px)
    python benchmarks/bench_nevaclip.py --model RN50 --device cuda        # GPU, RN50 at 224 px
"""

from __future__ import annotations

import argparse
import time

import torch

from scanpath.models.neva.clip_factory import build_clip
from scanpath.models.neva.torch_model import NevaOptimizer


def run(opt: NevaOptimizer, x: torch.Tensor, tgt: torch.Tensor, ids: list[int], batch: int) -> tuple[float, torch.Tensor]:
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    outs = [opt(x[i : i + batch], tgt[i : i + batch], ids[i : i + batch]).fix_norm for i in range(0, len(ids), batch)]
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, torch.cat(outs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="NevaTiny-ViT", help="open_clip model name (random init)")
    ap.add_argument("--image-size", type=int, default=None, help="force_image_size (default: the model's)")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--fixations", type=int, default=10)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--candidates", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    torch.manual_seed(0)
    bundle = build_clip(args.model, None, force_image_size=args.image_size, device=args.device)
    S = bundle.image_size
    blur_k = 41 if S >= 128 else 9
    blur_sigma = 10.0 if S >= 128 else 3.0
    opt = NevaOptimizer(bundle.visual, mean=bundle.mean, std=bundle.std, n_fixations=args.fixations,
                        n_iter=args.iters, n_candidates=args.candidates, blur_k=blur_k, blur_sigma=blur_sigma)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.images, 3, S, S, generator=g).to(args.device)
    tgt = bundle.encode_text([f"caption number {i}" for i in range(args.images)], args.device)
    ids = list(range(args.images))

    run(opt, x[:2], tgt[:2], ids[:2], 2)  # warm-up
    ours = min(run(opt, x, tgt, ids, args.images)[0] for _ in range(args.repeats))
    ref = min(run(opt, x, tgt, ids, 1)[0] for _ in range(args.repeats))
    _, a = run(opt, x[:4], tgt[:4], ids[:4], 4)
    _, b = run(opt, x[:4], tgt[:4], ids[:4], 1)
    agree = (a - b).abs().max().item()

    passes = args.fixations * args.iters
    threads = torch.get_num_threads()
    print(f"NevaClip benchmark — model {args.model} (random init) at {S}px, device {args.device}, "
          f"torch threads {threads}")
    print(f"{args.images} images × T={args.fixations} × I={args.iters} × K={args.candidates} "
          f"({passes} forward/backward passes per image on both sides)")
    print(f"{'implementation':<44} {'time (s)':>10} {'scanpaths/s':>12}")
    print(f"{'ours: batched (B=' + str(args.images) + ')':<44} {ours:>10.2f} {args.images / ours:>12.2f}")
    print(f"{'reference: upstream protocol (B=1 loop)':<44} {ref:>10.2f} {args.images / ref:>12.2f}")
    print(f"speed-up (reference / ours): {ref / ours:.2f}x")
    print(f"max |batched − one-at-a-time| fixation difference (4 images, normalised units): {agree:.2e}")


if __name__ == "__main__":
    main()
