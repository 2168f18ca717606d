"""eccNET / IVSN feature network in plain PyTorch (docs/eccnet.md §2.1-2.3).

A torchvision VGG16 ``features`` stack whose five 2x2 max-pools (indices 4, 9, 16, 23, 30) are replaced by

* eccNET: :class:`EccPool`, eccentricity-dependent average pooling centred on the crop centre
  (slopes 0/0/0.07/0.16/0.32, 30/15/8/4/2 px per degree at the layer input, 4-degree fovea radius,
  1-degree rings; :func:`scanpath.core.ecc_avg_pool`, one pass through a float64 summed-area table);
* IVSN / ``eccnet_noecc``: TF-"same" 2x2/2 max-pools.

Two streams share the weights: the *search* stream (gaze-centred crop, stride 16) returns
L3 = Q(Q(relu3_3)), L4 = Q(relu4_3), L5 = relu5_3; the *target* stream (stride 32) returns
L3 = Q(Q(P3(relu3_3))), L4 = Q(P4(relu4_3)), L5 = P5(relu5_3), where Q is an extra plain 2x2/2 pool of
the model's pool type. Top-down attention is the target taps convolved over the search taps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scanpath.core import ecc_avg_pool, ecc_kernel_map, tf_same_avg_pool2d, tf_same_max_pool2d
from scanpath.models.eccnet.background_skip import skip_background_trunk

POOL_INDICES = (4, 9, 16, 23, 30)
TAP_INDICES = (15, 22, 29)  # relu3_3, relu4_3, relu5_3
ECC_SLOPES = (0.0, 0.0, 3.5 * 0.02, 8 * 0.02, 16 * 0.02)
DEG2PX = tuple(round(30 / 2 ** (i)) for i in range(5))  # 30, 15, 8, 4, 2 (Python round, half-to-even)
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@dataclasses.dataclass(frozen=True)
class EccNetConfig:
    """Immutable network configuration (upstream quirk 6: ``load_VGG16`` mutated shared params).

    ``pool``: "avg" (eccNET) or "max" (IVSN, eccnet_noecc). ``eccentric``: EccPool with the slope table
    (only with ``pool="avg"``); otherwise plain 2x2 pools. ``fovea_size`` acts as a RADIUS in degrees
    (upstream quirk 7, kept). ``pool_impl``: "sat" (one pass) or "reference" (ring by ring; tests and
    benchmarks). ``preprocess``: "torchvision" (ImageNet mean/std on [0,1] RGB) or "caffe" (BGR, mean
    subtraction on 0-255; for converted Keras/caffe weights).
    """

    pool: Literal["avg", "max"] = "avg"
    eccentric: bool = True
    slopes: tuple[float, ...] = ECC_SLOPES
    deg2px: tuple[float, ...] = DEG2PX
    fovea_size: float = 4.0
    rf_min: int = 2
    rf_quant: float = 1.0
    pool_impl: Literal["sat", "reference"] = "sat"
    preprocess: Literal["torchvision", "caffe"] = "torchvision"

    def __post_init__(self) -> None:
        if self.pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
        if self.eccentric and self.pool != "avg":
            raise ValueError("eccentric pooling is an average pool; use pool='avg' with eccentric=True")
        if len(self.slopes) != 5 or len(self.deg2px) != 5:
            raise ValueError("slopes and deg2px need one value per VGG16 pool (5)")
        if self.preprocess not in ("torchvision", "caffe"):
            raise ValueError(f"preprocess must be 'torchvision' or 'caffe', got {self.preprocess!r}")


class EccPool(nn.Module):
    """Eccentricity-dependent average pool centred on the input (one VGG16 pool layer)."""

    def __init__(self, slope: float, deg2px: float, fovea_size: float = 4.0, rf_min: int = 2,
                 rf_quant: float = 1.0, impl: str = "sat") -> None:
        super().__init__()
        self.slope, self.deg2px, self.fovea_size = float(slope), float(deg2px), float(fovea_size)
        self.rf_min, self.rf_quant, self.impl = int(rf_min), float(rf_quant), impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ecc_avg_pool(x, None, self.slope, self.deg2px, self.fovea_size, self.rf_min, 2,
                            self.rf_quant, impl=self.impl)

    def max_kernel(self, n: int) -> int:
        """Largest pooling kernel on an n x n input (background skipping dilates by it)."""
        geo = ecc_kernel_map(n, self.slope, self.deg2px, self.fovea_size, self.rf_min, 2, self.rf_quant)
        return int(geo.kernel.max())

    def extra_repr(self) -> str:
        return f"slope={self.slope}, deg2px={self.deg2px}, fovea_size={self.fovea_size}, impl={self.impl}"


class SamePool(nn.Module):
    """Plain TF-"same" 2x2/2 pool (avg divides by the valid count, max ignores padding)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tf_same_max_pool2d(x) if self.kind == "max" else tf_same_avg_pool2d(x)

    def extra_repr(self) -> str:
        return self.kind


def vgg16_features_random() -> nn.Sequential:
    """VGG16 ``features`` (configuration D) with torchvision's conv initialisation, without building the
    138M-parameter classifier (random-init tests and runs)."""
    from torchvision.models.vgg import cfgs, make_layers

    feats = make_layers(cfgs["D"], batch_norm=False)
    for m in feats.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return feats


