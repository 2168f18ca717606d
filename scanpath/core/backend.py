"""Backend dispatcher for the core ops: ``SCANPATH_BACKEND=auto|torch|triton``.

* ``torch``: the pure-torch implementation (CPU and CUDA, differentiable where the op needs it).
* ``triton``: the fused Triton kernels in :mod:`scanpath.core.triton_kernels`. Requires CUDA tensors and
  an importable ``triton``; a clear ``RuntimeError`` otherwise. Exception used by the tests: with
  ``TRITON_INTERPRET=1`` set before triton is imported, CPU tensors run the kernels in Triton's
  interpreter (slow, for validation only).
* ``auto`` (default): the torch path, except on CUDA for a Triton kernel that **passed its self-check
  on that device in this process**. The first ``auto`` call of an op with a Triton kernel on a CUDA
  device runs :data:`scanpath.core.triton_kernels.SELF_CHECKS` for it once (a small input through the
  kernel and through the torch reference, compared at the parity tests' tolerance); a kernel that
  fails, raises or cannot compile is never picked by ``auto`` on that device (torch is used, and
  :func:`kernel_status` says why). CPU tensors always take the torch path. ``SCANPATH_TRITON_AUTO=0``
  pins ``auto`` to torch without running any check.

Why a self-check rather than a fixed list of validated kernels: no GPU was available when the kernels
were written, and a check recorded on one GPU/driver/Triton build says little about another; the check
costs one compile and a few milliseconds per kernel and device, once per process. The GPU parity tests
(``pytest -m gpu``, run by ``benchmarks/gpu_suite.sh``) check the same kernels at full size.
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import torch

Backend = Literal["torch", "triton"]
_VALID = ("auto", "torch", "triton")
_CHECKED: dict[tuple[str, str], tuple[bool, str]] = {}


def requested_backend() -> str:
    """The value of ``SCANPATH_BACKEND`` (default ``auto``), validated."""
    val = os.environ.get("SCANPATH_BACKEND", "auto").strip().lower() or "auto"
    if val not in _VALID:
        raise ValueError(f"SCANPATH_BACKEND must be one of {_VALID}, got {val!r}")
    return val


def triton_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # pragma: no cover - depends on the install
        return False
    return True


def auto_triton_enabled() -> bool:
    return os.environ.get("SCANPATH_TRITON_AUTO", "1").strip() not in ("0", "false", "no", "off")


def kernel_validated(op: str, device: torch.device) -> bool:
    """Whether ``op``'s Triton kernel passed its self-check on ``device`` (runs it once per process)."""
    key = (op, str(device))
    if key not in _CHECKED:
        try:
            from .triton_kernels import SELF_CHECKS

            check = SELF_CHECKS.get(op)
            if check is None:
                _CHECKED[key] = (False, "no Triton kernel")
            else:
                err, tol = check(device)
                ok = bool(err <= tol)
                _CHECKED[key] = (ok, f"max error {err:.2e} (tolerance {tol:.0e})")
        except Exception as exc:  # compile errors, missing driver features, ...
            _CHECKED[key] = (False, f"{type(exc).__name__}: {exc}"[:300])
        ok, why = _CHECKED[key]
        if not ok:
            warnings.warn(f"scanpath.core: Triton kernel for {op} not used on {device} ({why}); using torch",
                          RuntimeWarning, stacklevel=3)
    return _CHECKED[key][0]


def kernel_status() -> dict[str, dict[str, object]]:
    """Self-check results so far: ``{"op@device": {"passed": bool, "detail": str}}``."""
    return {f"{op}@{dev}": {"passed": ok, "detail": why} for (op, dev), (ok, why) in sorted(_CHECKED.items())}


def resolve_backend(
    op: str, x: torch.Tensor, explicit: str | None = None, force_torch: bool = False, auto_eligible: bool = True
) -> Backend:
    """Pick the backend for ``op`` on tensor ``x``.

    ``explicit`` (a function argument) wins over the environment; ``force_torch`` pins the torch path
    (used when the caller named the torch implementation); ``auto_eligible=False`` keeps ``auto`` on
    torch for a call the Triton kernel does not cover (e.g. foveate with a blur pyramid).
    """
    if force_torch:
        return "torch"
    want = (explicit or requested_backend()).lower()
    if want not in _VALID:
        raise ValueError(f"{op}: backend must be one of {_VALID}, got {want!r}")
    if want == "torch":
        return "torch"
    if want == "auto":
        if (auto_eligible and x.is_cuda and auto_triton_enabled() and triton_available()
                and kernel_validated(op, x.device)):
            return "triton"
        return "torch"
    if not triton_available():
        raise RuntimeError(f"{op}: backend 'triton' requested but triton cannot be imported")
    if x.is_cuda or (x.device.type == "cpu" and triton_interpret()):
        return "triton"
    raise RuntimeError(
        f"{op}: backend 'triton' requested but the input is on {x.device}; the Triton kernels need CUDA "
        "tensors (or TRITON_INTERPRET=1 with CPU tensors, for validation). Use SCANPATH_BACKEND=torch or auto."
    )
