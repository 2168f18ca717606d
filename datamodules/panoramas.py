"""Procedural 360° search episodes (SYNTHETIC; docs/humanoid360.md §2.4) — default data of the 360° agents.

Each sample is one episode (scene × start yaw): ``"episode"`` (:class:`scanpath.envs.Episode`,
panorama array shared by the scene's episodes), ``"stimulus"`` (scene id), ``"task"``
(instruction), ``"level"`` and an empty ``"scanpath"`` (there is no human scanpath; agents'
headings are the predictions). Split by scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.io.episodes import Episode
from scanpath.types import Scanpath


def episode_samples(episodes: Sequence[Episode]) -> list[dict[str, Any]]:
    """One sample dict per episode (see module docstring)."""
    out = []
    for e in episodes:
        sp = Scanpath([], [], None, stimulus=e.scene, task=e.instruction, condition=e.task,
                      extra={"coords": "yaw_pitch_deg", "episode": e.key})
        out.append({"scanpath": sp, "stimulus": e.scene, "task": e.instruction, "episode": e,
                    "level": e.level, "task_type": e.task})
    return out


class PanoramasDataModule(ScanpathDataModule):
    """Seeded procedural panoramas with H* episodes (``preset="toy"``: one 24° target at (90, 0))."""

    name = "panoramas (SYNTHETIC)"
    synthetic = True

    def __init__(self, n_scenes: int = 64, seed: int = 0, preset: str | None = None, task: str = "HOS",
                 size: Sequence[int] = (1024, 512), batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.n_scenes, self.seed, self.preset, self.task = int(n_scenes), int(seed), preset, task
        self.size = (int(size[0]), int(size[1]))

    def load_samples(self) -> list[dict[str, Any]]:
        from scanpath.stimuli.panoramas import generate_episodes

        return episode_samples(generate_episodes(self.n_scenes, self.seed, preset=self.preset, task=self.task,
                                                 size=self.size))

    def episodes(self, split: str = "test") -> list[Episode]:
        return [s["episode"] for s in self.samples(split)]
