"""The one checkpoint loader of the project.

Every file a user passes (``ckpt_path``, classifier or policy weights) is read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickled objects,
so a crafted file cannot run code. Errors name the file and say what is wrong: missing, truncated or
corrupt, not a checkpoint, or a checkpoint of another model class.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

#: key under which :class:`~scanpath.models.base.ScanpathModel` records its class in a checkpoint
MODEL_CLASS_KEY = "scanpath_model_class"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (message names the file)."""


def model_class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def load_checkpoint_file(path: str | Path, *, what: str = "checkpoint") -> dict[str, Any]:
    """Read ``path`` safely (``weights_only=True``) and return the dict it holds."""
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r}: file not found")
    if not p.is_file():
        raise CheckpointError(f"{what} {str(p)!r} is not a file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{what} {str(p)!r} is empty (0 bytes): an interrupted write? Use another checkpoint")
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{what} {str(p)!r} holds objects other than tensors and plain containers, or is not a torch file; "
            f"it is not loaded because unpickling it could run code ({str(exc).splitlines()[0]})") from exc
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{what} {str(p)!r} is truncated or corrupt ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{what} {str(p)!r} holds a {type(obj).__name__}, not a checkpoint or state dict")
    return dict(obj)


def state_dict_of(ckpt: Mapping[str, Any], path: str | Path, *, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a Lightning checkpoint (``state_dict``) or a bare state dict."""
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{what} {str(path)!r} has no state dict (a mapping of parameter names to tensors)")
    return dict(state)


def load_weights(model: torch.nn.Module, path: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """Load the weights of ``path`` into ``model``; returns the checkpoint dict.

    A checkpoint written by another :class:`ScanpathModel` class is refused by name; older files
    without the class record are checked through their parameter names.
    """
    ckpt = load_checkpoint_file(path)
    recorded = ckpt.get(MODEL_CLASS_KEY)
    expected = model_class_name(model)
    if recorded is not None and recorded != expected:
        raise CheckpointError(f"checkpoint {str(path)!r} was written by {recorded}, not by {expected}: "
                              f"pass a checkpoint of this model (or choose model=… to match the checkpoint)")
    state = state_dict_of(ckpt, path)
    hook = getattr(model, "on_load_checkpoint", None)
    if callable(hook) and "state_dict" in ckpt:
        hook(ckpt)  # lazily built networks (OAT) build themselves from the recorded description
    try:
        result = model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit {expected}: "
                              f"{str(exc).splitlines()[0]} (a checkpoint of another model?)") from exc
    missing = list(getattr(result, "missing_keys", []) or [])
    if strict is False and missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks parameters of {expected}: {missing[:5]}")
    return ckpt
