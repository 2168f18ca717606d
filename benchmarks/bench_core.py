"""Benchmark the scanpath.core hot paths against named references, measured in the same run.

Rows (ours vs reference, ratio = reference time / our time):
* foveate: B images x K candidates at 224^2 (NevaClip defaults: 41 taps, sigma 10, sigma_f 0.2, with
  memory) in one batched call vs looping the single-image torch reference ``foveate_reference`` (which,
  like upstream NeVA, blurs inside every call).
* ecc_avg_pool: eccNET EccPool layers (806- and 1358-px crops, pools 3-5, B = 1) with the float64 SAT vs
  the ring-by-ring reference (one masked pool per distinct kernel size, as upstream); max |diff| shown.
* equirect_to_perspective: V views of 1280x720 (and 640x360, 128x72) from a 4096x2048 uint8 panorama
  in one batched call vs looping ``py360convert.e2p`` (its lru cache cleared first; every pose distinct,
  so it never hits). Three of ours per case: the tensor API with ``impl="cv2"`` (OpenCV, pads the
  panorama inside the call), the previous CPU renderer ``impl="torch"`` (the "before"), and
  ``EquirectRenderer.render`` on a panorama padded once (map caches cleared every call, like ours).
  Two pose sets: every view at a different pitch (worst case for the per-pitch map cache) and poses on
  an H*-style lattice (3 pitches). mean |diff| vs py360 on uint8 is shown (grid="py360"). Both sides
  call cv2.remap with ``cv2.setNumThreads(OMP_NUM_THREADS)``.
On CUDA (when present) the foveate/ecc rows also report achieved memory bandwidth as a fraction of the
device's measured copy bandwidth.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_core.py [--views 16] [--device auto|cpu|cuda] [--quick] [--record]
``--record`` replaces the ``## Core`` section of benchmarks/RESULTS.md (atomic write).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scanpath.core import ecc_avg_pool, equirect_to_perspective, foveate, foveate_reference
from scanpath.core import projection as _projection


def _sync(dev: str) -> None:
    if dev == "cuda":
        torch.cuda.synchronize()


def timeit(fn, dev: str = "cpu", repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` runs after ``warmup`` runs (seconds)."""
    for _ in range(warmup):
        fn()
    _sync(dev)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return best


