"""H* Bench episodes (user download: Hugging Face ``humanoid-vstar/hstar_bench``; docs/humanoid360.md §3).

``root`` is an unzipped ``hos_bench`` / ``hps_bench`` folder (or their parent). Evaluation uses every
episode (``split="all"`` is the default for the runner); the base class's seeded scene split is kept
for training on H* scenes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.datamodules.panoramas import episode_samples
from scanpath.io.episodes import Episode
from scanpath.errors import ScanpathDataError


class HstarDataModule(ScanpathDataModule):
    """Episodes of H* Bench annotation.json files (4 start yaws per item, levels, upstream order)."""

    name = "hstar"

    def __init__(self, root: str | None = None, task: str | None = None, upstream_order: bool = False,
                 eval_split: str = "all", batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        self.root, self.task, self.upstream_order, self.eval_split = root, task, bool(upstream_order), eval_split

    def load_samples(self) -> list[dict[str, Any]]:
        from scanpath.io.hstar import load_hstar

        if not self.root:
            raise ScanpathDataError("set data.root to an unzipped H* Bench folder (hos_bench / hps_bench)", field="root")
        return episode_samples(load_hstar(Path(self.root), self.task, self.upstream_order))

    def episodes(self, split: str | None = None) -> list[Episode]:
        return [s["episode"] for s in self.samples(split or self.eval_split)]