def _vgg16_features(weights: str | None, weights_path: str | Path | None) -> nn.Sequential:
    """torchvision VGG16 ``features``: ImageNet weights via torchvision, a local state_dict, or random init."""
    import torchvision

    if weights_path is not None:
        feats = vgg16_features_random()
        sd = torch.load(Path(weights_path), map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
        sub = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
        missing, _ = feats.load_state_dict(sub or dict(sd), strict=False)
        if missing:
            raise ValueError(f"{weights_path}: state_dict lacks VGG16 features weights {missing[:4]}")
        return feats
    if weights in (None, "random", "none"):
        return vgg16_features_random()
    return torchvision.models.vgg16(weights=weights).features  # e.g. "IMAGENET1K_V1" (downloads once)


class EccNet(nn.Module):
    """VGG16 trunk with replaced pools; ``search_taps`` / ``target_taps`` return the three tapped layers."""

    def __init__(self, config: EccNetConfig = EccNetConfig(), weights: str | None = None,
                 weights_path: str | Path | None = None, features: nn.Sequential | None = None) -> None:
        super().__init__()
        self.config = config
        feats = features if features is not None else _vgg16_features(weights, weights_path)
        layers = list(feats.children())[:31]
        for li, idx in enumerate(POOL_INDICES):
            if config.pool == "max":
                layers[idx] = SamePool("max")
            elif config.eccentric:
                layers[idx] = EccPool(config.slopes[li], config.deg2px[li], config.fovea_size, config.rf_min,
                                      config.rf_quant, config.pool_impl)
            else:
                layers[idx] = SamePool("avg")
        self.features = nn.Sequential(*layers)
        self.q = SamePool(config.pool)
        self.channels_last = True  # ~1.5x faster convolutions on CPU (oneDNN); results unchanged
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        if config.preprocess == "caffe":
            mean = torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
            std = torch.ones(1, 3, 1, 1)
        else:
            mean = torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1) * 255.0
            std = torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1) * 255.0
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def with_pool_impl(self, impl: str) -> "EccNet":
        """The same network (shared weights) with another EccPool implementation."""
        cfg = dataclasses.replace(self.config, pool_impl=impl)
        return EccNet(cfg, features=nn.Sequential(*list(self.features)))

    def preprocess(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 images ``[B,H,W]`` (gray) or ``[B,H,W,3]`` / ``[B,3,H,W]`` (RGB) -> normalised float ``[B,3,H,W]``."""
        x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
        x = x.to(device=self.mean.device, dtype=torch.float32)
        if x.dim() == 3:
            x = x.unsqueeze(1).expand(-1, 3, -1, -1)
        elif x.dim() == 4 and x.shape[-1] == 3 and x.shape[1] != 3:
            x = x.permute(0, 3, 1, 2)
        if self.config.preprocess == "caffe":
            x = x.flip(1)  # RGB -> BGR
        return (x - self.mean) / self.std

    def _trunk(self, x: torch.Tensor, target: bool) -> list[torch.Tensor]:
        """Search: relu3_3, relu4_3, relu5_3 (pool5 skipped). Target: the outputs of pools 3, 4 and 5."""
        keep = tuple(i + 1 for i in TAP_INDICES) if target else TAP_INDICES
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in keep:
                taps.append(x)
            if i == keep[-1]:
                break
        return taps

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    def search_taps(self, x: torch.Tensor, boxes: Sequence[tuple[int, int, int, int] | None] | None = None,
                    background: int | None = None) -> list[torch.Tensor]:
        """Search stream on a preprocessed crop: [Q(Q(r3)), Q(r4), r5] (stride 16).

        With ``boxes`` (per sample: display rows [r0, r1), cols [c0, c1) in crop px) and ``background``
        (the uint8 grey level of every crop pixel outside its box), the uniform background is skipped
        (:mod:`scanpath.models.eccnet.background_skip`): same taps up to float32 rounding, less work.
        """
        x = self._layout(x)
        if boxes is None:
            r3, r4, r5 = self._trunk(x, target=False)
        else:
            if background is None:
                raise ValueError("background skipping needs the background grey level")
            bg = self.preprocess(np.full((1, 1, 1), int(background), np.uint8))
            r3, r4, r5 = skip_background_trunk(list(self.features), x, boxes, bg, TAP_INDICES)
        return [self.q(self.q(r3)), self.q(r4), r5]

    def target_taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Target stream on a preprocessed target: [Q(Q(P3 r3)), Q(P4 r4), P5 r5] (stride 32)."""
        p3, p4, p5 = self._trunk(self._layout(x), target=True)
        return [self.q(self.q(p3)), self.q(p4), p5]

    @torch.inference_mode()
    def attention(self, search: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
        """Top-down maps ``[B, 3, h, w]``: per trial, conv2d of the target taps over the search taps
        (no bias, torch ``padding='same'`` = TF "same", no normalisation). Batched with grouped conv."""
        maps = []
        for s, t in zip(search, target):
            B, C, h, w = s.shape
            kh, kw = t.shape[-2:]
            pad = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2)
            s = s.contiguous().reshape(1, B * C, h, w)
            a = F.conv2d(F.pad(s, pad), t.contiguous(), groups=B)  # torch/TF "same"
            maps.append(a.reshape(B, h, w))
        return torch.stack(maps, 1)
