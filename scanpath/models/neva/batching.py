"""Between collated batches and the NeVA torch models: model inputs in, ScanpathBatch rows out.

The Lightning modules use these to feed :mod:`.optimised` / :mod:`.trained` and to map positions
back to ORIGINAL-image pixels (x, y) with the per-sample geometry (docs/nevaclip.md §2.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from scanpath.core.coords import norm_to_pixels, preprocess_tensor
from scanpath.errors import ScanpathDataError
from scanpath.types import Scanpath, ScanpathBatch


def model_inputs(
    batch: dict[str, Any], size: int, resize_mode: str, resize: int | None = None, device: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 3, S, S]`` model inputs in [0, 1] and ``[B, 7]`` geometries from a collated batch.

    Uses ``clip_image``/``geometry`` from the datamodule when they match ``size`` (the transform
    the dataloader actually applied); otherwise preprocesses ``image`` (original resolution) here.
    """
    ci, geo = batch.get("clip_image"), batch.get("geometry")
    if isinstance(ci, torch.Tensor) and isinstance(geo, torch.Tensor) and ci.shape[-1] == size and resize is None:
        if not bool((geo[:, 6] == size).all()):
            raise ScanpathDataError(f"geometry S {geo[:, 6].tolist()} does not match the model size {size}",
                                    field="geometry")
        x, g = ci, geo
    else:
        imgs = batch.get("image")
        if imgs is None:
            raise ScanpathDataError(
                f"batch has neither 'clip_image' of size {size} nor 'image'; set data.clip_size={size} "
                "or serve images (data.include_image=true)", field="image",
            )
        seq = list(imgs) if not isinstance(imgs, torch.Tensor) else list(imgs.unbind(0))
        outs = [preprocess_tensor(im, size, resize_mode, resize) for im in seq]
        x = torch.stack([o[0] for o in outs])
        g = torch.stack([o[1].as_tensor() for o in outs])
    if device is not None:
        x = x.to(device)
    return x, g


def batch_ids(batch: dict[str, Any], n: int) -> list[str]:
    """Stable per-sample ids for the candidate generators (obs_uid, else stimulus/task/condition)."""
    if "obs_uid" in batch:
        return [str(v) for v in batch["obs_uid"]]
    meta = batch["scanpaths"].meta if "scanpaths" in batch else [{} for _ in range(n)]
    return [f"{m.get('stimulus', i)}|{m.get('task')}|{m.get('condition')}" for i, m in enumerate(meta)]


def to_scanpath_batch(
    batch: dict[str, Any],
    fix_norm: torch.Tensor,
    geometry: torch.Tensor,
    extra_fixation: dict[str, torch.Tensor] | None = None,
    extra: Sequence[dict[str, Any]] | None = None,
    duration_ms: float | None = None,
    condition: Sequence[str | None] | None = None,
) -> ScanpathBatch:
    """Rows of (x, y) in original pixels from ``fix_norm [B, T, 2]`` (row, col)."""
    px = norm_to_pixels(fix_norm.detach().cpu(), geometry.cpu(), clamp=True).numpy()
    raw = norm_to_pixels(fix_norm.detach().cpu(), geometry.cpu(), clamp=False).numpy()
    B, T = px.shape[:2]
    meta = batch["scanpaths"].meta if "scanpaths" in batch else [{} for _ in range(B)]
    geo = geometry.cpu().numpy()
    out = []
    for i in range(B):
        m = meta[i] if i < len(meta) else {}
        fx = {"x_raw": raw[i, :, 0], "y_raw": raw[i, :, 1],
              "u_row": fix_norm[i, :, 0].detach().cpu().double().numpy(),
              "u_col": fix_norm[i, :, 1].detach().cpu().double().numpy()}
        for k, v in (extra_fixation or {}).items():
            fx[k] = v[i].detach().cpu().double().numpy()
        out.append(
            Scanpath(
                x=px[i, :, 0],
                y=px[i, :, 1],
                duration=None if duration_ms is None else np.full(T, float(duration_ms)),
                stimulus=m.get("stimulus", ""),
                subject=1,
                task=m.get("task"),
                condition=(condition[i] if condition is not None else m.get("condition")),
                image_size=(int(geo[i, 0]), int(geo[i, 1])),
                extra=dict(extra[i]) if extra is not None else {},
                fixation_extra=fx,
            )
        )
    return ScanpathBatch.from_list(out)
