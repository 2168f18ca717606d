"""OAT's "learned" 2-D position table: rows whose cosine similarity decays as a Gaussian of index distance.

W ~ N(0, 1) of shape (R_pe, 86) is fitted with Adam (lr 0.01, 10,000 full-batch steps) to

    loss = [Σ_ij (cos(W_i, W_j) − g_ij)² + mean_i (‖W_i‖ − mean‖W‖)²] / (R_pe (R_pe − 1)),
    g_ij = exp(−(i − j)² / (2σ²)),

so that PE(r, c, f) = first 256 dims of [W[r]; W[c]; W[f]] makes near cells similar. The table is
regenerated (never shipped), cached on disk keyed by (R_pe, σ, seed, steps, lr, start), or loaded from
a user ``.npy``.

Starting point (``init``): the loss fixes only the cosines and the equality of the row norms, so the
common norm the fit ends at is set by where it starts. Upstream's two shipped tables come from two
starts: Amazon's 14-row table from W ~ N(0, 1) (rows ≈ √86, ending near 9) and the shelves' 11-row
``learned_PE_random_2.npy`` from the sinusoidal sequence code (sin/cos of p·10000^(−2k/86), rows of
norm √43, ending near 5.9; upstream's fitting script has this start for an 11×86 table).
``init="auto"`` picks the sinusoidal start for an 11-row table and the random one otherwise.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import torch

from scanpath.io.atomic import atomic_write_bytes
from scanpath.errors import ScanpathDataError

log = logging.getLogger(__name__)

PE_DIM = 86
PE_INITS = ("auto", "random", "sinusoidal")
#: rows of upstream's shelf table (wine / yogurt), the one fitted from the sinusoidal start
SHELF_PE_ROWS = 11


def resolve_pe_init(init: str, n_rows: int) -> str:
    """``random`` or ``sinusoidal`` for a table of ``n_rows`` rows (``auto``: sinusoidal for 11 rows)."""
    if init not in PE_INITS:
        raise ValueError(f"pe_init must be one of {PE_INITS}, got {init!r}")
    if init == "auto":
        return "sinusoidal" if int(n_rows) == SHELF_PE_ROWS else "random"
    return init


def sinusoidal_table(n_rows: int, dim: int = PE_DIM) -> np.ndarray:
    """The sinusoidal sequence code as a start: row p, column 2k = sin(p·ω_k), 2k+1 = cos(p·ω_k),
    ω_k = 10000^(−2k/dim); float64 ``(n_rows, dim)``."""
    omega = 1.0 / (10000.0 ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    angles = np.arange(n_rows, dtype=np.float64)[:, None] * omega[None, :]
    out = np.empty((n_rows, dim))
    out[:, 0::2] = np.sin(angles)
    out[:, 1::2] = np.cos(angles)[:, : dim // 2]
    return out


def gaussian_target(n_rows: int, sigma: float) -> torch.Tensor:
    """g_ij = exp(−(i − j)² / (2σ²)) as a float64 ``(n, n)`` tensor."""
    i = torch.arange(n_rows, dtype=torch.float64)
    return torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * sigma**2))


def pe_loss(w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The upstream fitting loss (module docstring)."""
    n = w.shape[0]
    norms = w.norm(dim=1)
    unit = w / norms[:, None]
    cos = unit @ unit.t()
    sim = ((cos - target) ** 2).sum()
    eq = ((norms - norms.mean()) ** 2).mean()
    return (sim + eq) / (n * (n - 1))


