"""Backend dispatcher for the core ops: ``SCANPATH_BACKEND=auto|torch|triton``.

* ``torch``: the pure-torch implementation (CPU and CUDA, differentiable where the op needs it).
* ``triton``: the fused Triton kernels in :mod:`scanpath.core.triton_kernels`. Requires CUDA tensors and
  an importable ``triton``; a clear ``RuntimeError`` otherwise. Exception used by the tests: with
  ``TRITON_INTERPRET=1`` set before triton is imported, CPU tensors run the kernels in Triton's
  interpreter (slow, for validation only).
* ``auto`` (default): **always the torch path**. The Triton kernels were written and validated only
  with the Triton CPU interpreter; they have not been validated on a GPU (none was available when they
  were written), so they are never picked automatically. Set ``SCANPATH_BACKEND=triton`` (or pass
  ``backend="triton"`` / ``impl="triton"``) to opt in.
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Backend = Literal["torch", "triton"]
_VALID = ("auto", "torch", "triton")


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


def resolve_backend(
    op: str, x: torch.Tensor, explicit: str | None = None, force_torch: bool = False
) -> Backend:
    """Pick the backend for ``op`` on tensor ``x``.

    ``explicit`` (a function argument) wins over the environment; ``force_torch`` pins the torch path
    (used when the caller named the torch implementation).
    """
    if force_torch:
        return "torch"
    want = (explicit or requested_backend()).lower()
    if want not in _VALID:
        raise ValueError(f"{op}: backend must be one of {_VALID}, got {want!r}")
    if want in ("auto", "torch"):
        return "torch"
    if not triton_available():
        raise RuntimeError(f"{op}: backend 'triton' requested but triton cannot be imported")
    if x.is_cuda or (x.device.type == "cpu" and triton_interpret()):
        return "triton"
    raise RuntimeError(
        f"{op}: backend 'triton' requested but the input is on {x.device}; the Triton kernels need CUDA "
        "tensors (or TRITON_INTERPRET=1 with CPU tensors, for validation). Use SCANPATH_BACKEND=torch or auto."
    )
