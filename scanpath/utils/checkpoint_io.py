"""Safe reading of weight files a user passes (classifier / backbone state dicts).

``torch.load(weights_only=True)`` only: tensors and plain containers, never arbitrary pickled objects,
so a crafted file cannot run code when it is read. Every failure names the file: missing, not a file,
empty, truncated or corrupt, holding objects other than tensors, or not a state dict. A Lightning
checkpoint is accepted too (its ``state_dict`` is taken).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from scanpath.errors import ScanpathDataError
from scanpath.io.checkpoints import read_checkpoint, state_dict_of


def load_state_dict_file(path: str | Path, *, what: str) -> dict[str, torch.Tensor]:
    """The state dict stored at ``path`` (a bare state dict or a Lightning checkpoint's ``state_dict``).

    ``what`` says what the file is for (e.g. ``"model.classifier_ckpt"``) and starts every message.
    Raises :class:`FileNotFoundError` when the file is missing, else :class:`ScanpathDataError`
    (read by :func:`scanpath.io.checkpoints.read_checkpoint`, the project's one reader).
    """
    return state_dict_of(read_checkpoint(path, what=what), path, what=what)


def load_weights_into(module: nn.Module, path: str | Path, *, what: str, prefix: str | None = None) -> nn.Module:
    """Load the state dict at ``path`` into ``module`` (strict) and return the module.

    ``prefix`` (e.g. ``"net.classifier."``): when the file's keys carry it (a Lightning checkpoint of a
    larger model), only those keys are used, with the prefix removed. A state dict of another
    architecture is a :class:`ScanpathDataError` naming the file and the first mismatching keys.
    """
    state = load_state_dict_file(path, what=what)
    if prefix and any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        own = set(module.state_dict())
        missing, unexpected = sorted(own - set(state))[:3], sorted(set(state) - own)[:3]
        detail = f"missing {missing}, unexpected {unexpected}" if missing or unexpected else \
            str(exc).splitlines()[-1].strip()
        raise ScanpathDataError(
            f"{what}: the state dict does not fit {type(module).__name__} ({detail}); is it a checkpoint of "
            "another model?", file=path,
        ) from exc
    return module
