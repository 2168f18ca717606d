"""Small learnable head-rotation policy (plain torch; docs/humanoid360.md §2.3 item 2).

A 128×72 view goes through a small CNN (or any timm backbone); with a hashed bag-of-words
instruction embedding, sin/cos of yaw/pitch and the previous action it feeds a GRU (128). The head
has 36 actions: 35 rotations dyaw ∈ {−90, −45, −20, 0, 20, 45, 90} × dpitch ∈ {−30, −10, 0, 10, 30}
plus ``submit`` (which submits the current heading).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from scanpath.envs.actions import ROTATE, SUBMIT

DYAW = (-90, -45, -20, 0, 20, 45, 90)
DPITCH = (-30, -10, 0, 10, 30)
ROTATIONS = torch.tensor([(a, b) for a in DYAW for b in DPITCH], dtype=torch.long)  # [35, 2]
N_ACTIONS = len(ROTATIONS) + 1
SUBMIT_INDEX = N_ACTIONS - 1


def encode_instruction(texts: Sequence[str], vocab: int = 512, max_len: int = 12) -> torch.Tensor:
    """Hashed word ids ``[B, max_len]`` (crc32 mod vocab−1, +1; 0 is padding). Stable across runs."""
    out = torch.zeros(len(texts), max_len, dtype=torch.long)
    for i, t in enumerate(texts):
        words = [w for w in "".join(c if c.isalnum() else " " for c in t.lower()).split()][:max_len]
        for j, w in enumerate(words):
            out[i, j] = zlib.crc32(w.encode()) % (vocab - 1) + 1
    return out


def decode_actions(index: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Action indices → env ``kind [B]`` and ``angles [B, 2]`` (submit uses the current heading)."""
    rot = ROTATIONS.to(index.device)[index.clamp(max=len(ROTATIONS) - 1)]
    sub = index == SUBMIT_INDEX
    kind = torch.where(sub, torch.full_like(index, SUBMIT), torch.full_like(index, ROTATE))
    heading = torch.stack([yaw.long(), pitch.long()], dim=1)
    return kind, torch.where(sub[:, None], heading, rot)


class SmallCNN(nn.Module):
    """4×4 patchify conv + 3 strided convs → 3×4 spatial grid (keeps *where* things are) → linear.

    Cheap on purpose: GRPO renders and encodes 256 views per step on CPU.
    """

    def __init__(self, out_dim: int = 128, width: int = 32) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w // 2, 4, 4), nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, 2, 1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((3, 4)), nn.Flatten(), nn.Linear(w * 12, out_dim), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TimmEncoder(nn.Module):
    """A timm backbone (random init unless ``pretrained``) with a linear projection."""

    def __init__(self, name: str, out_dim: int = 128, pretrained: bool = False) -> None:
        super().__init__()
        import timm

        self.body = timm.create_model(name, pretrained=pretrained, num_classes=0)
        self.proj = nn.Linear(self.body.num_features, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(self.body(x)))


class HeadRotationPolicy(nn.Module):
    """Recurrent policy over the 36 discrete head actions (see module docstring)."""

    def __init__(self, hidden: int = 128, view_hw: tuple[int, int] = (72, 128), encoder: str = "cnn",
                 vocab: int = 512, text_dim: int = 32, pretrained: bool = False) -> None:
        super().__init__()
        self.view_hw = tuple(view_hw)
        self.vocab = vocab
        self.encoder = SmallCNN(hidden) if encoder == "cnn" else TimmEncoder(encoder, hidden, pretrained)
        self.text = nn.EmbeddingBag(vocab, text_dim, mode="mean", padding_idx=0)
        self.prev = nn.Embedding(N_ACTIONS + 1, 16)  # index N_ACTIONS = "no previous action"
        self.gru = nn.GRUCell(hidden + text_dim + 4 + 16, hidden)
        self.head = nn.Linear(hidden, N_ACTIONS)
        self.hidden = hidden
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, self.hidden, device=device)

    def step(self, image: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor, instr: torch.Tensor,
             prev_action: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: uint8/float ``image [B, 3, h, w]`` (0–255), heading degrees, word ids, previous
        action index (N_ACTIONS = none) and GRU state → action logits ``[B, 36]``, new state."""
        x = image.float()
        if tuple(x.shape[-2:]) != self.view_hw:
            x = F.interpolate(x, size=self.view_hw, mode="area")
        x = (x - self.mean) / self.std
        y, p = torch.deg2rad(yaw.float()), torch.deg2rad(pitch.float())
        feats = torch.cat([self.encoder(x), self.text(instr), torch.stack([y.sin(), y.cos(), p.sin(), p.cos()], 1),
                           self.prev(prev_action)], dim=1)
        h = self.gru(feats, h)
        return self.head(h), h