def pe_loss_grad(w: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and its analytic gradient (numpy float64; equals autograd of :func:`pe_loss`)."""
    n = w.shape[0]
    norms = np.linalg.norm(w, axis=1)
    u = w / norms[:, None]
    err = u @ u.T - target
    dev = norms - norms.mean()
    scale = 1.0 / (n * (n - 1))
    loss = ((err**2).sum() + (dev**2).mean()) * scale
    g_u = 4.0 * err @ u  # d Σ(cos − g)² / dU (err is symmetric)
    g_w = (g_u - (g_u * u).sum(1, keepdims=True) * u) / norms[:, None]
    g_w += (2.0 / n) * dev[:, None] * u
    return float(loss), g_w * scale


def fit_pe_table(
    n_rows: int, sigma: float = 2.0, seed: int = 0, steps: int = 10_000, lr: float = 0.01, dim: int = PE_DIM,
    init: str = "auto",
) -> np.ndarray:
    """Fit the table from a start (``init``, module docstring: W ~ N(0, 1) from ``torch.Generator(seed)``
    or the sinusoidal code), then full-batch Adam (β = 0.9, 0.999, ε = 1e-8, as torch's) on the analytic
    gradient in float64 — the same optimisation as autograd + ``torch.optim.Adam`` but ~20× faster on
    CPU. Returns ``(n_rows, dim)`` float32."""
    if n_rows < 2:
        raise ValueError(f"the PE table needs at least 2 rows (R_pe ≥ max(R+1, C, 2)), got {n_rows}")
    if resolve_pe_init(init, n_rows) == "sinusoidal":
        w = sinusoidal_table(n_rows, dim)
    else:
        gen = torch.Generator().manual_seed(int(seed))
        w = torch.randn(n_rows, dim, generator=gen, dtype=torch.float64).numpy().copy()
    target = gaussian_target(n_rows, sigma).numpy()
    b1, b2, eps = 0.9, 0.999, 1e-8
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, int(steps) + 1):
        _, g = pe_loss_grad(w, target)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + eps
        w -= (lr / (1 - b1**t)) * m / denom
    return w.astype(np.float32)


def pe_quality(table: np.ndarray | torch.Tensor, sigma: float) -> dict[str, float]:
    """``max_abs_cos_err`` = max |cos − g| and ``norm_spread`` = (max‖W‖ − min‖W‖)/mean‖W‖."""
    w = torch.as_tensor(np.asarray(table), dtype=torch.float64)
    norms = w.norm(dim=1)
    cos = (w / norms[:, None]) @ (w / norms[:, None]).t()
    err = (cos - gaussian_target(w.shape[0], sigma)).abs().max().item()
    spread = ((norms.max() - norms.min()) / norms.mean()).item()
    return {"max_abs_cos_err": err, "norm_spread": spread}


def default_cache_dir() -> Path:
    """``$SCANPATH_CACHE/oat_pe`` or the user cache dir (``~/.cache/scanpath/oat_pe``)."""
    root = os.environ.get("SCANPATH_CACHE")
    if root:
        return Path(root) / "oat_pe"
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("scanpath")) / "oat_pe"
    except ImportError:  # pragma: no cover - platformdirs ships with pip/hydra environments
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scanpath" / "oat_pe"


def pe_dim_for_width(d_model: int) -> int:
    """Columns per table row so that 3 rows cover the d_model/2 position dims: ⌈d_model/6⌉ (86 for the
    published 512; 22 for a quick-start d = 128, whose 64 position dims would otherwise hold only W[r])."""
    return -(-int(d_model) // 6)


def cache_path(
    n_rows: int, sigma: float, seed: int, steps: int, lr: float, cache_dir: str | Path | None, dim: int = PE_DIM,
    init: str = "auto",
) -> Path:
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    suffix = "" if dim == PE_DIM else f"_dim{dim}"
    if resolve_pe_init(init, n_rows) == "sinusoidal":
        suffix += "_sinusoidal"
    return d / f"pe_R{n_rows}_sigma{sigma:g}_seed{seed}_steps{steps}_lr{lr:g}{suffix}.npy"


def load_pe_file(path: str | Path, n_rows: int | None = None, dim: int = PE_DIM) -> np.ndarray:
    """Load a user ``.npy`` table, checking its shape."""
    path = Path(path)
    if not path.is_file():
        raise ScanpathDataError("PE table file not found", file=path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ScanpathDataError(f"not a plain .npy array ({e})", file=path) from e
    if arr.ndim != 2 or arr.shape[1] != dim or not np.isfinite(arr).all():
        raise ScanpathDataError(f"expected a finite (R_pe, {dim}) array, got shape {arr.shape}", file=path)
    if n_rows is not None and arr.shape[0] < n_rows:
        raise ScanpathDataError(f"table has {arr.shape[0]} rows but the grid needs {n_rows}", file=path)
    return arr.astype(np.float32)


def get_pe_table(
    n_rows: int,
    sigma: float = 2.0,
    seed: int = 0,
    steps: int = 10_000,
    lr: float = 0.01,
    cache_dir: str | Path | None = None,
    path: str | Path | None = None,
    use_cache: bool = True,
    dim: int = PE_DIM,
    init: str = "auto",
) -> torch.Tensor:
    """The PE table for ``n_rows`` rows: from ``path`` if given, else from the disk cache, else fitted
    from the start ``init`` (and cached with an atomic write)."""
    if path is not None:
        return torch.from_numpy(load_pe_file(path, n_rows, dim))
    target = cache_path(n_rows, sigma, seed, steps, lr, cache_dir, dim, init)
    if use_cache and target.is_file():
        try:
            return torch.from_numpy(load_pe_file(target, n_rows, dim))
        except ScanpathDataError as e:  # corrupt cache entry: refit
            log.warning("ignoring unreadable PE cache entry: %s", e)
    start = resolve_pe_init(init, n_rows)
    log.info("fitting OAT PE table R_pe=%d sigma=%g start=%s seed=%d (%d Adam steps)", n_rows, sigma, start, seed, steps)
    table = fit_pe_table(n_rows, sigma, seed, steps, lr, dim, start)
    if use_cache:
        buf = io.BytesIO()
        np.save(buf, table, allow_pickle=False)
        try:
            atomic_write_bytes(target, buf.getvalue())
        except OSError as e:  # read-only cache dir: keep going without a cache
            log.warning("could not cache the PE table at %s: %s", target, e)
    return torch.from_numpy(table)


def pe_rows_for_grid(grid: tuple[int, int]) -> int:
    """Smallest table size docs/oat.md §2.4 allows for a grid: max(R + 1, C, 2)."""
    r, c = int(grid[0]), int(grid[1])
    return max(r + 1, c, 2)
