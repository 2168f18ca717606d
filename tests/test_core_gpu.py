"""CUDA parity of every core op and every Triton kernel against its CPU/torch reference (``-m gpu``).

Run by ``benchmarks/gpu_suite.sh`` (``pytest -m gpu``); skipped without CUDA. Other GPU tests of the
core: tests/test_core_projection.py (equirect float64 CPU vs CUDA), tests/test_core_triton.py (both
kernels at eccNET/NevaClip sizes), tests/test_env360_render.py (batched env CPU vs CUDA).

``SCANPATH_GPU_TESTS_ON=cpu`` runs these tests' code on the CPU instead (the dry run of
``gpu_suite.sh --device cpu``: it checks the plumbing, not the GPU; the Triton tests then need
``TRITON_INTERPRET=1``, set before triton is imported).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from scanpath.core import (
    ecc_avg_pool,
    equirect_to_perspective,
    foveate,
    foveate_reference,
    great_circle,
    ior_mask,
)

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cuda():
    if os.environ.get("SCANPATH_GPU_TESTS_ON", "cuda") == "cpu":
        return torch.device("cpu")  # dry run of this file's code (see the module docstring)
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    return torch.device("cuda")


def _triton(cuda):
    from scanpath.core.backend import triton_available, triton_interpret

    if not triton_available():
        pytest.skip("triton is not installed")
    if cuda.type == "cpu" and not triton_interpret():
        pytest.skip("Triton on CPU tensors needs TRITON_INTERPRET=1")


def test_foveate_cuda_matches_cpu_reference(cuda):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 96, 128, generator=gen, dtype=torch.float64)
    fix = torch.rand(3, 4, 2, generator=gen, dtype=torch.float64) * 2 - 1
    mem = torch.rand(3, 96, 128, generator=gen, dtype=torch.float64) * 0.4
    out = foveate(x.to(cuda), fix.to(cuda), memory=mem.to(cuda), backend="torch").cpu()
    for b in range(3):
        for k in range(4):
            ref = foveate_reference(x[b], fix[b, k], memory=mem[b])
            assert torch.allclose(out[b, k], ref, atol=1e-9), (b, k)
    f32 = foveate(x.float().to(cuda), fix.float().to(cuda), memory=mem.float().to(cuda), backend="torch").cpu()
    assert float((f32.double() - out).abs().max()) < 1e-5


def test_foveate_pyramid_and_ecc_mask_cuda_match_cpu(cuda):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 64, 64, generator=gen, dtype=torch.float64)
    fix = torch.rand(2, 3, 2, generator=gen, dtype=torch.float64) * 2 - 1
    for kw in ({"levels": 3}, {"levels": 2, "mask": "ecc", "ppd": 10.0}):
        cpu = foveate(x, fix, blur_k=9, blur_sigma=3.0, **kw)
        gpu = foveate(x.to(cuda), fix.to(cuda), blur_k=9, blur_sigma=3.0, **kw).cpu()  # auto: not Triton-eligible
        assert torch.allclose(gpu, cpu, atol=1e-9), kw


def test_foveate_triton_forward_and_gradient(cuda):
    _triton(cuda)
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 48, 40, generator=gen, dtype=torch.float64).to(cuda)
    mem = (torch.rand(2, 48, 40, generator=gen, dtype=torch.float64) * 0.3).to(cuda)
    fix = (torch.rand(2, 3, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8).to(cuda)
    a = foveate(x, fix, blur_k=5, blur_sigma=2.0, memory=mem, backend="triton")
    b = foveate(x, fix, blur_k=5, blur_sigma=2.0, memory=mem, backend="torch")
    assert float((a - b).abs().max()) < 1e-12
    p = fix.clone().requires_grad_(True)
    f = lambda q: foveate(x, q, blur_k=5, blur_sigma=2.0, sigma_f=0.3, memory=mem, backend="triton")  # noqa: E731
    assert torch.autograd.gradcheck(f, (p,), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("n, slope, g", [(51, 0.32, 2), (101, 0.16, 4), (202, 0.07, 8)])
def test_ecc_avg_pool_cuda_sat_and_triton_match_cpu_reference(cuda, n, slope, g):
    x = torch.randn(1, 16, n, n, generator=torch.Generator().manual_seed(n)) * 5
    ref = ecc_avg_pool(x.double(), slope=slope, deg2px=g, impl="reference")
    sat = ecc_avg_pool(x.to(cuda), slope=slope, deg2px=g, impl="sat").cpu()
    scale = max(1.0, float(x.abs().max()))
    assert float((sat.double() - ref).abs().max()) <= 1e-5 * scale
    from scanpath.core.backend import triton_available, triton_interpret

    if triton_available() and (cuda.type == "cuda" or triton_interpret()):
        tri = ecc_avg_pool(x.to(cuda), slope=slope, deg2px=g, impl="triton").cpu()
        assert float((tri.double() - ref).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize("mode", ["disc", "square", "box", "cell"])
def test_ior_mask_cuda_equals_cpu(cuda, mode):
    gen = torch.Generator().manual_seed(3)
    B, N, hw = 4, 6, (60, 90)
    centers = torch.rand(B, N, 2, generator=gen) * torch.tensor([90.0, 60.0])
    centers[0, -1] = float("nan")  # a padded fixation
    valid = torch.rand(B, N, generator=gen) > 0.2
    kw: dict = {}
    if mode in ("disc", "square"):
        kw = {"centers": centers, "radius": torch.rand(B, N, generator=gen) * 12 + 1, "valid": valid}
    elif mode == "box":
        lo = torch.rand(B, N, 2, generator=gen) * 50
        kw = {"boxes": torch.cat([lo, lo + 5 + torch.rand(B, N, 2, generator=gen) * 30], -1),
              "visited": valid}
    else:
        kw = {"centers": centers, "grid": (3, 5), "valid": valid}
    cpu = ior_mask(hw, mode, **kw)
    gpu = ior_mask(hw, mode, **{k: v.to(cuda) if isinstance(v, torch.Tensor) else v for k, v in kw.items()})
    assert gpu.device.type == cuda.type and torch.equal(gpu.cpu(), cpu)


def test_great_circle_cuda_matches_cpu(cuda):
    gen = torch.Generator().manual_seed(4)
    a = (torch.rand(10_000, 2, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor([720.0, 180.0])
    b = (torch.rand(10_000, 2, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor([720.0, 180.0])
    cpu = great_circle(a, b)
    gpu = great_circle(a.to(cuda), b.to(cuda))
    assert gpu.device.type == cuda.type and torch.allclose(gpu.cpu(), cpu, atol=1e-9)
    assert float(great_circle(torch.tensor([179.0, 0.0], device=cuda), torch.tensor([-179.0, 0.0], device=cuda))) \
        == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("grid", ["hstar", "py360"])
def test_equirect_uint8_cuda_matches_cpu_paths(cuda, grid):
    rng = np.random.default_rng(5)
    pano = torch.from_numpy(rng.integers(0, 256, (1, 3, 256, 512), dtype=np.uint8))
    yaw, pitch = [0.0, 179.5, 300.0, 90.0], [0.0, 30.0, -85.0, 89.0]
    cpu = equirect_to_perspective(pano, yaw, pitch, 100.0, (90, 160), grid=grid).int()
    gpu = equirect_to_perspective(pano.to(cuda), yaw, pitch, 100.0, (90, 160), grid=grid).cpu().int()
    assert int((gpu - cpu).abs().max()) <= 1  # the same float32 bilinear value, rounded on each device
    cv = equirect_to_perspective(pano, yaw, pitch, 100.0, (90, 160), grid=grid, impl="cv2").int()
    assert float((cv - gpu).abs().double().mean()) < 1.0  # cv2's 1/32-px grid (noise panorama: worst case)


def test_auto_selects_triton_on_cuda_only_after_the_self_check(cuda):
    _triton(cuda)
    if cuda.type != "cuda":
        pytest.skip("auto never picks Triton for CPU tensors (covered in tests/test_core_backend.py)")
    from scanpath.core.backend import kernel_status, resolve_backend

    x = torch.zeros(1, 3, 8, 8, device=cuda)
    for op in ("foveate", "ecc_avg_pool"):
        picked = resolve_backend(op, x, explicit="auto")
        status = kernel_status()[f"{op}@{x.device}"]
        assert picked == ("triton" if status["passed"] else "torch")
        assert status["passed"], status  # the kernel must pass its self-check on this GPU
    assert resolve_backend("foveate", x, explicit="auto", auto_eligible=False) == "torch"
    assert resolve_backend("foveate", x.cpu(), explicit="auto") == "torch"
