"""The one reader of weight and checkpoint files a user passes (``ckpt_path``, classifier / backbone /
policy weights).

``torch.load(weights_only=True)`` only: tensors and plain containers, never arbitrary pickled objects,
so a crafted file cannot run code when it is read. Every failure names the file: missing
(:class:`FileNotFoundError`), not a file, empty, truncated or corrupt, holding objects other than
tensors, or without a state dict (:class:`CheckpointError`).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from scanpath.errors import ScanpathDataError


class CheckpointError(ScanpathDataError):
    """A weight or checkpoint file that cannot be used (the message names the file)."""


def read_checkpoint(path: str | Path, *, what: str = "checkpoint") -> dict[str, Any]:
    """The dict stored at ``path`` (a Lightning checkpoint or a bare state dict), read safely.

    ``what`` says what the file is for (e.g. ``"model.classifier_ckpt"``) and starts every message.
    """
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what}: file {str(p)!r} not found")
    if not p.is_file():
        raise CheckpointError(f"{what}: not a file", file=p)
    if p.stat().st_size == 0:
        raise CheckpointError(f"{what}: the file is empty (0 bytes; an interrupted write?)", file=p)
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{what}: the file holds objects other than tensors and plain containers (e.g. a pickled "
            f"module), or is not a torch file; it is not loaded because unpickling it could run code. "
            f"Save a state dict instead (torch.save(module.state_dict(), path)). ({first})", file=p,
        ) from exc
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise CheckpointError(f"{what}: the file is truncated or corrupt ({type(exc).__name__}: {first})",
                              file=p) from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{what}: the file holds a {type(obj).__name__} that is not a state dict (a mapping "
                              "of parameter names to tensors) nor a Lightning checkpoint with one", file=p)
    return dict(obj)


def state_dict_of(ckpt: Mapping[str, Any], path: str | Path, *, what: str = "checkpoint",
                  allow_empty: bool = False) -> dict[str, torch.Tensor]:
    """The state dict inside a Lightning checkpoint (``state_dict``) or a bare state dict."""
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, Mapping) or (not state and not allow_empty) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"{what}: the file holds a {type(ckpt).__name__} that is not a state dict (a mapping of parameter "
            "names to tensors) nor a Lightning checkpoint with one", file=path,
        )
    return dict(state)
