"""Zero-shot CLIP head-rotation agent (docs/humanoid360.md §2.3 item 1).

Visit yaws start + k·90° (k = 0..3) at pitch 0; in each view score 3×5 crops (side 0.4·h, resized
to 224) against "a photo of a {target}." with open_clip (ViT-B-32, ``laion2b_s34b_b79k`` by
default; ``pretrained=None`` gives a random-init model for tests); back-project the best crop's
centre to a direction with the core's view geometry, rotate there and submit — 5 steps in all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scanpath.envs.actions import Rotate, Submit
from scanpath.models.humanoid360.agents import HeadAgent

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_LEAD = re.compile(r"^\s*(please\s+)?(find|search for|look for|locate|where is|walk towards|go to)\s+(the\s+|a\s+|an\s+)?", re.I)


def target_from_instruction(instruction: str) -> str:
    """"find the red cube" → "red cube" (leading search verb and article removed)."""
    return _LEAD.sub("", instruction).strip().rstrip(".?!") or instruction


def crop_boxes(h: int, w: int, grid: tuple[int, int] = (3, 5), frac: float = 0.4) -> list[tuple[int, int, int]]:
    """(x0, y0, side) of a rows×cols grid of square crops of side ``frac``·h spanning the view."""
    s = max(int(round(frac * h)), 1)
    ys = np.linspace(0, h - s, grid[0]).round().astype(int)
    xs = np.linspace(0, w - s, grid[1]).round().astype(int)
    return [(int(x), int(y), s) for y in ys for x in xs]


class ClipScorer:
    """Image–text similarity of crops with an open_clip model (loaded through open_clip only)."""

    def __init__(self, model_name: str = "ViT-B-32", pretrained: str | None = "laion2b_s34b_b79k",
                 device: str = "cpu", template: str = "a photo of a {target}.") -> None:
        import open_clip

        self.model = open_clip.create_model(model_name, pretrained=pretrained, device=device).eval()
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.device, self.template = torch.device(device), template
        self.mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        self._text_cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, target: str) -> torch.Tensor:
        if target not in self._text_cache:
            tok = self.tokenizer([self.template.format(target=target)]).to(self.device)
            self._text_cache[target] = F.normalize(self.model.encode_text(tok).float(), dim=-1)
        img = F.normalize(self.model.encode_image((crops.to(self.device) - self.mean) / self.std).float(), dim=-1)
        return (img @ self._text_cache[target].T)[:, 0].cpu()


class ClipSearchAgent(HeadAgent):
    """Look around in four 90° steps, pick the best-matching crop, turn to it, submit."""

    def __init__(self, model_name: str = "ViT-B-32", pretrained: str | None = "laion2b_s34b_b79k",
                 scorer: Callable[[torch.Tensor, str], torch.Tensor] | None = None, device: str = "cpu",
                 template: str = "a photo of a {target}.", grid: tuple[int, int] = (3, 5), crop_frac: float = 0.4,
                 crop_size: int = 224, hfov_deg: float = 100.0, view_grid: str = "hstar", n_views: int = 4) -> None:
        self.display_name = f"CLIP agent ({model_name})"
        self._scorer = scorer
        self._scorer_args = (model_name, pretrained, device, template)
        self.grid, self.crop_frac, self.crop_size = tuple(grid), float(crop_frac), int(crop_size)
        self.hfov_deg, self.view_grid, self.n_views = float(hfov_deg), view_grid, int(n_views)
        self.reset()

    @property
    def scorer(self) -> Callable[[torch.Tensor, str], torch.Tensor]:
        if self._scorer is None:
            name, pre, dev, tmpl = self._scorer_args
            self._scorer = ClipScorer(name, pre, dev, tmpl)
        return self._scorer

    def reset(self, info: dict[str, Any] | None = None) -> None:
        self.seen = 0
        self.best: tuple[float, float, float] = (-float("inf"), 0.0, 0.0)
        self.pending_submit: tuple[int, int] | None = None

    def score_view(self, image: np.ndarray, yaw: float, pitch: float, target: str) -> tuple[float, float, float]:
        """Best crop of one view: (score, yaw, pitch) of its centre direction."""
        from scanpath.core.projection import view_pixel_to_direction

        h, w = image.shape[:2]
        boxes = crop_boxes(h, w, self.grid, self.crop_frac)
        img = torch.as_tensor(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None] / 255.0
        crops = torch.cat([F.interpolate(img[..., y:y + s, x:x + s], size=(self.crop_size,) * 2, mode="bilinear",
                                         antialias=True, align_corners=False) for x, y, s in boxes])
        scores = torch.as_tensor(self.scorer(crops, target)).float()
        k = int(scores.argmax())
        x, y, s = boxes[k]
        uv = torch.tensor([x + (s - 1) / 2, y + (s - 1) / 2], dtype=torch.float64)
        d = view_pixel_to_direction(uv, float(yaw), float(pitch), self.hfov_deg, (h, w), grid=self.view_grid)
        return float(scores[k]), float(d[0]), float(d[1])

    def act(self, observation: dict[str, Any]) -> Rotate | Submit:
        yaw, pitch = int(observation["yaw"]), int(observation["pitch"])
        if self.pending_submit is not None:
            return Submit(*self.pending_submit)
        best = self.score_view(observation["image"], yaw, pitch, target_from_instruction(observation["instruction"]))
        if best[0] > self.best[0]:
            self.best = best
        self.seen += 1
        if self.seen < self.n_views:
            return Rotate(360 // self.n_views, 0)
        ty, tp = int(round(self.best[1])) % 360, int(round(self.best[2]))
        self.pending_submit = (ty, tp)
        return Rotate(int((ty - yaw + 180) % 360 - 180), tp - pitch)
