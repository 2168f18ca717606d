"""Build the frozen CLIP backbone NevaClip descends through (docs/nevaclip.md §2.2, §6 Q6).

Upstream NevaClip loads its backbone with OpenAI's own ``clip`` package, ``clip.load('RN50')``. We build
it with open_clip instead, which gives the same network with the same weights:

* ``open_clip.create_model_and_transforms('RN50', pretrained='openai')`` downloads the very file
  ``clip.load('RN50')`` downloads (OpenAI's released ``RN50.pt``, same URL and checksum) and loads it
  into the same architecture (a modified ResNet-50 image tower with attention pooling, a 12-layer
  text transformer, 77-token BPE tokenizer).
* The one architectural difference is the activation of the text transformer: OpenAI's models use
  QuickGELU (``x·σ(1.702x)``), open_clip's ``RN50`` config uses exact GELU unless told otherwise. So
  :func:`clip_create_kwargs` passes ``force_quick_gelu=True`` for the ``openai`` tag (or any tag whose
  open_clip pretrained config says ``quick_gelu``), which makes the text embeddings — the caption
  targets — equal to OpenAI's (Q6). The RN50 image tower uses ReLU and is unaffected either way.
* Preprocessing matches too: bicubic resize of the shortest side to 224, centre crop, OpenAI's mean/std
  (``OPENAI_MEAN`` / ``OPENAI_STD``; open_clip's ``resize_mode='shortest'``).
* Precision: ``clip.load`` keeps fp16 weights on a CUDA device and casts them to fp32 on CPU; we run
  fp32 by default, so against a CUDA upstream run expect differences at fp16 rounding level (the
  search's ``precision: amp_fp16``, fp16 compute under autocast, is the closest setting).

``pretrained`` may be an open_clip tag, a local checkpoint path, or ``None`` (random initialisation;
what the tests and offline runs use). The kwargs are computed by a pure function so they can be
unit-tested without downloading weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_CONFIG_DIR = Path(__file__).with_name("model_configs")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def register_model_configs() -> None:
    """Register the framework's extra open_clip configs (``NevaTiny-ViT``: a 3.4 M-parameter
    64-px ViT for CPU tests and benchmarks; random init only, no published weights)."""
    import open_clip

    if "NevaTiny-ViT" not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def is_openai_tag(model_name: str, pretrained: str | None) -> bool:
    """True when ``pretrained`` names OpenAI weights (tag ``openai`` or a quick_gelu pretrained cfg)."""
    if pretrained is None or Path(str(pretrained)).suffix in {".pt", ".pth", ".bin", ".safetensors"}:
        return False
    if str(pretrained).lower() == "openai":
        return True
    try:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(model_name, str(pretrained)) or {}
    except Exception:  # unknown name/tag: open_clip itself will complain when building
        return False
    return bool(cfg.get("quick_gelu", False))


def clip_create_kwargs(
    model_name: str = "RN50",
    pretrained: str | None = "openai",
    force_quick_gelu: bool | None = None,
    precision: str = "fp32",
    device: str | torch.device = "cpu",
    image_resize_mode: str | None = None,
    force_image_size: int | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``open_clip.create_model_and_transforms`` (pure; no download).

    ``force_quick_gelu=None`` means "automatic": True for OpenAI weights (Q6), False otherwise.
    """
    if pretrained in ("", "none", "None", "null"):
        pretrained = None
    quick = is_openai_tag(model_name, pretrained) if force_quick_gelu is None else bool(force_quick_gelu)
    kwargs: dict[str, Any] = {
        "model_name": model_name,
        "pretrained": pretrained,
        "precision": precision,
        "device": device,
        "force_quick_gelu": quick,
    }
    if image_resize_mode is not None:
        kwargs["image_resize_mode"] = image_resize_mode
    if force_image_size is not None:
        kwargs["force_image_size"] = int(force_image_size)
    if cache_dir is not None:
        kwargs["cache_dir"] = cache_dir
    return kwargs


@dataclass
class ClipBundle:
    """A frozen CLIP model with what NevaClip needs from it."""

    model: nn.Module
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    pretrained: str | None

    @property
    def visual(self) -> nn.Module:
        return self.model.visual

    @torch.no_grad()
    def encode_text(self, captions: list[str], device: torch.device | str | None = None) -> torch.Tensor:
        """Text embeddings ``[N, D]`` under ``no_grad`` (Q8 fixed), returned on ``device``."""
        own = next(self.model.parameters()).device
        out = self.model.encode_text(self.tokenizer(list(captions)).to(own))
        return out if device is None else out.to(device)


def build_clip(
    model_name: str = "RN50",
    pretrained: str | None = "openai",
    force_quick_gelu: bool | None = None,
    precision: str = "fp32",
    device: str | torch.device = "cpu",
    force_image_size: int | None = None,
    cache_dir: str | None = None,
) -> ClipBundle:
    """Create the open_clip model (frozen, eval mode) and its tokenizer."""
    import open_clip

    register_model_configs()
    kwargs = clip_create_kwargs(
        model_name, pretrained, force_quick_gelu, precision, device, None, force_image_size, cache_dir
    )
    model, _, preprocess = open_clip.create_model_and_transforms(**kwargs)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = open_clip.get_tokenizer(model_name)
    size = getattr(model.visual, "image_size", 224)
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    mean = tuple(getattr(model.visual, "image_mean", None) or OPENAI_MEAN)
    std = tuple(getattr(model.visual, "image_std", None) or OPENAI_STD)
    return ClipBundle(model, tokenizer, size, mean, std, model_name, pretrained)  # type: ignore[arg-type]
