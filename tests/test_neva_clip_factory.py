"""CLIP factory arguments (docs/nevaclip.md §7 item 13; Q6) — no download: random init only."""

from __future__ import annotations

import pytest
import torch

from scanpath.models.neva.clip_factory import build_clip, clip_create_kwargs, is_openai_tag


def test_openai_tag_forces_quick_gelu():
    kw = clip_create_kwargs("RN50", "openai")
    assert kw["force_quick_gelu"] is True
    assert kw["model_name"] == "RN50" and kw["pretrained"] == "openai" and kw["precision"] == "fp32"


def test_non_openai_tags_and_paths_do_not():
    assert clip_create_kwargs("ViT-B-32", "laion2b_s34b_b79k")["force_quick_gelu"] is False
    # tags whose open_clip pretrained config says quick_gelu (RN50 yfcc15m) get it too
    assert clip_create_kwargs("RN50", "yfcc15m")["force_quick_gelu"] is True
    assert clip_create_kwargs("ViT-S-32-alt", None)["force_quick_gelu"] is False
    assert clip_create_kwargs("RN50", "/models/rn50_openai.pt")["force_quick_gelu"] is False
    assert clip_create_kwargs("RN50", "none")["pretrained"] is None
    assert not is_openai_tag("RN50", "/x/openai.pt")


def test_explicit_override_wins_and_options_pass_through():
    kw = clip_create_kwargs("RN50", "openai", force_quick_gelu=False, precision="fp16", device="cuda",
                            image_resize_mode="longest", force_image_size=64, cache_dir="/c")
    assert kw["force_quick_gelu"] is False
    assert kw["image_resize_mode"] == "longest" and kw["force_image_size"] == 64 and kw["cache_dir"] == "/c"


def test_build_random_init_is_frozen_and_encodes():
    b = build_clip("NevaTiny-ViT", None)
    assert b.image_size == 64 and not b.model.training
    assert all(not p.requires_grad for p in b.model.parameters())
    e = b.encode_text(["a red square", "a dog"])
    assert e.shape == (2, 64) and not e.requires_grad
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    b.visual(x).sum().backward()  # gradients reach the input even though weights are frozen
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.slow
def test_build_vit_s_32_alt():
    b = build_clip("ViT-S-32-alt", None, force_image_size=64)
    assert b.image_size == 64
    assert b.encode_text(["x"]).shape[0] == 1


def test_openai_tag_is_the_file_upstream_clip_load_reads():
    """Issue 15 item 18: upstream NevaClip calls OpenAI's ``clip.load('RN50')``; open_clip's ``openai`` tag
    points at the same released file (OpenAI's URL, whose path carries the SHA-256 that ``clip.load``
    verifies) and records QuickGELU, which the factory forces. The module docstring says so."""
    import open_clip

    from scanpath.models.neva import clip_factory

    cfg = open_clip.get_pretrained_cfg("RN50", "openai")
    assert cfg["url"] == ("https://openaipublic.azureedge.net/clip/models/"
                          "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt")
    assert cfg["quick_gelu"] is True and clip_create_kwargs("RN50", "openai")["force_quick_gelu"] is True
    doc = clip_factory.__doc__
    assert "clip.load('RN50')" in doc and "QuickGELU" in doc
    assert "Upstream NevaClip calls ``open_clip" not in doc
