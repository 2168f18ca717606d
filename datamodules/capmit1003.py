"""CapMIT1003 datamodule (``data=capmit1003``): captions + click paths on MIT1003 images.

``root`` holds ``capmit1003.db`` and ``ALLSTIMULI/`` (override with ``db_path`` / ``mit1003_root``).
One sample per ``obs_uid`` (its caption in ``"caption"``, its clicks as the scanpath, original
pixels). Evaluation is zero-shot, so by default every image is in the test split
(``split_fractions: [0, 0, 1]``) and :meth:`query_samples` returns every observation — NevaClip
predicts one scanpath per caption, scored against all click paths of that image (docs/nevaclip.md §4).

Control conditions (docs/nevaclip.md §2.2) are built here so every model sees the same captions:
``caption_mode`` ``correct`` (default), ``caption_other_observer`` (another observer's caption of
the same image, by a seeded derangement within the image; falls back to ``correct`` when an image has
one caption) or ``caption_other_image`` (a caption of a different image, seeded derangement over
images). The original caption stays in ``"caption_true"``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from scanpath.datamodules.base import ScanpathDataModule
from scanpath.datamodules.mit1003 import ImageSample, ImageStore
from scanpath.datamodules.paths import require_dir, require_file
from scanpath.io.capmit1003 import is_synthetic, read_capmit1003
from scanpath.errors import ScanpathDataError

log = logging.getLogger(__name__)

CAPTION_MODES = ("correct", "caption_other_observer", "caption_other_image")


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation with no fixed point (identity for n < 2)."""
    if n < 2:
        return np.arange(n)
    while True:
        p = rng.permutation(n)
        if not np.any(p == np.arange(n)):
            return p


class CapMIT1003DataModule(ScanpathDataModule):
    """CapMIT1003 captioning click paths."""

    name = "capmit1003"

    def __init__(
        self,
        root: str | None = None,
        db_path: str | None = None,
        mit1003_root: str | None = None,
        clip_size: int = 224,
        resize_mode: str = "shortest",
        include_image: bool = False,
        cache_size: int = 64,
        caption_mode: str = "correct",
        control_seed: int = 0,
        allow_outside: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("split_fractions", (0.0, 0.0, 1.0))
        super().__init__(**kwargs)
        if root is None and (db_path is None or mit1003_root is None):
            raise ScanpathDataError(
                "data.root is not set: point it at a folder with capmit1003.db and ALLSTIMULI/ "
                "(or set data.db_path and data.mit1003_root)", field="data.root",
            )
        self.db_path = Path(db_path) if db_path is not None else Path(root) / "capmit1003.db"  # type: ignore[arg-type]
        self.mit1003_root = Path(mit1003_root) if mit1003_root is not None else Path(root)  # type: ignore[arg-type]
        if caption_mode not in CAPTION_MODES:
            raise ValueError(f"caption_mode must be one of {CAPTION_MODES}, got {caption_mode!r}")
        self.caption_mode = caption_mode
        self.root = None if root in (None, "") else Path(root)
        self.allow_outside = bool(allow_outside)
        self.control_seed = int(control_seed)
        self.store = ImageStore(clip_size, resize_mode, include_image, cache_size)

    def load_samples(self) -> list[dict[str, Any]]:
        require_dir(self.root, "data.root")
        require_file(self.db_path, "data.db_path" if self.root is None or self.db_path.parent != self.root
                     else "data.root (capmit1003.db)")
        require_dir(self.mit1003_root, "data.mit1003_root")
        records = read_capmit1003(self.db_path, self.mit1003_root, require_images=True,
                                  invalid_policy=self.invalid_policy, allow_outside=self.allow_outside)
        if is_synthetic(self.db_path):
            self.synthetic = True
            log.warning("capmit1003: %s is a SYNTHETIC fixture — not human data", self.db_path)
        captions = self._control_captions([r.caption for r in records], [r.stimulus for r in records])
        out: list[dict[str, Any]] = []
        for rec, cap in zip(records, captions):
            data = {
                "scanpath": rec.to_scanpath(),
                "stimulus": rec.stimulus,
                "image_size": rec.image_size,
                "task": "captioning",
                "caption": cap,
                "caption_true": rec.caption,
                "caption_mode": self.caption_mode,
                "obs_uid": rec.obs_uid,
                "image_file": str(rec.image_file),
            }
            out.append(ImageSample(data, self.store))
        return out

    def _control_captions(self, captions: list[str], stimuli: list[str]) -> list[str]:
        rng = np.random.default_rng(self.control_seed)
        if self.caption_mode == "correct":
            return list(captions)
        out = list(captions)
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(stimuli):
            groups.setdefault(s, []).append(i)
        if self.caption_mode == "caption_other_observer":
            for s in sorted(groups):
                idx = groups[s]
                perm = derangement(len(idx), rng)
                for j, p in zip(idx, perm):
                    out[j] = captions[idx[p]]
            return out
        # caption_other_image: map every image to another image, take one of its captions
        names = sorted(groups)
        perm = derangement(len(names), rng)
        for s, p in zip(names, perm):
            donor = groups[names[p]]
            for j in groups[s]:
                out[j] = captions[donor[int(rng.integers(len(donor)))]]
        return out

    def query_samples(self, split: str = "test") -> list[dict[str, Any]]:
        """Every observation (one caption each) of the split, in a stable order."""
        return list(self.samples(split))
