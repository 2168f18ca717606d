"""Achieved memory bandwidth of every core kernel, as a fraction of the device's measured copy bandwidth.

Each row times one call of a core op at a size where a launch runs far past its overhead (CUDA events,
median of ``--repeat`` after warm-ups) and divides the bytes it must move (a lower bound: every input
read once, every output written once; stated per row) by the time. The copy bandwidth is a
device-to-device ``Tensor.copy_`` of ``--copy-mib`` MiB, counting bytes read + written, measured in the
same process. Rows: foveate (torch and Triton), ecc_avg_pool (torch SAT and Triton), ior_mask,
great_circle, equirect_to_perspective (uint8, torch ``grid_sample`` path). ``--json`` writes the rows
for ``benchmarks/gpu_report.py``.

    python benchmarks/bench_gpu_kernels.py --device cuda [--json out.json]
    python benchmarks/bench_gpu_kernels.py --device cpu --quick      # plumbing dry run (tiny sizes)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from scanpath.core import ecc_avg_pool, equirect_to_perspective, foveate, great_circle, ior_mask
from scanpath.core.backend import kernel_status, kernel_validated, triton_available, triton_interpret


def timed(fn, dev: str, repeat: int, warmup: int = 2) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if dev == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3)
        else:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def copy_bandwidth(dev: str, mib: int, repeat: int) -> float:
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    t = timed(lambda: dst.copy_(src), dev, repeat)
    return 2 * src.numel() / t


def rows_for(dev: str, quick: bool, repeat: int) -> list[dict]:
    g = torch.Generator(device="cpu").manual_seed(0)
    rows = []
    use_triton = triton_available() and (dev == "cuda" or triton_interpret())

    def add(name, case, fn, nbytes, note):
        try:
            t = timed(fn, dev, repeat)
            rows.append(dict(kernel=name, case=case, seconds=t, bytes=nbytes, bytes_per_s=nbytes / t, note=note))
        except Exception as exc:  # a failing kernel is a result, not a crash of the whole table
            rows.append(dict(kernel=name, case=case, seconds=None, bytes=nbytes, bytes_per_s=None,
                             note=f"FAILED: {type(exc).__name__}: {str(exc)[:200]}"))

    # foveate: blend of x and (blur - x) for K candidates; the blur itself is precomputed (``blurred``)
    B, K, S = (2, 2, 32) if quick else (64, 10, 224)
    x = torch.rand(B, 3, S, S, generator=g).to(dev)
    fix = (torch.rand(B, K, 2, generator=g) * 2 - 1).to(dev)
    mem = (torch.rand(B, S, S, generator=g) * 0.5).to(dev)
    blurred = foveate(x, fix[:, 0], memory=mem, backend="torch")  # any [B,3,S,S] tensor will do as "blurred"
    fb = (2 * x.numel() + mem.numel() + B * K * 3 * S * S) * 4
    case = f"{B} img x {K} cand, 3x{S}^2 fp32"
    add("foveate (torch)", case, lambda: foveate(x, fix, memory=mem, blurred=blurred, backend="torch"), fb,
        "reads x, blur, memory once; writes K outputs")
    if use_triton:
        add("foveate (Triton)", case, lambda: foveate(x, fix, memory=mem, blurred=blurred, backend="triton"), fb,
            "same bytes")
    # ecc_avg_pool: eccNET pool3 of the 1358-px crop
    C, n = (8, 51) if quick else (256, 340)
    xe = torch.randn(1, C, n, n, generator=g).to(dev)
    out_n = (n + 1) // 2
    eb = xe.numel() * 4 + C * out_n * out_n * 4
    case = f"{C}x{n}^2 fp32, slope 0.07, 8 px/deg"
    add("ecc_avg_pool (torch SAT)", case, lambda: ecc_avg_pool(xe, slope=0.07, deg2px=8, impl="sat"), eb,
        "input read + output written (the float64 table's traffic not counted)")
    if use_triton:
        add("ecc_avg_pool (Triton)", case, lambda: ecc_avg_pool(xe, slope=0.07, deg2px=8, impl="triton"), eb,
            "same bytes")
    # ior_mask: disc mode, B images x N fixations
    Bi, N, hw = (2, 4, (32, 48)) if quick else (256, 16, (320, 512))
    centers = (torch.rand(Bi, N, 2, generator=g) * torch.tensor([hw[1], hw[0]])).to(dev)
    add("ior_mask (disc)", f"{Bi} x {N} discs, {hw[0]}x{hw[1]}",
        lambda: ior_mask(hw, "disc", centers=centers, radius=20.0), Bi * hw[0] * hw[1],
        "bool output written")
    # great_circle: float64 pairs
    P = 1000 if quick else 2**24
    a = ((torch.rand(P, 2, generator=g, dtype=torch.float64) - 0.5) * 180).to(dev)
    b = ((torch.rand(P, 2, generator=g, dtype=torch.float64) - 0.5) * 180).to(dev)
    add("great_circle", f"{P} pairs fp64", lambda: great_circle(a, b), P * 8 * 5, "2 x [P,2] read, [P] written")
    # equirect_to_perspective: uint8 panorama, torch path (grid_sample on CUDA)
    V, hw2, phw = (2, (18, 32), (64, 128)) if quick else (64, (720, 1280), (2048, 4096))
    pano = torch.randint(0, 256, (1, 3, *phw), dtype=torch.uint8, generator=g).to(dev)
    yaw = torch.linspace(0, 360, V + 1)[:-1]
    pitch = torch.linspace(-60, 60, V)
    add("equirect_to_perspective (torch)", f"{V} views {hw2[1]}x{hw2[0]} of {phw[1]}x{phw[0]} u8",
        lambda: equirect_to_perspective(pano, yaw, pitch, 100.0, hw2, impl="torch"),
        pano.numel() + V * 3 * hw2[0] * hw2[1],
        "panorama read once, uint8 views written (float pad copy and grid not counted)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (dry run of the plumbing)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--copy-mib", type=int, default=1024)
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu_kernels: --device cuda but torch.cuda.is_available() is False")
    repeat = 2 if args.quick else args.repeat
    bw = copy_bandwidth(args.device, 8 if args.quick else args.copy_mib, repeat)
    rows = rows_for(args.device, args.quick, repeat)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; copy bandwidth (read + write) {bw / 1e9:.1f} GB/s")
    print("| kernel | case | time (ms) | bytes moved (lower bound) | achieved GB/s | fraction of copy BW | note |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["seconds"] is None:
            print(f"| {r['kernel']} | {r['case']} | - | {r['bytes'] / 1e6:.1f} MB | - | - | {r['note']} |")
        else:
            print(f"| {r['kernel']} | {r['case']} | {r['seconds'] * 1e3:.3f} | {r['bytes'] / 1e6:.1f} MB | "
                  f"{r['bytes_per_s'] / 1e9:.1f} | {r['bytes_per_s'] / bw:.2f} | {r['note']} |")
    if args.device == "cuda" and triton_available():
        for op in ("foveate", "ecc_avg_pool"):  # what ``auto`` would decide on this device
            kernel_validated(op, torch.device("cuda", torch.cuda.current_device()))
    status = kernel_status()
    if status:
        print("Triton self-checks (auto backend): " + "; ".join(
            f"{k}: {'passed' if v['passed'] else 'FAILED'} ({v['detail']})" for k, v in status.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "copy_bytes_per_s": bw, "rows": rows,
                       "self_checks": status}, f, indent=1)


if __name__ == "__main__":
    main()