def copy_bandwidth(dev: str) -> float:
    x = torch.empty((256 if dev == "cuda" else 64) * 2**20 // 4, dtype=torch.float32, device=dev)
    t = timeit(lambda: x.clone(), dev, repeat=5)
    return 2 * x.numel() * 4 / t


def bench_foveate(dev: str, B: int, K: int, S: int = 224):
    """Batched ``foveate`` vs looping ``foveate_reference``; on CUDA also the achieved bytes/s."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(B, 3, S, S, generator=gen).to(dev)
    fix = (torch.rand(B, K, 2, generator=gen) * 2 - 1).to(dev)
    mem = (torch.rand(B, S, S, generator=gen) * 0.5).to(dev)
    ours = timeit(lambda: foveate(x, fix, memory=mem), dev, repeat=3)

    def ref():
        for b in range(B):
            for k in range(K):
                foveate_reference(x[b], fix[b, k], memory=mem[b])

    reft = timeit(ref, dev, repeat=1, warmup=0)
    out = foveate(x, fix, memory=mem)
    err = 0.0
    for b, k in [(0, 0), (B // 2, K // 2), (B - 1, K - 1)]:
        r = foveate_reference(x[b], fix[b, k], memory=mem[b])
        err = max(err, float(((out[b, k] - r).abs() / r.abs().clamp_min(1)).max()))
    bw = None
    if dev == "cuda":
        moved = (2 * x.numel() + mem.numel() + out.numel()) * 4
        bw = moved / ours
    return dict(op="foveate", case=f"{B} img x {K} cand, {S}^2", ours=ours, ref=reft,
                refname="loop foveate_reference", check=f"max rel err {err:.1e}", bw=bw)


ECC_LAYERS = [  # (crop, pool, channels, layer input side, slope, px/deg)
    (806, 3, 256, 202, 0.07, 8), (806, 4, 512, 101, 0.16, 4), (806, 5, 512, 51, 0.32, 2),
    (1358, 3, 256, 340, 0.07, 8), (1358, 4, 512, 170, 0.16, 4), (1358, 5, 512, 85, 0.32, 2),
]


def bench_ecc(dev: str, crops=(806, 1358), quick: bool = False):
    rows = []
    layers = [(51, 5, 8, 51, 0.32, 2)] if quick else ECC_LAYERS
    for crop, pool, C, n, s, g in layers:
        if crop not in crops and not quick:
            continue
        x = torch.randn(1, C, n, n, generator=torch.Generator().manual_seed(n)).to(dev)
        ours = timeit(lambda: ecc_avg_pool(x, slope=s, deg2px=g, impl="sat"), dev, repeat=3)
        reft = timeit(lambda: ecc_avg_pool(x, slope=s, deg2px=g, impl="reference"), dev, repeat=2, warmup=0)
        a = ecc_avg_pool(x, slope=s, deg2px=g, impl="sat")
        b = ecc_avg_pool(x, slope=s, deg2px=g, impl="reference")
        err = float((a - b).abs().max()) / max(1.0, float(x.abs().max()))
        ok = "identical" if err <= 1e-5 else "MISMATCH"
        bw = None
        if dev == "cuda":
            bw = (x.numel() * 4 + x.numel() * 8 * 3 + a.numel() * 4) / ours  # read x, table write+read, out
        rows.append(dict(op="ecc_avg_pool", case=f"crop {crop} pool{pool}: {C}x{n}^2", ours=ours, ref=reft,
                         refname="ring-by-ring reference", check=f"{ok} (max rel {err:.1e})", bw=bw))
    return rows


def bench_equirect(dev: str, V: int, sizes=((720, 1280),), quick: bool = False):
    """Rows per (view size, pose set): ours (cv2 tensor API; on CUDA the torch path), the previous CPU
    renderer (``impl="torch"``, the "before" of issue 14) and the prepared ``EquirectRenderer``, each vs
    looping ``py360convert.e2p`` in the same run."""
    import py360convert
    from py360convert.utils import EquirecSampler

    from scanpath.core import EquirectRenderer

    rng = np.random.default_rng(0)
    pano_hw = (256, 512) if quick else (2048, 4096)
    pano = rng.integers(0, 256, size=(*pano_hw, 3), dtype=np.uint8)
    t = torch.from_numpy(pano).permute(2, 0, 1)[None].contiguous().to(dev)
    yaws = np.linspace(0.0, 360.0, V, endpoint=False) + 7.0
    sets = {
        "distinct pitch per view": np.linspace(-80.0, 80.0, V),
        "H* lattice (3 pitches)": np.array([(-30.0, 0.0, 30.0)[i % 3] for i in range(V)]),
    }
    rows = []
    for out_hw in sizes:
        vf = 2 * np.degrees(np.arctan(np.tan(np.radians(50.0)) * out_hw[0] / out_hw[1]))
        for name, pitches in sets.items():
            def clear():
                _projection._MAP_CACHE.clear()
                _projection._SAMPLE_CACHE.clear()  # every call pays its per-pitch trigonometry

            def api(impl):
                def fn():
                    clear()
                    return equirect_to_perspective(t, yaws, pitches, 100.0, out_hw, grid="py360", pole="flip",
                                                   vfov_deg=vf, impl=impl)
                return fn

            rend = EquirectRenderer(pano, "flip") if dev == "cpu" else None

            def prepared():
                rend.clear_cache()
                return rend.render(yaws, pitches, 100.0, out_hw, "py360", vf)

            def ref_fn():
                EquirecSampler.from_perspective.cache_clear()
                return [py360convert.e2p(pano, fov_deg=(100, vf), u_deg=((y + 180) % 360) - 180, v_deg=p,
                                         out_hw=out_hw) for y, p in zip(yaws, pitches)]

            reft = timeit(ref_fn, "cpu", repeat=1, warmup=0)
            r = np.stack(ref_fn()).astype(np.int32)
            case = f"{V} views {out_hw[1]}x{out_hw[0]} of {pano_hw[1]}x{pano_hw[0]} u8, {name}"
            impls = [("cv2", "equirect_to_perspective(impl='cv2')"), ("torch", "impl='torch' (before)")]
            if dev != "cpu":
                impls = [("torch", "equirect_to_perspective (torch)")]
            for impl, label in impls:
                fn = api(impl)
                ours = timeit(fn, dev, repeat=2)
                o = fn().permute(0, 2, 3, 1).cpu().numpy().astype(np.int32)
                d = np.abs(o - r)
                bw = None
                if dev == "cuda":  # read ~4 taps x C per output pixel (upper bound), write the output
                    bw = (o.size * 4 + o.size) / ours
                rows.append(dict(op="equirect_to_perspective", label=label, case=case, ours=ours, ref=reft,
                                 refname="loop py360convert.e2p", check=f"mean|d| {d.mean():.3f}, max {d.max()}",
                                 bw=bw))
            if rend is not None:
                ours = timeit(prepared, dev, repeat=2)
                d = np.abs(prepared().astype(np.int32) - r)
                rows.append(dict(op="equirect_to_perspective", label="EquirectRenderer.render (padded once)",
                                 case=case, ours=ours, ref=reft, refname="loop py360convert.e2p",
                                 check=f"mean|d| {d.mean():.3f}, max {d.max()}", bw=None))
    return rows


TARGETS = {"foveate": 5.0, "ecc_avg_pool": 10.0, "equirect_to_perspective": 10.0}


def table(rows, dev: str, copy_bw: float | None) -> str:
    head = "| op | case | device | ours (s) | reference | ref (s) | ratio | target | check |"
    if copy_bw:
        head += " BW / copy BW |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = (f"| {r.get('label', r['op'])} | {r['case']} | {dev} | {r['ours']:.4f} | {r['refname']} | {r['ref']:.4f} | "
                f"{r['ref'] / r['ours']:.1f}x | >={TARGETS[r['op']]:.0f}x "
                f"{'met' if r['ref'] / r['ours'] >= TARGETS[r['op']] else 'NOT met'} | {r['check']} |")
        if copy_bw:
            line += f" {r['bw'] / copy_bw:.2f} |" if r.get("bw") else " - |"
        lines.append(line)
    return "\n".join(lines)


def record(text: str) -> None:
    from scanpath.io.atomic import atomic_write_text

    path = Path(__file__).with_name("RESULTS.md")
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = old.splitlines(keepends=True)
    out, skip, done = [], False, False
    for ln in lines:
        if ln.startswith("## "):
            if ln.strip() == "## Core":
                skip, done = True, True
                out.append(text if text.endswith("\n") else text + "\n")
                continue
            skip = False
        if not skip:
            out.append(ln)
    if not done:
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        out.append("\n" + text + ("\n" if not text.endswith("\n") else ""))
    atomic_write_text(path, "".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--views", type=int, default=16, help="views per equirect row (issue target: 256)")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--crops", type=int, nargs="*", default=[806, 1358], help="eccNET crop sizes for the ecc rows")
    ap.add_argument("--skip", nargs="*", default=[], choices=["foveate", "ecc", "equirect"])
    ap.add_argument("--sizes", nargs="+", default=["720x1280", "360x640", "72x128"],
                    help="equirect view sizes h x w")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto: cpu, plus cuda when present")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: exercise every row's plumbing (dry run)")
    ap.add_argument("--record", action="store_true", help="write the ## Core section of RESULTS.md")
    args = ap.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    import cv2

    cv2.setNumThreads(threads)  # py360convert and our renderer both call cv2.remap: same thread count
    if args.device == "auto":
        devs = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devs = [args.device]
    if "cuda" in devs and not torch.cuda.is_available():
        raise SystemExit("bench_core: --device cuda but torch.cuda.is_available() is False")
    sizes = [tuple(int(v) for v in sz.split("x")) for sz in args.sizes]
    if args.quick:
        args.images, args.candidates, args.views, args.crops = 2, 2, min(args.views, 3), []
        sizes = [(18, 32)]
    out = []
    for dev in devs:
        rows = []
        if "foveate" not in args.skip:
            rows.append(bench_foveate(dev, args.images, args.candidates, 32 if args.quick else 224))
            print(table(rows[-1:], dev, None), flush=True)
        if "ecc" not in args.skip:
            ecc_rows = bench_ecc(dev, tuple(args.crops), args.quick)
            rows += ecc_rows
            print(table(ecc_rows, dev, None), flush=True)
        if "equirect" not in args.skip:
            eq = bench_equirect(dev, args.views, sizes, args.quick)
            rows += eq
            print(table(eq, dev, None), flush=True)
        cbw = copy_bandwidth(dev) if dev == "cuda" else None
        out.append(table(rows, dev, cbw))
        if cbw:
            out.append(f"\nmeasured {dev} copy bandwidth: {cbw / 1e9:.1f} GB/s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"## Core\n\nMachine: shared 2-core CPU sandbox ({platform.processor() or platform.machine()}), "
              f"torch {torch.__version__}, {threads} thread(s), load average at the end {load:.1f}; {stamp}.\n"
              f"Command: `OMP_NUM_THREADS={threads} python benchmarks/bench_core.py "
              f"{' '.join(sys.argv[1:])}`. Our times: best of 3 runs after a warm-up (equirect: best of 2); reference times: best of 2 for ecc_avg_pool, one run otherwise.\n")
    notes = (
        "\nNotes: the box is shared by 8 engineers (load average 4-14 during these runs), so absolute times "
        "move by about 2x between runs; ratios are what count (reference and ours run in the same process, "
        "back to back). The equirect rows use fewer views than the issue's 256 (py360convert takes 0.3-1 s "
        "per 1280x720 view here), the same count on both sides; the panorama is uniform noise, the worst "
        "case for the interpolation difference to py360convert (its cv2 path quantises weights to 1/32 px; "
        "on the P41 photograph the test suite measures mean |d| of about 0.1).\n\n"
        "equirect rows: impl='cv2' and EquirectRenderer sample with cv2.remap (INTER_LINEAR) on the uint8 HWC "
        "panorama padded once with 2W+3 wrapped columns; per-pitch float32 maps and their fixed-point "
        "convertMaps form are cached (cleared before every timed call here, so each call pays its "
        "trigonometry), yaw is an ROI column offset plus a 1/32-px map fraction. The tensor API pads the "
        "panorama inside every call (cv2.merge into the padded buffer, ~10 ms at 4096x2048); "
        "EquirectRenderer pads once. impl='torch' is the previous CPU renderer (exact bilinear, the default "
        "of equirect_to_perspective, bit-consistent between uint8 and float input).\n"
        "ecc_avg_pool (806-px crop): the float64 SAT is now built NCHW in cache-sized chunks (~4 MB) with "
        "in-place cumsum_ into reused zero-bordered scratch (no per-chunk allocations, no transposes) and "
        "the 4 corners are fetched with one torch.gather of the cached flat indices expanded over planes "
        "(5x faster than index_select along dim 1, which took ~50% of the time before). Profile of "
        "256x202^2 after: cumsum_ 47%, gather 25%, input copy into the float64 table 7%, combine ~10%.\n"
        + ("" if torch.cuda.is_available() else " No CUDA device was available, so no GPU rows or bandwidth fractions.")
        + "\n"
    )
    text = header + "\n" + "\n\n".join(out) + "\n" + notes
    print(text)
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
