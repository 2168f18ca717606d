"""Loading checkpoints into models (the file itself is read by :mod:`scanpath.io.checkpoints`, the one reader).

Every file a user passes (``ckpt_path``, classifier or policy weights) is read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickled objects,
so a crafted file cannot run code. Errors name the file and say what is wrong: missing, truncated or
corrupt, not a checkpoint, or a checkpoint of another model class.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from scanpath.io.checkpoints import CheckpointError, read_checkpoint, state_dict_of

__all__ = ["CheckpointError", "MODEL_CLASS_KEY", "load_checkpoint_file", "load_weights", "model_class_name"]

#: key under which :class:`~scanpath.models.base.ScanpathModel` records its class in a checkpoint
MODEL_CLASS_KEY = "scanpath_model_class"


def model_class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def load_checkpoint_file(path: str | Path, *, what: str = "checkpoint") -> dict[str, Any]:
    """Read ``path`` safely (``weights_only=True``) and return the dict it holds."""
    return read_checkpoint(path, what=what)


def _same_class(recorded: str, model: Any) -> bool:
    """Whether the recorded class path names ``type(model)`` (also through a re-exporting module)."""
    if recorded == model_class_name(model):
        return True
    module, _, name = recorded.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None) is type(model)
    except ImportError:
        return False


def load_weights(model: torch.nn.Module, path: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """Load the weights of ``path`` into ``model``; returns the checkpoint dict.

    A checkpoint written by another :class:`ScanpathModel` class is refused by name; older files
    without the class record are checked through their parameter names.
    """
    ckpt = load_checkpoint_file(path)
    recorded = ckpt.get(MODEL_CLASS_KEY)
    expected = model_class_name(model)
    if recorded is not None and not _same_class(str(recorded), model):
        raise CheckpointError(f"checkpoint was written by {recorded}, not by {expected}: pass a checkpoint "
                              f"of this model (or choose model=… to match the checkpoint)", file=path)
    state = state_dict_of(ckpt, path, allow_empty=not any(True for _ in model.state_dict()))
    hook = getattr(model, "on_load_checkpoint", None)
    if callable(hook) and "state_dict" in ckpt:
        hook(ckpt)  # lazily built networks (OAT) build themselves from the recorded description
    try:
        result = model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint does not fit {expected}: {str(exc).splitlines()[0]} "
                              f"(a checkpoint of another model?)", file=path) from exc
    missing = list(getattr(result, "missing_keys", []) or [])
    if strict is False and missing:
        raise CheckpointError(f"checkpoint lacks parameters of {expected}: {missing[:5]}", file=path)
    return ckpt
